/*  GET /metrics (PROTOCOL.md "Operations"): the registry of metrics.h and the
    server's own gauges in Prometheus's text format, with no token, as scrapers
    expect. With metrics_listen set it is served only there, by a small civetweb
    server of its own, so the public port need not expose it. */
#include "parley/http.h"

#include "parley/bridge.h"
#include "parley/log.h"
#include "parley/metrics.h"

#include <stdlib.h>

//  Writes the scrape to conn.
static void s_scrape(struct mg_connection *conn, const pl_app_t *app)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        pl_http_error(conn, 500, "internal", "out of memory");
        return;
    }
    pl_metrics_render(out);
    fprintf(out,
            "# HELP parley_connections WebSockets and SSE streams open now\n"
            "# TYPE parley_connections gauge\nparley_connections %d\n"
            "# HELP parley_connections_max max_connections\n"
            "# TYPE parley_connections_max gauge\nparley_connections_max %" PRId64 "\n"
            "# HELP parley_draining 1 while a graceful stop is under way\n"
            "# TYPE parley_draining gauge\nparley_draining %d\n",
            atomic_load(&app->open_streams), app->config->max_connections,
            atomic_load(&app->draining) ? 1 : 0);
    if (app->bridge) {
        uint16_t live[PL_CLUSTER_MAX_NODES];
        fprintf(out,
                "# HELP parley_bridge_messages_total catalogue messages crossing Redis\n"
                "# TYPE parley_bridge_messages_total counter\n"
                "parley_bridge_messages_total{direction=\"out\"} %" PRIu64 "\n"
                "parley_bridge_messages_total{direction=\"in\"} %" PRIu64 "\n"
                "# HELP parley_bridge_redis_up 1 while the bridge reaches Redis\n"
                "# TYPE parley_bridge_redis_up gauge\nparley_bridge_redis_up %d\n"
                "# HELP parley_cluster_nodes live nodes this node sees\n"
                "# TYPE parley_cluster_nodes gauge\nparley_cluster_nodes %d\n",
                pl_bridge_published(), pl_bridge_received(), pl_bridge_redis_up() ? 1 : 0,
                pl_cluster_live(live));
    }
    fclose(out);
    if (pl_http_write_head(conn, 200, "text/plain; version=0.0.4; charset=utf-8", len, "no-store",
                           NULL) == 0)
        mg_write(conn, text, len);
    free(text);
}

static void s_metrics(pl_req_t *req)
{
    if (req->app->config->metrics_listen[0])
        pl_http_error(req->conn, 404, "not_found", "metrics are served on metrics_listen");
    else
        s_scrape(req->conn, req->app);
}

const pl_route_t pl_metrics_routes[] = {
    {"GET", "/metrics", false, s_metrics},
    {NULL, NULL, false, NULL},
};

static int s_metrics_only(struct mg_connection *conn, void *cbdata)
{
    const struct mg_request_info *info = mg_get_request_info(conn);
    if (strcmp(info->local_uri, "/metrics") != 0)
        pl_http_error(conn, 404, "not_found", "only /metrics is served here");
    else if (strcmp(info->request_method, "GET") != 0)
        pl_http_error(conn, 405, "method_not_allowed", "%s is not allowed on /metrics",
                      info->request_method);
    else
        s_scrape(conn, cbdata);
    return 1;
}

struct mg_context *pl_http_start_metrics(pl_app_t *app, int *port, char *err, size_t err_len)
{
    const char *listen = app->config->metrics_listen;
    const char *options[] = {"listening_ports", listen, "num_threads", "2", NULL};
    struct mg_callbacks callbacks = {0};
    struct mg_context *ctx = mg_start(&callbacks, app, options);
    struct mg_server_port ports[1];
    if (!ctx || mg_get_server_ports(ctx, 1, ports) < 1) {
        if (ctx)
            mg_stop(ctx);
        snprintf(err, err_len,
                 "metrics_listen: cannot serve on %s (in use, or not an address:port)", listen);
        return NULL;
    }
    mg_set_request_handler(ctx, "/", s_metrics_only, app);
    *port = ports[0].port;
    pl_info("serving /metrics on %s (port %d)", listen, *port);
    return ctx;
}
