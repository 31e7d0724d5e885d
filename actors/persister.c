/*  Persister actor.

    One queue, one thread, one SQLite write connection. Requests are applied in the
    order they arrive, so two writes from one sender are committed in that order.
    Each batch is one transaction: a failed statement (a username already taken) is
    answered with its own status and does not spoil the rest of the batch, because
    SQLite undoes only the failed statement. If the commit itself fails, the batch is
    rolled back and applied again, a few times with a growing pause (a full disk or a
    lock can pass); if it still fails, every request in it is answered INTERNAL.
    Nothing is answered before its commit, so nothing answered is ever lost.

    A stored message moves two pointers, its room's last seq and its sender's read
    pointer. Both only move forward, so the persister notes them per message and
    writes each room's and each sender's once, with the greatest seq, before the
    commit or before any request other than a message or a read pointer (which
    might read them): under load a batch holds many messages of few rooms, and one
    statement per message is left of three. An advance that fails spoils the batch
    like a failed commit: the rows it would have covered are already in it.

    After the commit each request's outcome goes where it is awaited: a waiter (an
    HTTP request), the creation-queue worker, or the room shard that owns the room
    (MESSAGE_STORED, member changes), or the notifier (NOTIFICATION_STORED). A room's
    stored messages are told as runs: consecutive seqs with one status make one
    MESSAGE_STORED, sent once the batch's other outcomes before the next one that is
    not a message have gone, so no outcome overtakes an earlier one of its room.

    A room's seqs have no gaps (PROTOCOL.md), so a message that fails to be stored
    breaks its room here: every later seq the room handed out before it heard of the
    failure is refused unapplied, until the room, told, hands the failed seq out again
    and that one is stored. The room and its writes may be in flight for a while, so
    the persister keeps, per broken room, the seq it waits for. */
#include "parley/persister.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/creator.h"
#include "parley/idmap.h"
#include "parley/json_shapes.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/notifier.h"
#include "parley/room.h"
#include "parley/store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_ATTEMPTS 4
//  Longest a send of an outcome to another actor may wait (see s_tell).
#define ACTOR_SEND_TIMEOUT_MS 1000

typedef enum {
    TO_NOBODY,
    TO_WAITER,      //  REPLY to the waiter in the request
    TO_CREATOR,     //  REPLY to the creation-queue worker
    TO_ROOM_STORED, //  MESSAGE_STORED to the room's shard
    TO_NOTIFIER     //  NOTIFICATION_STORED to the notifier
} route_t;

typedef struct {
    route_t route;
    uint64_t waiter, req_id;
    pl_status_t status;
    int64_t id, created;
    int64_t room_id, seq;
    int64_t member_id; //  a member who changed their profile, or 0
} outcome_t;

//  The pointers a stored message moves, waiting to be written (see above).
typedef struct {
    int64_t room_id, user_id, seq, ts;
} advance_t;

//  A room's entry in `broken` before a change, to undo it with a rolled-back attempt.
typedef struct {
    int64_t room_id, seq; //  seq 0: not broken
} mark_t;

//  Consecutive stored messages of one room, with one status, not yet told (see above).
typedef struct {
    int64_t room_id, first, last;
    pl_status_t status;
} run_t;

typedef struct {
    zsock_t *pipe;     //  borrowed
    zsock_t *inbox;    //  owned
    pl_store_t *store; //  owned: the only write connection
    int batch_max;
    pl_msg_frame_t *batch; //  owned: frames of the batch being applied
    outcome_t *outcomes;   //  owned: one per frame in batch
    advance_t *advances;   //  owned: up to one per frame in batch, not yet written
    int advance_count;
    run_t *runs; //  owned: up to one per frame in batch, not yet told
    int run_count;
    int *run_slots;     //  owned: open-addressed by room id, 1 + index into runs, 0 free
    size_t slot_mask;   //  run_slots has slot_mask + 1 entries, at least twice batch_max
    pl_idmap_t *broken; //  owned: room id -> the seq a broken room must send next (see above)
    mark_t *undo;       //  owned: up to one per frame in batch, changes to broken to undo
    int undo_count;
    zsock_t *creator;  //  owned: outlet to the creation-queue worker
    zsock_t *notifier; //  owned: outlet to the notifier
    zsock_t **rooms;   //  owned: outlets to the room shards
    zsock_t *bridge;   //  owned: outlet, in a cluster (rooms of other nodes), else NULL
    int room_shards;
    pl_status_t failure; //  why the last attempt to commit failed (UNAVAILABLE: no store)
} self_t;

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    pl_store_close(&self->store);
    pl_actor_inbox_destroy(&self->inbox);
    zsock_destroy(&self->creator);
    zsock_destroy(&self->notifier);
    for (int i = 0; self->rooms && i < self->room_shards; i++)
        zsock_destroy(&self->rooms[i]);
    free(self->rooms);
    zsock_destroy(&self->bridge);
    free(self->batch);
    free(self->outcomes);
    free(self->advances);
    free(self->runs);
    free(self->run_slots);
    pl_idmap_destroy(&self->broken);
    free(self->undo);
    free(self);
    *self_p = NULL;
}

