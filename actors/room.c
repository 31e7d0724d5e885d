/*  Room actor (see room.h for the contract).

    Per room the actor keeps: the members (with their User JSON, how many of their
    connections are subscribed, and how far they have read), the subscribed
    connections, the last seq handed out and the last one committed, a ring of the
    latest committed message frames (the recovery window), the sends waiting for
    their commit (in seq order, because the persister commits in order), and each
    member's latest client_ids: kept per sender, so that however busy the room, a
    client retrying its unacknowledged sends finds them remembered.

    Every frame to clients is built here once and sent to the connection writers as
    CONN_SEND (one connection) or CONN_FANOUT (one per writer shard, listing all its
    recipients), so the room never waits on a socket. */
#include "parley/room.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/conn.h"
#include "parley/idmap.h"
#include "parley/json_writer.h"
#include "parley/loader.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/notifier.h"
#include "parley/persister.h"
#include "parley/validate.h"

#include <jansson.h>
#include <stdlib.h>

//  How many of a member's latest client_ids are remembered for de-duplication, and
//  how many to make room for at a member's first send (most members send little).
#define SENT_PER_SENDER 64
#define SENT_FIRST      4

typedef struct {
    uint64_t key; //  hash of sender and client_id; 0: forgotten
    int64_t seq, ts;
} sent_t;

typedef struct {
    json_t *user; //  owned: User
    int online;   //  subscribed connections of this member
    //  sent holds sent_count of sent_capacity; once SENT_PER_SENDER are held it is a
    //  ring whose oldest is at sent_head (before, sent_head is 0 and none was dropped).
    uint8_t sent_count, sent_capacity, sent_head;
    sent_t *sent;       //  owned: the member's latest sends that carried a client_id
    uint64_t sub_marks; //  the sum of the marks of those on this node (see pl_conn_mark)
    int64_t read_seq;
} member_t;

typedef struct {
    uint64_t conn_id;
    int64_t user_id;
} sub_t;

typedef struct {
    int64_t seq;
    char *frame; //  owned: the "message" frame
} entry_t;

//  Someone waiting for a send to be stored: a connection to ack, or an HTTP request.
typedef struct {
    uint64_t conn_id;
    uint64_t waiter, req_id;
    char *ref; //  owned, or NULL
} target_t;

typedef struct {
    int64_t seq, ts, sender_id;
    int64_t taken_ns;  //  pl_now_ns when this actor took the send, for the commit latency
    uint64_t epoch;    //  the room's epoch when the seq was handed out
    char *frame;       //  owned
    char *client_id;   //  owned, or NULL
    target_t *targets; //  owned: the first send and any retries made before the commit
    size_t target_count;
} pending_t;

typedef struct {
    int64_t id;
    bool is_dm;
    json_t *header;      //  owned: Room fields that do not change per message
    char *header_text;   //  owned: header serialised, without its closing brace
    int64_t last_seq;    //  handed out
    int64_t stored_seq;  //  committed and delivered
    uint64_t epoch;      //  how many times last_seq went back after a failed store
    pl_idmap_t *members; //  user id -> member_t (owned)
    sub_t *subs;
    size_t sub_count, sub_capacity;
    entry_t *window; //  ring of `window` entries; the newest at (head - 1)
    size_t window_head, window_count;
    pending_t *pending; //  FIFO ring of `pending_capacity`
    size_t pending_head, pending_count, pending_capacity;
    //  Being handed to another node (ROOM_RELEASE): requests wait in held_back.
    bool releasing;
    //  Its lease could not be renewed (Redis out of reach): another node may serve it
    //  soon, so no seq is handed out; sends are refused as unavailable (ROOM_FENCE).
    bool fenced;
    struct deferred *held_back;
} room_t;

//  Requests for a room whose state the loader is fetching, in arrival order.
typedef struct deferred {
    pl_msg_frame_t *frames; //  owned
    size_t count, capacity;
} deferred_t;

typedef struct {
    zsock_t *inbox;     //  owned
    zsock_t *persister; //  owned: outlet
    zsock_t *notifier;  //  owned: outlet
    zsock_t *loader;    //  owned: outlet
    zsock_t *bridge;    //  owned: outlet, in a cluster (else NULL)
    zsock_t **writers;  //  owned: outlets, one per writer shard
    int writer_count;
    int shard;
    pl_idmap_t *rooms;   //  room id -> room_t (owned)
    pl_idmap_t *loading; //  room id -> deferred_t (owned): rooms being loaded
    pl_status_t missing; //  what s_room reports for a room it does not hold
    size_t window;
    int64_t presence_max_members;
    uint64_t **fanout; //  scratch: connection ids per writer shard
    size_t *fanout_count, fanout_capacity;
    uint64_t *remote;      //  scratch: connection ids on other nodes (fanout_capacity)
    int64_t *notice_users; //  scratch: (user id, unread) pairs for room notices
    uint64_t *notice_exclude;
    size_t notice_capacity;
    pl_jw_t jw; //  owned: builds the frames sent once per message (message, ack)
} self_t;

void pl_room_inbox_name(int shard, char *name, size_t size)
{
    snprintf(name, size, "room-%d", shard);
}

static void s_member_free(uint64_t id, void *value, void *arg)
{
    member_t *member = value;
    json_decref(member->user);
    free(member->sent);
    free(member);
}

static void s_pending_clear(pending_t *p)
{
    for (size_t i = 0; i < p->target_count; i++)
        free(p->targets[i].ref);
    free(p->targets);
    free(p->frame);
    free(p->client_id);
}

static void s_deferred_free(deferred_t *deferred);

static void s_room_free(uint64_t id, void *value, void *arg)
{
    room_t *room = value;
    if (room->held_back)
        s_deferred_free(room->held_back);
    if (room->members)
        pl_idmap_each(room->members, s_member_free, NULL);
    pl_idmap_destroy(&room->members);
    json_decref(room->header);
    free(room->header_text);
    for (size_t i = 0; room->window && i < room->window_count; i++)
        free(room->window[i].frame);
    for (size_t i = 0; i < room->pending_count; i++)
        s_pending_clear(&room->pending[(room->pending_head + i) % room->pending_capacity]);
    free(room->window);
    free(room->pending);
    free(room->subs);
    free(room);
}

//  --- frames to clients --------------------------------------------------------

//  Dumps frame (stolen) to text; NULL on failure.
static char *s_dump(json_t *frame)
{
    char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    json_decref(frame);
    return text;
}

static void s_send_text(self_t *self, uint64_t conn_id, const char *text)
{
    pl_msg_t msg = {.type = PL_MSG_CONN_SEND,
                    .as.conn_send = {.conn_id = conn_id, .text = pl_str_of(text)}};
    zsock_t *to = pl_cluster_is_remote(conn_id)
                      ? self->bridge
                      : self->writers[conn_id % (uint64_t)self->writer_count];
    pl_msg_send(zsock_resolve(to), &msg);
}

//  Sends one frame (stolen) to one connection.
static void s_send(self_t *self, uint64_t conn_id, json_t *frame)
{
    char *text = s_dump(frame);
    if (text)
        s_send_text(self, conn_id, text);
    free(text);
}

//  How an error frame names a send: by its ref, else by its client_id.
static pl_str_t s_send_name(pl_str_t ref, pl_str_t client_id)
{
    return ref.ptr ? ref : client_id;
}

static void s_send_error(self_t *self, uint64_t conn_id, pl_str_t ref, const char *code,
                         const char *message)
{
    json_t *frame = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (ref.ptr)
        json_object_set_new(frame, "ref", json_stringn(ref.ptr, ref.len));
    s_send(self, conn_id, frame);
}

//  A frame for one connection that travels with a broadcast and is queued after it:
//  the sender's ack, which then costs no message of its own.
typedef struct {
    uint64_t conn_id; //  0: none
    const char *text;
} rider_t;

