/*  tests/support/pg_server.c

    A private PostgreSQL server for tests (see pg_server.h): finds Debian's server
    binaries, runs initdb and postgres as the postgres user when we are root (the
    child drops to it between fork and exec, then asks to die with us, so a killed
    runner leaves no server behind), and talks to it through libpq. */
#include "pg_server.h"

#include "net.h"

#include "tmp_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  The pause between two polls of a child or of the server's readiness.
#define POLL_MS 20

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_pause(void)
{
    nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
}

//  The directory of the newest installed server's binaries, or -1.
static int s_bin_dir(char *out, size_t size)
{
    glob_t found;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &found) != 0)
        return -1;
    //  glob sorts; the last is the newest major version (while they have two digits).
    const char *initdb = found.gl_pathv[found.gl_pathc - 1];
    int n = snprintf(out, size, "%.*s", (int)(strlen(initdb) - strlen("/initdb")), initdb);
    globfree(&found);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

//  Runs argv as srv's user with stdout and stderr appended to log_path. Returns the
//  child's pid, or -1.
static pid_t s_spawn(const pl_pg_server_t *srv, char *const *argv, const char *log_path)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        //  Between fork and exec: only async-signal-safe calls.
        if (getuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(srv->gid) != 0 || setuid(srv->uid) != 0))
            _exit(126);
        //  Set after the change of user, which clears it.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(127);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(log_fd);
    return pid;
}

//  Waits up to timeout_ms for pid to exit; returns its exit status, or -1 (then it
//  has been killed and reaped).
static int s_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = s_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (done < 0 && errno != EINTR)
            return -1;
        if (s_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        s_pause();
    }
}

//  Writes what, then the last line of the log at path, into why: the directory goes.
static void s_log_tail(const char *path, const char *what, char *why, size_t why_len)
{
    char tail[256] = "";
    FILE *log = fopen(path, "re");
    if (log) {
        fseek(log, -(long)(sizeof tail - 1), SEEK_END);
        size_t got = fread(tail, 1, sizeof tail - 1, log);
        tail[got] = '\0';
        fclose(log);
    }
    size_t end = strlen(tail);
    while (end > 0 && tail[end - 1] == '\n')
        tail[--end] = '\0';
    const char *last = strrchr(tail, '\n');
    snprintf(why, why_len, "%s: %s", what, last ? last + 1 : tail);
}

//  Who runs the server: the postgres user when we are root, else ourselves.
static int s_pick_user(pl_pg_server_t *srv, char *why, size_t why_len)
{
    if (getuid() != 0) {
        srv->uid = getuid(), srv->gid = getgid();
        return 0;
    }
    const struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        snprintf(why, why_len, "running as root and there is no postgres user to run initdb");
        return -1;
    }
    srv->uid = pw->pw_uid, srv->gid = pw->pw_gid;
    return 0;
}

static int s_wait_ready(pl_pg_server_t *srv, char *why, size_t why_len)
{
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "%s/postgres?connect_timeout=2", srv->url);
    int64_t deadline = s_now_ms() + PL_PG_START_TIMEOUT_MS;
    while (PQping(conninfo) != PQPING_OK) {
        int status;
        if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
            srv->pid = 0;
            char log_path[160];
            snprintf(log_path, sizeof log_path, "%s/postgres.log", srv->dir);
            s_log_tail(log_path, "postgres exited at start", why, why_len);
            return -1;
        }
        if (s_now_ms() >= deadline) {
            snprintf(why, why_len, "postgres was not ready within %d ms", PL_PG_START_TIMEOUT_MS);
            return -1;
        }
        s_pause();
    }
    return 0;
}

//  Starts the postmaster on srv's data, port and directory and waits until it answers.
static int s_launch(pl_pg_server_t *srv, char *why, size_t why_len)
{
    char postgres[160], data[160], log_path[160], port[16];
    snprintf(postgres, sizeof postgres, "%s/postgres", srv->bin);
    snprintf(data, sizeof data, "%s/data", srv->dir);
    snprintf(log_path, sizeof log_path, "%s/postgres.log", srv->dir);
    snprintf(port, sizeof port, "%d", srv->port);
    char *const argv[] = {postgres,
                          "-D",
                          data,
                          "-p",
                          port,
                          "-k",
                          srv->dir,
                          "-c",
                          "listen_addresses=127.0.0.1",
                          "-c",
                          "max_connections=200",
                          "-c",
                          "shared_buffers=16MB",
                          NULL};
    if ((srv->pid = s_spawn(srv, argv, log_path)) < 0) {
        srv->pid = 0;
        snprintf(why, why_len, "cannot start postgres: %s", strerror(errno));
        return -1;
    }
    return s_wait_ready(srv, why, why_len);
}

