/*  The results of one run: merges the threads' counters and histograms, prints the
    human table and the JSON line, and decides whether the run verified (every
    connection ready, no gaps, dups, missing deliveries, errors or lost connections). */
#include "bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_scenarios[] = {"fanout", "rooms", "connect"};

void bn_result_collect(bn_run_t *run, bn_result_t *r)
{
    r->ready = BN_TOTAL(run, ready);
    r->failed = BN_TOTAL(run, failed);
    r->refused = BN_TOTAL(run, refused);
    r->lost = BN_TOTAL(run, lost);
    r->sent = BN_TOTAL(run, sent);
    r->acked = BN_TOTAL(run, acked);
    r->delivered = BN_TOTAL(run, delivered);
    r->gaps = BN_TOTAL(run, gaps);
    r->dups = BN_TOTAL(run, dups);
    r->errors = BN_TOTAL(run, errors);
    r->expected = BN_TOTAL(run, expected);
    r->rejected_sends = BN_TOTAL(run, rejected_sends);
    r->bytes = BN_TOTAL(run, bytes);
    for (int k = 0; k < run->o->threads; k++) {
        bn_stats_t *st = &run->threads[k].st;
        bn_hist_merge(&r->deliver, &st->deliver);
        bn_hist_merge(&r->deliver_remote, &st->deliver_remote);
        bn_hist_merge(&r->ack, &st->ack);
        bn_hist_merge(&r->connect, &st->connect);
        if (!r->first_error[0] && st->first_error[0])
            memcpy(r->first_error, st->first_error, sizeof r->first_error);
    }
}

static uint64_t s_missing(const bn_result_t *r)
{
    return r->expected > r->delivered - r->dups ? r->expected - (r->delivered - r->dups) : 0;
}

bool bn_result_ok(const bn_opts_t *o, const bn_result_t *r)
{
    bool all_ready = r->ready + (o->allow_refused ? r->refused : 0) == (uint64_t)o->conns;
    bool traffic = o->scenario == BN_CONNECT || (r->acked > 0 && r->delivered > 0);
    return all_ready && traffic && !r->failed && !r->lost && !r->gaps && !r->dups && !r->errors &&
           !r->rejected_sends && !s_missing(r) && (o->allow_refused || !r->refused);
}

static json_t *s_lat(const bn_hist_t *h)
{
    return json_pack("{s:i, s:f, s:f, s:f, s:f}", "n", (json_int_t)h->n, "p50",
                     (double)bn_hist_pct(h, 50) / 1e3, "p99", (double)bn_hist_pct(h, 99) / 1e3,
                     "p999", (double)bn_hist_pct(h, 99.9) / 1e3, "max", (double)h->max / 1e3);
}

static void s_row_lat(const char *name, const bn_hist_t *h)
{
    if (!h->n)
        return;
    printf("  %-22s p50 %9.3f  p99 %9.3f  p99.9 %9.3f  max %9.3f ms  (n=%llu)\n", name,
           (double)bn_hist_pct(h, 50) / 1e6, (double)bn_hist_pct(h, 99) / 1e6,
           (double)bn_hist_pct(h, 99.9) / 1e6, (double)h->max / 1e6, (unsigned long long)h->n);
}

//  The server's CPU microseconds per operation over the measured interval (the
//  operations counted in it); 0 when there were none or the CPU is unknown.
static double s_per(const bn_result_t *r, uint64_t operations)
{
    return operations && r->server_cpu_s >= 0 ? r->server_cpu_s * 1e6 / (double)operations : 0;
}