static const rider_t s_no_rider = {0, NULL};

//  Sends the connections of other nodes their part of a broadcast: one CONN_FANOUT
//  per node through the bridge, which splits it over that node's writers.
//  Moves the ids that node_of places on `node` to the front of ids, the others behind
//  them; returns how many it moved. Repeated on what is behind, it groups ids by node.
static size_t s_front_of_node(uint64_t *ids, size_t count, int node, int (*node_of)(uint64_t))
{
    size_t mine = 0;
    for (size_t i = 0; i < count; i++)
        if (node_of(ids[i]) == node) {
            uint64_t id = ids[i];
            ids[i] = ids[mine];
            ids[mine++] = id;
        }
    return mine;
}

static void s_broadcast_remote(self_t *self, const room_t *room, const char *text, size_t len,
                               size_t count, rider_t rider, int64_t seq)
{
    bool rider_remote = rider.conn_id && pl_cluster_is_remote(rider.conn_id);
    for (uint64_t *ids = self->remote; count || rider_remote;) {
        int node = count ? pl_cluster_node_of(ids[0]) : pl_cluster_node_of(rider.conn_id);
        size_t mine = s_front_of_node(ids, count, node, pl_cluster_node_of);
        bool rides = rider_remote && pl_cluster_node_of(rider.conn_id) == node;
        pl_msg_t msg = {.type = PL_MSG_CONN_FANOUT,
                        .as.conn_fanout = {{(const char *)ids, (uint32_t)(mine * sizeof(uint64_t))},
                                           {text, (uint32_t)len},
                                           rides ? rider.conn_id : 0,
                                           pl_str_of(rides ? rider.text : ""),
                                           room->id,
                                           seq}};
        pl_msg_send(zsock_resolve(self->bridge), &msg);
        rider_remote &= !rides;
        count -= mine;
        ids += mine;
    }
}

//  Sends the same text to every subscriber but `except` (0: none): one CONN_FANOUT
//  per writer shard that has any of them or the rider, and one per other node.
//  seq is the message's, or 0 for other frames.
static void s_broadcast_text(self_t *self, const room_t *room, const char *text, uint64_t except,
                             rider_t rider, int64_t seq)
{
    if (room->sub_count > self->fanout_capacity) {
        for (int w = 0; w < self->writer_count; w++) {
            uint64_t *grown = realloc(self->fanout[w], room->sub_count * sizeof *grown);
            if (!grown) {
                if (rider.conn_id)
                    s_send_text(self, rider.conn_id, rider.text);
                return;
            }
            self->fanout[w] = grown;
        }
        uint64_t *grown = realloc(self->remote, room->sub_count * sizeof *grown);
        if (!grown) {
            if (rider.conn_id)
                s_send_text(self, rider.conn_id, rider.text);
            return;
        }
        self->remote = grown;
        self->fanout_capacity = room->sub_count;
    }
    for (int w = 0; w < self->writer_count; w++)
        self->fanout_count[w] = 0;
    size_t remote_count = 0;
    for (size_t i = 0; i < room->sub_count; i++) {
        uint64_t conn_id = room->subs[i].conn_id;
        if (conn_id == except)
            continue;
        if (pl_cluster_is_remote(conn_id)) {
            self->remote[remote_count++] = conn_id;
            continue;
        }
        int w = (int)(conn_id % (uint64_t)self->writer_count);
        self->fanout[w][self->fanout_count[w]++] = conn_id;
    }
    size_t len = strlen(text);
    if (remote_count || (rider.conn_id && pl_cluster_is_remote(rider.conn_id)))
        s_broadcast_remote(self, room, text, len, remote_count, rider, seq);
    int rider_writer = rider.conn_id && !pl_cluster_is_remote(rider.conn_id)
                           ? (int)(rider.conn_id % (uint64_t)self->writer_count)
                           : -1;
    for (int w = 0; w < self->writer_count; w++) {
        bool rides = w == rider_writer;
        if (self->fanout_count[w] == 0 && !rides)
            continue;
        pl_msg_t msg = {.type = PL_MSG_CONN_FANOUT,
                        .as.conn_fanout = {{(const char *)self->fanout[w],
                                            (uint32_t)(self->fanout_count[w] * sizeof(uint64_t))},
                                           {text, (uint32_t)len},
                                           rides ? rider.conn_id : 0,
                                           pl_str_of(rides ? rider.text : ""),
                                           room->id,
                                           seq}};
        pl_msg_send(zsock_resolve(self->writers[w]), &msg);
    }
}

static void s_broadcast(self_t *self, const room_t *room, json_t *frame, uint64_t except)
{
    char *text = s_dump(frame);
    if (text)
        s_broadcast_text(self, room, text, except, s_no_rider, 0);
    free(text);
}

//  Answers an HTTP request (waiter 0: none); id is the seq a request concerns.
static void s_answer(uint64_t waiter, uint64_t req_id, pl_status_t status, int64_t id,
                     const char *body)
{
    if (!waiter)
        return;
    pl_msg_t reply = {
        .type = PL_MSG_REPLY,
        .as.reply = {.req_id = req_id, .status = status, .id = id, .body = pl_str_of(body)}};
    pl_waiter_post(waiter, &reply);
}

//  Answers a refused request: an error frame on WebSocket, a status over HTTP.
static void s_refuse(self_t *self, uint64_t conn_id, uint64_t waiter, uint64_t req_id, pl_str_t ref,
                     pl_status_t status, int64_t room_id)
{
    char message[96];
    const char *code = "forbidden";
    if (status == PL_STATUS_NOT_FOUND) {
        code = "room_not_found";
        snprintf(message, sizeof message, "room %" PRId64 " does not exist", room_id);
    } else if (status == PL_STATUS_FORBIDDEN) {
        snprintf(message, sizeof message, "you are not a member of room %" PRId64, room_id);
    } else {
        //  A room that cannot be loaded now (its store or, in a cluster, its lease out of
        //  reach) may be served again: say so, as a retryable error.
        code = status == PL_STATUS_UNAVAILABLE ? "unavailable" : "internal";
        snprintf(message, sizeof message, "room %" PRId64 " is unavailable: try again", room_id);
    }
    if (conn_id)
        s_send_error(self, conn_id, ref, code, message);
    s_answer(waiter, req_id, status, 0, NULL);
}

//  --- room state ----------------------------------------------------------------

//  The member user_id of room, or NULL.
static member_t *s_member(room_t *room, int64_t user_id)
{
    return pl_idmap_get(room->members, (uint64_t)user_id);
}

static member_t *s_member_add(room_t *room, int64_t user_id, json_t *user)
{
    member_t *member = pl_idmap_get(room->members, (uint64_t)user_id);
    if (member) {
        json_decref(member->user);
        member->user = json_incref(user);
        return member;
    }
    member = calloc(1, sizeof *member);
    if (!member || pl_idmap_put(room->members, (uint64_t)user_id, member)) {
        free(member);
        return NULL;
    }
    member->user = json_incref(user);
    return member;
}

//  Appends a committed frame (taken) to the recovery window, dropping the oldest.
static void s_window_push(room_t *room, size_t capacity, int64_t seq, char *frame)
{
    entry_t *slot = &room->window[room->window_head];
    if (room->window_count == capacity)
        free(slot->frame);
    else
        room->window_count++;
    *slot = (entry_t){seq, frame};
    room->window_head = (room->window_head + 1) % capacity;
}

//  The window entry i places back from the newest (0: newest).
static entry_t *s_window_at(room_t *room, size_t capacity, size_t back)
{
    return &room->window[(room->window_head + capacity - 1 - back) % capacity];
}

