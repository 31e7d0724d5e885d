/*  The soak scenario: a day's traffic for --duration seconds against a parley it
    starts itself, killed with -9 and restarted every --kill-every seconds when asked,
    then the checks of soak_check.c. Users sit in rooms of --group; member k of each
    room plays one role:
      0  auditor      keeps every delivery it sees, each to be found in the store
      1  reconnector  closes every 5-15 s and resubscribes with since
      2  slow reader  member of every room; every 20-40 s asks for the backlogs of the
                      others and stops reading until the server cuts it (1008)
      3  bad framer   malformed JSON every 5-15 s (bad_request), an oversize frame
                      every fourth time (close 1009)
      4  SSE holder   an SSE notification stream instead of a WebSocket; the HTTP
                      thread acts as this user (reads, publishes, joins, leaves)
      5+ sender
    Every WebSocket member sends at --rate and keeps its unacked sends: whenever it
    subscribes again it sends them again with the same client_id. A loss is asked for
    when a kill, a slow read, an oversize frame or the member itself caused it; any
    other is an error, like any error frame nobody asked for. */
#include "soak.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW_PAUSE_S 15 //  > the server's stall limit (request_timeout_ms, 10 s by default)
#define CLOSE_WAIT_S 5  //  an asked-for close must come this soon after reading again
#define OVERSIZE     ((1u << 16) + 1) //  past the default max_frame_bytes (64 KiB)
#define BACKLOG      400 //  messages a slow reader asks for at once: in the default window
#define BACKLOG_ASKS 60  //  how many times it asks at once: ~8 MB in a full window
#define ASK_EVERY_S  1   //  how often a paused reader asks again until it is cut
//  The slow reader's receive buffer while it pauses: without it the kernel sizes the
//  buffer by how fast it read before (up to tcp_rmem's maximum, 32 MB on some hosts),
//  and a backlog it absorbs never reaches the server's queue limit.
#define PAUSED_RCVBUF (64 * 1024)
#define BACKOFF_MIN_S 0.2
#define BACKOFF_MAX_S 0.5

typedef enum {
    R_AUDITOR,
    R_RECONNECTOR,
    R_SLOW,
    R_BAD_FRAMES,
    R_SSE = SK_SSE_MEMBER,
    R_SENDER
} sk_role_t;
static const char *const s_role_names[] = {"auditor",    "reconnector", "slow reader",
                                           "bad framer", "sse",         "sender"};

typedef struct {
    uint64_t n, t_ns;
} sk_pending_t;

struct sk_peer {
    sk_role_t role;
    int room;         //  index
    int epoch;        //  the server incarnation its latest connect went to
    bool resubscribe; //  it was subscribed before: subscribe with since
    uint64_t next_n;
    sk_pending_t pending[SK_WINDOW]; //  unacked, oldest first
    int npending;
    uint64_t next_send_ns, next_act_ns, reopen_ns, close_by_ns, next_ask_ns;
    int bad_json;      //  malformed frames not answered yet
    bool want_cut;     //  paused: a 1008 close is asked for
    bool want_too_big; //  an oversize frame went out: a 1009 close is asked for
    bool quiet;        //  a slow reader about to stop reading, or stopped: no new sends
    bool connected;    //  open and subscribed at its thread's latest turn
    sk_log_t acked, seen;
};

const char *const sk_kind_names[SK_COUNT] = {
    "kills",      "kill_lost",      "down_refused", "reconnects",   "resubscribed", "unrecovered",
    "retried",    "slow_pauses",    "slow_cut",     "bad_json",     "too_big",      "sse_pushes",
    "http_reads", "http_published", "joins",        "leaves",       "http_down",    "stored",
    "lost",       "connect_failed", "slow_not_cut", "send_refused", "error_frame",  "stray_ack",
    "http_error", "http_order",     "unacked",      "behind",       "ack_lost",     "seen_lost",
    "store_gap",  "store_dup",      "leak",         "server"};

uint64_t sk_id_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; //  FNV-1a
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

