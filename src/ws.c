/*  The WebSocket endpoint, GET /ws (PROTOCOL.md "WebSocket").

    The upgrade is authenticated and counted before the handshake: no valid token
    gets 401, a full server or a draining one gets 503, so civetweb never runs out of
    workers for plain HTTP. Incoming frames are read on the connection's civetweb
    thread, which parses each request and answers through the connection's writer
    shard (conn.h): this thread never writes a data frame itself, so frames to one
    client never interleave. It does send close frames for protocol violations, under
    the same connection lock the writer uses. */
#include "parley/conn.h"
#include "parley/http.h"

#include "parley/log.h"

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

//  Queues an error frame; ref is the request's ref, or NULL.
static void s_send_error(const pl_app_t *app, const pl_thread_t *t, json_t *ref, const char *code,
                         const char *message)
{
    json_t *frame = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (ref)
        json_object_set(frame, "ref", ref);
    s_send(app, t, frame);
}

static void s_close_with(struct mg_connection *conn, int code, const char *reason)
{
    char payload[64];
    int len =
        snprintf(payload, sizeof payload, "%c%c%s", (char)(code >> 8), (char)(code & 0xff), reason);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, (size_t)len);
}

//  Handles one complete text message from the client.
static void s_dispatch(const pl_app_t *app, const pl_thread_t *t, const char *data, size_t len)
{
    json_error_t error;
    json_t *request = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(request)) {
        s_send_error(app, t, NULL, "bad_request",
                     request ? "a request must be a JSON object" : "malformed JSON");
        json_decref(request);
        return;
    }
    json_t *ref = json_object_get(request, "ref");
    if (ref && !json_is_string(ref))
        ref = NULL;
    const char *type = json_string_value(json_object_get(request, "type"));
    if (!type)
        s_send_error(app, t, ref, "bad_request", "type: is required and must be a string");
    else if (strcmp(type, "ping") == 0) {
        json_t *pong = json_pack("{s:s}", "type", "pong");
        if (ref)
            json_object_set(pong, "ref", ref);
        s_send(app, t, pong);
    } else {
        char message[128];
        snprintf(message, sizeof message, "type: unknown request type '%.40s'", type);
        s_send_error(app, t, ref, "bad_request", message);
    }
    json_decref(request);
}

//  Gives back the connection slot of the WebSocket this thread served.
static void s_release(pl_app_t *app, pl_thread_t *t)
{
    if (!t->ws_active)
        return;
    t->ws_active = false;
    t->ws_partial_len = 0;
    atomic_fetch_sub(&app->open_streams, 1);
}

static int s_on_connect(const struct mg_connection *const_conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    //  civetweb hands the connect handler a const connection, but answering the
    //  upgrade with an HTTP error is what the handler is for.
    struct mg_connection *conn = (struct mg_connection *)const_conn;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    //  A slot still held here belongs to an upgrade whose handshake failed after we
    //  accepted it: civetweb calls no close handler for those.
    s_release(app, t);
    int64_t user_id;
    if (pl_http_authenticate(conn, app, &user_id)) {
        pl_http_refuse_upgrade(conn, 401, "unauthorized", "a valid token is required");
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
    static _Atomic uint64_t next_id = 0;
    t->ws_active = true;
    t->ws_id = ++next_id;
    t->ws_user_id = user_id;
    t->ws_partial_len = 0;
    return 0;
}

static void s_on_ready(struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    pl_msg_t msg = {.type = PL_MSG_CONN_OPEN,
                    .as.conn_open = {.conn_id = t->ws_id,
                                     .handle = (uint64_t)(uintptr_t)conn,
                                     .user_id = t->ws_user_id}};
    pl_ingress_send(s_writer_of(app, t->ws_id), &msg);
    pl_debug("ws: connection %" PRIu64 " of user %" PRId64 " open", t->ws_id, t->ws_user_id);
}

//  Appends a fragment to the message being reassembled; false when out of memory.
static bool s_append_partial(pl_thread_t *t, const char *data, size_t len, size_t limit)
{
    if (!t->ws_partial && !(t->ws_partial = malloc(limit)))
        return false;
    memcpy(t->ws_partial + t->ws_partial_len, data, len);
    t->ws_partial_len += len;
    return true;
}

static int s_on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    int opcode = bits & 0x0f;
    bool fin = (bits & 0x80) != 0;
    if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
        return 0;
    if (opcode == MG_WEBSOCKET_OPCODE_PING || opcode == MG_WEBSOCKET_OPCODE_PONG)
        return 1;
    bool continuation = opcode == MG_WEBSOCKET_OPCODE_CONTINUATION;
    if (continuation != (t->ws_partial_len > 0)) {
        s_close_with(conn, CLOSE_PROTOCOL_ERROR, "unexpected continuation");
        return 0;
    }
    size_t limit = (size_t)app->config->max_frame_bytes;
    if (t->ws_partial_len + len > limit) {
        s_close_with(conn, CLOSE_TOO_BIG, "message too big");
        return 0;
    }
    if (continuation || !fin) {
        if (!continuation)
            t->ws_partial_opcode = opcode;
        if (!s_append_partial(t, data, len, limit)) {
            s_close_with(conn, CLOSE_TOO_BIG, "out of memory");
            return 0;
        }
        if (!fin)
            return 1;
        opcode = t->ws_partial_opcode;
        data = t->ws_partial;
        len = t->ws_partial_len;
        t->ws_partial_len = 0;
    }
    if (opcode == MG_WEBSOCKET_OPCODE_TEXT)
        s_dispatch(app, t, data, len);
    else
        s_send_error(app, t, NULL, "bad_request", "only text frames carrying JSON are accepted");
    return 1;
}

static void s_on_close(const struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t->ws_active)
        return;
    //  civetweb frees the connection when this returns: wait until the writer has
    //  forgotten it. A writer blocked on this very socket gives up after
    //  request_timeout_ms, so wait a little longer than that.
    pl_msg_t msg = {.type = PL_MSG_CONN_CLOSE, .as.conn_close = {.conn_id = t->ws_id}};
    pl_msg_frame_t reply;
    if (pl_ingress_request(s_writer_of(app, t->ws_id), t->waiter, &msg, &msg.as.conn_close.waiter,
                           &msg.as.conn_close.req_id, (int)app->config->request_timeout_ms + 5000,
                           &reply) == 0)
        pl_msg_frame_close(&reply);
    else
        pl_error("ws: writer did not release connection %" PRIu64, t->ws_id);
    pl_debug("ws: connection %" PRIu64 " closed", t->ws_id);
    s_release(app, t);
}

void pl_ws_register(struct mg_context *ctx, pl_app_t *app)
{
    mg_set_websocket_handler(ctx, "/ws", s_on_connect, s_on_ready, s_on_data, s_on_close, app);
}