static uint64_t s_client_key(int64_t sender_id, pl_str_t client_id)
{
    //  FNV-1a over the sender and the client_id.
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++)
        hash = (hash ^ (uint8_t)(sender_id >> (8 * i))) * 0x100000001b3ULL;
    for (uint32_t i = 0; i < client_id.len; i++)
        hash = (hash ^ (uint8_t)client_id.ptr[i]) * 0x100000001b3ULL;
    return hash ? hash : 1;
}

//  What the room remembers of a member's client_id: *key (0 when client_id.ptr is
//  NULL) and the earlier send under it, or NULL. A scan: at most SENT_PER_SENDER keys.
static sent_t *s_sent_of(const member_t *member, int64_t sender_id, pl_str_t client_id,
                         uint64_t *key)
{
    *key = client_id.ptr ? s_client_key(sender_id, client_id) : 0;
    for (uint8_t i = 0; *key && i < member->sent_count; i++)
        if (member->sent[i].key == *key)
            return &member->sent[i];
    return NULL;
}

//  Remembers that member sent under key with seq, forgetting the member's oldest once
//  SENT_PER_SENDER are remembered; false when memory ran out.
static bool s_remember_sent(member_t *member, uint64_t key, int64_t seq, int64_t ts)
{
    sent_t *slot;
    if (member->sent_count == SENT_PER_SENDER) {
        slot = &member->sent[member->sent_head];
        member->sent_head = (uint8_t)((member->sent_head + 1) % SENT_PER_SENDER);
    } else {
        if (member->sent_count == member->sent_capacity) {
            uint8_t capacity = member->sent_capacity ? 2 * member->sent_capacity : SENT_FIRST;
            sent_t *grown = realloc(member->sent, capacity * sizeof *grown);
            if (!grown)
                return false;
            member->sent = grown;
            member->sent_capacity = capacity;
        }
        slot = &member->sent[member->sent_count++];
    }
    *slot = (sent_t){key, seq, ts};
    return true;
}

//  Makes a "message" frame from a stored Message (taken).
static char *s_message_frame(json_t *message)
{
    json_object_set_new(message, "type", json_string("message"));
    return s_dump(message);
}

static room_t *s_room_new(self_t *self, int64_t id)
{
    room_t *room = calloc(1, sizeof *room);
    if (!room)
        return NULL;
    room->id = id;
    room->members = pl_idmap_new();
    room->window = calloc(self->window, sizeof *room->window);
    room->pending_capacity = 16;
    room->pending = calloc(room->pending_capacity, sizeof *room->pending);
    if (!room->members || !room->window || !room->pending) {
        s_room_free(0, room, NULL);
        return NULL;
    }
    return room;
}

//  The room, if this actor holds it; otherwise NULL with *status telling why (see
//  s_loaded: NOT_FOUND, or INTERNAL when loading failed).
static room_t *s_room(self_t *self, int64_t id, pl_status_t *status)
{
    room_t *room = pl_idmap_get(self->rooms, (uint64_t)id);
    *status = room ? PL_STATUS_OK : self->missing;
    return room;
}

//  Takes charge of a room from its state as the loader sent it (see pl_room_state_t).
static pl_status_t s_adopt(self_t *self, int64_t id, json_t *state)
{
    room_t *room = s_room_new(self, id);
    if (!room || pl_idmap_put(self->rooms, (uint64_t)id, room)) {
        if (room)
            s_room_free(0, room, NULL);
        return PL_STATUS_INTERNAL;
    }
    room->header = json_incref(json_object_get(state, "header"));
    room->header_text = json_dumps(room->header, JSON_COMPACT);
    if (room->header_text)
        room->header_text[strlen(room->header_text) - 1] = '\0';
    room->is_dm = json_is_true(json_object_get(state, "is_dm"));
    room->last_seq = room->stored_seq = json_integer_value(json_object_get(state, "last_seq"));
    size_t i;
    json_t *value;
    json_array_foreach(json_object_get(state, "members"), i, value)
    {
        member_t *member =
            s_member_add(room, json_integer_value(json_object_get(value, "id")), value);
        if (member)
            member->read_seq = json_integer_value(json_object_get(value, "read_seq"));
        json_object_del(value, "read_seq");
    }
    json_array_foreach(json_object_get(state, "recent"), i, value)
    {
        int64_t seq = json_integer_value(json_object_get(value, "seq"));
        const char *client_id = json_string_value(json_object_get(value, "client_id"));
        int64_t sender_id =
            json_integer_value(json_object_get(json_object_get(value, "sender"), "id"));
        member_t *sender = s_member(room, sender_id);
        //  Out of memory, a retry of this one would be stored again: nothing is lost.
        if (client_id && sender)
            s_remember_sent(sender, s_client_key(sender_id, pl_str_of(client_id)), seq,
                            json_integer_value(json_object_get(value, "ts")));
        s_window_push(room, self->window, seq, s_message_frame(json_incref(value)));
    }
    pl_debug("room %" PRId64 ": loaded (last seq %" PRId64 ")", id, room->last_seq);
    return PL_STATUS_OK;
}

static void s_write_if_online(uint64_t id, void *value, void *jw)
{
    if (((member_t *)value)->online > 0)
        pl_jw_int(jw, (int64_t)id);
}

//  Tells the room's subscribers that a member came online or went offline. Not in
//  rooms of more than presence_max_members: there every subscription would cost a
//  frame to every subscriber, quadratic in the room's size.
static void s_presence(self_t *self, room_t *room, int64_t user_id, bool online, uint64_t except)
{
    if ((int64_t)pl_idmap_size(room->members) > self->presence_max_members)
        return;
    s_broadcast(self, room,
                json_pack("{s:s, s:I, s:I, s:b}", "type", "presence", "room", (json_int_t)room->id,
                          "user", (json_int_t)user_id, "online", online),
                except);
}

//  --- requests ------------------------------------------------------------------

//  Starts a frame in the actor's writer: {"type":type, "room":room_id.
static pl_jw_t *s_frame_begin(self_t *self, const char *type, int64_t room_id)
{
    pl_jw_t *jw = &self->jw;
    pl_jw_reset(jw);
    pl_jw_object_begin(jw);
    pl_jw_key(jw, "type");
    pl_jw_str(jw, type, strlen(type));
    pl_jw_key(jw, "room");
    pl_jw_int(jw, room_id);
    return jw;
}

//  Answers a subscribe: the room's seq and its members subscribed now, written
//  straight from one pass over the members (a room of 10,000 makes a frame of 60 KB).
static void s_send_subscribed(self_t *self, const room_t *room, const pl_msg_room_subscribe_t *m,
                              bool recovered)
{
    pl_jw_t *jw = s_frame_begin(self, "subscribed", room->id);
    pl_jw_key(jw, "seq");
    pl_jw_int(jw, room->stored_seq);
    pl_jw_key(jw, "online");
    pl_jw_array_begin(jw);
    pl_idmap_each(room->members, s_write_if_online, jw);
    pl_jw_array_end(jw);
    if (m->since >= 0) {
        pl_jw_key(jw, "recovered");
        pl_jw_bool(jw, recovered);
    }
    pl_jw_member_str_if(jw, "ref", m->ref.ptr, m->ref.len);
    pl_jw_object_end(jw);
    const char *text = pl_jw_text(jw, NULL);
    if (text)
        s_send_text(self, m->conn_id, text);
    else
        s_send_error(self, m->conn_id, m->ref, "internal", "out of memory");
}

