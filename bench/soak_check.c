/*  The soak's verdict. The store's truth is read back over HTTP (every room's
    messages, paged by after=, as its first member) and held against what clients were
    told: every acked send (WebSocket or HTTP) is stored at its seq under its
    client_id, every message the auditors saw is stored at the seq they saw it at, each
    room's seqs run 1..last with no hole, and no client_id is stored twice in a room.
    The leak check compares each server incarnation's RSS and fds at the end with its
    baseline after warm-up. The report is a table and, with --json, one JSON line;
    the run verified when no error of any kind was counted and no client saw a gap or
    a reorder. */
#include "soak.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE      200
#define MAX_PAGES 1000000 //  200M messages: far past what any soak stores
#define FDS_LIMIT 0.05

typedef struct {
    uint64_t *ids; //  ids[seq]: the client_id hash stored at seq
    int64_t last;
    size_t cap;
} sk_room_store_t;

static bool s_store_put(sk_room_store_t *st, int64_t seq, uint64_t id)
{
    if ((size_t)seq >= st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4096;
        while (cap <= (size_t)seq)
            cap *= 2;
        uint64_t *grown = realloc(st->ids, cap * sizeof *grown);
        if (!grown)
            return false;
        memset(grown + st->cap, 0, (cap - st->cap) * sizeof *grown);
        st->ids = grown;
        st->cap = cap;
    }
    st->ids[seq] = id;
    st->last = seq;
    return true;
}

