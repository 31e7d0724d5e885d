/*  A waiter is where an actor's reply reaches a thread that is not an actor (a
    civetweb worker). ZeroMQ sockets cost a file descriptor each, and civetweb holds
    one thread per open WebSocket, so giving every such thread a reply socket would
    halve the connections a node can hold; a waiter costs no descriptor.

    The requester puts the waiter's address and a fresh req_id in its request, then
    blocks in pl_waiter_wait. The actor answers with pl_waiter_post, handing over its
    encoded REPLY frame. A reply that arrives after its requester gave up carries an
    old req_id and is dropped, so a timed-out request can never be mistaken for the
    next one. Waiters are owned by pl_waiters_t, which frees them only after every
    actor has stopped: an actor may post to a waiter whose thread has gone. */
#ifndef PARLEY_WAITER_H
#define PARLEY_WAITER_H

#include "parley/msg.h"

typedef struct pl_waiter pl_waiter_t;
typedef struct pl_waiters pl_waiters_t;

pl_waiters_t *pl_waiters_new(void);
//  Frees every waiter made by this registry. Only once no actor can post any more.
void pl_waiters_destroy(pl_waiters_t **self_p);

//  A new waiter, owned by the registry. Returns NULL on allocation failure.
pl_waiter_t *pl_waiter_new(pl_waiters_t *registry);

//  Starts a request: returns the req_id to put in it, and forgets any earlier reply.
uint64_t pl_waiter_arm(pl_waiter_t *self);

//  Waits up to timeout_ms for the reply to req_id. Returns 0 with the reply decoded in
//  *reply (its strings live in reply->frame: call pl_msg_frame_close), or -1 on timeout.
int pl_waiter_wait(pl_waiter_t *self, uint64_t req_id, int timeout_ms, pl_msg_frame_t *reply);

//  Actor side: delivers a REPLY message to the waiter named by `waiter` (the address
//  from the request). Stale replies are dropped. Returns 0 or -1 (encoding failed).
int pl_waiter_post(uint64_t waiter, const pl_msg_t *reply);

#endif