static void s_subscribe(self_t *self, const pl_msg_room_subscribe_t *m)
{
    pl_status_t status;
    room_t *room = s_room(self, m->room_id, &status);
    member_t *member = room ? s_member(room, m->user_id) : NULL;
    if (!member) {
        s_refuse(self, m->conn_id, 0, 0, m->ref, room ? PL_STATUS_FORBIDDEN : status, m->room_id);
        return;
    }
    bool already = false;
    for (size_t i = 0; i < room->sub_count; i++)
        already |= room->subs[i].conn_id == m->conn_id;
    //  A subscription handed over from a room's previous node: the client asked
    //  nothing and was told nothing, and its presence was announced there already.
    if (m->moved && already)
        return;
    if (!already) {
        if (room->sub_count == room->sub_capacity) {
            size_t capacity = room->sub_capacity ? room->sub_capacity * 2 : 8;
            sub_t *grown = realloc(room->subs, capacity * sizeof *grown);
            if (!grown) {
                s_send_error(self, m->conn_id, m->ref, "internal", "out of memory");
                return;
            }
            room->subs = grown;
            room->sub_capacity = capacity;
        }
        room->subs[room->sub_count++] = (sub_t){m->conn_id, m->user_id};
        if (!pl_cluster_is_remote(m->conn_id))
            member->sub_marks += pl_conn_mark(m->conn_id);
        if (member->online++ == 0 && !m->moved)
            s_presence(self, room, m->user_id, true, m->conn_id);
    }
    //  Recovery: the window holds the latest committed seqs, with a gap where a store
    //  failed; a client that missed more than it holds is told so and uses the
    //  history API.
    int64_t oldest = room->window_count
                         ? s_window_at(room, self->window, room->window_count - 1)->seq - 1
                         : room->stored_seq;
    bool replay = m->since >= 0 && m->since < room->stored_seq;
    bool recovered = m->since < 0 || m->since >= oldest;
    if (!m->moved)
        s_send_subscribed(self, room, m, recovered);
    if (!replay || !recovered)
        return;
    size_t missed = 0;
    while (missed < room->window_count && s_window_at(room, self->window, missed)->seq > m->since)
        missed++;
    while (missed-- > 0)
        s_send_text(self, m->conn_id, s_window_at(room, self->window, missed)->frame);
}

//  Removes a connection's subscription; presence goes offline with its last one.
static void s_unsubscribe(self_t *self, room_t *room, uint64_t conn_id)
{
    for (size_t i = 0; i < room->sub_count; i++) {
        if (room->subs[i].conn_id != conn_id)
            continue;
        int64_t user_id = room->subs[i].user_id;
        room->subs[i] = room->subs[--room->sub_count];
        member_t *member = s_member(room, user_id);
        if (member && !pl_cluster_is_remote(conn_id))
            member->sub_marks -= pl_conn_mark(conn_id);
        if (member && --member->online == 0)
            s_presence(self, room, user_id, false, 0);
        return;
    }
}

//  The ack frame of a stored send for one target, in the actor's writer; NULL when
//  out of memory.
static const char *s_ack_text(self_t *self, const pending_t *p, const target_t *target,
                              int64_t room_id)
{
    pl_jw_t *jw = s_frame_begin(self, "ack", room_id);
    pl_jw_key(jw, "seq");
    pl_jw_int(jw, p->seq);
    pl_jw_key(jw, "ts");
    pl_jw_int(jw, p->ts);
    pl_jw_key(jw, "client_id");
    pl_jw_str_or_null(jw, p->client_id, p->client_id ? strlen(p->client_id) : 0);
    pl_jw_member_str_if(jw, "ref", target->ref, target->ref ? strlen(target->ref) : 0);
    pl_jw_object_end(jw);
    return pl_jw_text(jw, NULL);
}

static void s_ack(self_t *self, const pending_t *p, const target_t *target, int64_t room_id)
{
    const char *text = s_ack_text(self, p, target, room_id);
    if (text)
        s_send_text(self, target->conn_id, text);
}

static char *s_strndup(pl_str_t s)
{
    return s.ptr ? strndup(s.ptr, s.len) : NULL;
}

//  Adds someone to answer when the send is stored; false when memory ran out.
static bool s_add_target(pending_t *p, const pl_msg_room_send_t *m)
{
    target_t *grown = realloc(p->targets, (p->target_count + 1) * sizeof *grown);
    if (!grown)
        return false;
    p->targets = grown;
    p->targets[p->target_count++] = (target_t){m->conn_id, m->waiter, m->req_id, s_strndup(m->ref)};
    return true;
}

//  The HTTP body of a stored send: its Message (the frame without "type").
static char *s_message_body(const char *frame)
{
    json_t *message = json_loads(frame, 0, NULL);
    json_object_del(message, "type");
    return s_dump(message);
}

//  Answers a send that repeats a client_id already sent: the same seq, nothing new.
static void s_resend_ack(self_t *self, room_t *room, const pl_msg_room_send_t *m, sent_t *sent)
{
    for (size_t i = 0; i < room->pending_count; i++) {
        pending_t *p = &room->pending[(room->pending_head + i) % room->pending_capacity];
        if (p->seq == sent->seq) {
            //  Still waiting for its commit: this caller is answered with the first.
            if (!s_add_target(p, m))
                s_refuse(self, m->conn_id, m->waiter, m->req_id, m->ref, PL_STATUS_INTERNAL,
                         room->id);
            return;
        }
    }
    char client_id[PL_CLIENT_ID_MAX + 1];
    snprintf(client_id, sizeof client_id, "%.*s", (int)m->client_id.len, m->client_id.ptr);
    char *ref = s_strndup(m->ref);
    pending_t p = {.seq = sent->seq, .ts = sent->ts, .client_id = client_id};
    target_t target = {m->conn_id, m->waiter, m->req_id, ref};
    if (m->conn_id)
        s_ack(self, &p, &target, room->id);
    free(ref);
    if (!m->waiter)
        return;
    for (size_t back = 0; back < room->window_count; back++) {
        entry_t *entry = s_window_at(room, self->window, back);
        if (entry->seq == sent->seq) {
            char *body = s_message_body(entry->frame);
            s_answer(m->waiter, m->req_id, PL_STATUS_OK, sent->seq, body);
            free(body);
            return;
        }
    }
    //  Stored, but no longer in the window: the HTTP handler reads it from the store.
    s_answer(m->waiter, m->req_id, PL_STATUS_CONFLICT, sent->seq, NULL);
}

//  A new "message" frame (the caller owns it), or NULL when memory ran out. Its keys
//  come in the order clients have always had them, "type" first (see
//  MESSAGE_FRAME_HEAD); the sender is the member's User cut to id, display_name and
//  avatar_url.
static char *s_message_text(self_t *self, int64_t room_id, int64_t seq, int64_t ts,
                            const member_t *member, const pl_msg_room_send_t *m)
{
    json_t *name = json_object_get(member->user, "display_name");
    json_t *avatar = json_object_get(member->user, "avatar_url");
    pl_jw_t *jw = s_frame_begin(self, "message", room_id);
    pl_jw_key(jw, "seq");
    pl_jw_int(jw, seq);
    pl_jw_key(jw, "client_id");
    pl_jw_str_or_null(jw, m->client_id.ptr, m->client_id.len);
    pl_jw_key(jw, "sender");
    pl_jw_object_begin(jw);
    pl_jw_key(jw, "id");
    pl_jw_int(jw, json_integer_value(json_object_get(member->user, "id")));
    pl_jw_key(jw, "display_name");
    pl_jw_str(jw, json_string_value(name), json_string_length(name));
    pl_jw_key(jw, "avatar_url");
    pl_jw_str_or_null(jw, json_string_value(avatar), json_string_length(avatar));
    pl_jw_object_end(jw);
    pl_jw_key(jw, "kind");
    pl_jw_str(jw, m->kind.ptr, m->kind.len);
    pl_jw_key(jw, "body");
    pl_jw_str(jw, m->body.ptr, m->body.len);
    pl_jw_key(jw, "ts");
    pl_jw_int(jw, ts);
    pl_jw_member_str_if(jw, "url", m->url.ptr, m->url.len);
    pl_jw_object_end(jw);
    size_t len;
    const char *text = pl_jw_text(jw, &len);
    char *frame = text ? malloc(len + 1) : NULL;
    if (frame)
        memcpy(frame, text, len + 1);
    return frame;
}

