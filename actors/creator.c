/*  Creation-queue worker (see creator.h for the contract).

    One thread, one queue. Its only state is the flights: per content with a
    find-or-create in progress, the callers waiting on it. A flight ends when the
    persister answers; the next request for that content starts a new flight, which
    finds the room that now exists. So however requests interleave, the persister
    sees at most one find-or-create per content at a time, and each finds the room
    the previous one made. */
#include "parley/creator.h"

#include "parley/actor.h"
#include "parley/cluster.h"
#include "parley/idmap.h"
#include "parley/log.h"
#include "parley/notifier.h"
#include "parley/persister.h"

#include <stdlib.h>

typedef struct {
    uint64_t waiter, req_id;
    int64_t user_id;
} caller_t;

typedef struct {
    caller_t *callers;
    size_t count, capacity;
} flight_t;

typedef struct {
    zsock_t *inbox;      //  owned
    zsock_t *persister;  //  owned: outlet
    zsock_t *notifier;   //  owned: outlet
    zsock_t *bridge;     //  owned: outlet, in a cluster (the other nodes' notifiers), else NULL
    pl_idmap_t *flights; //  owned: content id -> flight_t (owned)
} self_t;

static void s_flight_free(uint64_t id, void *value, void *arg)
{
    flight_t *flight = value;
    free(flight->callers);
    free(flight);
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->flights)
        pl_idmap_each(self->flights, s_flight_free, NULL);
    pl_idmap_destroy(&self->flights);
    pl_actor_inbox_destroy(&self->inbox);
    zsock_destroy(&self->persister);
    zsock_destroy(&self->notifier);
    zsock_destroy(&self->bridge);
    free(self);
    *self_p = NULL;
}

static self_t *s_self_new(void)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->inbox = pl_actor_inbox(PL_CREATOR_INBOX);
    self->persister = pl_actor_outlet(PL_PERSISTER_INBOX);
    self->notifier = pl_actor_outlet(PL_NOTIFIER_INBOX);
    self->flights = pl_idmap_new();
    if (pl_cluster_self())
        self->bridge = pl_actor_outlet(PL_BRIDGE_INBOX);
    if (!self->inbox || !self->persister || !self->notifier || !self->flights ||
        (pl_cluster_self() && !self->bridge))
        s_self_destroy(&self);
    return self;
}

static void s_answer(const caller_t *caller, pl_status_t status)
{
    pl_msg_t reply = {.type = PL_MSG_REPLY,
                      .as.reply = {.req_id = caller->req_id, .status = status}};
    pl_waiter_post(caller->waiter, &reply);
}

//  Adds a caller to the flight for content_id, starting the flight if there is none.
static void s_request(self_t *self, const pl_msg_group_room_t *m)
{
    flight_t *flight = pl_idmap_get(self->flights, (uint64_t)m->content_id);
    caller_t caller = {m->waiter, m->req_id, m->user_id};
    if (!flight) {
        flight = calloc(1, sizeof *flight);
        if (!flight || pl_idmap_put(self->flights, (uint64_t)m->content_id, flight)) {
            free(flight);
            s_answer(&caller, PL_STATUS_INTERNAL);
            return;
        }
        pl_msg_t ensure = {.type = PL_MSG_ROOM_ENSURE_GROUP,
                           .as.room_ensure_group = {(uint64_t)m->content_id, m->content_id}};
        pl_msg_send(zsock_resolve(self->persister), &ensure);
    }
    if (flight->count == flight->capacity) {
        size_t capacity = flight->capacity ? flight->capacity * 2 : 8;
        caller_t *grown = realloc(flight->callers, capacity * sizeof *grown);
        if (!grown) {
            s_answer(&caller, PL_STATUS_INTERNAL);
            return;
        }
        flight->callers = grown;
        flight->capacity = capacity;
    }
    flight->callers[flight->count++] = caller;
}

//  The persister found or made the room (req_id is the content id): make every
//  waiting caller a member; the persister answers each of them.
static void s_landed(self_t *self, const pl_msg_reply_t *reply)
{
    flight_t *flight = pl_idmap_remove(self->flights, reply->req_id);
    if (!flight)
        return;
    for (size_t i = 0; i < flight->count; i++) {
        const caller_t *caller = &flight->callers[i];
        if (reply->status != PL_STATUS_OK) {
            s_answer(caller, (pl_status_t)reply->status);
            continue;
        }
        pl_msg_t add = {.type = PL_MSG_MEMBER_ADD,
                        .as.member_add = {caller->waiter, caller->req_id, reply->id,
                                          caller->user_id, i == 0 && reply->created}};
        pl_msg_send(zsock_resolve(self->persister), &add);
    }
    if (reply->created && reply->status == PL_STATUS_OK && flight->count) {
        pl_info("creator: room %" PRId64 " created for content %" PRIu64 " (%zu callers)",
                reply->id, reply->req_id, flight->count);
        pl_msg_t created = {.type = PL_MSG_NOTIFY_ROOM_CREATED,
                            .as.notify_room_created = {reply->id, (int64_t)reply->req_id,
                                                       flight->callers[0].user_id}};
        pl_msg_send(zsock_resolve(self->notifier), &created);
        //  Each node's notifier tells the likers it serves (see app.h).
        if (self->bridge)
            pl_msg_send(zsock_resolve(self->bridge), &created);
    }
    s_flight_free(0, flight, NULL);
}

static void s_on_inbox(void *self_arg)
{
    self_t *self = self_arg;
    pl_msg_frame_t in;
    while (pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0) {
        if (in.msg.type == PL_MSG_GROUP_ROOM)
            s_request(self, &in.msg.as.group_room);
        else if (in.msg.type == PL_MSG_REPLY)
            s_landed(self, &in.msg.as.reply);
        else
            pl_error("creator: unexpected %s", pl_msg_name(in.msg.type));
        pl_msg_frame_close(&in);
    }
}

void pl_creator_actor(zsock_t *pipe, void *args_arg)
{
    pl_creator_args_t *args = args_arg;
    pl_actor_name_thread("creator");
    self_t *self = s_self_new();
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    pl_actor_loop(pipe, self->inbox, s_on_inbox, self);
    s_self_destroy(&self);
}
