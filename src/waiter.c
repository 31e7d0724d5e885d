/*  Waiters: a mutex, a condition variable and one reply slot each. */
#include "parley/waiter.h"

#include "parley/cluster.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pl_waiter {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    uint64_t armed_id; //  the req_id being waited for
    bool has_reply;
    pl_msg_frame_t reply;
    pl_waiter_t *next; //  registry list
};

struct pl_waiters {
    pthread_mutex_t lock;
    pl_waiter_t *head;
};

pl_waiters_t *pl_waiters_new(void)
{
    pl_waiters_t *self = calloc(1, sizeof *self);
    if (self)
        pthread_mutex_init(&self->lock, NULL);
    return self;
}

void pl_waiters_destroy(pl_waiters_t **self_p)
{
    pl_waiters_t *self = *self_p;
    if (!self)
        return;
    for (pl_waiter_t *w = self->head, *next; w; w = next) {
        next = w->next;
        if (w->has_reply)
            pl_msg_frame_close(&w->reply);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->ready);
        free(w);
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

pl_waiter_t *pl_waiter_new(pl_waiters_t *registry)
{
    pl_waiter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->ready, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&registry->lock);
    self->next = registry->head;
    registry->head = self;
    pthread_mutex_unlock(&registry->lock);
    return self;
}

//  req_ids are unique across all waiters, so a reply can never match a request it
//  was not made for.
static uint64_t s_next_req_id(void)
{
    static _Atomic uint64_t counter = 0;
    return ++counter;
}

uint64_t pl_waiter_arm(pl_waiter_t *self)
{
    uint64_t id = s_next_req_id();
    pthread_mutex_lock(&self->lock);
    if (self->has_reply) {
        pl_msg_frame_close(&self->reply);
        self->has_reply = false;
    }
    self->armed_id = id;
    pthread_mutex_unlock(&self->lock);
    return id;
}

int pl_waiter_wait(pl_waiter_t *self, uint64_t req_id, int timeout_ms, pl_msg_frame_t *reply)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    while (!self->has_reply) {
        if (pthread_cond_timedwait(&self->ready, &self->lock, &deadline) != 0)
            break;
    }
    if (self->has_reply && self->armed_id == req_id) {
        *reply = self->reply;
        self->has_reply = false;
        rc = 0;
    }
    self->armed_id = 0;
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int pl_waiter_post(uint64_t waiter, const pl_msg_t *reply)
{
    if (pl_cluster_is_remote(waiter))
        return pl_cluster_reply(waiter, reply);
    pl_waiter_t *self = (pl_waiter_t *)(uintptr_t)(waiter & PL_CLUSTER_LOCAL_MASK);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (pl_msg_encode(reply, &buf)) {
        msgpack_sbuffer_destroy(&buf);
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    if (self->armed_id != reply->as.reply.req_id || self->has_reply) {
        pthread_mutex_unlock(&self->lock);
        msgpack_sbuffer_destroy(&buf);
        return 0;
    }
    pl_msg_frame_t *slot = &self->reply;
    zmq_msg_init_size(&slot->frame, buf.size);
    memcpy(zmq_msg_data(&slot->frame), buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    pl_msg_decode(zmq_msg_data(&slot->frame), zmq_msg_size(&slot->frame), &slot->msg);
    self->has_reply = true;
    pthread_cond_signal(&self->ready);
    pthread_mutex_unlock(&self->lock);
    return 0;
}