static void s_send_message(self_t *self, const pl_msg_room_send_t *m)
{
    pl_metrics_count(PL_COUNTER_MESSAGES_IN, 1);
    pl_status_t status;
    room_t *room = s_room(self, m->room_id, &status);
    member_t *member = room ? s_member(room, m->user_id) : NULL;
    if (!member) {
        s_refuse(self, m->conn_id, m->waiter, m->req_id, s_send_name(m->ref, m->client_id),
                 room ? PL_STATUS_FORBIDDEN : status, m->room_id);
        return;
    }
    uint64_t key;
    sent_t *sent = s_sent_of(member, m->user_id, m->client_id, &key);
    if (sent) {
        s_resend_ack(self, room, m, sent);
        return;
    }
    if (room->fenced) {
        s_refuse(self, m->conn_id, m->waiter, m->req_id, s_send_name(m->ref, m->client_id),
                 PL_STATUS_UNAVAILABLE, room->id);
        return;
    }
    if (room->pending_count == room->pending_capacity) {
        size_t capacity = room->pending_capacity * 2;
        pending_t *grown = calloc(capacity, sizeof *grown);
        if (!grown) {
            s_refuse(self, m->conn_id, m->waiter, m->req_id, s_send_name(m->ref, m->client_id),
                     PL_STATUS_INTERNAL, room->id);
            return;
        }
        for (size_t i = 0; i < room->pending_count; i++)
            grown[i] = room->pending[(room->pending_head + i) % room->pending_capacity];
        free(room->pending);
        room->pending = grown;
        room->pending_head = 0;
        room->pending_capacity = capacity;
    }
    int64_t seq = room->last_seq + 1, ts = pl_now_ms();
    if (key && !s_remember_sent(member, key, seq, ts)) {
        s_refuse(self, m->conn_id, m->waiter, m->req_id, s_send_name(m->ref, m->client_id),
                 PL_STATUS_INTERNAL, room->id);
        return;
    }
    room->last_seq = seq;
    pending_t *p =
        &room->pending[(room->pending_head + room->pending_count++) % room->pending_capacity];
    *p = (pending_t){.seq = seq,
                     .ts = ts,
                     .taken_ns = pl_now_ns(),
                     .epoch = room->epoch,
                     .sender_id = m->user_id,
                     .frame = s_message_text(self, room->id, seq, ts, member, m),
                     .client_id = s_strndup(m->client_id)};
    s_add_target(p, m);
    pl_msg_t store = {.type = PL_MSG_MESSAGE_STORE,
                      .as.message_store = {room->id, seq, m->user_id, ts, m->client_id, m->kind,
                                           m->body, m->url}};
    pl_msg_send(zsock_resolve(self->persister), &store);
}

//  Grows the notice scratch arrays to hold n entries; false when memory ran out.
static bool s_notice_room(self_t *self, size_t n)
{
    if (n <= self->notice_capacity)
        return true;
    int64_t *users = realloc(self->notice_users, n * 2 * sizeof *users);
    if (users)
        self->notice_users = users;
    uint64_t *exclude = realloc(self->notice_exclude, n * sizeof *exclude);
    if (exclude)
        self->notice_exclude = exclude;
    if (!users || !exclude)
        return false;
    self->notice_capacity = n;
    return true;
}

typedef struct {
    self_t *self;
    room_t *room;
    size_t count;
} notice_t;

//  Whether a member may have a connection not subscribed to the room. The marks tell it
//  exactly for this node's connections. In a cluster, a member with no subscribed
//  connection anywhere may have one on another node; one with a subscribed connection
//  is taken to follow the room (a second, unsubscribed connection on another node
//  then misses the room frame: the price of not naming every member to every node).
static bool s_may_miss(const self_t *self, int64_t user_id, const member_t *member)
{
    return pl_conn_user_marks(user_id) != member->sub_marks ||
           (self->bridge && member->online == 0);
}

static void s_collect_unread(uint64_t id, void *value, void *arg)
{
    notice_t *notice = arg;
    member_t *member = value;
    //  In a cluster the notice crosses to every node: only members who may miss it.
    if (notice->self->bridge && !s_may_miss(notice->self, (int64_t)id, member))
        return;
    int64_t unread = notice->room->stored_seq - member->read_seq;
    notice->self->notice_users[2 * notice->count] = (int64_t)id;
    notice->self->notice_users[2 * notice->count + 1] = unread > 0 ? unread : 0;
    notice->count++;
}

//  Sends the Room (text: JSON without "unread") to the connections of the
//  listed users that are not subscribed to the room, on every writer shard.
static void s_send_notice(self_t *self, const room_t *room, const char *text, size_t user_count,
                          const int64_t *users)
{
    for (size_t i = 0; i < room->sub_count; i++)
        self->notice_exclude[i] = room->subs[i].conn_id;
    pl_msg_t msg = {
        .type = PL_MSG_CONN_ROOM_NOTICE,
        .as.conn_room_notice = {
            {(const char *)users, (uint32_t)(user_count * 2 * sizeof(int64_t))},
            {(const char *)self->notice_exclude, (uint32_t)(room->sub_count * sizeof(uint64_t))},
            pl_str_of(text)}};
    for (int w = 0; text && w < self->writer_count; w++)
        pl_msg_send(zsock_resolve(self->writers[w]), &msg);
    if (text && self->bridge)
        pl_msg_send(zsock_resolve(self->bridge), &msg);
}

//  How every "message" frame built by s_send_message begins.
#define MESSAGE_FRAME_HEAD "{\"type\":\"message\","

//  Tells members' connections that are not subscribed to the room about its new last
//  message and their unread count. A DM is told per member, each seeing the other as
//  peer and title.
static void s_notify_members(self_t *self, room_t *room, const char *frame)
{
    size_t members = pl_idmap_size(room->members);
    if (!s_notice_room(self, members > room->sub_count ? members : room->sub_count))
        return;
    size_t head = strlen(MESSAGE_FRAME_HEAD);
    if (!room->is_dm && room->header_text && strncmp(frame, MESSAGE_FRAME_HEAD, head) == 0) {
        //  The hot path, once per message: spliced as text, the header serialised at
        //  load and the frame without its "type" as the last message.
        notice_t notice = {self, room, 0};
        pl_idmap_each(room->members, s_collect_unread, &notice);
        size_t size = strlen(room->header_text) + strlen(frame) + 96;
        char *text = malloc(size);
        if (text) {
            snprintf(text, size,
                     "%s,\"members\":%zu,\"last_seq\":%" PRId64 ",\"last_message\":{%s}",
                     room->header_text, members, room->stored_seq, frame + head);
            s_send_notice(self, room, text, notice.count, self->notice_users);
        }
        free(text);
        return;
    }
    json_t *last = json_loads(frame, 0, NULL);
    json_object_del(last, "type");
    json_t *base = json_copy(room->header);
    json_object_set_new(base, "members", json_integer((json_int_t)members));
    json_object_set_new(base, "last_seq", json_integer(room->stored_seq));
    json_object_set_new(base, "last_message", last);
    notice_t notice = {self, room, 0};
    pl_idmap_each(room->members, s_collect_unread, &notice);
    if (!room->is_dm || notice.count != 2) {
        char *text = s_dump(base);
        s_send_notice(self, room, text, notice.count, self->notice_users);
        free(text);
        return;
    }
    for (int side = 0; side < 2; side++) {
        member_t *peer = s_member(room, self->notice_users[2 * (1 - side)]);
        json_t *seen = json_copy(base);
        json_object_set(seen, "peer", peer->user);
        json_object_set(seen, "title", json_object_get(peer->user, "display_name"));
        char *text = s_dump(seen);
        s_send_notice(self, room, text, 1, self->notice_users + 2 * side);
        free(text);
    }
    json_decref(base);
}