//  Reads every message of room r; false when the store could not be read.
static bool s_read_room(sk_soak_t *s, bn_http_t *h, int r, sk_room_store_t *st)
{
    sk_counts_t *counts = &s->counts[SK_MAIN_SLOT];
    const bn_user_t *reader = &s->run->users[r * s->o->group];
    int64_t after = 0;
    for (int page = 0; page < MAX_PAGES; page++) {
        char path[128], *resp = NULL;
        snprintf(path, sizeof path, "/api/rooms/%lld/messages?after=%lld&limit=%d",
                 (long long)reader->room, (long long)after, PAGE);
        int status = bn_http_request(h, "GET", path, reader->token, NULL, &resp);
        json_t *json = status == 200 ? json_loads(resp, 0, NULL) : NULL;
        if (!json) {
            sk_error(counts, SK_E_HTTP, "GET %s answered %d", path, status);
            free(resp);
            return false;
        }
        free(resp);
        json_t *messages = json_object_get(json, "messages"), *m;
        size_t i;
        json_array_foreach(messages, i, m)
        {
            int64_t seq = json_integer_value(json_object_get(m, "seq"));
            const char *id = json_string_value(json_object_get(m, "client_id"));
            if (seq != after + 1)
                sk_error(counts, seq > after ? SK_E_STORE_GAP : SK_E_HTTP_ORDER,
                         "room %d: seq %lld stored after %lld", r, (long long)seq,
                         (long long)after);
            if (seq <= after || !s_store_put(st, seq, id ? sk_id_hash(id, strlen(id)) : 0))
                continue;
            after = seq;
            sk_count(counts, SK_STORED, 1);
        }
        bool more = json_is_true(json_object_get(json, "has_more")) && json_array_size(messages);
        json_decref(json);
        if (!more)
            return true;
    }
    return true;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

//  Each client_id once in the room (0: a message without one, not ours).
static void s_check_dups(sk_soak_t *s, int r, const sk_room_store_t *st)
{
    if (st->last < 1)
        return;
    uint64_t *sorted = malloc((size_t)st->last * sizeof *sorted);
    if (!sorted)
        return;
    memcpy(sorted, st->ids + 1, (size_t)st->last * sizeof *sorted);
    qsort(sorted, (size_t)st->last, sizeof *sorted, s_cmp_u64);
    for (int64_t i = 1; i < st->last; i++)
        if (sorted[i] && sorted[i] == sorted[i - 1])
            sk_error(&s->counts[SK_MAIN_SLOT], SK_E_STORE_DUP, "room %d: a client_id stored twice",
                     r);
    free(sorted);
}

//  Every entry of log for room r is stored at its seq with its client_id.
static void s_check_log(sk_soak_t *s, int r, const sk_room_store_t *st, const sk_log_t *log,
                        sk_kind_t kind, const char *who)
{
    for (size_t i = 0; i < log->len; i++) {
        const sk_seen_t *e = &log->v[i];
        if (e->room != r)
            continue;
        if (e->seq < 1 || e->seq > st->last || st->ids[e->seq] != e->id)
            sk_error(&s->counts[SK_MAIN_SLOT], kind, "room %d: seq %lld (%s) is %s in the store", r,
                     (long long)e->seq, who,
                     e->seq < 1 || e->seq > st->last ? "missing" : "another message");
    }
}

void sk_check_store(sk_soak_t *s)
{
    bn_http_t h;
    bn_http_init(&h, s->o->port);
    for (int r = 0; r < s->nrooms; r++) {
        sk_room_store_t st = {0};
        if (s_read_room(s, &h, r, &st)) {
            s_check_dups(s, r, &st);
            for (int k = 0; k < s->o->group; k++) {
                int idx = r * s->o->group + k;
                s_check_log(s, r, &st, sk_peer_acked(s, idx), SK_E_ACK_LOST, "acked");
                s_check_log(s, r, &st, sk_peer_seen(s, idx), SK_E_SEEN_LOST, "delivered");
            }
            s_check_log(s, r, &st, &s->http_acked, SK_E_ACK_LOST, "acked over HTTP");
        }
        free(st.ids);
    }
    bn_http_close(&h);
}

static double s_growth(int64_t from, int64_t to)
{
    return from > 0 ? (double)(to - from) / (double)from : 0;
}

void sk_check_leaks(sk_soak_t *s)
{
    sk_counts_t *counts = &s->counts[SK_MAIN_SLOT];
    int judged = 0;
    for (int i = 0; i < s->server.nstarts; i++) {
        const sk_start_t *st = &s->server.starts[i];
        if (st->rss_warm < 0 || st->rss_end < 0)
            continue;
        judged++;
        if (s_growth(st->rss_warm, st->rss_end) >= s->o->rss_limit / 100 ||
            s_growth(st->fds_warm, st->fds_end) >= FDS_LIMIT)
            sk_error(counts, SK_E_LEAK, "start %d: RSS %lld -> %lld KiB, fds %lld -> %lld", i + 1,
                     (long long)st->rss_warm, (long long)st->rss_end, (long long)st->fds_warm,
                     (long long)st->fds_end);
    }
    if (!judged)
        sk_error(counts, SK_E_LEAK, "no server ran %.0f s past its warm-up: nothing judged",
                 2.0 * SK_SPAN);
    char first[200];
    int log_errors = sk_server_log_errors(&s->server, first, sizeof first);
    for (int i = 0; i < log_errors; i++)
        sk_error(counts, SK_E_SERVER, "server log: %s", first);
}

//  The first error of a kind, from whichever thread saw one first.
static const char *s_first(sk_soak_t *s, sk_kind_t kind)
{
    for (size_t k = 0; k < sizeof s->counts / sizeof s->counts[0]; k++)
        if (s->counts[k].first[kind][0])
            return s->counts[k].first[kind];
    return "";
}

static json_t *s_lat_ms(const bn_hist_t *h)
{
    return json_pack("{s:i, s:f, s:f, s:f}", "n", (json_int_t)h->n, "p50",
                     (double)bn_hist_pct(h, 50) / 1e6, "p99", (double)bn_hist_pct(h, 99) / 1e6,
                     "max", (double)h->max / 1e6);
}

static json_t *s_json(sk_soak_t *s, double elapsed_s, bool ok)
{
    const bn_result_t *r = &s->r;
    json_t *j = json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f}", "scenario", "soak", "conns",
                          s->o->conns, "group", s->o->group, "rate", s->o->rate, "duration_s",
                          elapsed_s, "kill_every_s", s->o->kill_every, "warmup_s", s->o->warmup);
    json_object_set_new(j, "sent", json_integer((json_int_t)r->sent));
    json_object_set_new(j, "acked", json_integer((json_int_t)r->acked));
    json_object_set_new(j, "acks_per_s", json_real((double)r->acked / elapsed_s));
    json_object_set_new(j, "delivered", json_integer((json_int_t)r->delivered));
    json_object_set_new(j, "deliveries_per_s", json_real((double)r->delivered / elapsed_s));
    json_object_set_new(j, "gaps", json_integer((json_int_t)r->gaps));
    json_object_set_new(j, "reorders", json_integer((json_int_t)r->dups));
    json_object_set_new(j, "lat_ack_ms", s_lat_ms(&r->ack));
    json_object_set_new(j, "lat_deliver_ms", s_lat_ms(&r->deliver));
    json_t *kinds = json_object();
    for (int k = 0; k < SK_COUNT; k++)
        json_object_set_new(kinds, sk_kind_names[k], json_integer((json_int_t)sk_total(s, k)));
    json_object_set_new(j, "counts", kinds);
    json_t *starts = json_array();
    for (int i = 0; i < s->server.nstarts; i++) {
        const sk_start_t *st = &s->server.starts[i];
        uint64_t end = st->end_ns ? st->end_ns : bn_now_ns();
        json_array_append_new(starts, json_pack("{s:f, s:I, s:I, s:I, s:I}", "up_s",
                                                (double)(end - st->start_ns) / 1e9, "rss_kib_warm",
                                                (json_int_t)st->rss_warm, "rss_kib_end",
                                                (json_int_t)st->rss_end, "fds_warm",
                                                (json_int_t)st->fds_warm, "fds_end",
                                                (json_int_t)st->fds_end));
    }
    json_object_set_new(j, "starts", starts);
    json_object_set_new(j, "verified", json_boolean(ok));
    return j;
}

