/*  The WebSocket endpoint, GET /ws (PROTOCOL.md "WebSocket").

    The upgrade is authenticated and counted before the handshake: no valid token
    gets 401, a full server or a draining one gets 503, so civetweb never runs out of
    workers for plain HTTP. Incoming frames are read on the connection's civetweb
    thread, which parses each request (a plain `send` with send_scan.h's one-pass
    reader, everything else with jansson) and answers through the connection's writer
    shard (conn.h): this thread never writes a data frame itself, so frames to one
    client never interleave. It does send close frames for protocol violations, under
    the same connection lock the writer uses. */
#include "parley/conn.h"
#include "parley/http.h"

#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/peer_sockets.h"
#include "parley/room.h"
#include "parley/uploads.h"
#include "parley/ws_request.h"

#include <stdarg.h>

#include <stdlib.h>

#define CLOSE_PROTOCOL_ERROR 1002
#define CLOSE_TOO_BIG        1009

static pl_ingress_t *s_writer_of(const pl_app_t *app, uint64_t conn_id)
{
    return app->writers[conn_id % (uint64_t)app->writer_count];
}

//  Queues one JSON frame (stolen) for the connection.
static void s_send(const pl_app_t *app, const pl_thread_t *t, json_t *frame)
{
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    if (!text)
        return;
    pl_msg_t msg = {.type = PL_MSG_CONN_SEND,
                    .as.conn_send = {.conn_id = t->ws_id, .text = pl_str_of(text)}};
    pl_ingress_send(s_writer_of(app, t->ws_id), &msg);
    free(text);
}

//  Sets frame's "ref" to ref, when there is one (ptr NULL: none).
static void s_set_ref(json_t *frame, pl_str_t ref)
{
    if (ref.ptr)
        json_object_set_new(frame, "ref", json_stringn(ref.ptr, ref.len));
}

//  Queues an error frame naming the request by ref (ptr NULL: none).
static void s_send_error(const pl_app_t *app, const pl_thread_t *t, pl_str_t ref, const char *code,
                         const char *message)
{
    json_t *frame = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    s_set_ref(frame, ref);
    s_send(app, t, frame);
}

static void s_close_with(struct mg_connection *conn, int code, const char *reason)
{
    char payload[64];
    int len =
        snprintf(payload, sizeof payload, "%c%c%s", (char)(code >> 8), (char)(code & 0xff), reason);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, (size_t)len);
}

//  Most rooms one connection may be subscribed to at once.
#define MAX_SUBSCRIPTIONS 1024

typedef struct {
    pl_app_t *app;
    pl_thread_t *t;
    const pl_ws_request_t *request;
} request_t;