typedef struct {
    int64_t sender_id;
    int64_t *ids;
    size_t count;
} absent_t;

static void s_collect_absent(uint64_t id, void *value, void *arg)
{
    absent_t *absent = arg;
    const member_t *member = value;
    if (member->online == 0 && (int64_t)id != absent->sender_id)
        absent->ids[absent->count++] = (int64_t)id;
}

//  Tells the notifier about a stored message, for the members with no connection
//  subscribed to the room.
//  The node whose notifier writes a user's notifications (see app.h).
static int s_user_owner(uint64_t user_id)
{
    return pl_cluster_owner((int64_t)user_id);
}

static void s_notify_absent(self_t *self, const room_t *room, const pending_t *p)
{
    if (!s_notice_room(self, pl_idmap_size(room->members)))
        return;
    absent_t absent = {p->sender_id, self->notice_users, 0};
    pl_idmap_each(room->members, s_collect_absent, &absent);
    if (absent.count == 0)
        return;
    const char *title = json_string_value(json_object_get(room->header, "title"));
    //  In a cluster each user's notifications are written by one node's notifier (see
    //  app.h): one NOTIFY_MESSAGE per node, with the members it serves.
    //  (Without a cluster every user's owner is node 0, this node: one message.)
    uint64_t *ids = (uint64_t *)absent.ids;
    for (size_t left = absent.count; left;) {
        int node = s_user_owner(ids[0]);
        size_t mine = s_front_of_node(ids, left, node, s_user_owner);
        pl_msg_t msg = {
            .type = PL_MSG_NOTIFY_MESSAGE,
            .as.notify_message = {room->id,
                                  room->is_dm,
                                  pl_str_of(title ? title : ""),
                                  {(const char *)ids, (uint32_t)(mine * sizeof(int64_t))},
                                  pl_str_of(p->frame)}};
        bool here = node == pl_cluster_self();
        pl_msg_send(zsock_resolve(here ? self->notifier : self->bridge), &msg);
        left -= mine;
        ids += mine;
    }
}

//  Who has to hear of a stored message besides the room's subscribers: found in one
//  walk over the members, so that in the common case, where every member's
//  connections are all subscribed, nothing more is built or sent.
typedef struct {
    int64_t sender_id;
    const self_t *self;
    bool unsubscribed; //  a member has (or may have) a WebSocket not subscribed
    bool absent;       //  a member other than the sender has no subscribed connection
} survey_t;

static void s_survey_member(uint64_t id, void *value, void *arg)
{
    survey_t *survey = arg;
    const member_t *member = value;
    survey->unsubscribed |= s_may_miss(survey->self, (int64_t)id, member);
    survey->absent |= member->online == 0 && (int64_t)id != survey->sender_id;
}

static void s_hand_over(self_t *self, room_t *room);

//  The persister committed (or failed) the oldest pending send of a room, seq.
static void s_stored_one(self_t *self, int64_t room_id, int64_t seq, pl_status_t status)
{
    room_t *room = pl_idmap_get(self->rooms, (uint64_t)room_id);
    if (!room || room->pending_count == 0 || room->pending[room->pending_head].seq != seq) {
        pl_error("room %" PRId64 ": commit report for seq %" PRId64 " out of order", room_id, seq);
        return;
    }
    pending_t p = room->pending[room->pending_head];
    room->pending_head = (room->pending_head + 1) % room->pending_capacity;
    room->pending_count--;
    if (status != PL_STATUS_OK) {
        pl_error("room %" PRId64 ": seq %" PRId64 " could not be stored", room_id, seq);
        //  The persister refuses every seq handed out after a failed one until that
        //  one is stored (no gaps): the first failure of an epoch hands it out again.
        if (p.epoch == room->epoch) {
            room->last_seq = room->stored_seq;
            room->epoch++;
        }
        //  A retry of this client_id is a new send, not a repeat of one stored.
        member_t *sender = s_member(room, p.sender_id);
        uint64_t key;
        sent_t *sent = sender ? s_sent_of(sender, p.sender_id, pl_str_of(p.client_id), &key) : NULL;
        if (sent && sent->seq == p.seq)
            sent->key = 0;
        bool unavailable = status == PL_STATUS_UNAVAILABLE;
        for (size_t i = 0; i < p.target_count; i++) {
            if (p.targets[i].conn_id)
                s_send_error(self, p.targets[i].conn_id,
                             s_send_name(pl_str_of(p.targets[i].ref), pl_str_of(p.client_id)),
                             unavailable ? "unavailable" : "internal",
                             unavailable ? "the store cannot be reached: try again"
                                         : "the message could not be stored");
            s_answer(p.targets[i].waiter, p.targets[i].req_id,
                     unavailable ? PL_STATUS_UNAVAILABLE : PL_STATUS_INTERNAL, 0, NULL);
        }
        s_pending_clear(&p);
        if (room->releasing && room->pending_count == 0)
            s_hand_over(self, room);
        return;
    }
    room->stored_seq = p.seq;
    pl_metrics_observe(PL_HISTOGRAM_SEND_COMMIT, (uint64_t)(pl_now_ns() - p.taken_ns));
    member_t *sender = s_member(room, p.sender_id);
    if (sender && sender->read_seq < p.seq)
        sender->read_seq = p.seq;
    //  The first connection to ack gets it with the message; retries made before the
    //  commit (rare) get theirs after.
    size_t first = 0;
    while (first < p.target_count && !p.targets[first].conn_id)
        first++;
    rider_t rider = s_no_rider;
    if (first < p.target_count && (rider.text = s_ack_text(self, &p, &p.targets[first], room->id)))
        rider.conn_id = p.targets[first].conn_id;
    s_broadcast_text(self, room, p.frame, 0, rider, p.seq);
    char *body = NULL;
    for (size_t i = 0; i < p.target_count; i++) {
        const target_t *target = &p.targets[i];
        if (target->conn_id && !(i == first && rider.conn_id))
            s_ack(self, &p, target, room->id);
        if (target->waiter && !body)
            body = s_message_body(p.frame);
        s_answer(target->waiter, target->req_id, PL_STATUS_OK, p.seq, body);
    }
    free(body);
    survey_t survey = {p.sender_id, self, false, false};
    pl_idmap_each(room->members, s_survey_member, &survey);
    if (survey.unsubscribed)
        s_notify_members(self, room, p.frame);
    if (survey.absent)
        s_notify_absent(self, room, &p);
    s_window_push(room, self->window, p.seq, p.frame);
    p.frame = NULL;
    s_pending_clear(&p);
    if (room->releasing && room->pending_count == 0)
        s_hand_over(self, room);
}

//  The persister committed (or failed) a room's pending sends seq..last, the oldest.
static void s_stored(self_t *self, const pl_msg_message_stored_t *m)
{
    for (int64_t seq = m->seq; seq <= m->last; seq++)
        s_stored_one(self, m->room_id, seq, (pl_status_t)m->status);
}