void sk_log_add(sk_log_t *log, int room, int64_t seq, uint64_t id)
{
    if (log->len == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 1024;
        sk_seen_t *grown = realloc(log->v, cap * sizeof *grown);
        if (!grown) { //  a log with holes would pass checks it never made
            fprintf(stderr, "parley-bench: soak: out of memory for its logs\n");
            abort();
        }
        log->v = grown;
        log->cap = cap;
    }
    log->v[log->len++] = (sk_seen_t){.seq = seq, .id = id, .room = room};
}

void sk_count(sk_counts_t *c, sk_kind_t kind, uint64_t n)
{
    BN_ADD(c->n[kind], n);
}

void sk_error(sk_counts_t *c, sk_kind_t kind, const char *fmt, ...)
{
    if (BN_GET(c->n[kind]) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->first[kind], sizeof c->first[kind], fmt, ap);
        va_end(ap);
    }
    BN_ADD(c->n[kind], 1);
}

uint64_t sk_total(sk_soak_t *s, sk_kind_t kind)
{
    uint64_t sum = 0;
    for (size_t k = 0; k < sizeof s->counts / sizeof s->counts[0]; k++)
        sum += BN_GET(s->counts[k].n[kind]);
    return sum;
}

void sk_room_acked(sk_soak_t *s, int room, int64_t seq)
{
    int64_t top = atomic_load(&s->room_top[room]);
    while (seq > top && !atomic_compare_exchange_weak(&s->room_top[room], &top, seq))
        ;
}

const sk_log_t *sk_peer_acked(const sk_soak_t *s, int idx)
{
    return &s->peers[idx].acked;
}

const sk_log_t *sk_peer_seen(const sk_soak_t *s, int idx)
{
    return &s->peers[idx].seen;
}

static sk_soak_t *s_soak(const bn_conn_t *c)
{
    return c->th->run->ctx;
}

static sk_peer_t *s_peer(const bn_conn_t *c)
{
    return &s_soak(c)->peers[c->idx];
}

static sk_counts_t *s_counts(const bn_conn_t *c)
{
    return &s_soak(c)->counts[c->th->id];
}

//  A moment uniformly between lo_s and hi_s seconds after now.
static uint64_t s_after(bn_thread_t *t, uint64_t now, double lo_s, double hi_s)
{
    double u = (double)(bn_rand(&t->rng) >> 11) / 9007199254740992.0;
    return now + (uint64_t)((lo_s + (hi_s - lo_s) * u) * 1e9);
}

static void s_on_create(bn_conn_t *c)
{
    c->sse = s_peer(c)->role == R_SSE;
}

static void s_on_open(bn_conn_t *c)
{
    sk_peer_t *p = s_peer(c);
    if (c->sse) {
        bn_mark_ready(c);
        return;
    }
    if (!p->resubscribe) {
        bn_subscribe(c);
        return;
    }
    char buf[96];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"room\":%lld,\"since\":%lld}",
                     (long long)c->room, (long long)c->last_seq);
    bn_conn_send_text(c, buf, (size_t)n, true);
}

//  The pending send a client_id ("c<idx>.<n>.<t>") names, or -1.
static int s_pending_of(const sk_peer_t *p, const bn_jfield_t *id)
{
    if (!id->val || id->len < 2 || id->val[0] != 'c')
        return -1;
    const char *dot = memchr(id->val, '.', id->len);
    uint64_t n = dot ? strtoull(dot + 1, NULL, 10) : 0;
    for (int i = 0; i < p->npending; i++)
        if (p->pending[i].n == n)
            return i;
    return -1;
}

static void s_pending_drop(sk_peer_t *p, int i)
{
    memmove(&p->pending[i], &p->pending[i + 1], (size_t)(p->npending - i - 1) * sizeof *p->pending);
    p->npending--;
}

