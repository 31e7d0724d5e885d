/*  Configuration: every option parley has, with its default, its bounds and its
    documentation, in one table (PL_CONFIG_OPTIONS). Values come from, in rising
    precedence: the defaults, the file named by --config (or PARLEY_CONFIG), the
    environment (PARLEY_<KEY>), and command-line flags (--key-with-dashes value or
    --key-with-dashes=value). A bad value stops start-up with a message naming the key.
    configs/parley.conf documents the same table for operators. */
#ifndef PARLEY_CONFIG_H
#define PARLEY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  X(kind, key, default, min, max, help): kind is STR or INT; min and max bound INT
//  values (and are ignored for STR).
#define PL_CONFIG_OPTIONS(X)                                                                       \
    X(STR, listen, "0.0.0.0:8080", 0, 0, "address:port to listen on; port 0 picks a free one")     \
    X(STR, data_dir, "./data", 0, 0, "directory for the database, uploads and the JWT secret")     \
    X(STR, log_level, "info", 0, 0, "debug, info, warn or error")                                  \
    X(STR, store, "sqlite", 0, 0,                                                                  \
      "sqlite (one node, <data_dir>/parley.db) or postgres (shared by nodes, postgres_url)")       \
    X(STR, postgres_url, "", 0, 0,                                                                 \
      "with store = postgres: libpq URI, e.g. postgresql://parley@127.0.0.1:5432/parley")          \
    X(STR, jwt_secret, "", 0, 0,                                                                   \
      "HS256 key, at least 32 characters; empty: generated once into <data_dir>/jwt.secret")       \
    X(INT, token_ttl_s, "604800", 60, 31536000, "lifetime of a login token in seconds")            \
    X(INT, password_hash_ops, "2", 1, 10, "Argon2id passes per password hash")                     \
    X(INT, password_hash_mem_kib, "65536", 8, 4194304, "Argon2id memory per password hash, KiB")   \
    X(INT, max_connections, "1000", 1, 100000,                                                     \
      "WebSocket and SSE connections held at once; upgrades past it get 503")                      \
    X(INT, http_threads, "16", 2, 4096, "civetweb workers kept free for plain HTTP requests")      \
    X(INT, max_body_bytes, "65536", 1024, 16777216, "largest JSON request body; larger gets 413")  \
    X(INT, upload_max_bytes, "5242880", 1024, 1073741824,                                          \
      "largest image POST /api/uploads takes; larger gets 413")                                    \
    X(INT, max_frame_bytes, "65536", 1024, 16777216,                                               \
      "largest WebSocket frame; larger closes the connection with 1009")                           \
    X(INT, request_timeout_ms, "10000", 100, 600000,                                               \
      "longest a read or write on one client socket may block")                                    \
    X(INT, writer_threads, "0", 0, 64,                                                             \
      "connection writer actors that WebSockets are sharded over; 0: one per usable CPU")          \
    X(INT, outbound_queue_bytes, "1048576", 4096, 1073741824,                                      \
      "bytes queued for one slow client before it is disconnected")                                \
    X(INT, persist_batch_max, "4096", 1, 100000, "most writes the persister commits in one go")    \
    X(INT, room_threads, "0", 0, 64,                                                               \
      "room actors that rooms are sharded over; 0: one per usable CPU")                            \
    X(INT, presence_max_members, "1000", 0, 10000000,                                              \
      "rooms with more members send no presence events (each would reach every subscriber)")       \
    X(INT, presence_ttl_ms, "60000", 200, 3600000,                                                 \
      "a WebSocket silent this long (no frame, no pong) is closed and its user goes offline")      \
    X(INT, sse_heartbeat_ms, "30000", 100, 3600000,                                                \
      "how often an idle SSE stream (GET /api/events) gets a ': ping' comment")                    \
    X(INT, recovery_window, "500", 1, 100000,                                                      \
      "latest messages per room a reconnecting client can recover with since")                     \
    X(INT, room_creation_timeout_ms, "30000", 100, 600000,                                         \
      "how long POST /api/contents/{id}/room may wait before 503 room_creation_timeout")           \
    X(INT, max_message_chars, "4000", 1, 65536, "longest text message body, in characters")        \
    X(INT, rate_limit_per_s, "20", 1, 1000000, "messages a connection may send per second")        \
    X(INT, rate_limit_burst, "40", 1, 1000000, "messages a connection may send in one burst")      \
    X(INT, shutdown_timeout_ms, "5000", 0, 600000, "how long a graceful stop waits for clients")

#define PL_CONFIG_FIELD_STR(key)                        char *key;
#define PL_CONFIG_FIELD_INT(key)                        int64_t key;
#define PL_CONFIG_FIELD(kind, key, def, min, max, help) PL_CONFIG_FIELD_##kind(key)

typedef struct {
    PL_CONFIG_OPTIONS(PL_CONFIG_FIELD)
} pl_config_t;

//  Fills cfg from defaults, file, environment (envp, NULL-terminated "K=V" strings)
//  and argv (argv[0] is skipped). Returns 0, or -1 with a message naming the key in
//  err. cfg must be released with pl_config_clear on either outcome.
int pl_config_load(pl_config_t *cfg, int argc, char *const *argv, char *const *envp, char *err,
                   size_t err_len);

//  Frees the strings cfg owns and zeroes it.
void pl_config_clear(pl_config_t *cfg);

//  Writes the --help text: every option, its flag, environment name and default.
void pl_config_print_help(FILE *out);

//  True when argv asks for --help or -h.
int pl_config_wants_help(int argc, char *const *argv);

#endif
