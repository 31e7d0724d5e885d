/*  A WebSocket's requests (ws_session.h). A plain `send` is read by send_scan.h's
    one-pass reader, everything else with jansson (ws_request.h). A request that
    cannot reach its room at once (the room's inbox is full) is refused with
    `unavailable` rather than waited for: the connection actor that calls this also
    takes the rooms' answers, and waiting for a room that waits for it would stop
    both. */
#include "parley/ws_session.h"

#include "parley/http.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/room.h"
#include "parley/uploads.h"
#include "parley/ws_request.h"

#include <stdarg.h>
#include <stdlib.h>

//  Most rooms one connection may be subscribed to at once.
#define MAX_SUBSCRIPTIONS 1024

typedef struct {
    const pl_ws_session_ctx_t *ctx;
    pl_ws_session_t *session;
    const pl_ws_request_t *request;
} request_t;

//  Queues one JSON frame (stolen) for the connection.
static void s_send(const pl_ws_session_ctx_t *ctx, json_t *frame)
{
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    if (!text)
        return;
    ctx->reply(ctx->reply_arg, text, strlen(text));
    free(text);
}

//  Sets frame's "ref" to ref, when there is one (ptr NULL: none).
static void s_set_ref(json_t *frame, pl_str_t ref)
{
    if (ref.ptr)
        json_object_set_new(frame, "ref", json_stringn(ref.ptr, ref.len));
}

//  Queues an error frame naming the request by ref (ptr NULL: none).
static void s_send_error(const pl_ws_session_ctx_t *ctx, pl_str_t ref, const char *code,
                         const char *message)
{
    json_t *frame = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    s_set_ref(frame, ref);
    s_send(ctx, frame);
}

