/*  Reaching Redis: parsing redis_url and opening an authenticated connection. The
    bridge (bridge.h) is the only user; everything here blocks, which only the bridge
    thread may. A password travels in AUTH and nowhere else: errors and logs name the
    host, never the URL. */
#ifndef PARLEY_REDIS_LINK_H
#define PARLEY_REDIS_LINK_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct {
    char host[256];
    int port;
    char password[256]; //  empty: none
    int db;
} pl_redis_addr_t;

//  Parses redis://[:password@]host[:port][/db]. Returns 0, or -1 with why in err.
int pl_redis_parse_url(const char *url, pl_redis_addr_t *addr, char *err, size_t err_len);

//  Connects, sends AUTH and SELECT, and sets timeout_ms on every later read and write.
//  Returns the context, or NULL with why in err.
redisContext *pl_redis_connect(const pl_redis_addr_t *addr, int timeout_ms, char *err,
                               size_t err_len);

#endif