static void s_on_ack(bn_conn_t *c, const bn_frame_t *fr)
{
    sk_peer_t *p = s_peer(c);
    const bn_jfield_t *id = &fr->f[BN_F_CLIENT_ID];
    int i = s_pending_of(p, id);
    if (i < 0) {
        sk_error(s_counts(c), SK_E_ACK, "conn %d: an ack for %.*s, not awaited", c->idx,
                 id->val ? (int)id->len : 4, id->val ? id->val : "null");
        return;
    }
    uint64_t now = bn_now_ns(), sent = p->pending[i].t_ns;
    if (p->role != R_SLOW) //  whose acks wait for its pauses
        bn_hist_add(&c->th->st.ack, now - sent);
    s_pending_drop(p, i);
    int64_t seq = bn_json_int(&fr->f[BN_F_SEQ], -1);
    sk_log_add(&p->acked, p->room, seq, sk_id_hash(id->val, id->len));
    sk_room_acked(s_soak(c), p->room, seq);
    BN_ADD(c->th->st.acked, 1);
}

//  Subscribed (again): the baseline for the order check, then the unacked sends again.
static void s_on_subscribed(bn_conn_t *c, const char *s, size_t n, const bn_frame_t *fr)
{
    sk_peer_t *p = s_peer(c);
    int64_t seq = bn_json_int(&fr->f[BN_F_SEQ], 0);
    if (p->resubscribe) {
        bn_jfield_t recovered = {.name = "recovered"};
        bn_json_scan(s, n, &recovered, 1);
        bool lost = recovered.val && recovered.len == 5 && memcmp(recovered.val, "false", 5) == 0;
        sk_count(s_counts(c), lost ? SK_UNRECOVERED : SK_RESUBSCRIBED, 1);
        if (lost) //  the missed messages are history now: the order check starts anew
            c->last_seq = seq;
    } else {
        c->last_seq = seq;
    }
    p->resubscribe = true;
    bn_mark_ready(c);
    //  The sends made again count against the rate, like new ones.
    uint64_t now = bn_now_ns(), period = (uint64_t)(1e9 / c->th->run->o->rate);
    p->next_send_ns =
        (p->next_send_ns > now ? p->next_send_ns : now) + (uint64_t)p->npending * period;
    for (int i = 0; i < p->npending; i++)
        bn_send_parley(c, p->pending[i].n, p->pending[i].t_ns, i + 1 == p->npending);
    sk_count(s_counts(c), SK_RETRIED, (uint64_t)p->npending);
}

static void s_on_error(bn_conn_t *c, const bn_frame_t *fr)
{
    sk_peer_t *p = s_peer(c);
    const bn_jfield_t *code = &fr->f[BN_F_CODE], *ref = &fr->f[BN_F_REF];
    if (!ref->val && p->bad_json > 0 && bn_json_is(code, "bad_request")) {
        p->bad_json--;
        sk_count(s_counts(c), SK_BAD_JSON, 1);
        return;
    }
    int i = s_pending_of(p, ref);
    if (i >= 0) {
        s_pending_drop(p, i);
        sk_error(s_counts(c), SK_E_REFUSED, "conn %d: send %.*s refused: %.*s", c->idx,
                 (int)ref->len, ref->val, code->val ? (int)code->len : 1,
                 code->val ? code->val : "?");
        return;
    }
    sk_error(s_counts(c), SK_E_FRAME, "conn %d (%s): error frame %.*s", c->idx,
             s_role_names[p->role], code->val ? (int)code->len : 1, code->val ? code->val : "?");
}

static void s_on_text(bn_conn_t *c, const char *s, size_t n)
{
    sk_peer_t *p = s_peer(c);
    if (c->sse) { //  each event is one notification
        sk_count(s_counts(c), SK_SSE_PUSHES, 1);
        return;
    }
    bn_frame_t fr;
    bn_frame_parse(s, n, &fr);
    const bn_jfield_t *type = &fr.f[BN_F_TYPE];
    if (fr.f[BN_F_ROOM].val && bn_json_int(&fr.f[BN_F_ROOM], 0) != c->room)
        return; //  a slow reader's other rooms: only there to fill its queue
    if (bn_json_is(type, "message")) {
        if (!c->ready)
            return;
        bn_deliver(c, &fr, n);
        const bn_jfield_t *id = &fr.f[BN_F_CLIENT_ID];
        if (p->role == R_AUDITOR && id->val)
            sk_log_add(&p->seen, p->room, bn_json_int(&fr.f[BN_F_SEQ], -1),
                       sk_id_hash(id->val, id->len));
    } else if (bn_json_is(type, "ack")) {
        s_on_ack(c, &fr);
    } else if (bn_json_is(type, "subscribed")) {
        s_on_subscribed(c, s, n, &fr);
    } else if (bn_json_is(type, "error")) {
        s_on_error(c, &fr);
    }
}

