/*  The rooms scenario: N users in rooms of K members (the last room may be smaller),
    every connection subscribed to its room and sending --rate msg/s (spread over the
    thread's connections in turn) or keeping --window sends unacked. Measures acked
    messages/s (each ack means a durable commit), ack and delivery latency, errors;
    each ack adds the size of its room to the deliveries expected. */
#include "bench.h"

#include <stdio.h>

#define MAX_SENDS_PER_TURN 2000

static uint64_t s_room_size(const bn_opts_t *o, int idx)
{
    int first = idx / o->group * o->group;
    int left = o->conns - first;
    return (uint64_t)(left < o->group ? left : o->group);
}

static void s_on_open(bn_conn_t *c)
{
    bn_subscribe(c);
}

static bool s_may_send(bn_conn_t *c)
{
    const bn_opts_t *o = c->th->run->o;
    return c->state == BN_OPEN && c->ready && BN_GET(c->th->run->phase) == BN_PH_RUN &&
           c->outstanding < (o->window ? (uint64_t)o->window : BN_SENDER_MAX_Q);
}

//  Window mode: refill this connection's window.
static void s_refill(bn_conn_t *c)
{
    if (c->th->run->o->rate > 0)
        return;
    uint64_t now = bn_now_ns();
    while (s_may_send(c))
        bn_send_message(c, now, true);
}

static void s_on_text(bn_conn_t *c, const char *s, size_t n)
{
    bn_frame_t fr;
    bn_frame_parse(s, n, &fr);
    const bn_jfield_t *type = &fr.f[BN_F_TYPE];
    if (bn_json_is(type, "message")) {
        if (c->ready)
            bn_deliver(c, &fr, n);
    } else if (bn_json_is(type, "ack")) {
        uint64_t sent = bn_sent_ns_of(&fr), now = c->read_ns;
        if (sent && sent <= now)
            bn_hist_add(&c->th->st.ack, now - sent);
        if (c->outstanding)
            c->outstanding--;
        BN_ADD(c->th->st.acked, 1);
        BN_ADD(c->th->st.expected, s_room_size(c->th->run->o, c->idx));
        s_refill(c);
    } else if (bn_json_is(type, "subscribed")) {
        c->last_seq = bn_json_int(&fr.f[BN_F_SEQ], 0);
        bn_mark_ready(c);
    } else if (bn_json_is(type, "error")) {
        if (bn_error_frame(c, &fr) && c->outstanding) {
            c->outstanding--;
            s_refill(c);
        }
    }
}

static void s_tick(bn_thread_t *t, uint64_t now)
{
    bn_run_t *run = t->run;
    const bn_opts_t *o = run->o;
    if (BN_GET(run->phase) != BN_PH_RUN || !t->nconns)
        return;
    if (o->rate == 0) {
        if (!t->kicked)
            for (int i = 0; i < t->nconns; i++)
                s_refill(t->conns[i]);
        t->kicked = true;
        return;
    }
    double elapsed = (double)(now - BN_GET(run->start_ns)) / 1e9;
    uint64_t due = (uint64_t)(elapsed * o->rate * t->nconns);
    for (int budget = MAX_SENDS_PER_TURN; t->sched_sent < due && budget > 0; budget--) {
        bn_conn_t *c = t->conns[t->sched_sent % (uint64_t)t->nconns];
        t->sched_sent++;
        if (s_may_send(c))
            bn_send_message(c, now, true);
    }
}

static const bn_handlers_t s_handlers = {
    .on_open = s_on_open, .on_text = s_on_text, .tick = s_tick};

static bool s_drained(bn_run_t *run)
{
    return BN_TOTAL(run, acked) + BN_TOTAL(run, rejected_sends) >= BN_TOTAL(run, sent) &&
           BN_TOTAL(run, delivered) >= BN_TOTAL(run, expected);
}

int bn_rooms(bn_run_t *run, bn_result_t *r)
{
    return bn_run_traffic(run, r, &s_handlers, s_drained);
}
