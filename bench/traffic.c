/*  What every scenario sends and checks, in every protocol: the subscribe request,
    the message a sender publishes (its send time in the body, or in a raw frame's
    "t", which socketio sends as a "message" event's data, and in the client_id so the ack tells its
   own latency), and the accounting of a received message: latency end to end, and its seq checked
   against the last one seen on that connection (a jump is a gap, a repeat or step back a dup). */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#define PAD_MAX 4400
static char s_pad[PAD_MAX];
static pthread_once_t s_pad_once = PTHREAD_ONCE_INIT;

static void s_pad_init(void)
{
    memset(s_pad, 'x', sizeof s_pad);
}
#define RAW_EXTRA_PAD 120 //  raw frames are padded to about the size of parley's messages

void bn_frame_parse(const char *s, size_t n, bn_frame_t *fr)
{
//  A name and its length, which the scan then need not measure.
#define FIELD(name) name, sizeof name - 1
    static const struct {
        const char *name;
        size_t len;
    } fields[BN_F_COUNT] = {{FIELD("type")}, {FIELD("room")}, {FIELD("seq")},  {FIELD("client_id")},
                            {FIELD("body")}, {FIELD("t")},    {FIELD("code")}, {FIELD("ref")}};
#undef FIELD
    for (int i = 0; i < BN_F_COUNT; i++) {
        fr->f[i].name = fields[i].name;
        fr->f[i].name_len = fields[i].len;
    }
    bn_json_scan(s, n, fr->f, BN_F_COUNT);
}

static uint64_t s_digits(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    return v;
}

void bn_deliver(bn_conn_t *c, const bn_frame_t *fr, size_t bytes)
{
    bn_thread_t *t = c->th;
    uint64_t now = c->read_ns, sent = 0;
    const bn_jfield_t *body = &fr->f[BN_F_BODY];
    if (t->run->o->proto != BN_PARLEY)
        sent = (uint64_t)bn_json_int(&fr->f[BN_F_T], 0);
    else if (body->val && body->len > 2 && body->val[0] == 't' && body->val[1] == '=')
        sent = s_digits(body->val + 2, body->len - 2);
    if (sent && sent <= now) {
        bn_hist_add(&t->st.deliver, now - sent);
        const bn_opts_t *o = t->run->o;
        if (o->scenario == BN_FANOUT && c->idx % o->nports != 0) //  the sender is on ports[0]
            bn_hist_add(&t->st.deliver_remote, now - sent);
    }
    int64_t seq = bn_json_int(&fr->f[BN_F_SEQ], -1);
    if (seq > c->last_seq + 1)
        BN_ADD(t->st.gaps, (uint64_t)(seq - c->last_seq - 1));
    if (seq <= c->last_seq)
        BN_ADD(t->st.dups, 1);
    else
        c->last_seq = seq;
    BN_ADD(t->st.delivered, 1);
    BN_ADD(t->st.bytes, bytes);
}

void bn_send_message(bn_conn_t *c, uint64_t now, bool flush)
{
    const bn_opts_t *o = c->th->run->o;
    c->sent++;
    c->outstanding++;
    BN_ADD(c->th->st.sent, 1);
    if (o->proto == BN_PARLEY) {
        bn_send_parley(c, c->sent, now, flush);
        return;
    }
    char buf[PAD_MAX + 400];
    pthread_once(&s_pad_once, s_pad_init);
    size_t pad = (size_t)o->body_bytes + RAW_EXTRA_PAD;
    bool sio = o->proto == BN_SOCKETIO; //  the same object as a "message" event's data
    int n =
        snprintf(buf, sizeof buf, "%s{\"seq\":%llu,\"t\":%llu,\"p\":\"%.*s\"}%s",
                 sio ? "42[\"message\"," : "", (unsigned long long)c->sent, (unsigned long long)now,
                 (int)(pad < PAD_MAX ? pad : PAD_MAX), s_pad, sio ? "]" : "");
    if (n > 0 && (size_t)n < sizeof buf)
        bn_conn_send_text(c, buf, (size_t)n, flush);
}

void bn_send_parley(bn_conn_t *c, uint64_t n, uint64_t t_ns, bool flush)
{
    const bn_opts_t *o = c->th->run->o;
    char buf[PAD_MAX + 400], head[40];
    pthread_once(&s_pad_once, s_pad_init);
    int hn = snprintf(head, sizeof head, "t=%llu;", (unsigned long long)t_ns);
    size_t pad = (size_t)o->body_bytes > (size_t)hn ? (size_t)o->body_bytes - (size_t)hn : 0;
    int len = snprintf(buf, sizeof buf,
                       "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"c%d.%llu.%llu\","
                       "\"body\":\"%s%.*s\"}",
                       (long long)c->room, c->idx, (unsigned long long)n, (unsigned long long)t_ns,
                       head, (int)(pad < PAD_MAX ? pad : PAD_MAX), s_pad);
    if (len > 0 && (size_t)len < sizeof buf)
        bn_conn_send_text(c, buf, (size_t)len, flush);
}

uint64_t bn_sent_ns_of(const bn_frame_t *fr)
{
    const bn_jfield_t *id = &fr->f[BN_F_CLIENT_ID];
    if (!id->val)
        return (uint64_t)bn_json_int(&fr->f[BN_F_T], 0);
    const char *dot = memrchr(id->val, '.', id->len);
    return dot ? s_digits(dot + 1, id->len - (size_t)(dot + 1 - id->val)) : 0;
}

void bn_subscribe(bn_conn_t *c)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"subscribe\",\"room\":%lld}", (long long)c->room);
    bn_conn_send_text(c, buf, (size_t)n, true);
}

void bn_mark_ready(bn_conn_t *c)
{
    if (c->ready)
        return;
    c->ready = true;
    bn_thread_t *t = c->th;
    uint64_t now = bn_now_ns();
    bn_hist_add(&t->st.connect, now - c->started_ns);
    atomic_store_explicit(&t->st.last_ready_ns, now, memory_order_relaxed);
    BN_ADD(t->st.ready, 1);
}

bool bn_error_frame(bn_conn_t *c, const bn_frame_t *fr)
{
    const bn_jfield_t *code = &fr->f[BN_F_CODE];
    bool refused_send = fr->f[BN_F_REF].val != NULL;
    if (bn_json_is(code, "rate_limited")) {
        BN_ADD(c->th->st.rejected_sends, 1);
        return true;
    }
    bn_stat_error(c->th, "conn %d: error frame %.*s", c->idx, code->val ? (int)code->len : 1,
                  code->val ? code->val : "?");
    return refused_send;
}
