/*  What one WebSocket asks of the server (PROTOCOL.md "WebSocket"): the requests of a
    connection, read by its connection actor (conn.h) and answered here. A request is
    parsed (ws_request.h), checked against the connection's rate limit and
    subscriptions, and sent on to its room's actor through the caller's outlets;
    what is answered at once (a pong, an error frame) goes back through the caller's
    reply function, ahead of anything the rooms answer later. The state is this
    struct, one per connection, owned by the connection actor's thread. */
#ifndef PARLEY_WS_SESSION_H
#define PARLEY_WS_SESSION_H

#include "parley/app.h"

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t id;
    int64_t user_id;
    int64_t *rooms; //  owned: rooms subscribed to, to leave them when the connection ends
    size_t room_count, room_capacity;
    double tokens; //  rate limit: a token bucket refilled rate_limit_per_s
    int64_t tokens_at;
} pl_ws_session_t;

//  The connection actor's side: the app (configuration, upload checks), its outlets to
//  the room shards and, in a cluster, to the bridge, which takes the requests for rooms
//  other nodes own (sends that would block fail: see ws_session.c), and how to queue a
//  text frame to the connection a request came from.
typedef struct {
    pl_app_t *app;
    zsock_t **rooms;
    zsock_t *bridge; //  NULL without a cluster
    void (*reply)(void *arg, const char *text, size_t len);
    void *reply_arg;
} pl_ws_session_ctx_t;

//  A new connection's session, its bucket full.
void pl_ws_session_init(pl_ws_session_t *self, uint64_t id, int64_t user_id,
                        const pl_config_t *config);

//  Handles one whole message from the client (opcode text or binary).
void pl_ws_session_message(const pl_ws_session_ctx_t *ctx, pl_ws_session_t *self, int opcode,
                           const char *data, size_t len);

//  The connection is gone: tells every room it subscribed to, and frees the session.
void pl_ws_session_end(const pl_ws_session_ctx_t *ctx, pl_ws_session_t *self);

//  Frees the session without telling the rooms (they are stopping too).
void pl_ws_session_free(pl_ws_session_t *self);

#endif