//  Bounds how long a send to another actor waits (see s_tell); after $TERM the
//  actors it answers have stopped, and what cannot go at once is dropped.
static void s_bound_sends(self_t *self, int timeout_ms)
{
    zsock_set_sndtimeo(self->creator, timeout_ms);
    zsock_set_sndtimeo(self->notifier, timeout_ms);
    for (int i = 0; i < self->room_shards; i++)
        zsock_set_sndtimeo(self->rooms[i], timeout_ms);
    if (self->bridge)
        zsock_set_sndtimeo(self->bridge, timeout_ms);
}

static self_t *s_self_new(zsock_t *pipe, pl_persister_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(args->error, sizeof args->error, "persister: out of memory");
        return NULL;
    }
    self->pipe = pipe;
    self->batch_max = args->batch_max;
    self->room_shards = args->room_shards;
    self->batch = calloc((size_t)args->batch_max, sizeof *self->batch);
    self->outcomes = calloc((size_t)args->batch_max, sizeof *self->outcomes);
    self->advances = calloc((size_t)args->batch_max, sizeof *self->advances);
    self->runs = calloc((size_t)args->batch_max, sizeof *self->runs);
    for (self->slot_mask = 1; self->slot_mask < 2 * (size_t)args->batch_max;)
        self->slot_mask *= 2;
    self->run_slots = calloc(self->slot_mask--, sizeof *self->run_slots);
    self->rooms = calloc((size_t)args->room_shards, sizeof *self->rooms);
    self->broken = pl_idmap_new();
    self->undo = calloc((size_t)args->batch_max, sizeof *self->undo);
    self->store = pl_store_open(&args->store, true, args->error, sizeof args->error);
    self->inbox = pl_actor_inbox(PL_PERSISTER_INBOX);
    self->creator = pl_actor_outlet(PL_CREATOR_INBOX);
    self->notifier = pl_actor_outlet(PL_NOTIFIER_INBOX);
    if (pl_cluster_self())
        self->bridge = pl_actor_outlet(PL_BRIDGE_INBOX);
    bool ok = self->batch && self->outcomes && self->advances && self->runs && self->run_slots &&
              self->rooms && self->broken && self->undo && self->store && self->inbox &&
              self->creator && self->notifier && (self->bridge || !pl_cluster_self());
    for (int i = 0; ok && i < args->room_shards; i++) {
        char name[32];
        pl_room_inbox_name(i, name, sizeof name);
        ok = (self->rooms[i] = pl_actor_outlet(name)) != NULL;
    }
    if (ok)
        s_bound_sends(self, ACTOR_SEND_TIMEOUT_MS);
    if (!ok) {
        if (!args->error[0])
            snprintf(args->error, sizeof args->error, "persister: cannot start");
        s_self_destroy(&self);
    }
    return self;
}

//  The seq a broken room must send next, or 0 when the room is not broken.
static int64_t s_broken_at(const self_t *self, int64_t room_id)
{
    return (int64_t)(uintptr_t)pl_idmap_get(self->broken, (uint64_t)room_id);
}

static void s_put_broken(self_t *self, int64_t room_id, int64_t seq)
{
    if (seq == 0)
        pl_idmap_remove(self->broken, (uint64_t)room_id);
    else if (pl_idmap_put(self->broken, (uint64_t)room_id, (void *)(uintptr_t)seq))
        pl_error("persister: out of memory: room %" PRId64 " may skip seq %" PRId64, room_id, seq);
}

//  Breaks a room at seq, or mends it (seq 0), within the attempt being applied.
static void s_set_broken(self_t *self, int64_t room_id, int64_t seq)
{
    self->undo[self->undo_count++] = (mark_t){room_id, s_broken_at(self, room_id)};
    s_put_broken(self, room_id, seq);
}

