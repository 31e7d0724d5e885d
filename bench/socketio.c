/*  The client side of Socket.IO v5 over Engine.IO v4's websocket transport, as far as
    the socketio protocol needs it: the server opens with "0{...}", the client joins
    the default namespace with "40" and is ready at the server's "40{...}"; events are
    "42[name,data]", of which the data object is the scenario's frame; the server
    pings with "2" and must hear "3". */
#include "bench.h"

#include <string.h>

static void s_event(bn_conn_t *c, const bn_handlers_t *h, const char *p, size_t n)
{
    const char *open = memchr(p, '{', n);
    const char *close = open ? memrchr(open, '}', n - (size_t)(open - p)) : NULL;
    if (!close) {
        bn_stat_error(c->th, "conn %d: socket.io event without an object", c->idx);
        return;
    }
    h->on_text(c, open, (size_t)(close - open) + 1);
}

void bn_sio_packet(bn_conn_t *c, const bn_handlers_t *h, const char *p, size_t n)
{
    if (n == 0) {
        bn_stat_error(c->th, "conn %d: empty engine.io packet", c->idx);
        return;
    }
    switch (p[0]) {
    case '0': //  open: join the default namespace
        bn_conn_send_text(c, "40", 2, true);
        return;
    case '2': //  ping
        bn_conn_send_text(c, "3", 1, true);
        return;
    case '4': //  a socket.io packet
        if (n >= 2 && p[1] == '0')
            bn_mark_ready(c);
        else if (n >= 2 && p[1] == '2')
            s_event(c, h, p + 2, n - 2);
        else
            bn_stat_error(c->th, "conn %d: socket.io packet %.*s", c->idx, n > 40 ? 40 : (int)n, p);
        return;
    default:
        bn_stat_error(c->th, "conn %d: engine.io packet %.*s", c->idx, n > 40 ? 40 : (int)n, p);
    }
}