//  A connection that ended (lost after open, or never opened) tries again soon.
static void s_ended(bn_conn_t *c, double lo_s, double hi_s)
{
    sk_peer_t *p = s_peer(c);
    uint64_t now = bn_now_ns();
    c->ready = false;
    p->reopen_ns = s_after(c->th, now, lo_s, hi_s);
    p->bad_json = 0; //  their answers, if any, went with the connection
    p->want_cut = p->want_too_big = p->quiet = false;
    if (p->role == R_SLOW)
        p->next_act_ns = s_after(c->th, now, 20, 40);
}

//  Whether the server went down since p's latest connect.
static bool s_killed_since(const bn_conn_t *c)
{
    sk_soak_t *s = s_soak(c);
    return atomic_load(&s->down) || atomic_load(&s->epoch) != s_peer(c)->epoch;
}

static void s_on_lost(bn_conn_t *c)
{
    sk_peer_t *p = s_peer(c);
    sk_counts_t *counts = s_counts(c);
    if (s_killed_since(c))
        sk_count(counts, SK_KILL_LOST, 1);
    else if (p->want_cut && (c->close_code == 1008 || !c->close_code)) //  no room for a frame
        sk_count(counts, SK_SLOW_CUT, 1);
    else if (p->want_too_big && c->close_code == 1009)
        sk_count(counts, SK_TOO_BIG, 1);
    else
        sk_error(counts, SK_E_LOST, "conn %d (%s) lost, close code %d", c->idx,
                 s_role_names[p->role], c->close_code);
    s_ended(c, 0.05, 0.3);
}

static void s_on_fail(bn_conn_t *c, int status)
{
    if (s_killed_since(c))
        sk_count(s_counts(c), SK_DOWN_REFUSED, 1);
    else
        sk_error(s_counts(c), SK_E_CONNECT, "conn %d (%s): connect or upgrade failed (%d)", c->idx,
                 s_role_names[s_peer(c)->role], status);
    s_ended(c, BACKOFF_MIN_S, BACKOFF_MAX_S);
}

//  Asks for the recent messages of other rooms again and again (subscribes with a
//  since inside the server's recovery window), so a slow reader's queue outgrows the
//  kernel's buffers in seconds. A paused reader asks again every ASK_EVERY_S: early
//  in a run, or on a slow server, the rooms' windows are short, and what one round
//  asks for could fit in the server's send buffer (which the kernel sizes up to
//  tcp_wmem's maximum, 4 MB here), never reaching its queue limit.
static void s_ask_backlogs(bn_conn_t *c, sk_peer_t *p, uint64_t now)
{
    p->next_ask_ns = now + (uint64_t)ASK_EVERY_S * 1000000000u;
    const bn_run_t *run = c->th->run;
    sk_soak_t *s = s_soak(c);
    char buf[96];
    for (int i = 0; s->nrooms > 1 && i < BACKLOG_ASKS; i++) {
        int r = i % s->nrooms;
        int64_t room = run->users[r * run->o->group].room;
        int64_t since = atomic_load(&s->room_top[r]) - BACKLOG;
        if (room == c->room)
            continue;
        int n = snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"room\":%lld,\"since\":%lld}",
                         (long long)room, (long long)(since > 0 ? since : 0));
        bn_conn_send_text(c, buf, (size_t)n, false);
    }
    bn_conn_flush(c);
}

