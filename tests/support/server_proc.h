/*  tests/support/server_proc.h
 *
 *  Starts and stops a real parley server process for end-to-end tests, and
 *  runs its subcommands (pl_parley_run). The server listens on an ephemeral
 *  loopback port that is read from its "listening on 127.0.0.1:<port>" log
 *  line; everything it writes to stderr and stdout is appended to
 *  <data_dir>/server.log. Starting and stopping are synchronous and wait on
 *  deadlines, never on sleeps. No process-wide signal handlers are installed.
 *
 *  The caller allocates the pl_server_t zeroed ({0}) and must not copy or
 *  move it while the server runs (its reader thread holds its address); one
 *  thread drives one pl_server_t. The child gets SIGKILL if the thread that started it exits
 *  (PR_SET_PDEATHSIG), so a test killed by its timeout leaves no server
 *  behind: start and stop servers from the test's own thread.
 */
#ifndef PARLEY_TEST_SERVER_PROC_H
#define PARLEY_TEST_SERVER_PROC_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

//  How long pl_server_start waits for the listening line, and pl_server_stop
//  for the exit after SIGTERM.
#define PL_SERVER_START_TIMEOUT_MS 10000
#define PL_SERVER_STOP_TIMEOUT_MS  10000

typedef struct {
    pid_t pid;          //  0 when not running
    int port;           //  the port parsed from the log line, 0 until ready
    char data_dir[256]; //  the data dir; keep it across stop/start to restart
    char log_path[300]; //  <data_dir>/server.log
    //  Against PostgreSQL (PL_TEST_STORE=postgres), the server's database; kept
    //  across restarts like data_dir, dropped by pl_server_cleanup.
    char postgres_url[256];
    //  Private: the stderr reader thread and what it reports.
    bool owns_dir_;    //  data_dir was made by pl_server_start
    bool thread_live_; //  reader thread started and not yet joined
    int pidfd_;        //  pidfd of the child, or -1
    int out_fd_;       //  read end of the child's stderr/stdout pipe
    int wake_fd_;      //  eventfd telling the reader thread to finish
    int log_fd_;       //  server.log, opened for appending
    pthread_t reader_;
    pthread_mutex_t lock_;
    pthread_cond_t cond_;
    bool ready_;  //  the listening line was seen
    bool exited_; //  the child has exited (or its output ended)
    int ready_port_;
} pl_server_t;

//  True when the suite runs against PostgreSQL (PL_TEST_STORE=postgres): each
//  server then gets a fresh database in the suite's PostgreSQL server
//  (tests/support/pg_suite.h), named to it and to pl_parley_run's subcommands
//  through PARLEY_STORE and PARLEY_POSTGRES_URL in this process's environment.
bool pl_server_store_is_postgres(void);

//  True if the parley binary (PARLEY_BINARY) exists and is executable, so a
//  test can print SKIPPED instead of failing when it has not been built.
bool pl_server_binary_exists(void);

//  Starts PARLEY_BINARY with
//    --listen 127.0.0.1:0 --data-dir <dir> --password-hash-ops 1
//    --password-hash-mem-kib 8 --log-level debug --max-connections 32
//    --room-threads 2 --writer-threads 2 --signup-limit-addr 1000000 <extra_args...>
//  where extra_args is NULL or a NULL-terminated list ("--flag", "value", ...,
//  NULL). <dir> is a fresh mkdtemp directory under /tmp unless
//  srv->data_dir is already set (then it is reused: restart tests). Waits at
//  most PL_SERVER_START_TIMEOUT_MS for the listening line, then sets
//  srv->port and returns 0. Returns -1 (the child killed and reaped, the log
//  kept) on timeout, if the child exits first (at once, not after the
//  timeout), or if it cannot be started. The data dir is kept either way;
//  pl_server_cleanup removes it.
int pl_server_start(pl_server_t *srv, const char *const *extra_args);

//  Sends SIGTERM, waits up to PL_SERVER_STOP_TIMEOUT_MS for the exit (then
//  SIGKILL), reaps the child and joins the reader thread. Returns the exit
//  status (WEXITSTATUS), or -1 if the child was killed by a signal (including
//  the SIGKILL after the deadline) or was not running. Keeps the data dir. On any
//  status but 0 it prints the server's log to stderr first.
int pl_server_stop(pl_server_t *srv);

//  Sends SIGKILL and reaps the child, as a crash would (durability tests).
//  Keeps the data dir.
void pl_server_kill9(pl_server_t *srv);

//  Stops the server if still running (SIGKILL), then removes the data dir
//  recursively if pl_server_start created it under /tmp, and clears
//  data_dir so the struct can start afresh.
void pl_server_cleanup(pl_server_t *srv);

//  Prints <data_dir>/server.log to stderr, framed, to debug a failure.
void pl_server_dump_log(const pl_server_t *srv);

//  Runs the parley binary (the one pl_server_start runs) to its end with args
//  (NULL or a NULL-terminated list, e.g. {"import-contents", "f.jsonl", NULL}),
//  stdin from /dev/null, waiting at most timeout_ms (then SIGKILL). *out and
//  *err receive what it wrote to stdout and stderr (malloc'd, NUL-terminated,
//  never NULL; the caller frees both). Returns its exit status, or -1 when it
//  could not be run, timed out or was killed by a signal.
int pl_parley_run(const char *const *args, int timeout_ms, char **out, char **err);

#endif