static void s_table(sk_soak_t *s, double elapsed_s, bool ok)
{
    const bn_result_t *r = &s->r;
    printf("soak parley: N=%d group=%d rate=%g/s duration=%.1fs kill-every=%gs warmup=%gs\n",
           s->o->conns, s->o->group, s->o->rate, elapsed_s, s->o->kill_every, s->o->warmup);
    printf("  sends                  %llu sent, %llu acked (%.0f/s), %llu over HTTP, "
           "%llu read back from the store\n",
           (unsigned long long)r->sent, (unsigned long long)r->acked, (double)r->acked / elapsed_s,
           (unsigned long long)sk_total(s, SK_HTTP_PUBLISHED),
           (unsigned long long)sk_total(s, SK_STORED));
    printf("  deliveries             %llu (%.0f/s), gaps %llu, reorders %llu\n",
           (unsigned long long)r->delivered, (double)r->delivered / elapsed_s,
           (unsigned long long)r->gaps, (unsigned long long)r->dups);
    printf("  send->ack              p50 %.3f  p99 %.3f  max %.3f ms\n",
           (double)bn_hist_pct(&r->ack, 50) / 1e6, (double)bn_hist_pct(&r->ack, 99) / 1e6,
           (double)r->ack.max / 1e6);
    for (int i = 0; i < s->server.nstarts; i++) {
        const sk_start_t *st = &s->server.starts[i];
        uint64_t end = st->end_ns ? st->end_ns : bn_now_ns();
        printf("  server start %-3d       up %.1f s, ", i + 1, (double)(end - st->start_ns) / 1e9);
        if (st->rss_warm < 0 || st->rss_end < 0)
            printf("too short to judge RSS and fds\n");
        else
            printf("RSS %lld -> %lld KiB (%+.1f %%), fds %lld -> %lld (%+.1f %%)\n",
                   (long long)st->rss_warm, (long long)st->rss_end,
                   100 * s_growth(st->rss_warm, st->rss_end), (long long)st->fds_warm,
                   (long long)st->fds_end, 100 * s_growth(st->fds_warm, st->fds_end));
    }
    printf("  asked for             ");
    for (int k = 0; k < SK_FIRST_ERROR; k++)
        printf(" %s=%llu", sk_kind_names[k], (unsigned long long)sk_total(s, k));
    printf("\n  errors                ");
    for (int k = SK_FIRST_ERROR; k < SK_COUNT; k++)
        if (sk_total(s, k))
            printf(" %s=%llu", sk_kind_names[k], (unsigned long long)sk_total(s, k));
    printf("\n");
    for (int k = SK_FIRST_ERROR; k < SK_COUNT; k++)
        if (sk_total(s, k))
            printf("  first %-16s %s\n", sk_kind_names[k], s_first(s, k));
    if (r->first_error[0])
        printf("  first generator error  %s\n", r->first_error);
    printf("  verified               %s\n", ok ? "yes" : "NO");
}

int sk_report(sk_soak_t *s, double elapsed_s)
{
    bool ok = s->r.gaps == 0 && s->r.dups == 0 && s->r.errors == 0 && s->r.acked > 0;
    for (int k = SK_FIRST_ERROR; k < SK_COUNT; k++)
        ok = ok && sk_total(s, k) == 0;
    if (elapsed_s <= 0)
        elapsed_s = 1;
    if (!s->o->quiet)
        s_table(s, elapsed_s, ok);
    if (s->o->json)
        bn_print_json(s_json(s, elapsed_s, ok));
    fflush(stdout);
    return ok ? 0 : 2;
}