//  The role's own act when its time has come.
static void s_act(bn_conn_t *c, sk_peer_t *p, uint64_t now)
{
    bn_thread_t *t = c->th;
    switch (p->role) {
    case R_RECONNECTOR:
        sk_count(s_counts(c), SK_RECONNECTS, 1);
        bn_conn_close(c);
        s_ended(c, 0.05, 0.3);
        p->next_act_ns = s_after(t, now, 5, 15);
        break;
    case R_SLOW:
        if (!c->paused && p->npending && !c->th->run->o->late_retries) {
            //  It stops sending first and waits for its acks: a send retried after
            //  the pause would come more than the server's de-duplication memory of
            //  recent client_ids later (see --late-retries).
            p->quiet = true;
            p->next_act_ns = now + 100000000u;
        } else if (!c->paused) {
            sk_count(s_counts(c), SK_SLOW_PAUSES, 1);
            p->quiet = true;
            setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &(int){PAUSED_RCVBUF}, sizeof(int));
            s_ask_backlogs(c, p, now);
            bn_conn_pause(c, true);
            p->want_cut = true;
            p->next_act_ns = now + (uint64_t)SLOW_PAUSE_S * 1000000000u;
        } else { //  read again: what the server queued, then its close
            p->quiet = false;
            bn_conn_pause(c, false);
            p->close_by_ns = now + (uint64_t)CLOSE_WAIT_S * 1000000000u;
            p->next_act_ns = s_after(t, now, 20, 40);
        }
        break;
    case R_BAD_FRAMES:
        if (bn_rand(&t->rng) % 4 == 0) {
            char *big = malloc(OVERSIZE);
            if (big) {
                memset(big, 'x', OVERSIZE);
                p->want_too_big = true;
                p->close_by_ns = now + (uint64_t)CLOSE_WAIT_S * 1000000000u;
                bn_conn_send_text(c, big, OVERSIZE, true);
                free(big);
            }
        } else {
            p->bad_json++;
            bn_conn_send_text(c, "{not json", 9, true);
        }
        p->next_act_ns = s_after(t, now, 5, 15);
        break;
    default:
        p->next_act_ns = UINT64_MAX;
    }
}

//  New sends on the --rate schedule; after a pause or an outage no more than a
//  second's worth is caught up, which the server's burst allowance covers.
static void s_send_due(bn_conn_t *c, sk_peer_t *p, uint64_t now)
{
    uint64_t period = (uint64_t)(1e9 / c->th->run->o->rate);
    if (p->next_send_ns + 1000000000u < now)
        p->next_send_ns = now - 1000000000u + period;
    while (p->next_send_ns <= now && p->npending < SK_WINDOW) {
        p->pending[p->npending++] = (sk_pending_t){++p->next_n, now};
        bn_send_parley(c, p->next_n, now, true);
        BN_ADD(c->th->st.sent, 1);
        p->next_send_ns += period;
    }
}

//  One connection's turn: reopen it when due; act, send, check its asked-for close.
//  Returns whether it is settled: open, subscribed, nothing unacked, caught up.
static bool s_turn(bn_conn_t *c, int phase, uint64_t now)
{
    sk_soak_t *s = s_soak(c);
    sk_peer_t *p = s_peer(c);
    p->connected = c->state == BN_OPEN && c->ready;
    if (c->state == BN_DONE) {
        if (now >= p->reopen_ns && !atomic_load(&s->down)) {
            p->epoch = atomic_load(&s->epoch);
            bn_conn_open(c);
        }
        return false;
    }
    if (c->state != BN_OPEN || !c->ready)
        return false;
    if (c->sse)
        return true;
    if (phase == BN_PH_RUN && now >= p->next_act_ns)
        s_act(c, p, now);
    else if (c->paused && p->want_cut && now >= p->next_ask_ns)
        s_ask_backlogs(c, p, now);
    if (c->state != BN_OPEN)
        return false;
    if (phase != BN_PH_RUN && c->paused) {
        bn_conn_pause(c, false);
        p->close_by_ns = now + (uint64_t)CLOSE_WAIT_S * 1000000000u;
    }
    if ((p->want_cut || p->want_too_big) && !c->paused && now > p->close_by_ns) {
        sk_error(s_counts(c), p->want_cut ? SK_E_SLOW_NOT_CUT : SK_E_FRAME,
                 "conn %d (%s) still open %d s after %s", c->idx, s_role_names[p->role],
                 CLOSE_WAIT_S, p->want_cut ? "reading again" : "an oversize frame");
        p->want_cut = p->want_too_big = false;
    }
    if (phase == BN_PH_RUN && !p->quiet)
        s_send_due(c, p, now);
    return p->npending == 0 && !c->paused && !p->want_cut && !p->want_too_big &&
           c->last_seq >= atomic_load(&s->room_top[p->room]);
}