//  SIGINT is a fast shutdown: sessions are ended, nothing is waited for.
static void s_halt(pl_pg_server_t *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGINT);
        s_wait_exit(srv->pid, PL_PG_STOP_TIMEOUT_MS);
        srv->pid = 0;
    }
}

int pl_pg_server_pause(pl_pg_server_t *srv)
{
    if (srv->pid <= 0)
        return -1;
    s_halt(srv);
    return 0;
}

int pl_pg_server_resume(pl_pg_server_t *srv)
{
    char why[256];
    if (srv->pid > 0 || !srv->dir[0])
        return -1;
    if (s_launch(srv, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "pg_server: %s\n", why);
    return -1;
}

int pl_pg_server_start(pl_pg_server_t *srv, char *why, size_t why_len)
{
    *srv = (pl_pg_server_t){0};
    char bin[128], initdb[160], data[160], log_path[160];
    if (s_bin_dir(bin, sizeof bin)) {
        snprintf(why, why_len, "no PostgreSQL server installed (/usr/lib/postgresql/*/bin)");
        return -1;
    }
    if (s_pick_user(srv, why, why_len))
        return -1;
    if (pl_tmp_dir_make(srv->dir, sizeof srv->dir, "parley-pg-") ||
        chown(srv->dir, srv->uid, srv->gid) != 0) {
        snprintf(why, why_len, "cannot make a directory for it: %s", strerror(errno));
        pl_pg_server_stop(srv);
        return -1;
    }
    snprintf(initdb, sizeof initdb, "%s/initdb", bin);
    snprintf(data, sizeof data, "%s/data", srv->dir);
    snprintf(log_path, sizeof log_path, "%s/postgres.log", srv->dir);
    //  initdb's own fsyncs only protect a cluster we throw away; the server keeps fsync on.
    char *const initdb_argv[] = {initdb,      "-D",    data, "-U",   "postgres",
                                 "-A",        "trust", "-E", "UTF8", "--locale=C.UTF-8",
                                 "--no-sync", NULL};
    pid_t pid = s_spawn(srv, initdb_argv, log_path);
    if (pid < 0 || s_wait_exit(pid, PL_PG_INITDB_TIMEOUT_MS) != 0) {
        s_log_tail(log_path, "initdb failed", why, why_len);
        pl_pg_server_stop(srv);
        return -1;
    }
    srv->port = pl_net_free_port();
    snprintf(srv->url, sizeof srv->url, "postgresql://postgres@127.0.0.1:%d", srv->port);
    snprintf(srv->bin, sizeof srv->bin, "%s", bin);
    if (s_launch(srv, why, why_len)) {
        pl_pg_server_stop(srv);
        return -1;
    }
    return 0;
}

void pl_pg_server_stop(pl_pg_server_t *srv)
{
    s_halt(srv);
    if (srv->dir[0])
        pl_tmp_dir_remove(srv->dir);
    srv->dir[0] = '\0';
}

//  Runs one statement on the server's maintenance database; 0 or -1 (reason on stderr).
static int s_admin(const char *server_url, const char *sql)
{
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo, "%s/postgres", server_url);
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res = PQstatus(conn) == CONNECTION_OK ? PQexec(conn, sql) : NULL;
    int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        fprintf(stderr, "pg_server: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int pl_pg_database_new(const char *server_url, char *url, size_t size)
{
    static atomic_int made;
    char name[64], sql[128];
    snprintf(name, sizeof name, "parley_%d_%d", (int)getpid(), atomic_fetch_add(&made, 1));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    int n = snprintf(url, size, "%s/%s", server_url, name);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return s_admin(server_url, sql);
}

void pl_pg_database_drop(const char *server_url, const char *url)
{
    const char *name = strrchr(url, '/');
    char sql[128];
    if (!name || strncmp(name + 1, "parley_", 7) != 0)
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name + 1);
    s_admin(server_url, sql);
}