void bn_report(const bn_opts_t *o, const bn_result_t *r)
{
    double secs = r->elapsed_s > 0 ? r->elapsed_s : 1;
    double dps = (double)r->delivered_in_window / secs, aps = (double)r->acked_in_window / secs;
    int64_t rss_delta = r->rss_after >= 0 && r->rss_before >= 0 ? r->rss_after - r->rss_before : 0;
    double per_conn_kib = r->ready ? (double)rss_delta / (double)r->ready : 0;
    bool ok = bn_result_ok(o, r);
    if (!o->quiet) {
        printf("%s %s (%s): N=%d group=%d window=%d rate=%g burst=%d duration=%.1fs\n",
               s_scenarios[o->scenario], o->label, bn_proto_name(o->proto), o->conns, o->group,
               o->window, o->rate, o->burst, o->duration);
        printf("  connections            %llu ready, %llu failed, %llu refused (503), %llu lost "
               "in %.2f s (%.0f/s)\n",
               (unsigned long long)r->ready, (unsigned long long)r->failed,
               (unsigned long long)r->refused, (unsigned long long)r->lost, r->connect_s,
               r->connects_per_s);
        if (o->scenario != BN_CONNECT) {
            printf("  sent/acked/refused     %llu / %llu / %llu   acked/s %.0f\n",
                   (unsigned long long)r->sent, (unsigned long long)r->acked,
                   (unsigned long long)r->rejected_sends, aps);
            printf("  deliveries             %llu (expected %llu, missing %llu)  deliveries/s "
                   "%.0f  avg frame %.0f B\n",
                   (unsigned long long)r->delivered, (unsigned long long)r->expected,
                   (unsigned long long)s_missing(r), dps,
                   r->delivered ? (double)r->bytes / (double)r->delivered : 0);
            printf("  gaps / dups / errors   %llu / %llu / %llu\n", (unsigned long long)r->gaps,
                   (unsigned long long)r->dups, (unsigned long long)r->errors);
        } else {
            printf("  errors                 %llu   healthz while held: %d\n",
                   (unsigned long long)r->errors, r->healthz_status);
        }
        s_row_lat("send->deliver", &r->deliver);
        s_row_lat("  on other nodes", &r->deliver_remote);
        s_row_lat("send->ack", &r->ack);
        s_row_lat("connect+subscribe", &r->connect);
        if (r->rss_before >= 0)
            printf("  server                 cpu %.0f%%  rss %lld -> %lld KiB (peak %lld), "
                   "%.1f KiB/conn added, %.1f KiB/conn in all\n",
                   r->server_cpu_pct, (long long)r->rss_before, (long long)r->rss_after,
                   (long long)r->rss_peak, per_conn_kib,
                   r->ready ? (double)r->rss_after / (double)r->ready : 0);
        if (r->server_cpu_s >= 0)
            printf("  server cpu per op      %.2f us/delivery  %.2f us/ack  %.1f us/connect\n",
                   s_per(r, r->delivered_in_window), s_per(r, r->acked_in_window),
                   s_per(r, r->ready));
        printf("  generator cpu          %.0f%%\n", r->client_cpu_pct);
        if (r->first_error[0])
            printf("  first error            %s\n", r->first_error);
        printf("  verified               %s\n", ok ? "yes" : "NO");
        fflush(stdout);
    }
    if (!o->json)
        return;
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:f, s:i, s:f, s:i, s:i}", "scenario",
                          s_scenarios[o->scenario], "server", o->label, "protocol",
                          bn_proto_name(o->proto), "conns", o->conns, "group", o->group, "window",
                          o->window, "rate", o->rate, "burst", o->burst, "duration_s", r->elapsed_s,
                          "body_bytes", o->body_bytes, "threads", o->threads);
    json_object_set_new(j, "pace", json_string(o->pace_echo ? "echo" : "ack"));
    json_object_set_new(j, "ready", json_integer((json_int_t)r->ready));
    json_object_set_new(j, "failed", json_integer((json_int_t)r->failed));
    json_object_set_new(j, "refused_503", json_integer((json_int_t)r->refused));
    json_object_set_new(j, "lost", json_integer((json_int_t)r->lost));
    json_object_set_new(j, "connect_s", json_real(r->connect_s));
    json_object_set_new(j, "connects_per_s", json_real(r->connects_per_s));
    json_object_set_new(j, "sent", json_integer((json_int_t)r->sent));
    json_object_set_new(j, "acked", json_integer((json_int_t)r->acked));
    json_object_set_new(j, "rejected_sends", json_integer((json_int_t)r->rejected_sends));
    json_object_set_new(j, "delivered", json_integer((json_int_t)r->delivered));
    json_object_set_new(j, "expected", json_integer((json_int_t)r->expected));
    json_object_set_new(j, "missing", json_integer((json_int_t)s_missing(r)));
    json_object_set_new(j, "gaps", json_integer((json_int_t)r->gaps));
    json_object_set_new(j, "dups", json_integer((json_int_t)r->dups));
    json_object_set_new(j, "errors", json_integer((json_int_t)r->errors));
    json_object_set_new(j, "deliveries_per_s", json_real(dps));
    json_object_set_new(j, "acks_per_s", json_real(aps));
    json_object_set_new(j, "avg_frame_bytes",
                        json_real(r->delivered ? (double)r->bytes / (double)r->delivered : 0));
    json_object_set_new(j, "lat_deliver_us", s_lat(&r->deliver));
    if (o->nports > 1 && o->scenario == BN_FANOUT)
        json_object_set_new(j, "lat_deliver_remote_us", s_lat(&r->deliver_remote));
    json_object_set_new(j, "lat_ack_us", s_lat(&r->ack));
    json_object_set_new(j, "lat_connect_us", s_lat(&r->connect));
    json_object_set_new(j, "server_cpu_pct", json_real(r->server_cpu_pct));
    json_object_set_new(j, "server_cpu_s", json_real(r->server_cpu_s));
    json_object_set_new(j, "cpu_us_per_delivery", json_real(s_per(r, r->delivered_in_window)));
    json_object_set_new(j, "cpu_us_per_ack", json_real(s_per(r, r->acked_in_window)));
    json_object_set_new(j, "cpu_us_per_connect", json_real(s_per(r, r->ready)));
    json_object_set_new(j, "client_cpu_pct", json_real(r->client_cpu_pct));
    json_object_set_new(j, "rss_kib_before", json_integer(r->rss_before));
    json_object_set_new(j, "rss_kib_after", json_integer(r->rss_after));
    json_object_set_new(j, "rss_kib_peak", json_integer(r->rss_peak));
    json_object_set_new(j, "rss_kib_per_conn", json_real(per_conn_kib));
    json_object_set_new(
        j, "rss_kib_total_per_conn",
        json_real(r->ready && r->rss_after > 0 ? (double)r->rss_after / (double)r->ready : 0));
    json_object_set_new(j, "healthz_status", json_integer(r->healthz_status));
    json_object_set_new(j, "first_error", json_string(r->first_error));
    json_object_set_new(j, "verified", json_boolean(ok));
    bn_print_json(j);
}

void bn_print_json(struct json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
    fflush(stdout);
}