//  Forgets what a rolled-back attempt did to `broken`.
static void s_undo_broken(self_t *self)
{
    while (self->undo_count > 0) {
        const mark_t *mark = &self->undo[--self->undo_count];
        s_put_broken(self, mark->room_id, mark->seq);
    }
}

//  After a failed commit: breaks a room at seq, unless it is broken at an earlier one.
static void s_break_at_earliest(self_t *self, int64_t room_id, int64_t seq)
{
    int64_t broken_at = s_broken_at(self, room_id);
    if (!broken_at || seq < broken_at)
        s_put_broken(self, room_id, seq);
}

//  Stores a message unless its room is broken at an earlier seq.
static void s_apply_message(self_t *self, const pl_msg_message_store_t *m, outcome_t *out)
{
    out->route = TO_ROOM_STORED, out->room_id = m->room_id, out->seq = m->seq;
    int64_t broken_at = s_broken_at(self, m->room_id);
    if (broken_at && m->seq != broken_at) {
        out->status = PL_STATUS_INTERNAL;
        return;
    }
    pl_message_row_t row = {m->room_id,   m->seq,  m->sender_id, m->ts,
                            m->client_id, m->kind, m->body,      m->url};
    out->status = self->store->ops->message_insert(self->store, &row);
    if (out->status != PL_STATUS_OK) {
        if (!broken_at)
            s_set_broken(self, m->room_id, m->seq);
        return;
    }
    if (broken_at)
        s_set_broken(self, m->room_id, 0);
    self->advances[self->advance_count++] = (advance_t){m->room_id, m->sender_id, m->seq, m->ts};
}

