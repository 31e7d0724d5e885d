/*  tests/support/peer.h
 *
 *  For the unit tests of one actor, where the test plays the actor's neighbours: it
 *  binds their inboxes (pl_actor_inbox with their names) and reads what the actor
 *  sends them here, every wait bounded by a poll, never a sleep. The expect helpers
 *  fail the calling test (Criterion asserts), naming what came instead.
 */
#ifndef PARLEY_TEST_PEER_H
#define PARLEY_TEST_PEER_H

#include "parley/msg.h"

#include <czmq.h>
#include <stdbool.h>

//  Receives one message from inbox within timeout_ms. Returns true with it in *in
//  (pl_msg_frame_close it), or false when none came in time.
bool pl_peer_recv(zsock_t *inbox, int timeout_ms, pl_msg_frame_t *in);

//  Receives the next message, which must come within timeout_ms and be of type.
//  Close *in after use.
void pl_peer_expect(zsock_t *inbox, int type, int timeout_ms, pl_msg_frame_t *in);

//  Asserts that nothing comes on inbox within timeout_ms; what names the situation.
void pl_peer_expect_nothing(zsock_t *inbox, int timeout_ms, const char *what);

#endif
