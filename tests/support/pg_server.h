/*  tests/support/pg_server.h

    A real, private PostgreSQL server for the suites that run against the postgres
    store, made from Debian's postgresql package: initdb in a fresh directory under
    /tmp (as the `postgres` user when the tests run as root, since initdb refuses
    root), then `postgres` on a free 127.0.0.1 port with its socket in that directory,
    fsync on. A test executable starts one from its runner (pg_suite.h), each test
    makes a database of its own in it, and the runner stops it and removes the
    directory at the end. Waits are bounded polls of PQping, never fixed sleeps.

    The runner tells its test processes (which Criterion starts anew) where the
    server is through the environment: PL_PG_SERVER_ENV holds the server's base URL,
    or PL_PG_SKIPPED_ENV why there is none. */
#ifndef PARLEY_TEST_PG_SERVER_H
#define PARLEY_TEST_PG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PL_PG_SERVER_ENV  "PL_TEST_PG_SERVER"
#define PL_PG_SKIPPED_ENV "PL_TEST_PG_SKIPPED"

//  How long initdb, the start and the stop may each take.
#define PL_PG_INITDB_TIMEOUT_MS 60000
#define PL_PG_START_TIMEOUT_MS  30000
#define PL_PG_STOP_TIMEOUT_MS   15000

typedef struct {
    pid_t pid;     //  the postmaster, 0 when not running
    int port;      //  its TCP port on 127.0.0.1
    char dir[128]; //  the temporary directory: data/, the socket, postgres.log
    char url[192]; //  postgresql://postgres@127.0.0.1:<port>
    char bin[128]; //  the server\'s binaries
    uid_t uid;     //  who runs it (postgres when the tests run as root)
    gid_t gid;
} pl_pg_server_t;

//  Starts a server. Returns 0, or -1 with why it cannot in why (why_len bytes);
//  what it made is removed again then.
int pl_pg_server_start(pl_pg_server_t *srv, char *why, size_t why_len);

//  Stops the server (a fast shutdown, SIGKILL past the timeout) and removes its
//  directory. Harmless on a server that never started.
void pl_pg_server_stop(pl_pg_server_t *srv);

//  Stops the postmaster of a running server, keeping its data and port (a database
//  lost while parley runs), and starts it again. Return 0 or -1.
int pl_pg_server_pause(pl_pg_server_t *srv);
int pl_pg_server_resume(pl_pg_server_t *srv);

//  Creates a fresh, empty database in the server at server_url and writes its URL
//  into url (size bytes). Returns 0, or -1 with the reason on stderr.
int pl_pg_database_new(const char *server_url, char *url, size_t size);

//  Drops the database at url (made by pl_pg_database_new), closing its sessions.
void pl_pg_database_drop(const char *server_url, const char *url);

#endif
