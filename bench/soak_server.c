/*  The parley a soak runs against when given --server-bin: started on a port picked
    once (so every incarnation listens where the clients reconnect) and a data dir
    made once (so every incarnation has the same store and JWT key), its output
    appended to server.log in that dir. A start waits for /healthz to answer 200;
    a kill is SIGKILL with no warning; each incarnation's RSS and fd samples are kept
    for the leak check. The child dies with the generator (PR_SET_PDEATHSIG). */
#include "soak.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_S 60
#define STOP_TIMEOUT_S  20

//  A port nobody listens on now; the kernel does not hand it out again at once.
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    inet_pton(AF_INET, BN_HOST, &addr.sin_addr);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void s_exec(const sk_server_t *srv)
{
    const bn_opts_t *o = srv->o;
    char log[96], listen[32];
    snprintf(log, sizeof log, "%s/server.log", srv->dir);
    snprintf(listen, sizeof listen, BN_HOST ":%d", o->port);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (o->server_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->server_cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    char **argv = calloc((size_t)o->server_nargs + 6, sizeof *argv);
    if (!argv)
        _exit(127);
    int n = 0;
    argv[n++] = (char *)o->server_bin;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data-dir";
    argv[n++] = (char *)srv->dir;
    for (int i = 0; i < o->server_nargs; i++)
        argv[n++] = o->server_args[i];
    execv(o->server_bin, argv);
    fprintf(stderr, "parley-bench: exec %s: %s\n", o->server_bin, strerror(errno));
    _exit(127);
}

static bool s_healthy(int port)
{
    bn_http_t h;
    bn_http_init(&h, port);
    char *resp = NULL;
    int status = bn_http_request(&h, "GET", "/healthz", NULL, NULL, &resp);
    free(resp);
    bn_http_close(&h);
    return status == 200;
}

int sk_server_start(sk_server_t *srv)
{
    bn_opts_t *o = (bn_opts_t *)srv->o;
    if (srv->nstarts == SK_MAX_STARTS)
        return -1;
    if (srv->nstarts == 0) {
        snprintf(srv->dir, sizeof srv->dir, "/tmp/parley-soak.XXXXXX");
        if (!mkdtemp(srv->dir) || (o->port = s_free_port()) < 0)
            return -1;
        o->ports[0] = o->port;
        o->nports = 1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        s_exec(srv);
    srv->pid = pid;
    srv->starts[srv->nstarts++] = (sk_start_t){.pid = pid,
                                               .start_ns = bn_now_ns(),
                                               .rss_warm = -1,
                                               .fds_warm = -1,
                                               .rss_end = -1,
                                               .fds_end = -1};
    uint64_t deadline = bn_now_ns() + (uint64_t)START_TIMEOUT_S * 1000000000u;
    while (bn_now_ns() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            return -1;
        }
        if (s_healthy(o->port))
            return 0;
        usleep(20000);
    }
    sk_server_kill9(srv);
    return -1;
}

void sk_server_kill9(sk_server_t *srv)
{
    if (!srv->pid)
        return;
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    srv->starts[srv->nstarts - 1].end_ns = bn_now_ns();
    srv->pid = 0;
}

int sk_server_stop(sk_server_t *srv)
{
    if (!srv->pid)
        return -1;
    kill(srv->pid, SIGTERM);
    uint64_t deadline = bn_now_ns() + (uint64_t)STOP_TIMEOUT_S * 1000000000u;
    int status = 0;
    while (waitpid(srv->pid, &status, WNOHANG) == 0) {
        if (bn_now_ns() > deadline) {
            sk_server_kill9(srv);
            return -1;
        }
        usleep(20000);
    }
    srv->starts[srv->nstarts - 1].end_ns = bn_now_ns();
    srv->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void sk_server_sample(sk_server_t *srv, double warmup_s)
{
    if (!srv->pid || !srv->nstarts)
        return;
    sk_start_t *st = &srv->starts[srv->nstarts - 1];
    int64_t rss = bn_proc_rss_kib(st->pid), fds = bn_proc_fds(st->pid);
    if (rss < 0 || fds < 0 || (double)(bn_now_ns() - st->start_ns) / 1e9 < warmup_s)
        return;
    st->rss_ring[st->samples % SK_SPAN] = rss;
    st->fds_ring[st->samples % SK_SPAN] = fds;
    if (++st->samples < SK_SPAN)
        return;
    int64_t rss_sum = 0, fds_sum = 0;
    for (int i = 0; i < SK_SPAN; i++) {
        rss_sum += st->rss_ring[i];
        fds_sum += st->fds_ring[i];
    }
    if (st->rss_warm < 0) { //  the baseline; the end is taken from later samples only
        st->rss_warm = rss_sum / SK_SPAN;
        st->fds_warm = fds_sum / SK_SPAN;
        st->samples = 0;
    } else {
        st->rss_end = rss_sum / SK_SPAN;
        st->fds_end = fds_sum / SK_SPAN;
    }
}

int sk_server_log_errors(const sk_server_t *srv, char *first, size_t first_len)
{
    char path[96], line[1024];
    snprintf(path, sizeof path, "%s/server.log", srv->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int errors = 0;
    while (fgets(line, sizeof line, f)) {
        //  Text lines read "<time> <level> [<actor>] ...", JSON ones carry "level".
        const char *level = strchr(line, ' ');
        if ((level && strncmp(level + 1, "error", 5) == 0) || strstr(line, "\"level\":\"error\"") ||
            strstr(line, "Sanitizer")) {
            if (!errors++)
                snprintf(first, first_len, "%.*s", (int)strcspn(line, "\n"), line);
        }
    }
    fclose(f);
    return errors;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void sk_server_forget(const sk_server_t *srv)
{
    if (srv->dir[0] && !srv->pid)
        nftw(srv->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}
