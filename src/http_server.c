/*  civetweb's server and parley's router. Every request that is not a WebSocket
    upgrade arrives at s_route, which finds the route by method and path, checks the
    token where the route needs one, and calls the handler.

    civetweb holds one worker thread per connection it serves and, when all are busy,
    makes new connections wait. A WebSocket or an SSE stream holds its worker only for
    its handshake: its connection actor owns it afterwards (ws.c, sse.c), and both count
    in max_connections, past which they are refused with 503. So the pool is
    http_threads kept for plain requests (and their keep-alive connections), plus
    enough for a storm of handshakes; civetweb starts every worker at once, and each
    idle one costs memory, and kernel time whenever the pool is woken. */
#include "parley/bridge.h"
#include "parley/http.h"

#include "parley/log.h"
#include "parley/metrics.h"

#include <errno.h>
#include <stdlib.h>

//  Workers for WebSocket and SSE handshakes in flight at once (beyond http_threads);
//  more wait in civetweb's queue and the listen backlog for a few milliseconds each.
#define HANDSHAKE_WORKERS 512

const pl_route_t *const pl_http_route_tables[] = {
    pl_auth_routes,    pl_user_routes,         pl_content_routes, pl_room_routes,
    pl_event_routes,   pl_notification_routes, pl_upload_routes,  pl_health_routes,
    pl_metrics_routes, pl_openapi_routes,      pl_web_routes};
const size_t pl_http_route_table_count =
    sizeof pl_http_route_tables / sizeof pl_http_route_tables[0];

//  Matches path against pattern; "{id}" matches a positive decimal integer segment,
//  stored in req->path_id, and "{name}" a non-empty segment, stored in req->path_name.
//  Returns true on a match.
static bool s_path_matches(const char *pattern, const char *path, pl_req_t *req)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            if (*path < '1' || *path > '9')
                return false;
            int64_t value = 0;
            for (; *path >= '0' && *path <= '9'; path++) {
                if (value > (INT64_MAX - (*path - '0')) / 10)
                    return false;
                value = value * 10 + (*path - '0');
            }
            req->path_id = value;
            pattern += 4;
            continue;
        }
        if (strncmp(pattern, "{name}", 6) == 0) {
            req->path_name = path;
            req->path_name_len = strcspn(path, "/");
            path += req->path_name_len;
            pattern += 6;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *pattern == '\0' && *path == '\0';
}

const pl_route_t *pl_route_find(const char *method, const char *path, pl_req_t *req,
                                bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < pl_http_route_table_count; t++) {
        for (const pl_route_t *route = pl_http_route_tables[t]; route->method; route++) {
            if (!s_path_matches(route->pattern, path, req))
                continue;
            *path_known = true;
            if (strcmp(route->method, method) == 0)
                return route;
        }
    }
    return NULL;
}

//  Finds the route of a request and answers it; returns the route's pattern, or "-"
//  when none matched.
static const char *s_answer(pl_req_t *req)
{
    struct mg_connection *conn = req->conn;
    const struct mg_request_info *info = req->info;
    bool path_known;
    const pl_route_t *route =
        pl_route_find(info->request_method, info->local_uri, req, &path_known);
    if (route) {
        pl_auth_t auth =
            route->needs_auth ? pl_http_authenticate(conn, req->app, &req->user_id) : PL_AUTH_OK;
        if (auth != PL_AUTH_OK) {
            req->user_id = 0; //  the access log names no user it refused
            pl_http_refuse_auth(conn, auth, false);
        } else {
            route->handler(req);
        }
        return route->pattern;
    }
    if (path_known)
        pl_http_error(conn, 405, "method_not_allowed", "%s is not allowed on %s",
                      info->request_method, info->local_uri);
    else
        pl_http_error(conn, 404, "not_found", "no such endpoint: %s", info->local_uri);
    return "-";
}

static int s_route(struct mg_connection *conn, void *cbdata)
{
    pl_app_t *app = cbdata;
    pl_req_t req = {.conn = conn,
                    .info = mg_get_request_info(conn),
                    .app = app,
                    .thread = mg_get_thread_pointer(conn)};
    int64_t started = pl_now_ns();
    pl_http_begin_request(conn, app);
    const char *route = pl_http_preflight(conn) ? "-" : s_answer(&req);
    pl_http_log_access(conn, app, route, req.user_id, started);
    if (!req.streamed)
        pl_metrics_observe(PL_HISTOGRAM_HTTP_REQUEST, (uint64_t)(pl_now_ns() - started));
    return 1;
}