//  Applies one request inside the open transaction and records its outcome.
static void s_apply(self_t *self, const pl_msg_t *msg, outcome_t *out)
{
    pl_store_t *store = self->store;
    const pl_store_ops_t *ops = store->ops;
    bool flag = false;
    *out = (outcome_t){.route = TO_WAITER};
    switch (msg->type) {
    case PL_MSG_USER_CREATE: {
        const pl_msg_user_create_t *m = &msg->as.user_create;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status = ops->user_insert(store, m->username, m->password_hash, m->display_name,
                                       m->created_at, &out->id);
        break;
    }
    case PL_MSG_USER_UPDATE: {
        const pl_msg_user_update_t *m = &msg->as.user_update;
        out->waiter = m->waiter, out->req_id = m->req_id, out->id = m->user_id;
        out->status = ops->user_update(store, m->user_id, m->display_name, m->avatar_url);
        if (out->status == PL_STATUS_OK)
            out->member_id = m->user_id;
        break;
    }
    case PL_MSG_CONTENT_CREATE: {
        const pl_msg_content_create_t *m = &msg->as.content_create;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status = ops->content_insert(store, m->kind, m->title, m->description, m->year,
                                          pl_now_ms(), &out->id);
        break;
    }
    case PL_MSG_ROOM_ENSURE_GROUP: {
        const pl_msg_room_ensure_group_t *m = &msg->as.room_ensure_group;
        out->route = TO_CREATOR, out->req_id = m->req_id;
        out->status = ops->room_ensure_group(store, m->content_id, pl_now_ms(), &out->id, &flag);
        out->created = flag;
        break;
    }
    case PL_MSG_ROOM_ENSURE_DM: {
        const pl_msg_room_ensure_dm_t *m = &msg->as.room_ensure_dm;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status =
            ops->room_ensure_dm(store, m->user_id, m->peer_id, pl_now_ms(), &out->id, &flag);
        out->created = flag;
        break;
    }
    case PL_MSG_MEMBER_ADD: {
        const pl_msg_member_add_t *m = &msg->as.member_add;
        out->waiter = m->waiter, out->req_id = m->req_id, out->id = m->room_id;
        out->status = ops->member_add(store, m->room_id, m->user_id, pl_now_ms(), &flag);
        out->created =
            (m->room_created ? PL_REPLY_ROOM_CREATED : 0) | (flag ? PL_REPLY_MEMBER_ADDED : 0);
        break;
    }
    case PL_MSG_MEMBER_REMOVE: {
        const pl_msg_member_remove_t *m = &msg->as.member_remove;
        out->waiter = m->waiter, out->req_id = m->req_id, out->id = m->room_id;
        out->status = ops->member_remove(store, m->room_id, m->user_id);
        break;
    }
    case PL_MSG_LIKE_ADD: {
        const pl_msg_like_add_t *m = &msg->as.like_add;
        out->waiter = m->waiter, out->req_id = m->req_id, out->id = m->content_id;
        out->status = ops->like_add(store, m->content_id, m->user_id, pl_now_ms());
        break;
    }
    case PL_MSG_LIKE_REMOVE: {
        const pl_msg_like_remove_t *m = &msg->as.like_remove;
        out->waiter = m->waiter, out->req_id = m->req_id, out->id = m->content_id;
        out->status = ops->like_remove(store, m->content_id, m->user_id);
        break;
    }
    case PL_MSG_MESSAGE_STORE:
        s_apply_message(self, &msg->as.message_store, out);
        break;
    case PL_MSG_READ_STORE: {
        const pl_msg_read_store_t *m = &msg->as.read_store;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status = ops->read_advance(store, m->room_id, m->user_id, m->seq);
        break;
    }
    case PL_MSG_FOLLOW_STORE: {
        const pl_msg_follow_store_t *m = &msg->as.follow_store;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status = m->follow
                          ? ops->follow_add(store, m->follower_id, m->followee_id, pl_now_ms())
                          : ops->follow_remove(store, m->follower_id, m->followee_id);
        break;
    }
    case PL_MSG_NOTIFICATION_STORE: {
        const pl_msg_notification_store_t *m = &msg->as.notification_store;
        pl_notification_row_t row = {m->id,    m->version, m->user_id, m->room_id,
                                     m->count, m->ts,      m->kind,    m->body};
        out->route = TO_NOTIFIER, out->id = m->id;
        out->status = ops->notification_put(store, &row);
        break;
    }
    case PL_MSG_NOTIFICATIONS_READ: {
        const pl_msg_notifications_read_t *m = &msg->as.notifications_read;
        out->waiter = m->waiter, out->req_id = m->req_id;
        //  The ids are an unaligned view into the frame: copied before use.
        size_t count = m->ids.len / sizeof(int64_t);
        int64_t *ids = count ? malloc(count * sizeof *ids) : NULL;
        if (ids)
            memcpy(ids, m->ids.ptr, count * sizeof *ids);
        if (m->all)
            out->status = ops->notifications_read(store, m->user_id, NULL, 0);
        else if (count && !ids)
            out->status = PL_STATUS_INTERNAL;
        else if (count)
            out->status = ops->notifications_read(store, m->user_id, ids, count);
        free(ids);
        break;
    }
    case PL_MSG_UPLOAD_STORE: {
        const pl_msg_upload_store_t *m = &msg->as.upload_store;
        out->waiter = m->waiter, out->req_id = m->req_id;
        out->status = ops->upload_put(store, m->name, m->mime, m->bytes);
        break;
    }
    default:
        pl_error("persister: unexpected %s", pl_msg_name(msg->type));
        out->route = TO_NOBODY;
    }
}

//  Sends an outcome to another actor. A send that cannot go within
//  ACTOR_SEND_TIMEOUT_MS is dropped (logged): its actor has stopped (the server stops
//  the rooms, the creator and the notifier before the persister, and a PUSH with no
//  peer blocks for ever), or is PL_ACTOR_HWM messages behind. Either way the others
//  are not waited for any more, so a stop takes one timeout, not one per outcome.
static void s_tell(self_t *self, zsock_t *outlet, const pl_msg_t *msg)
{
    if (pl_msg_send(zsock_resolve(outlet), msg) == 0)
        return;
    pl_warn("persister: %s dropped: its actor is gone or far behind", pl_msg_name(msg->type));
    s_bound_sends(self, 0);
}

//  Tells every room of a member that their profile changed, with their new User.
//  (Joins and departures are told by the HTTP handler that asked for them, through
//  the same socket the member's next request will take, so none can overtake it.)
static void s_notify_member(self_t *self, const outcome_t *out)
{
    pl_user_t user;
    if (self->store->ops->user_get(self->store, out->member_id, &user) != PL_STATUS_OK)
        return;
    int64_t *rooms;
    size_t count;
    if (self->store->ops->member_rooms(self->store, out->member_id, &rooms, &count) != PL_STATUS_OK)
        return;
    json_t *json = pl_json_user(&user);
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    for (size_t i = 0; text && i < count; i++) {
        pl_msg_t msg = {
            .type = PL_MSG_ROOM_MEMBER,
            .as.room_member = {rooms[i], out->member_id, PL_MEMBER_UPDATED, pl_str_of(text)}};
        s_tell(self,
               pl_cluster_owns(rooms[i]) ? self->rooms[pl_room_shard(rooms[i], self->room_shards)]
                                         : self->bridge,
               &msg);
    }
    free(text);
    free(rooms);
}

