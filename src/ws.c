/*  The WebSocket endpoint, GET /ws (PROTOCOL.md "WebSocket"): the upgrade, on
    civetweb's worker thread.

    The upgrade is authenticated and counted before the handshake: no valid token
    gets 401, a full server or a draining one gets 503. Once civetweb has sent the
    101, the ready handler takes the socket from civetweb (peer_sockets.h) and hands
    it, with the connection's slot, to its connection actor (conn.h), which reads and
    writes it from then on. civetweb's worker then finds its stand-in descriptor at
    end of stream, leaves its read loop at once and serves other requests: an open
    WebSocket holds no civetweb thread. */
#include "parley/conn.h"
#include "parley/http.h"

#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/peer_sockets.h"

#include <sys/socket.h>
#include <unistd.h>

#define CLOSE_PROTOCOL_ERROR 1002

//  Gives back the connection slot this thread holds for an upgrade it did not hand over.
static void s_release(pl_app_t *app, pl_thread_t *t)
{
    if (!t->ws_active)
        return;
    t->ws_active = false;
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
    const struct mg_request_info *info = mg_get_request_info(conn);
    int fd = pl_peer_socket(info->remote_addr, info->remote_port);
    if (fd < 0) {
        pl_warn("ws: refused an upgrade: its socket is unknown");
        pl_http_refuse_upgrade(conn, 503, "unavailable", "try again");
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
    t->ws_fd = fd;
    t->ws_id = atomic_fetch_add(&app->last_stream_id, 1) + 1;
    t->ws_user_id = user_id;
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

pl_hand_over_t pl_conn_hand_over(pl_app_t *app, int fd, pl_msg_t *open)
{
    pl_msg_conn_open_t *m = &open->as.conn_open;
    const char *kind = m->sse ? "sse: stream" : "ws: connection";
    int own = pl_peer_socket_take(fd);
    if (own < 0) {
        pl_error("%s %" PRIu64 ": cannot take its socket", kind, m->conn_id);
        return PL_NOT_TAKEN;
    }
    m->fd = own;
    if (pl_ingress_send(pl_app_writer_ingress(app, m->conn_id), open) != 0) {
        pl_error("%s %" PRIu64 ": its actor did not take it", kind, m->conn_id);
        close(own);
        return PL_LOST;
    }
    pl_debug("%s %" PRIu64 " of user %" PRId64 " handed to its actor", kind, m->conn_id,
             m->user_id);
    return PL_HANDED_OVER;
}

//  The 101 is sent: hands the socket and the slot to the connection's actor. No
//  reply is awaited: the actor registers the connection before it reads from it, so
//  every answer to it finds it registered. Otherwise the slot is released in the
//  close handler; a socket not taken is shut, and civetweb's worker reads it to its
//  end and closes it.
static void s_on_ready(struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    pl_msg_t open = {.type = PL_MSG_CONN_OPEN,
                     .as.conn_open = {.conn_id = t->ws_id, .user_id = t->ws_user_id}};
    switch (pl_conn_hand_over(app, t->ws_fd, &open)) {
    case PL_HANDED_OVER:
        t->ws_active = false;
        break;
    case PL_NOT_TAKEN:
        shutdown(t->ws_fd, SHUT_RDWR);
        break;
    case PL_LOST:
        break;
    }
}

//  Frames civetweb read along with the upgrade request, before its 101 was sent:
//  RFC 6455 (4.1) forbids them, and they would reach the connection's actor out of
//  order with what follows. The connection is closed as a protocol error.
static int s_on_early_data(struct mg_connection *conn, int bits, char *data, size_t len,
                           void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_thread_t *t = mg_get_thread_pointer(conn);
    pl_msg_t msg = {.type = PL_MSG_CONN_KILL,
                    .as.conn_kill = {.conn_id = t->ws_id, .close_code = CLOSE_PROTOCOL_ERROR}};
    pl_ingress_send(pl_app_writer_ingress(app, t->ws_id), &msg);
    return 0;
}

static void s_on_close(const struct mg_connection *conn, void *cbdata)
{
    s_release(cbdata, mg_get_thread_pointer(conn));
}

void pl_ws_register(struct mg_context *ctx, pl_app_t *app)
{
    mg_set_websocket_handler(ctx, "/ws", s_on_connect, s_on_ready, s_on_early_data, s_on_close,
                             app);
}
