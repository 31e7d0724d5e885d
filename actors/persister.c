/*  Persister actor.

    One queue, one thread, one SQLite write connection. Requests are applied in the
    order they arrive, so two writes from one sender are committed in that order.
    Each batch is one transaction: a failed statement (a username already taken) is
    answered with its own status and does not spoil the rest of the batch, because
    SQLite undoes only the failed statement. If the commit itself fails, the whole
    batch is rolled back and every request in it is answered INTERNAL: nothing in it
    was acknowledged, so nothing acknowledged is lost.

    Replies to civetweb threads go through waiters (waiter.h). */
#include "parley/persister.h"

#include "parley/actor.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/waiter.h"

#include <stdlib.h>

typedef struct {
    uint64_t waiter;
    uint64_t req_id;
    pl_status_t status;
    int64_t id;
} outcome_t;

typedef struct {
    zsock_t *pipe;     //  borrowed
    zsock_t *inbox;    //  owned
    pl_store_t *store; //  owned: the only write connection
    int batch_max;
    pl_msg_frame_t *batch; //  owned: frames of the batch being applied
    outcome_t *outcomes;   //  owned: one per frame in batch
} self_t;

static self_t *s_self_new(zsock_t *pipe, pl_persister_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(args->error, sizeof args->error, "persister: out of memory");
        return NULL;
    }
    self->pipe = pipe;
    self->batch_max = args->batch_max;
    self->batch = calloc((size_t)args->batch_max, sizeof *self->batch);
    self->outcomes = calloc((size_t)args->batch_max, sizeof *self->outcomes);
    self->store = pl_store_sqlite_open(args->data_dir, true, args->error, sizeof args->error);
    self->inbox = pl_actor_inbox(PL_PERSISTER_INBOX);
    if (!self->batch || !self->outcomes || !self->store || !self->inbox) {
        if (!args->error[0])
            snprintf(args->error, sizeof args->error, "persister: cannot start");
        pl_store_close(&self->store);
        zsock_destroy(&self->inbox);
        free(self->batch);
        free(self->outcomes);
        free(self);
        return NULL;
    }
    return self;
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    pl_store_close(&self->store);
    zsock_destroy(&self->inbox);
    free(self->batch);
    free(self->outcomes);
    free(self);
    *self_p = NULL;
}

//  Applies one request inside the open transaction and records its outcome.
static void s_apply(self_t *self, const pl_msg_t *msg, outcome_t *out)
{
    switch (msg->type) {
    case PL_MSG_USER_CREATE: {
        const pl_msg_user_create_t *m = &msg->as.user_create;
        *out = (outcome_t){m->waiter, m->req_id, PL_STATUS_OK, 0};
        out->status = self->store->ops->user_insert(self->store, m->username, m->password_hash,
                                                    m->display_name, m->created_at, &out->id);
        break;
    }
    case PL_MSG_USER_UPDATE: {
        const pl_msg_user_update_t *m = &msg->as.user_update;
        *out = (outcome_t){m->waiter, m->req_id, PL_STATUS_OK, m->user_id};
        out->status =
            self->store->ops->user_update(self->store, m->user_id, m->display_name, m->avatar_url);
        break;
    }
    default:
        pl_error("persister: unexpected %s", pl_msg_name(msg->type));
        *out = (outcome_t){0};
    }
}

//  Takes up to batch_max requests already queued, commits them in one transaction,
//  then replies. Returns how many were taken.
static int s_commit_batch(self_t *self)
{
    int count = 0;
    while (count < self->batch_max &&
           pl_msg_recv(zsock_resolve(self->inbox), &self->batch[count], ZMQ_DONTWAIT) == 0)
        count++;
    if (count == 0)
        return 0;

    bool committed = self->store->ops->begin(self->store) == PL_STATUS_OK;
    for (int i = 0; committed && i < count; i++)
        s_apply(self, &self->batch[i].msg, &self->outcomes[i]);
    if (committed && self->store->ops->commit(self->store) != PL_STATUS_OK) {
        self->store->ops->rollback(self->store);
        committed = false;
    }
    if (!committed)
        pl_error("persister: a batch of %d writes failed and was rolled back", count);
    for (int i = 0; i < count; i++) {
        outcome_t *out = &self->outcomes[i];
        if (!committed)
            out->status = PL_STATUS_INTERNAL;
        if (out->waiter) {
            pl_msg_t reply = {.type = PL_MSG_REPLY,
                              .as.reply = {out->req_id, out->status, out->id}};
            pl_waiter_post(out->waiter, &reply);
        }
        pl_msg_frame_close(&self->batch[i]);
    }
    return count;
}

static void s_on_inbox(void *self)
{
    s_commit_batch(self);
}

void pl_persister_actor(zsock_t *pipe, void *args_arg)
{
    pl_persister_args_t *args = args_arg;
    pl_actor_name_thread("persister");
    self_t *self = s_self_new(pipe, args);
    if (!self) {
        pl_actor_fail(pipe, &args->failed);
        return;
    }
    zsock_signal(pipe, 0);
    pl_actor_loop(pipe, self->inbox, s_on_inbox, self);
    //  Flush: whatever was queued before the stop is still committed and answered.
    while (s_commit_batch(self) > 0)
        ;
    s_self_destroy(&self);
}
