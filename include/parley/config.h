/*  Configuration: every option parley has, with its default, its bounds and its
    documentation, in one table (PL_CONFIG_OPTIONS). Values come from, in rising
    precedence: the defaults, the file named by --config (or PARLEY_CONFIG), the
    environment (PARLEY_<KEY>), and command-line flags (--key-with-dashes value or
    --key-with-dashes=value). A bad value stops start-up with a message naming the key.
    An unknown key in the file or the flags does too; an unknown PARLEY_ variable is
    only warned about, since orchestrators set some of their own (Kubernetes injects
    PARLEY_PORT and PARLEY_SERVICE_HOST for a service named parley).
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
    X(STR, log_format, "text", 0, 0, "text, or json: one JSON object per line")                    \
    X(STR, access_log, "off", 0, 0, "on: a log line per HTTP request (method, route, status...)")  \
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
    X(INT, notify_writes_per_s, "2000", 1, 1000000,                                                \
      "most message-notification writes a second; past it they coalesce until their turn")         \
    X(INT, recovery_window, "500", 1, 100000,                                                      \
      "latest messages per room a reconnecting client can recover with since")                     \
    X(INT, room_creation_timeout_ms, "30000", 100, 600000,                                         \
      "how long POST /api/contents/{id}/room may wait before 503 room_creation_timeout")           \
    X(INT, max_message_chars, "4000", 1, 65536, "longest text message body, in characters")        \
    X(INT, rate_limit_per_s, "20", 1, 1000000, "messages a connection may send per second")        \
    X(INT, rate_limit_burst, "40", 1, 1000000, "messages a connection may send in one burst")      \
    X(INT, shutdown_timeout_ms, "5000", 0, 600000, "how long a graceful stop waits for clients")   \
    X(STR, public_url, "", 0, 0,                                                                   \
      "URL browsers reach this server at (e.g. https://chat.example.com); empty: the Host header") \
    X(STR, allowed_origins, "", 0, 0,                                                              \
      "comma-separated origins besides the server's own whose pages may use the login cookie")     \
    X(STR, metrics_listen, "", 0, 0,                                                               \
      "address:port serving GET /metrics instead of the public port (e.g. 127.0.0.1:9090)")        \
    X(STR, trusted_proxies, "", 0, 0,                                                              \
      "comma-separated peer addresses whose X-Forwarded-For header names the client")              \
    X(INT, login_fail_limit_user, "10", 1, 1000000,                                                \
      "failed logins for one username within auth_throttle_window_s before logins answer 429")     \
    X(INT, login_fail_limit_addr, "100", 1, 1000000,                                               \
      "failed logins from one client address within auth_throttle_window_s before 429")            \
    X(INT, signup_limit_addr, "50", 1, 1000000,                                                    \
      "sign-up attempts from one client address within auth_throttle_window_s before 429")         \
    X(INT, auth_throttle_window_s, "900", 1, 86400,                                                \
      "the sliding window of the login and sign-up limits, in seconds")                            \
    X(INT, auth_throttle_entries, "4096", 16, 1048576,                                             \
      "usernames or addresses each login and sign-up limit remembers; the stalest are forgotten")  \
    X(INT, node_id, "0", 0, 1023,                                                                  \
      "this node's id in a cluster (1-1023, unique per node); 0: a single node, no Redis")         \
    X(STR, redis_url, "", 0, 0,                                                                    \
      "with node_id: the Redis that joins the nodes, redis://[:password@]host[:port][/db]")        \
    X(STR, redis_prefix, "parley:", 0, 0,                                                          \
      "prefix of every Redis key and channel, so that clusters may share one Redis")               \
    X(INT, cluster_heartbeat_ms, "250", 20, 10000,                                                 \
      "how often a node renews its presence in Redis and reads the live nodes")                    \
    X(INT, cluster_node_ttl_ms, "3000", 100, 600000,                                               \
      "a node silent this long is taken for dead and its rooms move to the others")                \
    X(INT, cluster_lease_ms, "5000", 100, 600000,                                                  \
      "lifetime of a room's lease; a dead node's rooms wait at most this long for a new owner")

#define PL_CONFIG_FIELD_STR(key)                        char *key;
#define PL_CONFIG_FIELD_INT(key)                        int64_t key;
#define PL_CONFIG_FIELD(kind, key, def, min, max, help) PL_CONFIG_FIELD_##kind(key)

#define PL_CONFIG_INDEX(kind, key, def, min, max, help) PL_CONFIG_INDEX_##key,
enum { PL_CONFIG_OPTIONS(PL_CONFIG_INDEX) PL_CONFIG_COUNT };

typedef struct {
    PL_CONFIG_OPTIONS(PL_CONFIG_FIELD)
    //  Where each value came from, in table order: "default", "environment",
    //  "--flag", or the file and line.
    char *sources[PL_CONFIG_COUNT];
    //  The PARLEY_ variables of the environment that name no option, comma-separated
    //  (NULL: none), for the caller to warn about once its logging is set up.
    char *unknown_env;
} pl_config_t;

//  Fills cfg from defaults, file, environment (envp, NULL-terminated "K=V" strings)
//  and argv (argv[0] is skipped). Returns 0, or -1 with a message naming the key in
//  err. cfg must be released with pl_config_clear on either outcome.
int pl_config_load(pl_config_t *cfg, int argc, char *const *argv, char *const *envp, char *err,
                   size_t err_len);

//  Sets the log's level and format from cfg, then warns about its unknown_env.
void pl_config_start_logging(const pl_config_t *cfg);

//  Writes every effective value as "key = value  # source" lines, secrets masked:
//  jwt_secret shows only its length, and a URL's password is replaced by "***".
void pl_config_print(const pl_config_t *cfg, FILE *out);

//  Frees the strings cfg owns and zeroes it.
void pl_config_clear(pl_config_t *cfg);

//  Writes the --help text: every option, its flag, environment name and default.
void pl_config_print_help(FILE *out);

//  True when argv asks for --help or -h.
int pl_config_wants_help(int argc, char *const *argv);

#endif
