/*  tests/support/peer.c
 *
 *  Reading an actor's messages from the inboxes a test binds: zmq_poll for the wait,
 *  then a non-blocking pl_msg_recv.
 */
#include "peer.h"

#include <criterion/criterion.h>

bool pl_peer_recv(zsock_t *inbox, int timeout_ms, pl_msg_frame_t *in)
{
    zmq_pollitem_t item = {zsock_resolve(inbox), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return false;
    return pl_msg_recv(zsock_resolve(inbox), in, ZMQ_DONTWAIT) == 0;
}

void pl_peer_expect(zsock_t *inbox, int type, int timeout_ms, pl_msg_frame_t *in)
{
    cr_assert(pl_peer_recv(inbox, timeout_ms, in), "no %s came", pl_msg_name(type));
    if ((int)in->msg.type != type) {
        int got = in->msg.type;
        pl_msg_frame_close(in);
        cr_assert_fail("expected %s, got %s", pl_msg_name(type), pl_msg_name(got));
    }
}

void pl_peer_expect_nothing(zsock_t *inbox, int timeout_ms, const char *what)
{
    pl_msg_frame_t in;
    if (pl_peer_recv(inbox, timeout_ms, &in)) {
        int type = in.msg.type;
        pl_msg_frame_close(&in);
        cr_assert_fail("%s: unexpected %s", what, pl_msg_name(type));
    }
}