static void s_deliver(self_t *self, const outcome_t *out)
{
    pl_msg_t reply = {.type = PL_MSG_REPLY,
                      .as.reply = {out->req_id, out->status, out->id, out->created, {0}}};
    switch (out->route) {
    case TO_WAITER:
        if (out->waiter)
            pl_waiter_post(out->waiter, &reply);
        break;
    case TO_CREATOR:
        s_tell(self, self->creator, &reply);
        break;
    case TO_NOTIFIER: {
        pl_msg_t stored = {.type = PL_MSG_NOTIFICATION_STORED,
                           .as.notification_stored = {out->id, out->status}};
        s_tell(self, self->notifier, &stored);
        break;
    }
    case TO_ROOM_STORED: //  told in runs (s_note_stored)
    case TO_NOBODY:
        break;
    }
    if (out->member_id && out->status == PL_STATUS_OK)
        s_notify_member(self, out);
}

static void s_send_run(self_t *self, const run_t *run)
{
    pl_msg_t stored = {.type = PL_MSG_MESSAGE_STORED,
                       .as.message_stored = {run->room_id, run->first, run->last, run->status}};
    s_tell(self, self->rooms[pl_room_shard(run->room_id, self->room_shards)], &stored);
}

//  Adds a stored message to its room's run; a message that does not continue the run
//  (another status, a gap) has the run told first and starts a new one.
static void s_note_stored(self_t *self, const outcome_t *out)
{
    size_t slot =
        (size_t)(((uint64_t)out->room_id * 0x9e3779b97f4a7c15ULL) >> 32) & self->slot_mask;
    for (; self->run_slots[slot]; slot = (slot + 1) & self->slot_mask) {
        run_t *run = &self->runs[self->run_slots[slot] - 1];
        if (run->room_id != out->room_id)
            continue;
        if (run->status == out->status && run->last + 1 == out->seq) {
            run->last = out->seq;
            return;
        }
        s_send_run(self, run);
        *run = (run_t){out->room_id, out->seq, out->seq, out->status};
        return;
    }
    self->runs[self->run_count] = (run_t){out->room_id, out->seq, out->seq, out->status};
    self->run_slots[slot] = ++self->run_count;
}

//  Tells every room its runs, in the order the runs began.
static void s_send_runs(self_t *self)
{
    if (self->run_count == 0)
        return;
    for (int i = 0; i < self->run_count; i++)
        s_send_run(self, &self->runs[i]);
    self->run_count = 0;
    memset(self->run_slots, 0, (self->slot_mask + 1) * sizeof *self->run_slots);
}

static int s_compare_advances(const void *a_arg, const void *b_arg)
{
    const advance_t *a = a_arg, *b = b_arg;
    if (a->room_id != b->room_id)
        return (a->room_id > b->room_id) - (a->room_id < b->room_id);
    return (a->user_id > b->user_id) - (a->user_id < b->user_id);
}

//  Writes the noted advances: sorted by room and sender, one room_advance per room
//  and one read_advance per sender, each with the greatest seq (and ts). False when
//  a statement failed.
static bool s_write_advances(self_t *self)
{
    const pl_store_ops_t *ops = self->store->ops;
    advance_t *a = self->advances;
    int count = self->advance_count;
    self->advance_count = 0;
    qsort(a, (size_t)count, sizeof *a, s_compare_advances);
    bool ok = true;
    for (int i = 0; ok && i < count;) {
        int64_t room_seq = 0, room_ts = 0;
        int room_end = i;
        for (; room_end < count && a[room_end].room_id == a[i].room_id; room_end++) {
            room_seq = a[room_end].seq > room_seq ? a[room_end].seq : room_seq;
            room_ts = a[room_end].ts > room_ts ? a[room_end].ts : room_ts;
        }
        ok = ops->room_advance(self->store, a[i].room_id, room_seq, room_ts) == PL_STATUS_OK;
        while (ok && i < room_end) {
            int64_t read_seq = 0;
            int user_end = i;
            for (; user_end < room_end && a[user_end].user_id == a[i].user_id; user_end++)
                read_seq = a[user_end].seq > read_seq ? a[user_end].seq : read_seq;
            ok = ops->read_advance(self->store, a[i].room_id, a[i].user_id, read_seq) ==
                 PL_STATUS_OK;
            i = user_end;
        }
    }
    return ok;
}