static void s_tick(bn_thread_t *t, uint64_t now)
{
    sk_soak_t *s = t->run->ctx;
    int phase = BN_GET(t->run->phase);
    if (phase < BN_PH_RUN)
        return;
    int unsettled = 0;
    for (int i = 0; i < t->nconns; i++)
        unsettled += !s_turn(t->conns[i], phase, now);
    atomic_store(&s->unsettled[t->id], unsettled);
}

static const bn_handlers_t s_handlers = {.on_create = s_on_create,
                                         .on_open = s_on_open,
                                         .on_text = s_on_text,
                                         .on_fail = s_on_fail,
                                         .on_lost = s_on_lost,
                                         .tick = s_tick};

static void s_assign_roles(sk_soak_t *s)
{
    const bn_opts_t *o = s->o;
    for (int i = 0; i < o->conns; i++) {
        int k = i % o->group;
        sk_peer_t *p = &s->peers[i];
        p->role = k < R_SENDER ? (sk_role_t)k : R_SENDER;
        p->room = i / o->group;
        //  The first acts are spread over the roles' periods, not all at once; slow
        //  readers wait until the rooms hold backlogs worth asking for.
        p->next_act_ns =
            bn_now_ns() + (uint64_t)(((p->role == R_SLOW ? 10 : 2) + (i * 7919) % 13) * 1e9);
    }
}

//  Makes every slow reader a member of every room (it subscribes to them all).
static bool s_join_slow_readers(sk_soak_t *s, const bn_user_t *users)
{
    const bn_opts_t *o = s->o;
    bn_http_t h;
    bn_http_init(&h, o->port);
    bool ok = true;
    for (int r = 0; ok && r < s->nrooms; r++)
        for (int q = 0; ok && q < s->nrooms; q++) {
            char path[64], *resp = NULL;
            snprintf(path, sizeof path, "/api/rooms/%lld/join",
                     (long long)users[q * o->group].room);
            int status =
                bn_http_request(&h, "POST", path, users[r * o->group + R_SLOW].token, NULL, &resp);
            free(resp);
            ok = q == r || status == 204;
        }
    bn_http_close(&h);
    if (!ok)
        fprintf(stderr, "parley-bench: soak: slow readers could not join every room\n");
    return ok;
}

static bool s_settled(sk_soak_t *s)
{
    for (int k = 0; k < s->o->threads; k++)
        if (atomic_load(&s->unsettled[k]) != 0)
            return false;
    return true;
}

//  Kills the server and starts it again; false when it did not come back.
static bool s_kill_restart(sk_soak_t *s)
{
    atomic_store(&s->down, true);
    atomic_fetch_add(&s->epoch, 1);
    sk_server_kill9(&s->server);
    sk_count(&s->counts[SK_MAIN_SLOT], SK_KILLS, 1);
    if (sk_server_start(&s->server) < 0) {
        sk_error(&s->counts[SK_MAIN_SLOT], SK_E_SERVER, "the server did not restart");
        return false;
    }
    atomic_store(&s->down, false);
    return true;
}

//  The load, with its kills, for --duration; returns the seconds it ran.
static double s_load(sk_soak_t *s, bn_run_t *run)
{
    const bn_opts_t *o = s->o;
    uint64_t start = bn_now_ns(), end = start + (uint64_t)(o->duration * 1e9);
    uint64_t next_sample = start, next_kill = UINT64_MAX;
    uint64_t rng = start | 1;
    if (o->kill_every > 0)
        next_kill =
            start + (uint64_t)((0.5 + (double)(bn_rand(&rng) % 1000) / 1000) * o->kill_every * 1e9);
    atomic_store(&run->start_ns, start);
    atomic_store(&run->phase, BN_PH_RUN);
    for (uint64_t now = start; now < end; now = bn_now_ns()) {
        if (now >= next_sample) {
            sk_server_sample(&s->server, o->warmup);
            next_sample += 1000000000u;
        }
        if (now >= next_kill) {
            if (!s_kill_restart(s))
                break;
            next_kill = bn_now_ns() + (uint64_t)((0.5 + (double)(bn_rand(&rng) % 1000) / 1000) *
                                                 o->kill_every * 1e9);
        }
        usleep(20000);
    }
    atomic_store(&run->phase, BN_PH_STOP);
    atomic_store(&run->stop_ns, bn_now_ns());
    return (double)(bn_now_ns() - start) / 1e9;
}