static void *s_init_thread(const struct mg_context *ctx, int thread_type)
{
    //  Type 1 is a worker; the master and timer threads run no handlers.
    if (thread_type != 1)
        return NULL;
    pl_app_t *app = mg_get_user_data(ctx);
    pl_thread_t *thread = calloc(1, sizeof *thread);
    if (thread && !(thread->waiter = pl_waiter_new(app->waiters))) {
        free(thread);
        thread = NULL;
    }
    if (!thread)
        pl_error("http: out of memory starting a worker");
    return thread;
}

static void s_exit_thread(const struct mg_context *ctx, int thread_type, void *pointer)
{
    pl_thread_t *thread = pointer;
    free(thread);
}

static int s_log_message(const struct mg_connection *conn, const char *message)
{
    pl_debug("civetweb: %s", message);
    return 1;
}

struct mg_context *pl_http_start(pl_app_t *app, int *port, char *err, size_t err_len)
{
    const pl_config_t *cfg = app->config;
    char threads[32], timeout[32];
    int64_t handshakes =
        cfg->max_connections < HANDSHAKE_WORKERS ? cfg->max_connections : HANDSHAKE_WORKERS;
    snprintf(threads, sizeof threads, "%" PRId64, cfg->http_threads + handshakes);
    snprintf(timeout, sizeof timeout, "%" PRId64, cfg->request_timeout_ms);
    const char *options[] = {
        "listening_ports",
        cfg->listen,
        "num_threads",
        threads,
        "request_timeout_ms",
        timeout,
        "tcp_nodelay",
        "1",
        "enable_keep_alive",
        "yes",
        //  An idle keep-alive connection holds a worker: short, so that a few hundred
        //  idle clients cannot keep handshakes waiting for long.
        "keep_alive_timeout_ms",
        "1000",
        "listen_backlog",
        "1024",
        "connection_queue",
        "256",
        //  Liveness is the writers' job (conn.h); civetweb only needs to keep reading.
        "websocket_timeout_ms",
        "3600000",
        //  CORS is parley's (http_cors.c): civetweb's own answers every preflight with
        //  "Access-Control-Allow-Origin: *".
        "access_control_allow_origin",
        "",
        "access_control_allow_methods",
        "",
        NULL,
    };
    struct mg_callbacks callbacks = {
        .init_thread = s_init_thread,
        .exit_thread = s_exit_thread,
        .log_message = s_log_message,
    };
    struct mg_context *ctx = mg_start(&callbacks, app, options);
    if (!ctx) {
        snprintf(err, err_len, "listen: cannot serve on %s (in use, or not an address:port)",
                 cfg->listen);
        return NULL;
    }
    mg_set_request_handler(ctx, "/", s_route, app);
    pl_ws_register(ctx, app);
    struct mg_server_port ports[1];
    if (mg_get_server_ports(ctx, 1, ports) < 1) {
        mg_stop(ctx);
        snprintf(err, err_len, "listen: cannot find the bound port");
        return NULL;
    }
    *port = ports[0].port;
    return ctx;
}

static void s_healthz(pl_req_t *req)
{
    bool draining = atomic_load(&req->app->draining);
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    bool store_ok = reader->ops->ping(reader) == PL_STATUS_OK;
    pl_store_pool_give(req->app->readers, reader);
    bool clustered = req->app->bridge != NULL;
    bool redis_ok = !clustered || pl_bridge_redis_up();
    const char *status = draining    ? "draining"
                         : !store_ok ? "store_unavailable"
                         : !redis_ok ? "redis_unavailable"
                                     : "ok";
    json_t *body = json_pack("{s:s, s:i}", "status", status, "connections",
                             atomic_load(&req->app->open_streams));
    if (clustered) {
        uint16_t live[PL_CLUSTER_MAX_NODES];
        int count = pl_cluster_live(live);
        json_t *nodes = json_array();
        for (int i = 0; i < count; i++)
            json_array_append_new(nodes, json_integer(live[i]));
        json_object_set_new(body, "node_id", json_integer(pl_cluster_self()));
        json_object_set_new(body, "nodes", nodes);
        json_object_set_new(body, "redis", json_string(redis_ok ? "up" : "down"));
    }
    pl_http_reply(req->conn, draining || !store_ok || !redis_ok ? 503 : 200, body, NULL);
}

const pl_route_t pl_health_routes[] = {
    {"GET", "/healthz", false, s_healthz},
    {NULL, NULL, false, NULL},
};
