/*  tests/support/server_proc.c
 *
 *  Owns the lifecycle of a parley child process. pl_server_start forks and
 *  execs the binary with its stdout and stderr on one pipe, and starts a
 *  reader thread that copies that pipe line by line into server.log. The
 *  reader also polls a pidfd of the child (exit) and an eventfd (stop
 *  request); it reports "ready" (the listening line, with its port) and
 *  "exited" under a mutex and broadcasts a condition variable that uses
 *  CLOCK_MONOTONIC, so start and stop wait with real deadlines and no
 *  sleeps. Without pidfds (old kernels) the end of the pipe stands for the
 *  exit. Reaping is always an explicit waitpid on the child's own pid, never
 *  waitpid(-1), and no signal handler is installed, so servers started by
 *  parallel tests do not interfere. pl_parley_run runs the binary to its
 *  end instead, its output in two temporary files, its exit awaited on a
 *  pidfd with a deadline.
 */
#include "server_proc.h"

#include "pg_server.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PARLEY_BINARY
#error "PARLEY_BINARY must be defined (tests/CMakeLists.txt does it)"
#endif

#define DIR_PREFIX     "/tmp/parley-test-"
#define READY_MARKER   "listening on 127.0.0.1:"
#define LINE_MAX_BYTES (64 * 1024)
#define KILL_WAIT_MS   5000

//  The server under test: TEST_PARLEY_BINARY when set (e.g. a ThreadSanitizer build of
//  parley, since Criterion itself cannot run under TSAN), else the one built beside us.
static const char *s_binary(void)
{
    const char *binary = getenv("TEST_PARLEY_BINARY");
    return binary && *binary ? binary : PARLEY_BINARY;
}

bool pl_server_binary_exists(void)
{
    return access(s_binary(), X_OK) == 0;
}

//  Writes all of buf to fd, ignoring errors (the log is best effort).
static void s_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

//  Looks for the listening line; on a match marks the server ready.
static void s_check_ready(pl_server_t *srv, const char *line, size_t len)
{
    //  The marker can sit anywhere in a log line; scan the whole line.
    const char *hit = memmem(line, len, READY_MARKER, strlen(READY_MARKER));
    if (!hit)
        return;
    char copy[64];
    size_t n = (size_t)(line + len - hit);
    if (n > sizeof copy - 1)
        n = sizeof copy - 1;
    memcpy(copy, hit, n);
    copy[n] = '\0';
    char *end;
    long port = strtol(copy + strlen(READY_MARKER), &end, 10);
    if (end == copy + strlen(READY_MARKER) || port <= 0 || port > 65535)
        return;
    pthread_mutex_lock(&srv->lock_);
    if (!srv->ready_) {
        srv->ready_ = true;
        srv->ready_port_ = (int)port;
        pthread_cond_broadcast(&srv->cond_);
    }
    pthread_mutex_unlock(&srv->lock_);
}

typedef struct {
    char *data;
    size_t len;
} line_buf_t;

//  Appends output to the pending line and writes out every complete line.
static void s_consume(pl_server_t *srv, line_buf_t *lb, const char *data, size_t len)
{
    char *grown = realloc(lb->data, lb->len + len);
    if (!grown) {
        s_write_all(srv->log_fd_, data, len);
        return;
    }
    lb->data = grown;
    memcpy(lb->data + lb->len, data, len);
    lb->len += len;

    size_t start = 0;
    for (;;) {
        char *nl = memchr(lb->data + start, '\n', lb->len - start);
        if (!nl)
            break;
        size_t line_len = (size_t)(nl - (lb->data + start)) + 1;
        s_write_all(srv->log_fd_, lb->data + start, line_len);
        s_check_ready(srv, lb->data + start, line_len - 1);
        start += line_len;
    }
    if (lb->len - start > LINE_MAX_BYTES) {
        s_write_all(srv->log_fd_, lb->data + start, lb->len - start);
        start = lb->len;
    }
    memmove(lb->data, lb->data + start, lb->len - start);
    lb->len -= start;
}