static void s_read(self_t *self, const pl_msg_room_read_t *m)
{
    pl_status_t status;
    room_t *room = s_room(self, m->room_id, &status);
    member_t *member = room ? s_member(room, m->user_id) : NULL;
    if (!member) {
        s_refuse(self, m->conn_id, m->waiter, m->req_id, m->ref,
                 room ? PL_STATUS_FORBIDDEN : status, m->room_id);
        return;
    }
    //  Reading past the last committed message means reading everything.
    int64_t seq = m->seq < room->stored_seq ? m->seq : room->stored_seq;
    if (seq <= member->read_seq) {
        s_answer(m->waiter, m->req_id, PL_STATUS_OK, 0, NULL);
        return;
    }
    //  The persister answers an HTTP caller once the pointer is stored, so what the
    //  caller reads next reflects it.
    member->read_seq = seq;
    pl_msg_t store = {.type = PL_MSG_READ_STORE,
                      .as.read_store = {m->waiter, m->req_id, room->id, m->user_id, seq}};
    pl_msg_send(zsock_resolve(self->persister), &store);
    s_broadcast(self, room,
                json_pack("{s:s, s:I, s:I, s:I}", "type", "read", "room", (json_int_t)room->id,
                          "user", (json_int_t)m->user_id, "seq", (json_int_t)seq),
                0);
}

static void s_typing(self_t *self, const pl_msg_room_typing_t *m)
{
    pl_status_t status;
    room_t *room = s_room(self, m->room_id, &status);
    if (!room || !s_member(room, m->user_id)) {
        s_refuse(self, m->conn_id, 0, 0, m->ref, room ? PL_STATUS_FORBIDDEN : status, m->room_id);
        return;
    }
    s_broadcast(self, room,
                json_pack("{s:s, s:I, s:I}", "type", "typing", "room", (json_int_t)room->id, "user",
                          (json_int_t)m->user_id),
                m->conn_id);
}

static void s_apply_member_event(self_t *self, const pl_msg_room_member_t *m)
{
    room_t *room = pl_idmap_get(self->rooms, (uint64_t)m->room_id);
    if (!room)
        return; //  not loaded: the store is up to date, the next load sees it
    json_t *user = json_loadb(m->user.ptr, m->user.len, 0, NULL);
    if (!user)
        return;
    static const char *const names[] = {"left", "joined", "updated"};
    bool known = s_member(room, m->user_id) != NULL;
    if (m->event < PL_MEMBER_LEFT || m->event > PL_MEMBER_UPDATED ||
        (m->event != PL_MEMBER_JOINED && !known)) {
        json_decref(user);
        return;
    }
    if (m->event != PL_MEMBER_LEFT) {
        //  Later messages carry the member's new profile; a new member starts with
        //  everything before their joining read (as the store does).
        member_t *member = s_member_add(room, m->user_id, user);
        if (member && !known)
            member->read_seq = room->stored_seq;
    }
    s_broadcast(self, room,
                json_pack("{s:s, s:I, s:s, s:O}", "type", "member", "room", (json_int_t)room->id,
                          "event", names[m->event], "user", user),
                0);
    if (m->event == PL_MEMBER_LEFT) {
        //  A member who left no longer receives the room.
        for (size_t i = room->sub_count; i-- > 0;)
            if (room->subs[i].user_id == m->user_id)
                s_unsubscribe(self, room, room->subs[i].conn_id);
        member_t *member = pl_idmap_remove(room->members, (uint64_t)m->user_id);
        if (member)
            s_member_free(0, member, NULL);
    }
    json_decref(user);
}

//  Applies a member event, then answers whoever waits for it (a join over HTTP is
//  answered only once the room knows the member, wherever the room is served).
static void s_member_event(self_t *self, const pl_msg_room_member_t *m)
{
    s_apply_member_event(self, m);
    s_answer(m->waiter, m->req_id, PL_STATUS_OK, 0, NULL);
}

static void s_handle(self_t *self, const pl_msg_t *msg);

static void s_deferred_free(deferred_t *deferred)
{
    for (size_t i = 0; i < deferred->count; i++)
        pl_msg_frame_close(&deferred->frames[i]);
    free(deferred->frames);
    free(deferred);
}

//  Passes requests that this actor will not serve to the bridge, which takes them
//  to the room's node, in their order.
static void s_pass_on(self_t *self, deferred_t *deferred)
{
    for (size_t i = 0; deferred && i < deferred->count; i++)
        if (pl_msg_frame_pass(&deferred->frames[i], zsock_resolve(self->bridge)))
            pl_warn("room: a %s for another node was dropped: the bridge did not take it",
                    pl_msg_name(deferred->frames[i].msg.type));
    if (deferred)
        s_deferred_free(deferred);
}

//  --- handing a room to another node ----------------------------------------------

//  Its sends are all stored: the subscribers go to the room's new node, which
//  replays from the seq they have, then the lease is given up and the requests
//  that waited follow.
static void s_hand_over(self_t *self, room_t *room)
{
    for (size_t i = 0; i < room->sub_count; i++) {
        pl_msg_t msg = {
            .type = PL_MSG_ROOM_SUBSCRIBE,
            .as.room_subscribe = {
                room->subs[i].conn_id, room->subs[i].user_id, room->id, room->stored_seq, {0}, 1}};
        pl_msg_send(zsock_resolve(self->bridge), &msg);
    }
    pl_msg_t released = {.type = PL_MSG_ROOM_RELEASED, .as.room_released = {room->id}};
    pl_msg_send(zsock_resolve(self->bridge), &released);
    pl_debug("room %" PRId64 ": handed over at seq %" PRId64 " with %zu subscriber(s)", room->id,
             room->stored_seq, room->sub_count);
    deferred_t *held_back = room->held_back;
    room->held_back = NULL;
    pl_idmap_remove(self->rooms, (uint64_t)room->id);
    s_room_free(0, room, NULL);
    s_pass_on(self, held_back);
}

static void s_release(self_t *self, int64_t room_id)
{
    room_t *room = pl_idmap_get(self->rooms, (uint64_t)room_id);
    if (!room) {
        pl_msg_t released = {.type = PL_MSG_ROOM_RELEASED, .as.room_released = {room_id}};
        pl_msg_send(zsock_resolve(self->bridge), &released);
        return;
    }
    room->releasing = true;
    if (room->pending_count == 0)
        s_hand_over(self, room);
}

typedef struct {
    self_t *self;
    int node;
} node_gone_t;

static void s_forget_node(uint64_t id, void *value, void *arg)
{
    (void)id;
    node_gone_t *gone = arg;
    room_t *room = value;
    for (size_t i = room->sub_count; i-- > 0;)
        if (pl_cluster_node_of(room->subs[i].conn_id) == gone->node)
            s_unsubscribe(gone->self, room, room->subs[i].conn_id);
}

static void s_free_deferred(uint64_t id, void *value, void *arg)
{
    s_deferred_free(value);
}

//  The loader answered: take charge of the room (or learn it does not exist), then
//  handle the requests that waited for it, in the order they came.
static void s_loaded(self_t *self, const pl_msg_room_loaded_t *m)
{
    deferred_t *deferred = pl_idmap_remove(self->loading, (uint64_t)m->room_id);
    pl_status_t status = (pl_status_t)m->status;
    if (status == PL_STATUS_MOVED) {
        s_pass_on(self, deferred);
        return;
    }
    if (status == PL_STATUS_OK) {
        json_t *state = json_loadb(m->state.ptr, m->state.len, 0, NULL);
        status = state ? s_adopt(self, m->room_id, state) : PL_STATUS_INTERNAL;
        json_decref(state);
    }
    if (status == PL_STATUS_INTERNAL)
        pl_error("room %" PRId64 ": could not be loaded", m->room_id);
    self->missing = status == PL_STATUS_OK ? PL_STATUS_NOT_FOUND : status;
    for (size_t i = 0; deferred && i < deferred->count; i++)
        s_handle(self, &deferred->frames[i].msg);
    self->missing = PL_STATUS_NOT_FOUND;
    if (deferred)
        s_deferred_free(deferred);
}

