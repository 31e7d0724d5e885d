/*  The fanout scenario: N connections in one room (raw: N connections to the
    broadcast peer), connection 0 also the sender. The sender publishes while it has
    fewer than --window unacked sends (or on a --rate schedule), --burst frames per
    send(); every connection counts its deliveries, their latency and seq gaps. A send
    leaves the window at its ack, or with --pace echo when the sender's own copy comes
    back; the raw protocol has no acks, so there the own copy always stands in. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static void s_pump(bn_conn_t *c, uint64_t now)
{
    bn_run_t *run = c->th->run;
    const bn_opts_t *o = run->o;
    if (BN_GET(run->phase) != BN_PH_RUN || c->state != BN_OPEN)
        return;
    uint64_t allowed = 1000; //  most sends per turn, so the loop keeps reading
    if (o->rate > 0) {
        uint64_t due = (uint64_t)((double)(now - BN_GET(run->start_ns)) / 1e9 * o->rate) + 1;
        allowed = due > c->sent ? due - c->sent : 0;
        if (allowed > 1000)
            allowed = 1000;
    }
    uint64_t cap = o->window ? (uint64_t)o->window : BN_SENDER_MAX_Q;
    uint64_t room = cap > c->outstanding ? cap - c->outstanding : 0;
    if (allowed > room)
        allowed = room;
    if (o->burst > 1 && o->rate == 0)
        allowed -= allowed % (uint64_t)o->burst;
    for (uint64_t i = 0; i < allowed; i++) {
        bool last_of_burst = (i + 1) % (uint64_t)o->burst == 0 || i + 1 == allowed;
        bn_send_message(c, now, last_of_burst);
    }
}

static void s_released(bn_conn_t *c, uint64_t now)
{
    if (c->outstanding)
        c->outstanding--;
    s_pump(c, now);
}

static void s_on_open(bn_conn_t *c)
{
    c->last_seq = 0;
    if (c->th->run->o->proto == BN_RAW)
        bn_mark_ready(c);
    else
        bn_subscribe(c);
}

//  Counts an ack (raw: the sender's own copy) and, when it paces the sender, refills
//  the window.
static void s_acked(bn_conn_t *c, const bn_frame_t *fr, bool paces)
{
    uint64_t sent = bn_sent_ns_of(fr), now = bn_now_ns();
    if (sent && sent <= now)
        bn_hist_add(&c->th->st.ack, now - sent);
    BN_ADD(c->th->st.acked, 1);
    if (paces)
        s_released(c, now);
}

static void s_on_text(bn_conn_t *c, const char *s, size_t n)
{
    bn_frame_t fr;
    bn_frame_parse(s, n, &fr);
    if (c->th->run->o->proto == BN_RAW) {
        if (!c->ready)
            return;
        bn_deliver(c, &fr, n);
        if (c->idx == 0)
            s_acked(c, &fr, true);
        return;
    }
    const bn_jfield_t *type = &fr.f[BN_F_TYPE];
    bool pace_echo = c->th->run->o->pace_echo;
    if (bn_json_is(type, "message")) {
        if (c->ready)
            bn_deliver(c, &fr, n);
        const bn_jfield_t *id = &fr.f[BN_F_CLIENT_ID];
        if (pace_echo && c->idx == 0 && id->val && id->len > 3 && memcmp(id->val, "c0.", 3) == 0)
            s_released(c, bn_now_ns());
    } else if (bn_json_is(type, "ack")) {
        s_acked(c, &fr, !pace_echo);
    } else if (bn_json_is(type, "subscribed")) {
        c->last_seq = bn_json_int(&fr.f[BN_F_SEQ], 0);
        bn_mark_ready(c);
    } else if (bn_json_is(type, "error")) {
        if (bn_error_frame(c, &fr))
            s_released(c, bn_now_ns());
    }
}

static void s_tick(bn_thread_t *t, uint64_t now)
{
    if (t->id == 0 && t->nconns > 0)
        s_pump(t->conns[0], now);
}

static const bn_handlers_t s_handlers = {
    .on_open = s_on_open, .on_text = s_on_text, .tick = s_tick};

//  Every send answered (acked, refused, or echoed) and every copy delivered.
static bool s_drained(bn_run_t *run)
{
    uint64_t sent = BN_TOTAL(run, sent), acked = BN_TOTAL(run, acked);
    uint64_t refused = BN_TOTAL(run, rejected_sends), ready = BN_TOTAL(run, ready);
    return acked + refused >= sent && BN_TOTAL(run, delivered) >= acked * ready;
}

int bn_fanout(bn_run_t *run, bn_result_t *r)
{
    int rc = bn_run_traffic(run, r, &s_handlers, s_drained);
    r->expected = r->acked * r->ready;
    return rc;
}