//  Whether a request may be applied before the noted advances are written: it
//  reads neither pointer, and moves the read pointer only forward itself (or does
//  not touch rooms at all: a notification).
static bool s_leaves_advances(const pl_msg_t *msg)
{
    return msg->type == PL_MSG_MESSAGE_STORE || msg->type == PL_MSG_READ_STORE ||
           msg->type == PL_MSG_NOTIFICATION_STORE;
}

//  Applies the batch and commits it; true when committed.
static bool s_apply_and_commit(self_t *self, int count)
{
    pl_status_t status = self->store->ops->begin(self->store);
    if (status != PL_STATUS_OK) {
        self->failure = status;
        return false;
    }
    self->advance_count = 0;
    self->undo_count = 0;
    bool ok = true;
    for (int i = 0; ok && i < count; i++) {
        if (self->advance_count > 0 && !s_leaves_advances(&self->batch[i].msg))
            ok = s_write_advances(self);
        if (ok)
            s_apply(self, &self->batch[i].msg, &self->outcomes[i]);
    }
    status =
        ok && s_write_advances(self) ? self->store->ops->commit(self->store) : PL_STATUS_INTERNAL;
    if (status == PL_STATUS_OK)
        return true;
    self->failure = status;
    self->store->ops->rollback(self->store);
    s_undo_broken(self);
    return false;
}

//  Counts a committed batch of count writes that took ns, before anyone hears of it.
static void s_count_committed(const self_t *self, int count, int64_t ns)
{
    uint64_t messages = 0, notifications = 0;
    for (int i = 0; i < count; i++) {
        messages += self->batch[i].msg.type == PL_MSG_MESSAGE_STORE;
        notifications += self->batch[i].msg.type == PL_MSG_NOTIFICATION_STORE;
    }
    pl_metrics_observe(PL_HISTOGRAM_PERSIST_COMMIT, (uint64_t)ns);
    pl_metrics_observe(PL_HISTOGRAM_PERSIST_ROWS, (uint64_t)count);
    pl_metrics_count(PL_COUNTER_PERSIST_BATCHES, 1);
    pl_metrics_count(PL_COUNTER_MESSAGES_STORED, messages);
    pl_metrics_count(PL_COUNTER_NOTIFICATIONS_STORED, notifications);
}

//  Takes up to batch_max requests already queued, commits them in one transaction,
//  then sends each outcome on. Returns how many were taken.
static int s_commit_batch(self_t *self)
{
    int count = 0;
    while (count < self->batch_max &&
           pl_msg_recv(zsock_resolve(self->inbox), &self->batch[count], ZMQ_DONTWAIT) == 0)
        count++;
    if (count == 0)
        return 0;
    bool committed = false;
    int64_t started = pl_now_ns();
    for (int attempt = 0; !committed && attempt < COMMIT_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            pl_warn("persister: a batch of %d writes failed to commit; retrying", count);
            nanosleep(&(struct timespec){0, (50L << attempt) * 1000000L}, NULL);
        }
        committed = s_apply_and_commit(self, count);
    }
    if (committed)
        s_count_committed(self, count, pl_now_ns() - started);
    else {
        pl_error("persister: a batch of %d writes could not be committed", count);
        pl_metrics_count(PL_COUNTER_PERSIST_FAILURES, 1);
    }
    for (int i = 0; i < count; i++) {
        outcome_t *out = &self->outcomes[i];
        if (!committed) {
            out->status = self->failure, out->member_id = 0;
            if (out->route == TO_ROOM_STORED)
                s_break_at_earliest(self, out->room_id, out->seq);
        }
        if (out->route == TO_ROOM_STORED)
            s_note_stored(self, out);
        else {
            s_send_runs(self);
            s_deliver(self, out);
        }
        pl_msg_frame_close(&self->batch[i]);
    }
    s_send_runs(self);
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
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    pl_actor_loop(pipe, self->inbox, s_on_inbox, self);
    //  Flush: whatever was queued before the stop is still committed, and answered
    //  where someone still listens.
    s_bound_sends(self, 0);
    while (s_commit_batch(self) > 0)
        ;
    s_self_destroy(&self);
}