//  The room a request is about, or 0; *loads is true when an unknown room should be
//  loaded for it (a departure from a room we do not hold needs no load).
static int64_t s_request_room(const pl_msg_t *msg, bool *loads)
{
    *loads = true;
    switch (msg->type) {
    case PL_MSG_ROOM_SUBSCRIBE:
        return msg->as.room_subscribe.room_id;
    case PL_MSG_ROOM_SEND:
        return msg->as.room_send.room_id;
    case PL_MSG_ROOM_READ:
        return msg->as.room_read.room_id;
    case PL_MSG_ROOM_TYPING:
        return msg->as.room_typing.room_id;
    case PL_MSG_ROOM_UNSUBSCRIBE:
        *loads = false;
        return msg->as.room_unsubscribe.room_id;
    case PL_MSG_ROOM_MEMBER:
        *loads = false;
        return msg->as.room_member.room_id;
    default:
        return 0;
    }
}

//  Holds a request back while its room is loading, asking the loader first when
//  needed. Returns true when the frame was taken (moved into the room's queue).
static bool s_defer(self_t *self, pl_msg_frame_t *in)
{
    bool loads;
    int64_t room_id = s_request_room(&in->msg, &loads);
    if (!room_id)
        return false;
    room_t *room = pl_idmap_get(self->rooms, (uint64_t)room_id);
    deferred_t *deferred;
    if (room) {
        if (!room->releasing)
            return false;
        if (!room->held_back && !(room->held_back = calloc(1, sizeof *room->held_back)))
            return false;
        deferred = room->held_back;
    } else if (!(deferred = pl_idmap_get(self->loading, (uint64_t)room_id))) {
        if (!loads)
            return false;
        deferred = calloc(1, sizeof *deferred);
        if (!deferred || pl_idmap_put(self->loading, (uint64_t)room_id, deferred)) {
            free(deferred);
            return false;
        }
        //  In a cluster the bridge takes the room's lease before the loader reads it.
        pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room_id, self->shard}};
        pl_msg_send(zsock_resolve(self->bridge ? self->bridge : self->loader), &load);
    }
    if (deferred->count == deferred->capacity) {
        size_t capacity = deferred->capacity ? deferred->capacity * 2 : 8;
        pl_msg_frame_t *grown = realloc(deferred->frames, capacity * sizeof *grown);
        if (!grown)
            return false;
        deferred->frames = grown;
        deferred->capacity = capacity;
    }
    //  Decoded again from the moved frame: a small message's bytes live inside the
    //  zmq_msg_t itself, so the strings must point into the new one.
    pl_msg_frame_t *slot = &deferred->frames[deferred->count];
    zmq_msg_init(&slot->frame);
    zmq_msg_move(&slot->frame, &in->frame);
    if (pl_msg_decode(zmq_msg_data(&slot->frame), zmq_msg_size(&slot->frame), &slot->msg)) {
        zmq_msg_close(&slot->frame);
        return false;
    }
    deferred->count++;
    return true;
}

static void s_handle(self_t *self, const pl_msg_t *msg)
{
    switch (msg->type) {
    case PL_MSG_ROOM_SUBSCRIBE:
        s_subscribe(self, &msg->as.room_subscribe);
        break;
    case PL_MSG_ROOM_UNSUBSCRIBE: {
        room_t *room = pl_idmap_get(self->rooms, (uint64_t)msg->as.room_unsubscribe.room_id);
        if (room)
            s_unsubscribe(self, room, msg->as.room_unsubscribe.conn_id);
        break;
    }
    case PL_MSG_ROOM_SEND:
        s_send_message(self, &msg->as.room_send);
        break;
    case PL_MSG_MESSAGE_STORED:
        s_stored(self, &msg->as.message_stored);
        break;
    case PL_MSG_ROOM_READ:
        s_read(self, &msg->as.room_read);
        break;
    case PL_MSG_ROOM_TYPING:
        s_typing(self, &msg->as.room_typing);
        break;
    case PL_MSG_ROOM_MEMBER:
        s_member_event(self, &msg->as.room_member);
        break;
    case PL_MSG_ROOM_LOADED:
        s_loaded(self, &msg->as.room_loaded);
        break;
    case PL_MSG_ROOM_RELEASE:
        if (self->bridge)
            s_release(self, msg->as.room_release.room_id);
        break;
    case PL_MSG_ROOM_FENCE: {
        room_t *room = pl_idmap_get(self->rooms, (uint64_t)msg->as.room_fence.room_id);
        if (room)
            room->fenced = msg->as.room_fence.fenced != 0;
        break;
    }
    case PL_MSG_NODE_GONE: {
        node_gone_t gone = {self, (int)msg->as.node_gone.node};
        pl_idmap_each(self->rooms, s_forget_node, &gone);
        break;
    }
    default:
        pl_error("room: unexpected %s", pl_msg_name(msg->type));
    }
}

static void s_on_inbox(void *self_arg)
{
    self_t *self = self_arg;
    pl_msg_frame_t in;
    while (pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0) {
        if (!s_defer(self, &in))
            s_handle(self, &in.msg);
        pl_msg_frame_close(&in);
    }
}

//  --- lifecycle -----------------------------------------------------------------

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->rooms)
        pl_idmap_each(self->rooms, s_room_free, NULL);
    if (self->loading)
        pl_idmap_each(self->loading, s_free_deferred, NULL);
    pl_idmap_destroy(&self->rooms);
    pl_idmap_destroy(&self->loading);
    for (int w = 0; self->writers && w < self->writer_count; w++)
        zsock_destroy(&self->writers[w]);
    for (int w = 0; self->fanout && w < self->writer_count; w++)
        free(self->fanout[w]);
    free(self->writers);
    free(self->fanout);
    free(self->fanout_count);
    free(self->remote);
    free(self->notice_users);
    free(self->notice_exclude);
    pl_jw_release(&self->jw);
    pl_actor_inbox_destroy(&self->inbox);
    zsock_destroy(&self->persister);
    zsock_destroy(&self->notifier);
    zsock_destroy(&self->loader);
    zsock_destroy(&self->bridge);
    free(self);
    *self_p = NULL;
}

static self_t *s_self_new(pl_room_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char name[32];
    pl_room_inbox_name(args->shard, name, sizeof name);
    self->window = (size_t)args->window;
    self->presence_max_members = args->presence_max_members;
    self->writer_count = args->writer_count;
    self->shard = args->shard;
    self->missing = PL_STATUS_NOT_FOUND;
    self->inbox = pl_actor_inbox(name);
    self->persister = pl_actor_outlet(PL_PERSISTER_INBOX);
    self->loader = pl_actor_outlet(PL_LOADER_INBOX);
    self->notifier = pl_actor_outlet(PL_NOTIFIER_INBOX);
    self->rooms = pl_idmap_new();
    self->loading = pl_idmap_new();
    self->writers = calloc((size_t)args->writer_count, sizeof *self->writers);
    self->fanout = calloc((size_t)args->writer_count, sizeof *self->fanout);
    self->fanout_count = calloc((size_t)args->writer_count, sizeof *self->fanout_count);
    if (pl_cluster_self())
        self->bridge = pl_actor_outlet(PL_BRIDGE_INBOX);
    bool ok = self->inbox && self->persister && self->loader && self->notifier && self->rooms &&
              self->loading && self->writers && self->fanout && self->fanout_count &&
              (self->bridge || !pl_cluster_self());
    for (int w = 0; ok && w < args->writer_count; w++) {
        char writer[32];
        pl_conn_inbox_name(w, writer, sizeof writer);
        ok = (self->writers[w] = pl_actor_outlet(writer)) != NULL;
    }
    if (!ok)
        s_self_destroy(&self);
    return self;
}

void pl_room_actor(zsock_t *pipe, void *args_arg)
{
    pl_room_args_t *args = args_arg;
    char name[32];
    pl_room_inbox_name(args->shard, name, sizeof name);
    pl_actor_name_thread(name);
    self_t *self = s_self_new(args);
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    pl_actor_loop(pipe, self->inbox, s_on_inbox, self);
    s_self_destroy(&self);
}
