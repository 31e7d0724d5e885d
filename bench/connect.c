/*  The connect scenario: opens and subscribes N connections as fast as --concurrency
    allows, then holds them --duration seconds. Measures connections/s, connect
    latency, failures and 503 refusals apart, how many were lost while held, the
    server's RSS per connection (VmRSS after minus before, over the connections
    held) and, for parley, whether GET /healthz still answers while it is full. */
#include "bench.h"

#include <stdlib.h>

static void s_on_open(bn_conn_t *c)
{
    if (c->th->run->o->proto == BN_RAW)
        bn_mark_ready(c);
    else if (c->th->run->o->proto == BN_PARLEY)
        bn_subscribe(c); //  socketio: ready once its namespace is joined (socketio.c)
}

static void s_on_text(bn_conn_t *c, const char *s, size_t n)
{
    bn_frame_t fr;
    bn_frame_parse(s, n, &fr);
    if (bn_json_is(&fr.f[BN_F_TYPE], "subscribed"))
        bn_mark_ready(c);
    else if (bn_json_is(&fr.f[BN_F_TYPE], "error"))
        bn_error_frame(c, &fr);
}

static const bn_handlers_t s_handlers = {.on_open = s_on_open, .on_text = s_on_text};

static int s_healthz(const bn_opts_t *o)
{
    bn_http_t h;
    bn_http_init(&h, o->port);
    char *resp = NULL;
    int status = bn_http_request(&h, "GET", "/healthz", NULL, NULL, &resp);
    free(resp);
    bn_http_close(&h);
    return status;
}

int bn_connect(bn_run_t *run, bn_result_t *r)
{
    const bn_opts_t *o = run->o;
    run->h = &s_handlers;
    r->rss_before = bn_proc_rss_kib(o->server_pid);
    bn_monitor_t m;
    bn_monitor_begin(&m, o->server_pid);
    if (bn_run_start(run) < 0)
        return -1;
    bool connected = bn_wait_connected(run, r);
    r->rss_after = bn_proc_rss_kib(o->server_pid);
    uint64_t start = bn_now_ns();
    bn_monitor_wait(&m, run, start + (uint64_t)(o->duration * 1e9), NULL);
    r->elapsed_s = (double)(bn_now_ns() - start) / 1e9;
    if (o->proto == BN_PARLEY)
        r->healthz_status = s_healthz(o);
    bn_monitor_end(&m, r);
    bn_run_join(run);
    bn_result_collect(run, r);
    return connected ? 0 : -1;
}
