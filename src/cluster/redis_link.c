/*  redis_url and connections (see redis_link.h). */
#include "parley/redis_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEME "redis://"

int pl_redis_parse_url(const char *url, pl_redis_addr_t *addr, char *err, size_t err_len)
{
    *addr = (pl_redis_addr_t){.port = 6379};
    if (strncmp(url, SCHEME, strlen(SCHEME)) != 0) {
        snprintf(err, err_len, "redis_url must start with redis://");
        return -1;
    }
    const char *p = url + strlen(SCHEME);
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *secret = colon ? colon + 1 : p;
        size_t len = (size_t)(at - secret);
        if (len >= sizeof addr->password) {
            snprintf(err, err_len, "redis_url: the password is too long");
            return -1;
        }
        memcpy(addr->password, secret, len);
        addr->password[len] = '\0';
        p = at + 1;
    }
    size_t host_len = strcspn(p, ":/");
    if (host_len == 0 || host_len >= sizeof addr->host) {
        snprintf(err, err_len, "redis_url names no host");
        return -1;
    }
    memcpy(addr->host, p, host_len);
    addr->host[host_len] = '\0';
    p += host_len;
    char *end;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            snprintf(err, err_len, "redis_url: the port is not 1-65535");
            return -1;
        }
        addr->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000000) {
            snprintf(err, err_len, "redis_url: the database is not a number");
            return -1;
        }
        addr->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        snprintf(err, err_len, "redis_url: unexpected '%s' after the host", p);
        return -1;
    }
    return 0;
}

//  Runs one command and checks that it did not fail. Returns 0 or -1 with err set.
static int s_command_ok(redisContext *redis, const char *what, char *err, size_t err_len,
                        const char *format, ...)
{
    va_list args;
    va_start(args, format);
    redisReply *reply = redisvCommand(redis, format, args);
    va_end(args);
    int rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc)
        snprintf(err, err_len, "%s: %s", what,
                 reply              ? reply->str
                 : redis->errstr[0] ? redis->errstr
                                    : "no answer");
    freeReplyObject(reply);
    return rc;
}

redisContext *pl_redis_connect(const pl_redis_addr_t *addr, int timeout_ms, char *err,
                               size_t err_len)
{
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *redis = redisConnectWithTimeout(addr->host, addr->port, timeout);
    if (!redis || redis->err) {
        snprintf(err, err_len, "cannot reach Redis at %s:%d: %s", addr->host, addr->port,
                 redis ? redis->errstr : "out of memory");
        redisFree(redis);
        return NULL;
    }
    if (redisSetTimeout(redis, timeout) != REDIS_OK ||
        (addr->password[0] && s_command_ok(redis, "Redis refused the password", err, err_len,
                                           "AUTH %s", addr->password)) ||
        (addr->db &&
         s_command_ok(redis, "Redis refused the database", err, err_len, "SELECT %d", addr->db))) {
        if (!err[0])
            snprintf(err, err_len, "cannot set Redis timeouts");
        redisFree(redis);
        return NULL;
    }
    return redis;
}