static void s_reject(const request_t *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_reject(const request_t *r, const char *code, const char *fmt, ...)
{
    char message[PL_WS_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    s_send_error(r->ctx, r->request->error_ref, code, message);
}

//  Sends msg to the actor of room_id's shard, or to the bridge when another node owns
//  the room; false when that inbox is full.
static bool s_to_room(const pl_ws_session_ctx_t *ctx, int64_t room_id, const pl_msg_t *msg)
{
    zsock_t *to = ctx->bridge && !pl_cluster_owns(room_id)
                      ? ctx->bridge
                      : ctx->rooms[pl_room_shard(room_id, ctx->app->room_count)];
    return pl_msg_send(zsock_resolve(to), msg) == 0;
}

//  Sends a request's message to its room, or refuses the request when it cannot.
static void s_forward(const request_t *r, int64_t room_id, const pl_msg_t *msg)
{
    if (!s_to_room(r->ctx, room_id, msg))
        s_reject(r, "unavailable", "the server is overloaded: try again");
}

//  Takes one token from the connection's bucket; false when it is empty.
static bool s_take_token(const request_t *r)
{
    const pl_config_t *config = r->ctx->app->config;
    pl_ws_session_t *s = r->session;
    int64_t now = pl_now_ms();
    double rate = (double)config->rate_limit_per_s, burst = (double)config->rate_limit_burst;
    s->tokens += (double)(now - s->tokens_at) * rate / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->tokens_at = now;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

static void s_ping(const request_t *r)
{
    json_t *pong = json_pack("{s:s}", "type", "pong");
    s_set_ref(pong, r->request->error_ref);
    s_send(r->ctx, pong);
}

//  Notes room among the session's subscriptions; false (refused) when it cannot.
static bool s_note_room(const request_t *r, int64_t room)
{
    pl_ws_session_t *s = r->session;
    for (size_t i = 0; i < s->room_count; i++)
        if (s->rooms[i] == room)
            return true;
    if (s->room_count == MAX_SUBSCRIPTIONS) {
        s_reject(r, "bad_request", "room: at most %d subscriptions per connection",
                 MAX_SUBSCRIPTIONS);
        return false;
    }
    if (s->room_count == s->room_capacity) {
        size_t capacity = s->room_capacity ? s->room_capacity * 2 : 4;
        int64_t *grown = realloc(s->rooms, capacity * sizeof *grown);
        if (!grown) {
            s_reject(r, "internal", "out of memory");
            return false;
        }
        s->rooms = grown;
        s->room_capacity = capacity;
    }
    s->rooms[s->room_count++] = room;
    return true;
}

static void s_subscribe(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    if (!s_note_room(r, q->room))
        return;
    pl_msg_t msg = {.type = PL_MSG_ROOM_SUBSCRIBE,
                    .as.room_subscribe = {.conn_id = r->session->id,
                                          .user_id = r->session->user_id,
                                          .room_id = q->room,
                                          .since = q->since,
                                          .ref = q->ref}};
    s_forward(r, q->room, &msg);
}

//  Tells a room this connection is gone from it.
static void s_leave_room(const pl_ws_session_ctx_t *ctx, const pl_ws_session_t *s, int64_t room)
{
    pl_msg_t msg = {
        .type = PL_MSG_ROOM_UNSUBSCRIBE,
        .as.room_unsubscribe = {.conn_id = s->id, .user_id = s->user_id, .room_id = room}};
    if (!s_to_room(ctx, room, &msg))
        pl_warn("ws: connection %" PRIu64 " could not leave room %" PRId64 ": its inbox is full",
                s->id, room);
}

static void s_unsubscribe(const request_t *r)
{
    pl_ws_session_t *s = r->session;
    int64_t room = r->request->room;
    for (size_t i = 0; i < s->room_count; i++) {
        if (s->rooms[i] == room) {
            s->rooms[i] = s->rooms[--s->room_count];
            s_leave_room(r->ctx, s, room);
            return;
        }
    }
}

//  A send whose fields passed ws_request.h's checks: checks that its upload exists,
//  takes a token and hands the message to its room.
static void s_send_message(const request_t *r)
{
    const pl_send_request_t *f = &r->request->send;
    const char *problem = f->url.ptr ? pl_http_check_upload_url(r->ctx->app, f->url) : NULL;
    if (problem) {
        s_reject(r, "bad_request", "url: %s", problem);
        return;
    }
    if (!s_take_token(r)) {
        s_reject(r, "rate_limited", "more than %" PRId64 " messages per second",
                 r->ctx->app->config->rate_limit_per_s);
        return;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_SEND,
                    .as.room_send = {.conn_id = r->session->id,
                                     .user_id = r->session->user_id,
                                     .room_id = f->room,
                                     .client_id = f->client_id,
                                     .kind = f->kind.ptr ? f->kind : pl_str_of("text"),
                                     .body = f->body.ptr ? f->body : pl_str_of(""),
                                     .url = f->url,
                                     .ref = f->ref}};
    s_forward(r, f->room, &msg);
}

static void s_read(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    pl_msg_t msg = {.type = PL_MSG_ROOM_READ,
                    .as.room_read = {.conn_id = r->session->id,
                                     .user_id = r->session->user_id,
                                     .room_id = q->room,
                                     .seq = q->seq,
                                     .ref = q->ref}};
    s_forward(r, q->room, &msg);
}

static void s_typing(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    //  Typing fans out to the whole room: it shares the sender's budget.
    if (!s_take_token(r)) {
        s_reject(r, "rate_limited", "more than %" PRId64 " events per second",
                 r->ctx->app->config->rate_limit_per_s);
        return;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_TYPING,
                    .as.room_typing = {.conn_id = r->session->id,
                                       .user_id = r->session->user_id,
                                       .room_id = q->room,
                                       .ref = q->ref}};
    s_forward(r, q->room, &msg);
}

static void (*const s_handlers[PL_WS__COUNT])(const request_t *r) = {
    [PL_WS_PING] = s_ping,
    [PL_WS_SUBSCRIBE] = s_subscribe,
    [PL_WS_UNSUBSCRIBE] = s_unsubscribe,
    [PL_WS_SEND] = s_send_message,
    [PL_WS_READ] = s_read,
    [PL_WS_TYPING] = s_typing,
};

void pl_ws_session_init(pl_ws_session_t *self, uint64_t id, int64_t user_id,
                        const pl_config_t *config)
{
    *self = (pl_ws_session_t){.id = id,
                              .user_id = user_id,
                              .tokens = (double)config->rate_limit_burst,
                              .tokens_at = pl_now_ms()};
}

void pl_ws_session_message(const pl_ws_session_ctx_t *ctx, pl_ws_session_t *self, int opcode,
                           const char *data, size_t len)
{
    pl_metrics_count(PL_COUNTER_WS_MESSAGES_IN, 1);
    if (opcode != MG_WEBSOCKET_OPCODE_TEXT) {
        s_send_error(ctx, (pl_str_t){NULL, 0}, "bad_request",
                     "only text frames carrying JSON are accepted");
        return;
    }
    pl_ws_request_t request;
    if (pl_ws_request_parse(&request, data, len, (size_t)ctx->app->config->max_message_chars) == 0)
        s_handlers[request.type](&(request_t){ctx, self, &request});
    else
        s_send_error(ctx, request.error_ref, request.code, request.message);
    pl_ws_request_release(&request);
}

void pl_ws_session_end(const pl_ws_session_ctx_t *ctx, pl_ws_session_t *self)
{
    for (size_t i = 0; i < self->room_count; i++)
        s_leave_room(ctx, self, self->rooms[i]);
    pl_ws_session_free(self);
}

void pl_ws_session_free(pl_ws_session_t *self)
{
    free(self->rooms);
    self->rooms = NULL;
    self->room_count = self->room_capacity = 0;
}