static void s_reject(const request_t *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_reject(const request_t *r, const char *code, const char *fmt, ...)
{
    char message[PL_WS_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    s_send_error(r->app, r->t, r->request->error_ref, code, message);
}

static pl_ingress_t *s_room_of(const pl_app_t *app, int64_t room_id)
{
    return pl_app_room_ingress(app, room_id);
}

//  Takes one token from the connection's bucket; false when it is empty.
static bool s_take_token(const pl_app_t *app, pl_thread_t *t)
{
    int64_t now = pl_now_ms();
    double rate = (double)app->config->rate_limit_per_s,
           burst = (double)app->config->rate_limit_burst;
    t->ws_tokens += (double)(now - t->ws_tokens_at) * rate / 1000.0;
    if (t->ws_tokens > burst)
        t->ws_tokens = burst;
    t->ws_tokens_at = now;
    if (t->ws_tokens < 1.0)
        return false;
    t->ws_tokens -= 1.0;
    return true;
}

static void s_ping(const request_t *r)
{
    json_t *pong = json_pack("{s:s}", "type", "pong");
    s_set_ref(pong, r->request->error_ref);
    s_send(r->app, r->t, pong);
}

static void s_subscribe(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    pl_thread_t *t = r->t;
    bool known = false;
    for (size_t i = 0; i < t->ws_room_count; i++)
        known |= t->ws_rooms[i] == q->room;
    if (!known) {
        if (t->ws_room_count == MAX_SUBSCRIPTIONS) {
            s_reject(r, "bad_request", "room: at most %d subscriptions per connection",
                     MAX_SUBSCRIPTIONS);
            return;
        }
        if (t->ws_room_count == t->ws_room_capacity) {
            size_t capacity = t->ws_room_capacity ? t->ws_room_capacity * 2 : 8;
            int64_t *grown = realloc(t->ws_rooms, capacity * sizeof *grown);
            if (!grown) {
                s_reject(r, "internal", "out of memory");
                return;
            }
            t->ws_rooms = grown;
            t->ws_room_capacity = capacity;
        }
        t->ws_rooms[t->ws_room_count++] = q->room;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_SUBSCRIBE,
                    .as.room_subscribe = {t->ws_id, t->ws_user_id, q->room, q->since, q->ref}};
    pl_ingress_send(s_room_of(r->app, q->room), &msg);
}

//  Tells a room this connection is gone from it.
static void s_leave_room(const pl_app_t *app, const pl_thread_t *t, int64_t room)
{
    pl_msg_t msg = {.type = PL_MSG_ROOM_UNSUBSCRIBE,
                    .as.room_unsubscribe = {t->ws_id, t->ws_user_id, room, {NULL, 0}}};
    pl_ingress_send(s_room_of(app, room), &msg);
}

static void s_unsubscribe(const request_t *r)
{
    pl_thread_t *t = r->t;
    int64_t room = r->request->room;
    for (size_t i = 0; i < t->ws_room_count; i++) {
        if (t->ws_rooms[i] == room) {
            t->ws_rooms[i] = t->ws_rooms[--t->ws_room_count];
            s_leave_room(r->app, t, room);
            return;
        }
    }
}

//  A send whose fields passed ws_request.h's checks: checks that its upload exists,
//  takes a token and hands the message to its room.
static void s_send_message(const request_t *r)
{
    const pl_send_request_t *f = &r->request->send;
    const char *problem = f->url.ptr ? pl_http_check_upload_url(r->app, f->url) : NULL;
    if (problem) {
        s_reject(r, "bad_request", "url: %s", problem);
        return;
    }
    if (!s_take_token(r->app, r->t)) {
        s_reject(r, "rate_limited", "more than %" PRId64 " messages per second",
                 r->app->config->rate_limit_per_s);
        return;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_SEND,
                    .as.room_send = {.conn_id = r->t->ws_id,
                                     .user_id = r->t->ws_user_id,
                                     .room_id = f->room,
                                     .client_id = f->client_id,
                                     .kind = f->kind.ptr ? f->kind : pl_str_of("text"),
                                     .body = f->body.ptr ? f->body : pl_str_of(""),
                                     .url = f->url,
                                     .ref = f->ref}};
    pl_ingress_send(s_room_of(r->app, f->room), &msg);
}

static void s_read(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    pl_msg_t msg = {.type = PL_MSG_ROOM_READ,
                    .as.room_read = {.conn_id = r->t->ws_id,
                                     .user_id = r->t->ws_user_id,
                                     .room_id = q->room,
                                     .seq = q->seq,
                                     .ref = q->ref}};
    pl_ingress_send(s_room_of(r->app, q->room), &msg);
}

static void s_typing(const request_t *r)
{
    const pl_ws_request_t *q = r->request;
    //  Typing fans out to the whole room: it shares the sender's budget.
    if (!s_take_token(r->app, r->t)) {
        s_reject(r, "rate_limited", "more than %" PRId64 " events per second",
                 r->app->config->rate_limit_per_s);
        return;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_TYPING,
                    .as.room_typing = {r->t->ws_id, r->t->ws_user_id, q->room, q->ref}};
    pl_ingress_send(s_room_of(r->app, q->room), &msg);
}

static void (*const s_handlers[PL_WS__COUNT])(const request_t *r) = {
    [PL_WS_PING] = s_ping,
    [PL_WS_SUBSCRIBE] = s_subscribe,
    [PL_WS_UNSUBSCRIBE] = s_unsubscribe,
    [PL_WS_SEND] = s_send_message,
    [PL_WS_READ] = s_read,
    [PL_WS_TYPING] = s_typing,
};

//  Handles one complete text message from the client.
static void s_dispatch(pl_app_t *app, pl_thread_t *t, const char *data, size_t len)
{
    pl_ws_request_t request;
    if (pl_ws_request_parse(&request, data, len, (size_t)app->config->max_message_chars) == 0)
        s_handlers[request.type](&(request_t){app, t, &request});
    else
        s_send_error(app, t, request.error_ref, request.code, request.message);
    pl_ws_request_release(&request);
}

//  Gives back the connection slot of the WebSocket this thread served.
static void s_release(pl_app_t *app, pl_thread_t *t)
{
    if (!t->ws_active)
        return;
    t->ws_active = false;
    pl_ws_assembly_reset(&t->ws_partial);
    atomic_fetch_sub(&app->open_streams, 1);
}

//  Accepts an upgrade (0) or answers it with an error (1).
static int s_accept(struct mg_connection *conn, pl_app_t *app)
{
    pl_thread_t *t = mg_get_thread_pointer(conn);
    //  A slot still held here belongs to an upgrade whose handshake failed after we
    //  accepted it: civetweb calls no close handler for those.
    s_release(app, t);
    int64_t user_id;
    pl_auth_t auth = pl_http_authenticate(conn, app, &user_id);
    if (auth != PL_AUTH_OK) {
        pl_http_refuse_auth(conn, auth, true);
        return 1;
    }
    if (atomic_load(&app->draining)) {
        pl_http_refuse_upgrade(conn, 503, "unavailable", "the server is shutting down");
        return 1;
    }
    if (atomic_fetch_add(&app->open_streams, 1) >= app->config->max_connections) {
        atomic_fetch_sub(&app->open_streams, 1);
        pl_warn("ws: refused an upgrade: %" PRId64 " connections open (max_connections)",
                app->config->max_connections);
        pl_http_refuse_upgrade(conn, 503, "unavailable",
                               "the server holds its maximum of connections");
        return 1;
    }
    pl_metrics_count(PL_COUNTER_WS_OPENED, 1);
    t->ws_active = true;
    t->ws_id = atomic_fetch_add(&app->last_stream_id, 1) + 1;
    t->ws_user_id = user_id;
    pl_ws_assembly_reset(&t->ws_partial);
    t->ws_room_count = 0;
    t->ws_forgotten = false;
    t->ws_tokens = (double)app->config->rate_limit_burst;
    t->ws_tokens_at = pl_now_ms();
    atomic_store(&t->ws_last_seen, t->ws_tokens_at);
    t->response_status = 101;
    return 0;
}

static int s_on_connect(const struct mg_connection *const_conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    //  civetweb hands the connect handler a const connection, but answering the
    //  upgrade with an HTTP error is what the handler is for.
    struct mg_connection *conn = (struct mg_connection *)const_conn;
    int64_t started = pl_now_ns();
    pl_http_begin_request(conn, app);
    int refused = s_accept(conn, app);
    pl_thread_t *t = mg_get_thread_pointer(conn);
    pl_http_log_access(conn, app, "/ws", refused ? 0 : t->ws_user_id, started);
    return refused;
}

static void s_on_ready(struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    const struct mg_request_info *info = mg_get_request_info(conn);
    pl_msg_t msg = {.type = PL_MSG_CONN_OPEN,
                    .as.conn_open = {.conn_id = t->ws_id,
                                     .handle = (uint64_t)(uintptr_t)conn,
                                     .user_id = t->ws_user_id,
                                     .fd = pl_peer_socket(info->remote_addr, info->remote_port),
                                     .last_seen = (uint64_t)(uintptr_t)&t->ws_last_seen}};
    //  Wait until the writer knows the connection before civetweb reads the client's
    //  first request: the answer to it reaches the writer from a room, on another
    //  pipe, and ZeroMQ may deliver that pipe's frames first.
    pl_msg_frame_t reply;
    if (pl_ingress_request(s_writer_of(app, t->ws_id), t->waiter, &msg, &msg.as.conn_open.waiter,
                           &msg.as.conn_open.req_id, PL_HTTP_ACTOR_TIMEOUT_MS, &reply) == 0)
        pl_msg_frame_close(&reply);
    else
        pl_error("ws: writer did not register connection %" PRIu64, t->ws_id);
    pl_debug("ws: connection %" PRIu64 " of user %" PRId64 " open (%s writes)", t->ws_id,
             t->ws_user_id, msg.as.conn_open.fd >= 0 ? "non-blocking" : "blocking");
}

//  Has the connection's writer forget it, waiting until it has: no write touches the
//  connection after this, and a lock the writer held for a half-written frame is
//  released. A writer blocked on this very socket gives up after request_timeout_ms,
//  so the wait is a little longer than that.
static void s_forget_in_writer(pl_app_t *app, pl_thread_t *t)
{
    if (t->ws_forgotten)
        return;
    t->ws_forgotten = true;
    pl_msg_t msg = {.type = PL_MSG_CONN_CLOSE, .as.conn_close = {.conn_id = t->ws_id}};
    pl_msg_frame_t reply;
    if (pl_ingress_request(s_writer_of(app, t->ws_id), t->waiter, &msg, &msg.as.conn_close.waiter,
                           &msg.as.conn_close.req_id, (int)app->config->request_timeout_ms + 5000,
                           &reply) == 0)
        pl_msg_frame_close(&reply);
    else
        pl_error("ws: writer did not release connection %" PRIu64, t->ws_id);
}

static int s_on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    int opcode = bits & 0x0f;
    bool fin = (bits & 0x80) != 0;
    //  Any frame, a pong to civetweb's ping included, shows the client is alive.
    atomic_store(&t->ws_last_seen, pl_now_ms());
    if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
        //  civetweb answers the close with a frame of its own, under the connection
        //  lock; a writer holding that lock for a half-written frame to this client
        //  (which has stopped reading) would hold it up until it gives up.
        s_forget_in_writer(app, t);
        return 0;
    }
    if (opcode == MG_WEBSOCKET_OPCODE_PING || opcode == MG_WEBSOCKET_OPCODE_PONG)
        return 1;
    pl_ws_message_t message;
    switch (pl_ws_assembly_add(&t->ws_partial, opcode, fin, data, len,
                               (size_t)app->config->max_frame_bytes, &message)) {
    case PL_WS_FRAGMENT_KEPT:
        return 1;
    case PL_WS_FRAME_OUT_OF_ORDER:
        s_close_with(conn, CLOSE_PROTOCOL_ERROR, "fragments out of order");
        return 0;
    case PL_WS_MESSAGE_TOO_BIG:
        s_close_with(conn, CLOSE_TOO_BIG, "message too big");
        return 0;
    case PL_WS_OUT_OF_MEMORY:
        s_close_with(conn, CLOSE_TOO_BIG, "out of memory");
        return 0;
    case PL_WS_MESSAGE_READY:
        break;
    }
    pl_metrics_count(PL_COUNTER_WS_MESSAGES_IN, 1);
    if (message.opcode == MG_WEBSOCKET_OPCODE_TEXT)
        s_dispatch(app, t, message.data, message.len);
    else
        s_send_error(app, t, (pl_str_t){NULL, 0}, "bad_request",
                     "only text frames carrying JSON are accepted");
    return 1;
}

static void s_on_close(const struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t->ws_active)
        return;
    for (size_t i = 0; i < t->ws_room_count; i++)
        s_leave_room(app, t, t->ws_rooms[i]);
    t->ws_room_count = 0;
    //  civetweb frees the connection when this returns.
    s_forget_in_writer(app, t);
    pl_debug("ws: connection %" PRIu64 " closed", t->ws_id);
    s_release(app, t);
}

void pl_ws_register(struct mg_context *ctx, pl_app_t *app)
{
    mg_set_websocket_handler(ctx, "/ws", s_on_connect, s_on_ready, s_on_data, s_on_close, app);
}
