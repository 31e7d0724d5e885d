/*  The notification stream, GET /api/events (PROTOCOL.md "Notifications").

    The handler runs on the stream's civetweb worker for the stream's whole life, as
    a WebSocket's does, so it takes a slot of max_connections. It registers the
    connection with its writer shard as an SSE stream and asks the notifier for the
    response head and the replay after Last-Event-ID (see notifier.h): only the
    writer writes to it, and the head goes out when the stream is live. The worker just waits for
   the end: the client going away, or the writer cutting off a stalled reader (it shuts the socket
    down), or a graceful stop. */
#include "parley/http.h"

#include "parley/http_parse.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/notifier.h"
#include "parley/peer_sockets.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

//  How often a waiting worker looks at whether the server is stopping.
#define DRAIN_CHECK_MS 500

//  Reads Last-Event-ID (the header, or ?last_event_id= for clients that cannot set
//  it). Returns 0 with *id (-1 when absent), or -1 after answering 400.
static int s_last_event_id(pl_req_t *req, int64_t *id)
{
    if (pl_last_event_id(mg_get_header(req->conn, "Last-Event-ID"), req->info->query_string, id)) {
        pl_http_error(req->conn, 400, "bad_request",
                      "Last-Event-ID: must be the id of a notification");
        return -1;
    }
    return 0;
}

//  The response head, which the writer sends once the stream is live (see notifier.h):
//  a client holding it misses nothing. Noted as the request's answer for the access
//  log, as http_io.c notes the heads it writes.
static size_t s_head(pl_req_t *req, char *head, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *request_id = pl_http_request_id(req->conn);
    char cors[PL_ORIGIN_MAX + 256];
    //  retry: how long a browser's EventSource waits before it reconnects.
    int len = snprintf(head, size,
                       "HTTP/1.1 200 OK\r\nDate: %s\r\n"
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-store\r\nConnection: close\r\n"
                       "X-Request-Id: %s\r\n%sX-Accel-Buffering: no\r\n\r\nretry: 2000\n\n",
                       date, request_id ? request_id : "-",
                       pl_http_cors_headers(req->conn, cors, sizeof cors));
    if (req->thread)
        req->thread->response_status = 200;
    return len > 0 && (size_t)len < size ? (size_t)len : 0;
}

//  Waits until the stream ends. The client sends nothing after its request, so
//  anything readable is either the end or bytes to discard.
static void s_wait_for_end(const pl_app_t *app, int fd)
{
    while (!atomic_load(&app->draining)) {
        struct pollfd item = {.fd = fd, .events = POLLIN | POLLRDHUP};
        int ready = poll(&item, 1, DRAIN_CHECK_MS);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready <= 0)
            continue;
        if (item.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            return;
        char discard[512];
        ssize_t got = recv(fd, discard, sizeof discard, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return;
    }
}

static pl_ingress_t *s_writer_of(const pl_app_t *app, uint64_t id)
{
    return app->writers[id % (uint64_t)app->writer_count];
}

//  Registers (open) or forgets (!open) the stream in its writer shard and waits for
//  the answer: after a forget no write touches the connection again.
static int s_tell_writer(pl_req_t *req, uint64_t id, int fd, bool open)
{
    pl_msg_t msg;
    uint64_t *waiter, *req_id;
    if (open) {
        msg = (pl_msg_t){
            .type = PL_MSG_CONN_OPEN,
            .as.conn_open = {.conn_id = id, .user_id = req->user_id, .fd = fd, .sse = 1}};
        waiter = &msg.as.conn_open.waiter, req_id = &msg.as.conn_open.req_id;
    } else {
        msg = (pl_msg_t){.type = PL_MSG_CONN_CLOSE, .as.conn_close = {.conn_id = id}};
        waiter = &msg.as.conn_close.waiter, req_id = &msg.as.conn_close.req_id;
    }
    pl_msg_frame_t reply;
    int timeout = (int)req->app->config->request_timeout_ms + 5000;
    if (pl_ingress_request(s_writer_of(req->app, id), req->thread->waiter, &msg, waiter, req_id,
                           timeout, &reply)) {
        pl_error("sse: the writer did not %s stream %" PRIu64, open ? "register" : "release", id);
        return -1;
    }
    pl_msg_frame_close(&reply);
    return 0;
}

static void s_stream(pl_req_t *req, int fd, int64_t last_event_id)
{
    pl_app_t *app = req->app;
    uint64_t id = atomic_fetch_add(&app->last_stream_id, 1) + 1;
    char head[1024];
    size_t head_len = s_head(req, head, sizeof head);
    if (s_tell_writer(req, id, fd, true))
        return;
    pl_msg_t open = {
        .type = PL_MSG_STREAM_OPEN,
        .as.stream_open = {id, req->user_id, last_event_id, {head, (uint32_t)head_len}}};
    pl_ingress_send(pl_app_notifier_ingress(app, req->user_id), &open);
    pl_debug("sse: stream %" PRIu64 " of user %" PRId64 " open", id, req->user_id);
    s_wait_for_end(app, fd);
    pl_msg_t close = {.type = PL_MSG_STREAM_CLOSE, .as.stream_close = {id, req->user_id}};
    pl_ingress_send(pl_app_notifier_ingress(app, req->user_id), &close);
    s_tell_writer(req, id, fd, false);
    pl_debug("sse: stream %" PRIu64 " closed", id);
}

static void s_events(pl_req_t *req)
{
    pl_app_t *app = req->app;
    int64_t last_event_id;
    if (s_last_event_id(req, &last_event_id))
        return;
    if (atomic_load(&app->draining)) {
        pl_http_error(req->conn, 503, "unavailable", "the server is shutting down");
        return;
    }
    if (atomic_fetch_add(&app->open_streams, 1) >= app->config->max_connections) {
        atomic_fetch_sub(&app->open_streams, 1);
        pl_warn("sse: refused a stream: %" PRId64 " connections open (max_connections)",
                app->config->max_connections);
        pl_http_error(req->conn, 503, "unavailable", "the server holds its maximum of connections");
        return;
    }
    int fd = pl_peer_socket(req->info->remote_addr, req->info->remote_port);
    if (fd < 0)
        pl_http_error(req->conn, 500, "internal", "this connection cannot carry a stream");
    else {
        pl_metrics_count(PL_COUNTER_SSE_OPENED, 1);
        req->streamed = true;
        s_stream(req, fd, last_event_id);
        //  civetweb does not know the response has no length: make sure it closes.
        shutdown(fd, SHUT_RDWR);
    }
    atomic_fetch_sub(&app->open_streams, 1);
}

const pl_route_t pl_event_routes[] = {
    {"GET", "/api/events", true, s_events},
    {NULL, NULL, false, NULL},
};
