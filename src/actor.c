/*  Actor plumbing: thin wrappers over czmq that fix the conventions (inproc names,
    queue bounds, thread names) in one place. */
#include "parley/actor.h"

#include "parley/allocator.h"
#include "parley/cluster.h"
#include "parley/log.h"
#include "parley/tsan.h"

#include <pthread.h>
#include <stdlib.h>

void pl_actor_name_thread(const char *name)
{
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}

typedef struct {
    zactor_fn *fn;
    void *args;
} start_t;

//  Runs the actor, then marks its args released (see pl_actor_stop).
static void s_trampoline(zsock_t *pipe, void *box_arg)
{
    pl_allocator_cache_this_thread();
    start_t box = *(start_t *)box_arg;
    free(box_arg);
    box.fn(pipe, box.args);
    PL_TSAN_RELEASE(box.args);
}

zactor_t *pl_actor_start(const char *name, zactor_fn *fn, void *args)
{
    start_t *box = malloc(sizeof *box);
    zactor_t *actor = NULL;
    if (box) {
        *box = (start_t){fn, args};
        actor = zactor_new(s_trampoline, box);
        if (!actor)
            free(box);
    }
    if (!actor)
        pl_error("actor %s: could not start", name);
    return actor;
}

void pl_actor_stop(zactor_t **actor_p, void *args)
{
    if (!*actor_p)
        return;
    zactor_destroy(actor_p);
    PL_TSAN_ACQUIRE(args);
}

bool pl_actor_ready(zsock_t *pipe, bool started, atomic_bool *failed)
{
    if (started) {
        zsock_signal(pipe, 0);
        return true;
    }
    atomic_store(failed, true);
    zsock_signal(pipe, 1);
    free(zstr_recv(pipe));
    return false;
}

void pl_actor_loop(zsock_t *pipe, zsock_t *inbox, void (*on_inbox)(void *self), void *self)
{
    pl_actor_loop_timed(pipe, inbox, on_inbox, NULL, NULL, self);
}

void pl_actor_loop_timed(zsock_t *pipe, zsock_t *inbox, void (*on_inbox)(void *self),
                         int (*wait_ms)(void *self), void (*on_timer)(void *self), void *self)
{
    zpoller_t *poller = zpoller_new(pipe, inbox, NULL);
    bool terminated = !poller;
    while (!terminated) {
        void *which = zpoller_wait(poller, wait_ms ? wait_ms(self) : -1);
        if (which == inbox)
            on_inbox(self);
        else if (which == pipe) {
            char *command = zstr_recv(pipe);
            terminated = !command || streq(command, "$TERM");
            free(command);
        } else if (zpoller_terminated(poller))
            terminated = true;
        else if (on_timer)
            on_timer(self);
    }
    zpoller_destroy(&poller);
}

zsock_t *pl_actor_inbox(const char *name)
{
    zsock_t *inbox = zsock_new(ZMQ_PULL);
    if (!inbox)
        return NULL;
    zsock_set_rcvhwm(inbox, PL_ACTOR_HWM);
    if (zsock_bind(inbox, "inproc://%s", name) != 0) {
        pl_error("actor %s: cannot bind inbox", name);
        zsock_destroy(&inbox);
    }
    return inbox;
}

void pl_actor_inbox_destroy(zsock_t **inbox_p)
{
    if (*inbox_p && zsock_endpoint(*inbox_p))
        zsock_unbind(*inbox_p, "%s", zsock_endpoint(*inbox_p));
    zsock_destroy(inbox_p);
}

zsock_t *pl_actor_outlet(const char *name)
{
    zsock_t *outlet = zsock_new(ZMQ_PUSH);
    if (!outlet)
        return NULL;
    zsock_set_sndhwm(outlet, PL_ACTOR_HWM);
    //  Undelivered messages at shutdown are dropped rather than blocking the exit.
    zsock_set_linger(outlet, 0);
    if (zsock_connect(outlet, "inproc://%s", name) != 0) {
        pl_error("actor outlet to %s: cannot connect", name);
        zsock_destroy(&outlet);
    }
    return outlet;
}

struct pl_ingress {
    pthread_mutex_t lock;
    zsock_t *socket;
};

pl_ingress_t *pl_ingress_new(const char *name)
{
    pl_ingress_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->socket = pl_actor_outlet(name);
    if (!self->socket) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void pl_ingress_destroy(pl_ingress_t **self_p)
{
    pl_ingress_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->socket);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int pl_ingress_send(pl_ingress_t *self, const pl_msg_t *msg)
{
    //  The mutex is also the full memory barrier ZeroMQ asks for when a socket is used
    //  from more than one thread.
    pthread_mutex_lock(&self->lock);
    int rc = pl_msg_send(zsock_resolve(self->socket), msg);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int pl_ingress_request(pl_ingress_t *to, pl_waiter_t *waiter, pl_msg_t *request,
                       uint64_t *waiter_field, uint64_t *req_id_field, int timeout_ms,
                       pl_msg_frame_t *reply)
{
    *waiter_field = pl_cluster_tag((uint64_t)(uintptr_t)waiter);
    *req_id_field = pl_waiter_arm(waiter);
    if (pl_ingress_send(to, request))
        return -1;
    return pl_waiter_wait(waiter, *req_id_field, timeout_ms, reply);
}
