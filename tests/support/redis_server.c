/*  tests/support/redis_server.c: see redis_server.h. */
#include "redis_server.h"

#include "net.h"
#include "tmp_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_BINARY "/usr/bin/redis-server"
#define POLL_MS      20

static void s_pause(void)
{
    nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
}

static redisContext *s_connect(const pl_redis_server_t *srv)
{
    redisContext *redis = redisConnectWithTimeout("127.0.0.1", srv->port, (struct timeval){1, 0});
    if (!redis || redis->err) {
        redisFree(redis);
        return NULL;
    }
    if (srv->password[0]) {
        redisReply *reply = redisCommand(redis, "AUTH %s", srv->password);
        bool ok = reply && reply->type != REDIS_REPLY_ERROR;
        freeReplyObject(reply);
        if (!ok) {
            redisFree(redis);
            return NULL;
        }
    }
    return redis;
}

long long pl_redis_server_query(const pl_redis_server_t *srv, const char *format, ...)
{
    redisContext *redis = s_connect(srv);
    if (!redis)
        return -1;
    va_list args;
    va_start(args, format);
    redisReply *reply = redisvCommand(redis, format, args);
    va_end(args);
    long long value = !reply                               ? -1
                      : reply->type == REDIS_REPLY_INTEGER ? reply->integer
                      : reply->type == REDIS_REPLY_ARRAY   ? (long long)reply->elements
                      : reply->type == REDIS_REPLY_ERROR   ? -1
                                                           : 0;
    freeReplyObject(reply);
    redisFree(redis);
    return value;
}

int pl_redis_server_start(pl_redis_server_t *srv, char *why, size_t why_len)
{
    if (access(REDIS_BINARY, X_OK) != 0) {
        snprintf(why, why_len, "%s is not installed (Debian package redis-server)", REDIS_BINARY);
        return -1;
    }
    if (!srv->dir[0] && pl_tmp_dir_make(srv->dir, sizeof srv->dir, "parley-redis") != 0) {
        snprintf(why, why_len, "cannot make a directory: %s", strerror(errno));
        return -1;
    }
    if (!srv->port && !(srv->port = pl_net_free_port())) {
        snprintf(why, why_len, "no free port");
        return -1;
    }
    snprintf(srv->url, sizeof srv->url, "redis://%s%s%s127.0.0.1:%d", srv->password[0] ? ":" : "",
             srv->password, srv->password[0] ? "@" : "", srv->port);
    char port[16], log[200];
    snprintf(port, sizeof port, "%d", srv->port);
    snprintf(log, sizeof log, "%s/redis.log", srv->dir);
    char *argv[20] = {REDIS_BINARY,   "--port", port,    "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no",     "--dir", srv->dir, "--logfile", log,      NULL};
    if (srv->password[0]) {
        argv[13] = "--requirepass";
        argv[14] = srv->password;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            dup2(null_fd, 1);
            dup2(null_fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return -1;
    }
    srv->pid = pid;
    int64_t deadline = pl_net_now_ms() + PL_REDIS_START_TIMEOUT_MS;
    while (pl_net_now_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            snprintf(why, why_len, "redis-server exited at once (see %s)", log);
            return -1;
        }
        redisContext *redis = s_connect(srv);
        if (redis) {
            redisFree(redis);
            return 0;
        }
        s_pause();
    }
    pl_redis_server_stop(srv);
    snprintf(why, why_len, "redis-server did not answer in time (see %s)", log);
    return -1;
}

void pl_redis_server_stop(pl_redis_server_t *srv)
{
    if (!srv->pid)
        return;
    kill(srv->pid, SIGTERM);
    int64_t deadline = pl_net_now_ms() + PL_REDIS_STOP_TIMEOUT_MS;
    int status;
    while (waitpid(srv->pid, &status, WNOHANG) == 0) {
        if (pl_net_now_ms() >= deadline) {
            kill(srv->pid, SIGKILL);
            waitpid(srv->pid, &status, 0);
            break;
        }
        s_pause();
    }
    srv->pid = 0;
}

void pl_redis_server_cleanup(pl_redis_server_t *srv)
{
    pl_redis_server_stop(srv);
    if (srv->dir[0])
        pl_tmp_dir_remove(srv->dir);
    srv->dir[0] = '\0';
}
