/*  The notification stream, GET /api/events (PROTOCOL.md "Notifications").

    The handler checks the request, takes a slot of max_connections and hands the
    socket, with the response head and Last-Event-ID, to the stream's connection actor
    (conn.h), as a WebSocket's upgrade does (ws.c): civetweb's worker then finds its
    stand-in descriptor at end of stream and goes back to its pool, so an open stream
    holds no civetweb thread. The actor registers the stream and asks the user's
    notifier for the head and the replay (notifier.h): only the actor writes to it,
    and the head goes out when the stream is live. The stream ends when its client
    goes away, when the actor cuts off a stalled reader, or at a graceful stop. */
#include "parley/http.h"

#include "parley/http_parse.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/peer_sockets.h"

#include <stdlib.h>
#include <time.h>

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

//  Hands the stream's socket and slot to its connection actor; false (nothing taken)
//  when the socket cannot be handed over.
static bool s_hand_over(pl_req_t *req, int fd, int64_t last_event_id)
{
    pl_app_t *app = req->app;
    char head[1024];
    size_t head_len = s_head(req, head, sizeof head);
    pl_msg_t open = {.type = PL_MSG_CONN_OPEN,
                     .as.conn_open = {.conn_id = atomic_fetch_add(&app->last_stream_id, 1) + 1,
                                      .user_id = req->user_id,
                                      .sse = 1,
                                      .last_event_id = last_event_id,
                                      .head = {head, (uint32_t)head_len}}};
    switch (pl_conn_hand_over(app, fd, &open)) {
    case PL_HANDED_OVER:
        pl_metrics_count(PL_COUNTER_SSE_OPENED, 1);
        return true;
    case PL_LOST:
        //  Its client sees the end of the stream and reconnects.
        atomic_fetch_sub(&app->open_streams, 1);
        return true;
    case PL_NOT_TAKEN:
        break;
    }
    return false;
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
    if (fd < 0 || !s_hand_over(req, fd, last_event_id)) {
        atomic_fetch_sub(&app->open_streams, 1);
        pl_http_error(req->conn, 500, "internal", "this connection cannot carry a stream");
        return;
    }
    req->streamed = true;
}

const pl_route_t pl_event_routes[] = {
    {"GET", "/api/events", true, s_events},
    {NULL, NULL, false, NULL},
};
