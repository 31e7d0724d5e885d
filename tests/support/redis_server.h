/*  tests/support/redis_server.h
    A real, private Redis for the cluster suites, from Debian's redis-server: on a
    free 127.0.0.1 port, nothing saved to disk, its log in a fresh directory under
    /tmp. Start and stop wait on bounded polls (PING), never on fixed sleeps. A stop
    followed by a start on the same struct reuses the port: Redis restarted, empty,
    where the nodes expect it. */
#ifndef PARLEY_TEST_REDIS_SERVER_H
#define PARLEY_TEST_REDIS_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define PL_REDIS_START_TIMEOUT_MS 10000
#define PL_REDIS_STOP_TIMEOUT_MS  10000

typedef struct {
    pid_t pid;         //  0 when not running
    int port;          //  0 until the first start picks one
    char password[32]; //  set before the first start to require one ("" none)
    char dir[128];     //  the temporary directory holding redis.log
    char url[128];     //  redis://[:password@]127.0.0.1:<port>
} pl_redis_server_t;

//  Starts the server (again, on its old port, after a stop). Returns 0, or -1 with
//  why in why (why_len bytes).
int pl_redis_server_start(pl_redis_server_t *srv, char *why, size_t why_len);

//  Stops it (SIGTERM, SIGKILL past the timeout), keeping the port and directory.
void pl_redis_server_stop(pl_redis_server_t *srv);

//  Stops it and removes its directory.
void pl_redis_server_cleanup(pl_redis_server_t *srv);

//  Runs one command (printf-style, hiredis format) and returns its integer answer,
//  or its element count for an array; -1 on failure.
long long pl_redis_server_query(const pl_redis_server_t *srv, const char *format, ...);

#endif
