/*  Actor plumbing. An actor is a czmq zactor: a thread plus a pipe to its parent. It
    binds its inbox (a PULL socket at inproc://<name>) before signalling the pipe, so
    once pl_actor_start returns anyone may send to it; it exits on "$TERM". Actors
    send to each other with PUSH sockets made by pl_actor_outlet in their own thread.

    Threads that are not actors (civetweb's workers) send through a pl_ingress_t: one
    PUSH socket per destination shared by all of them under a mutex, because a socket
    per thread would cost a file descriptor per open connection (see waiter.h). */
#ifndef PARLEY_ACTOR_H
#define PARLEY_ACTOR_H

#include "parley/msg.h"
#include "parley/waiter.h"

#include <czmq.h>
#include <stdatomic.h>

//  Queue bound of every inbox and outlet: deep enough to absorb bursts, finite so a
//  stalled actor pushes back on its senders instead of eating memory.
#define PL_ACTOR_HWM 100000

//  Starts an actor thread named `name` (shown in logs and top). The actor must
//  zsock_signal its pipe once its inbox is bound. Returns NULL on failure.
zactor_t *pl_actor_start(const char *name, zactor_fn *fn, void *args);

//  Stops an actor started with args: sends $TERM and waits until it has returned.
//  After this the caller may free args. (czmq's actor threads are detached and the
//  handshake runs over ZeroMQ, which ThreadSanitizer cannot see: this states that the
//  actor is done with args, see tsan.h.)
void pl_actor_stop(zactor_t **actor_p, void *args);

//  Binds a PULL inbox at inproc://<name>. Returns NULL (logged) on failure.
zsock_t *pl_actor_inbox(const char *name);

//  Unbinds and destroys an inbox. Closing a socket frees its inproc name only later,
//  on ZeroMQ's reaper thread; unbinding frees it now, so the name can be bound again
//  at once (an actor restarted in the same process).
void pl_actor_inbox_destroy(zsock_t **inbox_p);

//  Connects a PUSH socket to inproc://<name>, for use by the calling thread only.
zsock_t *pl_actor_outlet(const char *name);

//  Ends an actor's start: when started, signals its pipe ready and returns true.
//  Otherwise sets *failed (which its starter reads once zactor_new returns), signals,
//  waits for $TERM so that zactor_destroy still finds it listening, and returns false:
//  the actor then returns.
bool pl_actor_ready(zsock_t *pipe, bool started, atomic_bool *failed);

//  The standard actor loop: waits on the pipe and the inbox, calls on_inbox(self)
//  whenever the inbox has messages, and returns when $TERM arrives (or the pipe
//  breaks). on_inbox should take every message already queued.
void pl_actor_loop(zsock_t *pipe, zsock_t *inbox, void (*on_inbox)(void *self), void *self);

//  pl_actor_loop with a timer: before each wait, wait_ms(self) says how long the
//  actor may wait (-1: until something comes); when that passes with nothing come,
//  on_timer(self) runs.
void pl_actor_loop_timed(zsock_t *pipe, zsock_t *inbox, void (*on_inbox)(void *self),
                         int (*wait_ms)(void *self), void (*on_timer)(void *self), void *self);

//  Names the calling thread (at most 15 characters are kept).
void pl_actor_name_thread(const char *name);

typedef struct pl_ingress pl_ingress_t;

//  A PUSH socket to inproc://<name> that any thread may use. NULL on failure.
pl_ingress_t *pl_ingress_new(const char *name);
void pl_ingress_destroy(pl_ingress_t **self_p);

//  Sends msg (see pl_msg_send); thread-safe. Returns 0 or -1.
int pl_ingress_send(pl_ingress_t *self, const pl_msg_t *msg);

//  Sends a request through an ingress and waits up to timeout_ms for its REPLY. The
//  request's waiter and req_id fields (passed as pointers into it) are filled in
//  here. Returns 0 with the reply in *reply (pl_msg_frame_close it), or -1.
int pl_ingress_request(pl_ingress_t *to, pl_waiter_t *waiter, pl_msg_t *request,
                       uint64_t *waiter_field, uint64_t *req_id_field, int timeout_ms,
                       pl_msg_frame_t *reply);

#endif