//  After the join: what is still unacked, and who is short of its room's last seq.
static void s_count_unsettled(sk_soak_t *s)
{
    sk_counts_t *counts = &s->counts[SK_MAIN_SLOT];
    for (int i = 0; i < s->o->conns; i++) {
        sk_peer_t *p = &s->peers[i];
        bn_conn_t *c = &s->run->conns[i];
        if (p->npending)
            sk_error(counts, SK_E_UNACKED, "conn %d (%s): %d sends unacked", i,
                     s_role_names[p->role], p->npending);
        if (!p->connected)
            sk_error(counts, SK_E_BEHIND, "conn %d (%s) not connected at the end", i,
                     s_role_names[p->role]);
        else if (p->role != R_SSE && c->last_seq < atomic_load(&s->room_top[p->room]))
            sk_error(counts, SK_E_BEHIND, "conn %d (%s) at seq %lld of %lld", i,
                     s_role_names[p->role], (long long)c->last_seq,
                     (long long)atomic_load(&s->room_top[p->room]));
    }
}

int bn_soak(bn_opts_t *o)
{
    static sk_soak_t s;
    static bn_run_t run;
    s.o = o;
    s.run = &run;
    s.server.o = o;
    if (sk_server_start(&s.server) < 0) {
        fprintf(stderr, "parley-bench: soak: %s did not start (see %s/server.log)\n", o->server_bin,
                s.server.dir);
        return 1;
    }
    o->server_pid = s.server.pid;
    bn_user_t *users = bn_setup(o);
    s.nrooms = (o->conns + o->group - 1) / o->group;
    s.peers = calloc((size_t)o->conns, sizeof *s.peers);
    s.room_top = calloc((size_t)s.nrooms, sizeof *s.room_top);
    if (!users || !s.peers || !s.room_top || !s_join_slow_readers(&s, users)) {
        sk_server_stop(&s.server);
        return 1;
    }
    s_assign_roles(&s);
    for (int k = 0; k < BN_MAX_THREADS; k++)
        atomic_store(&s.unsettled[k], 1);
    run.o = o;
    run.users = users;
    run.ctx = &s;
    run.h = &s_handlers;
    pthread_t http;
    if (bn_run_start(&run) < 0 || !bn_wait_connected(&run, &s.r) || sk_http_start(&s, &http) < 0) {
        sk_server_stop(&s.server);
        return 1;
    }
    double elapsed = s_load(&s, &run);
    uint64_t drain_end = bn_now_ns() + (uint64_t)(o->drain_timeout * 1e9);
    while (bn_now_ns() < drain_end && !(s_settled(&s) && atomic_load(&s.http_idle)))
        usleep(20000);
    atomic_store(&s.http_stop, true);
    pthread_join(http, NULL);
    bn_run_join(&run);
    bn_result_collect(&run, &s.r);
    s_count_unsettled(&s);
    if (!atomic_load(&s.down)) {
        sk_check_store(&s);
        if (sk_server_stop(&s.server) != 0)
            sk_error(&s.counts[SK_MAIN_SLOT], SK_E_SERVER, "the server did not stop cleanly");
    }
    sk_check_leaks(&s);
    int rc = sk_report(&s, elapsed);
    if (rc == 0)
        sk_server_forget(&s.server);
    else
        fprintf(stderr, "parley-bench: soak: the server's data dir and log are kept in %s\n",
                s.server.dir);
    free(users);
    free(run.conns);
    return rc;
}
