/*  The fanout scenario: N connections in one room (raw, socketio: N connections to the
    broadcast peer), connection 0 also the sender. The sender publishes while it has
    fewer than --window unacked sends (or on a --rate schedule), --burst frames per
    send(); every connection counts its deliveries, their latency and seq gaps. A send
    leaves the window at its ack, or with --pace echo when the sender's own copy comes
    back; the broadcast peers have no acks, so there the own copy always stands in.
    With --receivers sse the members other than the sender do not subscribe: they
    hold SSE notification streams, and each coalesced push is a delivery. */
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
    if (allowed)
        atomic_store(&run->last_sent_t, now);
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
    if (c->th->run->o->proto == BN_RAW || c->sse)
        bn_mark_ready(c);
    else if (c->th->run->o->proto == BN_PARLEY)
        bn_subscribe(c); //  socketio: ready once its namespace is joined (socketio.c)
}

//  Counts an ack (raw: the sender's own copy) and, when it paces the sender, refills
//  the window.
static void s_acked(bn_conn_t *c, const bn_frame_t *fr, bool paces)
{
    uint64_t sent = bn_sent_ns_of(fr), now = c->read_ns;
    if (sent && sent <= now)
        bn_hist_add(&c->th->st.ack, now - sent);
    BN_ADD(c->th->st.acked, 1);
    if (paces)
        s_released(c, bn_now_ns());
}

//  A notification on an SSE stream: its text ends with the latest message's body,
//  which begins with the send time. Coalescing means one push may stand for several
//  messages, so what is checked is that each stream ends on the last message.
static void s_on_notification(bn_conn_t *c, const char *s, size_t n)
{
    bn_jfield_t text = {.name = "text"};
    bn_json_scan(s, n, &text, 1);
    const char *stamp = text.val ? memmem(text.val, text.len, "t=", 2) : NULL;
    uint64_t sent = 0, now = c->read_ns;
    for (const char *p = stamp ? stamp + 2 : NULL; p && *p >= '0' && *p <= '9'; p++)
        sent = sent * 10 + (uint64_t)(*p - '0');
    if (!sent) {
        bn_stat_error(c->th, "conn %d: a notification without a send time", c->idx);
        return;
    }
    if (sent <= now)
        bn_hist_add(&c->th->st.deliver, now - sent);
    if (sent < atomic_load(&c->last_t))
        BN_ADD(c->th->st.dups, 1);
    atomic_store(&c->last_t, sent);
    BN_ADD(c->th->st.delivered, 1);
    BN_ADD(c->th->st.bytes, n);
}

static void s_on_text(bn_conn_t *c, const char *s, size_t n)
{
    if (c->sse) {
        if (c->ready)
            s_on_notification(c, s, n);
        return;
    }
    bn_frame_t fr;
    bn_frame_parse(s, n, &fr);
    if (c->th->run->o->proto != BN_PARLEY) {
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

//  SSE streams that have not been told of the last message sent.
static uint64_t s_streams_behind(bn_run_t *run)
{
    uint64_t last = atomic_load(&run->last_sent_t), behind = 0;
    for (int i = 1; i < run->o->conns; i++)
        behind += atomic_load(&run->conns[i].last_t) != last;
    return behind;
}

//  Every send answered (acked, refused, or echoed) and every copy delivered (SSE:
//  every stream told of the last message).
static bool s_drained(bn_run_t *run)
{
    uint64_t sent = BN_TOTAL(run, sent), acked = BN_TOTAL(run, acked);
    uint64_t refused = BN_TOTAL(run, rejected_sends), ready = BN_TOTAL(run, ready);
    if (acked + refused < sent)
        return false;
    if (run->o->sse_receivers)
        return s_streams_behind(run) == 0;
    return BN_TOTAL(run, delivered) >= acked * ready;
}

int bn_fanout(bn_run_t *run, bn_result_t *r)
{
    int rc = bn_run_traffic(run, r, &s_handlers, s_drained);
    if (run->o->sse_receivers)
        r->gaps += s_streams_behind(run); //  a stream that missed the last message
    else
        r->expected = r->acked * r->ready;
    return rc;
}