//  Reads whatever the pipe holds right now. Returns false at EOF or error.
static bool s_drain(pl_server_t *srv, line_buf_t *lb, int fd)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            s_consume(srv, lb, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

//  The reader thread: copies the child's output to the log until the child
//  exits or pl_server_stop / pl_server_kill9 wakes it.
static void *s_reader(void *arg)
{
    pl_server_t *srv = arg;
    line_buf_t lb = {0};
    struct pollfd fds[3] = {
        {.fd = srv->out_fd_, .events = POLLIN},
        {.fd = srv->wake_fd_, .events = POLLIN},
        {.fd = srv->pidfd_, .events = POLLIN},
    };
    nfds_t nfds = srv->pidfd_ >= 0 ? 3 : 2;
    for (;;) {
        if (poll(fds, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].fd >= 0 && fds[0].revents) {
            if (!s_drain(srv, &lb, fds[0].fd)) {
                fds[0].fd = -1; //  EOF: poll ignores negative fds
                if (srv->pidfd_ < 0)
                    break; //  no pidfd: the end of output means exit
            }
        }
        if (fds[1].revents || (nfds == 3 && fds[2].revents)) {
            //  The child is gone (or being reaped): take its last words.
            if (fds[0].fd >= 0)
                s_drain(srv, &lb, fds[0].fd);
            break;
        }
    }
    if (lb.len > 0) {
        s_write_all(srv->log_fd_, lb.data, lb.len);
        s_write_all(srv->log_fd_, "\n", 1);
    }
    free(lb.data);
    pthread_mutex_lock(&srv->lock_);
    srv->exited_ = true;
    pthread_cond_broadcast(&srv->cond_);
    pthread_mutex_unlock(&srv->lock_);
    return NULL;
}

//  Absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait.
static struct timespec s_deadline(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

//  Waits until the reader reports exit (or, if want_ready, readiness) or
//  the deadline passes. Returns true if the awaited state was reached.
static bool s_wait_state(pl_server_t *srv, bool want_ready, int timeout_ms)
{
    struct timespec deadline = s_deadline(timeout_ms);
    pthread_mutex_lock(&srv->lock_);
    while (!srv->exited_ && !(want_ready && srv->ready_)) {
        if (pthread_cond_timedwait(&srv->cond_, &srv->lock_, &deadline) == ETIMEDOUT)
            break;
    }
    bool reached = want_ready ? srv->ready_ && !srv->exited_ : srv->exited_;
    pthread_mutex_unlock(&srv->lock_);
    return reached;
}

//  Reaps the child (blocking: call it once the child is dead or dying),
//  stops and joins the reader, and releases everything but the data dir.
//  Returns the raw wait status, or -1 if waitpid failed.
static int s_reap(pl_server_t *srv)
{
    int status = -1;
    while (waitpid(srv->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    if (srv->thread_live_) {
        uint64_t one = 1;
        ssize_t rc = write(srv->wake_fd_, &one, sizeof one);
        (void)rc;
        pthread_join(srv->reader_, NULL);
        srv->thread_live_ = false;
    }
    close(srv->out_fd_);
    close(srv->wake_fd_);
    close(srv->log_fd_);
    if (srv->pidfd_ >= 0)
        close(srv->pidfd_);
    pthread_cond_destroy(&srv->cond_);
    pthread_mutex_destroy(&srv->lock_);
    srv->out_fd_ = srv->wake_fd_ = srv->log_fd_ = srv->pidfd_ = -1;
    srv->pid = 0;
    srv->port = 0;
    return status;
}

//  Prepares data_dir and log_path. Returns 0 or -1.
static int s_prepare_dir(pl_server_t *srv)
{
    if (srv->data_dir[0] == '\0') {
        snprintf(srv->data_dir, sizeof srv->data_dir, "%sXXXXXX", DIR_PREFIX);
        if (!mkdtemp(srv->data_dir)) {
            srv->data_dir[0] = '\0';
            return -1;
        }
        srv->owns_dir_ = true;
    } else if (mkdir(srv->data_dir, 0700) < 0 && errno != EEXIST) {
        return -1;
    }
    int n = snprintf(srv->log_path, sizeof srv->log_path, "%s/server.log", srv->data_dir);
    return n > 0 && (size_t)n < sizeof srv->log_path ? 0 : -1;
}

bool pl_server_store_is_postgres(void)
{
    const char *store = getenv("PL_TEST_STORE");
    return store && strcmp(store, "postgres") == 0;
}

//  Against PostgreSQL: gives the server a fresh database of the suite's server the
//  first time it starts (a restart keeps it, as it keeps data_dir), and names it in
//  the environment, which the server and pl_parley_run's subcommands read as an
//  operator's would (PARLEY_STORE, PARLEY_POSTGRES_URL).
static int s_prepare_database(pl_server_t *srv)
{
    if (!pl_server_store_is_postgres())
        return 0;
    const char *server = getenv(PL_PG_SERVER_ENV);
    if (!server) {
        fprintf(stderr, "server_proc: PL_TEST_STORE=postgres but no PostgreSQL server\n");
        return -1;
    }
    if (!srv->postgres_url[0] &&
        pl_pg_database_new(server, srv->postgres_url, sizeof srv->postgres_url)) {
        srv->postgres_url[0] = '\0';
        return -1;
    }
    return setenv("PARLEY_STORE", "postgres", 1) ||
           setenv("PARLEY_POSTGRES_URL", srv->postgres_url, 1);
}

//  Builds the argv of the server; the strings are borrowed. Caller frees the
//  array.
static char **s_build_argv(const pl_server_t *srv, const char *const *extra_args)
{
    static const char *const base[] = {"--listen", "127.0.0.1:0", "--data-dir",
                                       NULL, //  data_dir
                                       "--password-hash-ops", "1", "--password-hash-mem-kib", "8",
                                       "--log-level", "debug",
                                       //  civetweb starts and joins a thread per
                                       //  connection slot; tests need few.
                                       "--max-connections", "32",
                                       //  Two shards of each, whatever the CPUs, so
                                       //  that paths across shards are always taken.
                                       "--room-threads", "2", "--writer-threads", "2",
                                       //  Every test's users sign up from 127.0.0.1.
                                       "--signup-limit-addr", "1000000"};
    size_t n_base = sizeof base / sizeof base[0];
    size_t n_extra = 0;
    while (extra_args && extra_args[n_extra])
        n_extra++;
    char **argv = calloc(1 + n_base + n_extra + 1, sizeof *argv);
    if (!argv)
        return NULL;
    size_t i = 0;
    argv[i++] = (char *)s_binary();
    for (size_t j = 0; j < n_base; j++)
        argv[i++] = (char *)(base[j] ? base[j] : srv->data_dir);
    for (size_t j = 0; j < n_extra; j++)
        argv[i++] = (char *)extra_args[j];
    argv[i] = NULL;
    return argv;
}

//  In the child, between fork and exec: only async-signal-safe calls.
static void s_child(int in_fd, int out_fd, int err_fd, pid_t parent, char **argv)
{
    //  Die with the thread that started us, so no server outlives its test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    //  Inherit no other descriptor (e.g. Criterion's pipes).
    if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const int reset[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
        signal(reset[i], SIG_DFL);
    execv(argv[0], argv);
    static const char msg[] = "server_proc: execv of the parley binary failed\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(127);
}

int pl_server_start(pl_server_t *srv, const char *const *extra_args)
{
    if (!srv || srv->pid != 0 || srv->thread_live_)
        return -1;
    srv->port = 0;
    if (s_prepare_dir(srv) < 0 || s_prepare_database(srv) < 0)
        return -1;

    int log_fd = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return -1;
    char banner[512];
    int blen = snprintf(banner, sizeof banner, "----- pl_server_start: %s (data dir %s) -----\n",
                        s_binary(), srv->data_dir);
    s_write_all(log_fd, banner, (size_t)blen < sizeof banner ? (size_t)blen : sizeof banner - 1);

    int pipe_fds[2] = {-1, -1};
    int wake_fd = -1, null_fd = -1;
    char **argv = s_build_argv(srv, extra_args);
    if (!argv || pipe2(pipe_fds, O_CLOEXEC) < 0 ||
        (wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
        fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK) < 0)
        goto fail;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        s_child(null_fd, pipe_fds[1], pipe_fds[1], parent, argv);

    close(pipe_fds[1]);
    close(null_fd);
    free(argv);
    srv->pid = pid;
    srv->out_fd_ = pipe_fds[0];
    srv->wake_fd_ = wake_fd;
    srv->log_fd_ = log_fd;
    srv->pidfd_ = (int)syscall(SYS_pidfd_open, pid, 0);
    srv->ready_ = false;
    srv->exited_ = false;
    srv->ready_port_ = 0;

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cond_, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&srv->lock_, NULL);
    srv->thread_live_ = pthread_create(&srv->reader_, NULL, s_reader, srv) == 0;

    if (srv->thread_live_ && s_wait_state(srv, true, PL_SERVER_START_TIMEOUT_MS)) {
        srv->port = srv->ready_port_;
        return 0;
    }
    kill(srv->pid, SIGKILL);
    s_reap(srv);
    return -1;

fail:
    free(argv);
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    if (wake_fd >= 0)
        close(wake_fd);
    if (null_fd >= 0)
        close(null_fd);
    close(log_fd);
    return -1;
}

int pl_server_stop(pl_server_t *srv)
{
    if (!srv || srv->pid == 0)
        return -1;
    kill(srv->pid, SIGTERM);
    if (!s_wait_state(srv, false, PL_SERVER_STOP_TIMEOUT_MS)) {
        kill(srv->pid, SIGKILL);
        s_wait_state(srv, false, KILL_WAIT_MS);
    }
    int status = s_reap(srv);
    int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    //  An unclean exit is a failure the caller will report; the log (e.g. a
    //  sanitizer's report) says why, and the data dir holding it is about to go.
    if (code != 0)
        pl_server_dump_log(srv);
    return code;
}

void pl_server_kill9(pl_server_t *srv)
{
    if (!srv || srv->pid == 0)
        return;
    kill(srv->pid, SIGKILL);
    s_reap(srv);
}

static int s_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void pl_server_cleanup(pl_server_t *srv)
{
    if (!srv)
        return;
    pl_server_kill9(srv);
    if (srv->owns_dir_ && strncmp(srv->data_dir, DIR_PREFIX, strlen(DIR_PREFIX)) == 0 &&
        !strstr(srv->data_dir, ".."))
        nftw(srv->data_dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    srv->data_dir[0] = '\0';
    srv->log_path[0] = '\0';
    srv->owns_dir_ = false;
    const char *server = getenv(PL_PG_SERVER_ENV);
    if (srv->postgres_url[0] && server)
        pl_pg_database_drop(server, srv->postgres_url);
    srv->postgres_url[0] = '\0';
}

void pl_server_dump_log(const pl_server_t *srv)
{
    if (!srv || srv->log_path[0] == '\0')
        return;
    fprintf(stderr, "===== %s =====\n", srv->log_path);
    FILE *f = fopen(srv->log_path, "re");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            fwrite(chunk, 1, n, stderr);
        fclose(f);
    } else {
        fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
    }
    fprintf(stderr, "===== end of server log =====\n");
    fflush(stderr);
}

//  Reads all of a temporary file from its start into a new string ("" on error).
static char *s_slurp(FILE *file)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out) {
        char chunk[4096];
        size_t n;
        rewind(file);
        while ((n = fread(chunk, 1, sizeof chunk, file)) > 0)
            fwrite(chunk, 1, n, out);
        fclose(out);
    }
    return text ? text : strdup("");
}

//  Waits up to timeout_ms for the child to exit, then kills it. Returns the raw
//  wait status, or -1 when it had to be killed or could not be waited for.
static int s_wait_exit(pid_t pid, int timeout_ms)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool timed_out = false;
    if (pidfd >= 0) {
        struct pollfd fd = {.fd = pidfd, .events = POLLIN};
        int rc;
        while ((rc = poll(&fd, 1, timeout_ms)) < 0 && errno == EINTR)
            ;
        timed_out = rc == 0;
        close(pidfd);
    }
    if (timed_out)
        kill(pid, SIGKILL);
    int status = -1;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return timed_out ? -1 : status;
}

int pl_parley_run(const char *const *args, int timeout_ms, char **out, char **err)
{
    *out = *err = NULL;
    size_t n_args = 0;
    while (args && args[n_args])
        n_args++;
    char **argv = calloc(n_args + 2, sizeof *argv);
    FILE *out_file = tmpfile(), *err_file = tmpfile();
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int status = -1;
    if (!argv || !out_file || !err_file || null_fd < 0)
        goto done;
    argv[0] = (char *)s_binary();
    for (size_t i = 0; i < n_args; i++)
        argv[i + 1] = (char *)args[i];
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        s_child(null_fd, fileno(out_file), fileno(err_file), parent, argv);
    if (pid > 0)
        status = s_wait_exit(pid, timeout_ms);
done:
    *out = out_file ? s_slurp(out_file) : strdup("");
    *err = err_file ? s_slurp(err_file) : strdup("");
    if (out_file)
        fclose(out_file);
    if (err_file)
        fclose(err_file);
    if (null_fd >= 0)
        close(null_fd);
    free(argv);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
