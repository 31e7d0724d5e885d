/*  Bridge actor (see bridge.h for the contract).

    One thread, two Redis connections: `cmd` for commands, answered in pipelines, and
    `sub` for this node's channels, whose descriptor is polled beside the inbox. All
    Redis I/O blocks with a timeout, which only this thread ever waits on.

    On the wire a PUBLISH carries the sending node (2 bytes) and then records of
    [hops (1 byte), length (4 bytes), a catalogue message as msgpack]. Hops counts how
    often a room request was passed on because the node it reached no longer owned
    the room. Views change up to a heartbeat apart, so a request passed on more than
    once waits a heartbeat (parked) before it goes again, for the views to agree;
    past MAX_HOPS it is refused. */
#include "parley/bridge.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/conn.h"
#include "parley/idmap.h"
#include "parley/loader.h"
#include "parley/log.h"
#include "parley/notifier.h"
#include "parley/room.h"
#include "parley/waiter.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>

#define MAX_HOPS         6
#define CLAIM_RETRY_MS   50
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   5000
#define REDIS_TIMEOUT_MS 1000
#define INBOX_BATCH      4096
#define LEFT_MARK_MS     60000
#define RECORD_HEAD      5 //  hops and length
#define MAX_PAYLOAD      (1 << 20)
//  Longest a send to a local actor may wait. The bridge outlives the actors it feeds
//  (they stop first, at shutdown), and a PUSH to an inbox that is gone would wait
//  for ever; a live inbox full for this long is an overload, and the message is
//  dropped.
#define SEND_TIMEOUT_MS 1000

//  Takes the key when free or already ours, and (re)sets its TTL: acquiring and
//  renewing a lease, and keeping this node's key, are one script.
static const char s_acquire_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";
static const char s_release_lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                    "return redis.call('DEL', KEYS[1]) end return 0";

static atomic_bool s_redis_up;
static _Atomic uint64_t s_published, s_received;

bool pl_bridge_redis_up(void)
{
    return atomic_load(&s_redis_up);
}

uint64_t pl_bridge_published(void)
{
    return atomic_load(&s_published);
}

uint64_t pl_bridge_received(void)
{
    return atomic_load(&s_received);
}

typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t records;
} outbox_t;

typedef struct {
    int shard;
    bool releasing;
    bool fenced; //  told ROOM_FENCE 1: its lease may run out unrenewed
} held_t;

typedef struct {
    int shard;
    int64_t deadline_ms;
} claim_t;

typedef struct {
    uint64_t conn_id;
    int64_t user_id;
} watcher_t;

//  This node's connections subscribed to a room another node owns, and the last seq
//  they were sent: what is needed to subscribe them again if that node dies.
typedef struct {
    int owner;
    int64_t last_seq; //  -1: none seen yet
    watcher_t *items;
    size_t count, cap;
} track_t;

//  The sends of one connection to one room that another node (the room's owner) has
//  not answered yet, oldest first: if that node dies, they may never be, and are
//  refused here so that the client retries them (a retry of one that was stored
//  is acked with its seq). Answers come back in the order of the sends.
#define SEND_NAME_MAX  64
#define UNANSWERED_MAX 256 //  per connection and room; past it the oldest is forgotten

typedef struct {
    uint64_t conn_id;
    int64_t room_id;
    int owner;
    size_t head, count;
    char names[UNANSWERED_MAX][SEND_NAME_MAX + 1]; //  the ref or client_id of each
} unanswered_t;

//  A room request waiting for the views to agree (see the top of this file).
typedef struct parked {
    struct parked *next;
    int64_t due_ms;
    int hops;
    size_t len;
    uint8_t data[];
} parked_t;

typedef struct {
    pl_bridge_args_t *args;
    int self_node;
    zsock_t *inbox;
    zsock_t **rooms;
    zsock_t **writers;
    zsock_t *loader;
    zsock_t *notifier;
    redisContext *cmd, *sub;
    char token[48];
    char node_key[300], nodes_key[300], own_channel[300], all_channel[300];
    uint16_t live[PL_CLUSTER_MAX_NODES];
    int live_count;
    outbox_t out[PL_NODE_ID_MAX + 1];          //  by node; [0]: every node
    uint16_t queued_nodes[PL_NODE_ID_MAX + 1]; //  the nodes whose batch is not empty
    int queued_count;
    int publishing;                  //  PUBLISHes appended to the pipeline, not yet answered
    uint64_t publishing_records;     //  the messages they carry
    pl_idmap_t *held;                //  room -> held_t
    pl_idmap_t *claims;              //  room -> claim_t
    pl_idmap_t *tracks;              //  room -> track_t
    parked_t *parked, **parked_tail; //  FIFO
    pl_idmap_t *unanswered;          //  key of (connection, room) -> unanswered_t
    int64_t next_heartbeat, next_renew, next_claim, next_reconnect;
    int64_t last_renewed; //  when every held lease was last renewed
    int backoff_ms;
    //  Draining: the node has left the live set for the others, and after a grace of
    //  two heartbeats (for every view to drop it) leaves its own view too (leaving)
    //  and hands its rooms over.
    bool draining, leaving;
    int64_t leave_at;
    int64_t drain_deadline;
    bool drain_signalled;
} self_t;

//  --- small helpers -------------------------------------------------------------------

static int64_t s_now(void)
{
    return pl_mono_ms();
}

static zsock_t *s_room_shard(self_t *self, int64_t room_id)
{
    return self->rooms[pl_room_shard(room_id, self->args->room_count)];
}

static zsock_t *s_writer(self_t *self, uint64_t conn_id)
{
    return self->writers[conn_id % (uint64_t)self->args->writer_count];
}

//  Passes a message on as it came (data, its encoding), to an actor of this node.
static void s_raw_send(zsock_t *to, const pl_msg_t *msg, const void *data, size_t len)
{
    pl_msg_send_encoded(zsock_resolve(to), msg->type, data, len);
}

static void s_loaded(self_t *self, int shard, int64_t room_id, pl_status_t status)
{
    pl_msg_t msg = {.type = PL_MSG_ROOM_LOADED, .as.room_loaded = {room_id, status, {0}}};
    pl_msg_send(zsock_resolve(self->rooms[shard]), &msg);
}

//  What decides the node a request goes to: the room of a request for a room actor,
//  or (*to_notifier set) the user of a request for the notifier that serves that
//  user (see app.h); 0 when msg is neither.
static int64_t s_owner_key(const pl_msg_t *msg, bool *to_notifier)
{
    *to_notifier = true;
    switch (msg->type) {
    case PL_MSG_NOTIFY_FOLLOW:
        return msg->as.notify_follow.followee_id;
    case PL_MSG_NOTIFICATIONS_READ:
        return msg->as.notifications_read.user_id;
    case PL_MSG_STREAM_OPEN:
        return msg->as.stream_open.user_id;
    case PL_MSG_STREAM_CLOSE:
        return msg->as.stream_close.user_id;
    case PL_MSG_NOTIFY_MESSAGE: {
        //  The room actor sends one per node, for the members it serves.
        int64_t first = 0;
        if (msg->as.notify_message.recipients.len >= sizeof first)
            memcpy(&first, msg->as.notify_message.recipients.ptr, sizeof first);
        return first;
    }
    default:
        break;
    }
    *to_notifier = false;
    switch (msg->type) {
    case PL_MSG_ROOM_SUBSCRIBE:
        return msg->as.room_subscribe.room_id;
    case PL_MSG_ROOM_UNSUBSCRIBE:
        return msg->as.room_unsubscribe.room_id;
    case PL_MSG_ROOM_SEND:
        return msg->as.room_send.room_id;
    case PL_MSG_ROOM_READ:
        return msg->as.room_read.room_id;
    case PL_MSG_ROOM_TYPING:
        return msg->as.room_typing.room_id;
    case PL_MSG_ROOM_MEMBER:
        return msg->as.room_member.room_id;
    default:
        return 0;
    }
}

static void s_queue(self_t *self, int node, int hops, const void *data, size_t len);

//  Queues a message built here for node.
static void s_queue_msg(self_t *self, int node, const pl_msg_t *msg)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (pl_msg_encode(msg, &buf) == 0)
        s_queue(self, node, 0, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
}

//  Tells a client, or an HTTP request, that its room's node cannot be reached now.
static void s_refuse(self_t *self, const pl_msg_t *msg, int64_t room_id)
{
    uint64_t conn_id = 0, waiter = 0, req_id = 0;
    pl_str_t ref = {0};
    if (msg->type == PL_MSG_ROOM_SEND) {
        const pl_msg_room_send_t *m = &msg->as.room_send;
        conn_id = m->conn_id, waiter = m->waiter, req_id = m->req_id;
        ref = m->ref.ptr ? m->ref : m->client_id;
    } else if (msg->type == PL_MSG_ROOM_SUBSCRIBE && !msg->as.room_subscribe.moved) {
        conn_id = msg->as.room_subscribe.conn_id;
        ref = msg->as.room_subscribe.ref;
    } else if (msg->type == PL_MSG_ROOM_READ) {
        waiter = msg->as.room_read.waiter, req_id = msg->as.room_read.req_id;
    } else if (msg->type == PL_MSG_ROOM_MEMBER) {
        waiter = msg->as.room_member.waiter, req_id = msg->as.room_member.req_id;
    } else if (msg->type == PL_MSG_NOTIFICATIONS_READ) {
        waiter = msg->as.notifications_read.waiter, req_id = msg->as.notifications_read.req_id;
    }
    if (waiter) {
        pl_msg_t reply = {.type = PL_MSG_REPLY,
                          .as.reply = {.req_id = req_id, .status = PL_STATUS_UNAVAILABLE}};
        pl_waiter_post(waiter, &reply);
    }
    if (!conn_id)
        return;
    char message[128];
    snprintf(message, sizeof message,
             "the node serving room %" PRId64 " cannot be reached: try again", room_id);
    json_t *frame =
        json_pack("{s:s, s:s, s:s}", "type", "error", "code", "unavailable", "message", message);
    if (ref.ptr)
        json_object_set_new(frame, "ref", json_stringn(ref.ptr, ref.len));
    char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    json_decref(frame);
    if (!text)
        return;
    pl_msg_t send = {.type = PL_MSG_CONN_SEND,
                     .as.conn_send = {.conn_id = conn_id, .text = pl_str_of(text)}};
    if (!pl_cluster_is_remote(conn_id))
        pl_msg_send(zsock_resolve(s_writer(self, conn_id)), &send);
    else if (self->cmd)
        s_queue_msg(self, pl_cluster_node_of(conn_id), &send);
    free(text);
}

//  --- publishing ----------------------------------------------------------------------

static bool s_reserve(outbox_t *box, size_t more)
{
    if (box->len + more <= box->cap)
        return true;
    size_t cap = box->cap ? box->cap : 4096;
    while (cap < box->len + more)
        cap *= 2;
    uint8_t *grown = realloc(box->data, cap);
    if (!grown)
        return false;
    box->data = grown;
    box->cap = cap;
    return true;
}

//  Queues a message (its encoding) for node (0: every node) until the next flush.
//  Appends the PUBLISH of node's batch to the pipeline (its reply is read by s_flush).
static void s_publish(self_t *self, int node)
{
    outbox_t *box = &self->out[node];
    if (self->cmd) {
        char channel[320];
        if (node)
            snprintf(channel, sizeof channel, "%sn:%d", self->args->prefix, node);
        else
            snprintf(channel, sizeof channel, "%s", self->all_channel);
        redisAppendCommand(self->cmd, "PUBLISH %s %b", channel, box->data, box->len);
        self->publishing++;
        self->publishing_records += box->records;
    }
    box->len = 0;
    box->records = 0;
}

static void s_queue(self_t *self, int node, int hops, const void *data, size_t len)
{
    outbox_t *box = &self->out[node];
    if (!s_reserve(box, (box->len ? 0 : 2) + RECORD_HEAD + len)) {
        pl_error("bridge: out of memory queueing for node %d", node);
        return;
    }
    if (!box->len) {
        box->data[0] = (uint8_t)(self->self_node & 0xff);
        box->data[1] = (uint8_t)(self->self_node >> 8);
        box->len = 2;
        self->queued_nodes[self->queued_count++] = (uint16_t)node;
    }
    uint8_t *p = box->data + box->len;
    uint32_t n = (uint32_t)len;
    p[0] = (uint8_t)hops;
    memcpy(p + 1, &n, sizeof n);
    memcpy(p + RECORD_HEAD, data, len);
    box->len += RECORD_HEAD + len;
    box->records++;
    //  A large batch goes at once: a subscriber that Redis must buffer too much for
    //  is cut off (client-output-buffer-limit pubsub).
    if (box->len >= MAX_PAYLOAD)
        s_publish(self, node);
}

static void s_redis_lost(self_t *self, const char *why);

//  Reads `count` pipelined replies; *replies (if given) receives them, else they are
//  freed. The replies of PUBLISHes appended before (s_publish) come first and are
//  read here too. Returns 0, or -1 when the connection failed (then all are freed).
static int s_collect(self_t *self, int count, redisReply **replies)
{
    int rc = 0;
    int published = self->publishing;
    uint64_t records = self->publishing_records;
    self->publishing = 0;
    self->publishing_records = 0;
    for (int i = 0; i < published && rc == 0; i++) {
        void *reply = NULL;
        rc = redisGetReply(self->cmd, &reply) == REDIS_OK ? 0 : -1;
        freeReplyObject(reply);
    }
    if (published && rc == 0)
        atomic_fetch_add(&s_published, records);
    for (int i = 0; i < count; i++) {
        void *reply = NULL;
        if (rc == 0 && redisGetReply(self->cmd, &reply) != REDIS_OK)
            rc = -1;
        if (replies)
            replies[i] = reply;
        else
            freeReplyObject(reply);
    }
    if (rc) {
        for (int i = 0; replies && i < count; i++) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
        s_redis_lost(self, self->cmd->errstr);
    }
    return rc;
}

//  Publishes every queued batch; reads the replies of the whole pipeline.
static void s_flush(self_t *self)
{
    for (int i = 0; i < self->queued_count; i++)
        if (self->out[self->queued_nodes[i]].len)
            s_publish(self, self->queued_nodes[i]);
    self->queued_count = 0;
    if (self->publishing)
        s_collect(self, 0, NULL);
}

//  --- rooms: routing and tracking ------------------------------------------------------

static track_t *s_track(self_t *self, int64_t room_id, int owner)
{
    track_t *track = pl_idmap_get(self->tracks, (uint64_t)room_id);
    if (track)
        return track;
    track = calloc(1, sizeof *track);
    if (!track || pl_idmap_put(self->tracks, (uint64_t)room_id, track)) {
        free(track);
        return NULL;
    }
    track->owner = owner;
    track->last_seq = -1;
    return track;
}

static void s_track_free(uint64_t id, void *value, void *arg)
{
    (void)id, (void)arg;
    track_t *track = value;
    free(track->items);
    free(track);
}

static void s_track_drop(self_t *self, int64_t room_id)
{
    track_t *track = pl_idmap_remove(self->tracks, (uint64_t)room_id);
    if (track)
        s_track_free(0, track, NULL);
}

//  Notes this node's subscriptions at other nodes' rooms, and forgets them on leave.
static void s_note_subscription(self_t *self, const pl_msg_t *msg, int owner)
{
    if (msg->type == PL_MSG_ROOM_SUBSCRIBE) {
        const pl_msg_room_subscribe_t *m = &msg->as.room_subscribe;
        if (pl_cluster_node_of(m->conn_id) != self->self_node)
            return;
        track_t *track = s_track(self, m->room_id, owner);
        if (!track)
            return;
        track->owner = owner;
        for (size_t i = 0; i < track->count; i++)
            if (track->items[i].conn_id == m->conn_id)
                return;
        if (track->count == track->cap) {
            size_t cap = track->cap ? track->cap * 2 : 4;
            watcher_t *grown = realloc(track->items, cap * sizeof *grown);
            if (!grown)
                return;
            track->items = grown;
            track->cap = cap;
        }
        track->items[track->count++] = (watcher_t){m->conn_id, m->user_id};
    } else if (msg->type == PL_MSG_ROOM_UNSUBSCRIBE) {
        const pl_msg_room_unsubscribe_t *m = &msg->as.room_unsubscribe;
        track_t *track = pl_idmap_get(self->tracks, (uint64_t)m->room_id);
        for (size_t i = 0; track && i < track->count; i++)
            if (track->items[i].conn_id == m->conn_id) {
                track->items[i] = track->items[--track->count];
                break;
            }
        if (track && !track->count)
            s_track_drop(self, m->room_id);
    }
}

typedef struct {
    uint64_t *ids;
    size_t count;
} id_list_t;

static void s_collect_id(uint64_t id, void *value, void *arg)
{
    (void)value;
    id_list_t *list = arg;
    list->ids[list->count++] = id;
}

//  The keys of a map, in a new array (NULL when empty or out of memory).
static id_list_t s_ids(const pl_idmap_t *map)
{
    id_list_t list = {NULL, 0};
    size_t n = pl_idmap_size(map);
    if (n && (list.ids = malloc(n * sizeof *list.ids)))
        pl_idmap_each(map, s_collect_id, &list);
    return list;
}

static uint64_t s_unanswered_key(uint64_t conn_id, int64_t room_id)
{
    return conn_id * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)room_id;
}

static void s_note_forwarded(self_t *self, const pl_msg_room_send_t *m, int owner)
{
    uint64_t key = s_unanswered_key(m->conn_id, m->room_id);
    unanswered_t *u = pl_idmap_get(self->unanswered, key);
    if (u && (u->conn_id != m->conn_id || u->room_id != m->room_id))
        return; //  a collision of keys: this send goes untracked
    if (!u) {
        if (!(u = malloc(sizeof *u)) || pl_idmap_put(self->unanswered, key, u)) {
            free(u);
            return;
        }
        u->conn_id = m->conn_id, u->room_id = m->room_id, u->head = u->count = 0;
    }
    u->owner = owner;
    if (u->count == UNANSWERED_MAX) {
        u->head = (u->head + 1) % UNANSWERED_MAX;
        u->count--;
    }
    pl_str_t name = m->ref.ptr ? m->ref : m->client_id;
    size_t len = name.len < SEND_NAME_MAX ? name.len : SEND_NAME_MAX;
    char *slot = u->names[(u->head + u->count++) % UNANSWERED_MAX];
    if (name.ptr)
        memcpy(slot, name.ptr, len);
    slot[len] = '\0';
}

//  An answer (ack or error) to the oldest send of conn_id to room_id came back.
static void s_answered(self_t *self, uint64_t conn_id, int64_t room_id)
{
    uint64_t key = s_unanswered_key(conn_id, room_id);
    unanswered_t *u = pl_idmap_get(self->unanswered, key);
    if (!u || u->conn_id != conn_id || u->room_id != room_id)
        return;
    u->head = (u->head + 1) % UNANSWERED_MAX;
    if (--u->count == 0)
        free(pl_idmap_remove(self->unanswered, key));
}

//  A node died (dead -1: Redis was lost): refuses every send it left unanswered.
static void s_refuse_unanswered(self_t *self, int dead)
{
    id_list_t keys = s_ids(self->unanswered);
    for (size_t k = 0; k < keys.count; k++) {
        unanswered_t *u = pl_idmap_get(self->unanswered, keys.ids[k]);
        if (dead >= 0 && u->owner != dead)
            continue;
        for (size_t i = 0; i < u->count; i++) {
            const char *name = u->names[(u->head + i) % UNANSWERED_MAX];
            pl_msg_t msg = {.type = PL_MSG_ROOM_SEND,
                            .as.room_send = {.conn_id = u->conn_id,
                                             .room_id = u->room_id,
                                             .ref = pl_str_of(name[0] ? name : NULL)}};
            s_refuse(self, &msg, u->room_id);
        }
        free(pl_idmap_remove(self->unanswered, keys.ids[k]));
    }
    free(keys.ids);
}

//  Hands a request to the node that owns its key (s_owner_key): a local room shard or
//  the local notifier, or another node. A request passed on more than once is parked
//  first when may_park.
static void s_route_room_as(self_t *self, const pl_msg_t *msg, int64_t room_id, bool to_notifier,
                            int hops, const void *data, size_t len, bool may_park)
{
    int owner = pl_cluster_owner(room_id);
    if (msg->type == PL_MSG_ROOM_SUBSCRIBE || msg->type == PL_MSG_ROOM_UNSUBSCRIBE)
        s_note_subscription(self, msg, owner);
    if (owner == self->self_node && !self->leaving) {
        s_raw_send(to_notifier ? self->notifier : s_room_shard(self, room_id), msg, data, len);
        return;
    }
    if (!self->cmd || hops >= MAX_HOPS || owner == self->self_node) {
        s_refuse(self, msg, room_id);
        return;
    }
    if (hops >= 2 && may_park) {
        parked_t *parked = malloc(sizeof *parked + len);
        if (!parked) {
            s_refuse(self, msg, room_id);
            return;
        }
        *parked = (parked_t){NULL, s_now() + self->args->heartbeat_ms, hops, len};
        memcpy(parked->data, data, len);
        *self->parked_tail = parked;
        self->parked_tail = &parked->next;
        return;
    }
    if (msg->type == PL_MSG_ROOM_SEND && !pl_cluster_is_remote(msg->as.room_send.conn_id) &&
        msg->as.room_send.conn_id)
        s_note_forwarded(self, &msg->as.room_send, owner);
    s_queue(self, owner, hops, data, len);
}

static void s_route_room(self_t *self, const pl_msg_t *msg, int64_t room_id, bool to_notifier,
                         int hops, const void *data, size_t len)
{
    s_route_room_as(self, msg, room_id, to_notifier, hops, data, len, true);
}

//  Routes the parked requests whose wait is over, in their order.
static void s_unpark(self_t *self)
{
    int64_t now = s_now();
    while (self->parked && self->parked->due_ms <= now) {
        parked_t *parked = self->parked;
        self->parked = parked->next;
        if (!self->parked)
            self->parked_tail = &self->parked;
        pl_msg_t msg;
        bool to_notifier;
        if (pl_msg_decode(parked->data, parked->len, &msg) == 0) {
            int64_t key = s_owner_key(&msg, &to_notifier);
            s_route_room_as(self, &msg, key, to_notifier, parked->hops, parked->data, parked->len,
                            false);
        }
        free(parked);
    }
}

//  --- leases ------------------------------------------------------------------------

static void s_lease_key(self_t *self, int64_t room_id, char *key, size_t size)
{
    snprintf(key, size, "%sroom:%" PRId64, self->args->prefix, room_id);
}

static void s_append_acquire(self_t *self, const char *key, int ttl_ms)
{
    redisAppendCommand(self->cmd, "EVAL %s 1 %s %s %d", s_acquire_lua, key, self->token, ttl_ms);
}

static void s_fence(self_t *self, uint64_t room_id, held_t *held, bool fenced)
{
    held->fenced = fenced;
    pl_msg_t msg = {.type = PL_MSG_ROOM_FENCE, .as.room_fence = {(int64_t)room_id, fenced}};
    pl_msg_send(zsock_resolve(self->rooms[held->shard]), &msg);
}

static void s_release_room(self_t *self, uint64_t room_id, held_t *held)
{
    if (held->releasing)
        return;
    held->releasing = true;
    pl_msg_t msg = {.type = PL_MSG_ROOM_RELEASE, .as.room_release = {(int64_t)room_id}};
    pl_msg_send(zsock_resolve(self->rooms[held->shard]), &msg);
}

//  A room actor asks to load a room: take its lease first (see bridge.h).
static void s_claim(self_t *self, int64_t room_id, int shard)
{
    held_t *held = pl_idmap_get(self->held, (uint64_t)room_id);
    if (held && !held->releasing) {
        pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room_id, shard}};
        pl_msg_send(zsock_resolve(self->loader), &load);
        return;
    }
    if (self->leaving || !self->cmd) {
        s_loaded(self, shard, room_id, PL_STATUS_UNAVAILABLE);
        return;
    }
    if (pl_cluster_owner(room_id) != self->self_node) {
        s_loaded(self, shard, room_id, PL_STATUS_MOVED);
        return;
    }
    if (pl_idmap_get(self->claims, (uint64_t)room_id))
        return;
    claim_t *claim = malloc(sizeof *claim);
    if (!claim || pl_idmap_put(self->claims, (uint64_t)room_id, claim)) {
        free(claim);
        s_loaded(self, shard, room_id, PL_STATUS_INTERNAL);
        return;
    }
    //  The lease a dead owner held runs out within lease_ms; then it is ours.
    *claim = (claim_t){shard, s_now() + self->args->lease_ms + self->args->heartbeat_ms * 4};
    self->next_claim = 0;
}

//  Tries to take the lease of every room being claimed, in one pipeline.
static void s_try_claims(self_t *self)
{
    id_list_t list = s_ids(self->claims);
    if (!list.count) {
        free(list.ids);
        return;
    }
    int64_t now = s_now();
    size_t asked = 0;
    uint64_t *asks = list.ids; //  compacted in place: the rooms whose lease is asked for
    for (size_t i = 0; i < list.count; i++) {
        claim_t *claim = pl_idmap_get(self->claims, list.ids[i]);
        int64_t room_id = (int64_t)list.ids[i];
        if (pl_cluster_owner(room_id) != self->self_node || !self->cmd || self->leaving ||
            now > claim->deadline_ms) {
            pl_status_t status = pl_cluster_owner(room_id) != self->self_node
                                     ? PL_STATUS_MOVED
                                     : PL_STATUS_UNAVAILABLE;
            if (status == PL_STATUS_UNAVAILABLE)
                pl_warn("bridge: could not take room %" PRId64 "'s lease in time", room_id);
            s_loaded(self, claim->shard, room_id, status);
            free(pl_idmap_remove(self->claims, list.ids[i]));
            continue;
        }
        char key[320];
        s_lease_key(self, room_id, key, sizeof key);
        s_append_acquire(self, key, self->args->lease_ms);
        asks[asked++] = list.ids[i];
    }
    redisReply **replies = asked ? calloc(asked, sizeof *replies) : NULL;
    if (asked && (!replies || s_collect(self, (int)asked, replies))) {
        free(replies);
        free(list.ids);
        return;
    }
    for (size_t i = 0; i < asked; i++) {
        bool taken = replies[i] && replies[i]->type == REDIS_REPLY_INTEGER && replies[i]->integer;
        freeReplyObject(replies[i]);
        if (!taken)
            continue;
        claim_t *claim = pl_idmap_remove(self->claims, asks[i]);
        held_t *held = malloc(sizeof *held);
        if (!held || pl_idmap_put(self->held, asks[i], held)) {
            free(held);
            s_loaded(self, claim->shard, (int64_t)asks[i], PL_STATUS_INTERNAL);
        } else {
            *held = (held_t){claim->shard, false, false};
            pl_msg_t load = {.type = PL_MSG_ROOM_LOAD,
                             .as.room_load = {(int64_t)asks[i], claim->shard}};
            pl_msg_send(zsock_resolve(self->loader), &load);
        }
        free(claim);
    }
    free(replies);
    free(list.ids);
}

//  Renews every lease held, in one pipeline; a lease found taken is released.
static void s_renew(self_t *self)
{
    id_list_t list = s_ids(self->held);
    if (!list.count) {
        free(list.ids);
        self->last_renewed = s_now();
        return;
    }
    for (size_t i = 0; i < list.count; i++) {
        char key[320];
        s_lease_key(self, (int64_t)list.ids[i], key, sizeof key);
        s_append_acquire(self, key, self->args->lease_ms);
    }
    redisReply **replies = calloc(list.count, sizeof *replies);
    if (!replies || s_collect(self, (int)list.count, replies)) {
        free(replies);
        free(list.ids);
        return;
    }
    for (size_t i = 0; i < list.count; i++) {
        bool kept = replies[i] && replies[i]->type == REDIS_REPLY_INTEGER && replies[i]->integer;
        freeReplyObject(replies[i]);
        held_t *held = pl_idmap_get(self->held, list.ids[i]);
        if (kept && held && held->fenced)
            s_fence(self, list.ids[i], held, false);
        if (!kept && held) {
            pl_warn("bridge: room %" PRIu64 "'s lease was taken by another node", list.ids[i]);
            s_release_room(self, list.ids[i], held);
        }
    }
    self->last_renewed = s_now();
    free(replies);
    free(list.ids);
}

//  The room actor has handed the room over: give up its lease.
static void s_released(self_t *self, int64_t room_id)
{
    free(pl_idmap_remove(self->held, (uint64_t)room_id));
    //  What the room sent before (its last messages, its subscribers) must reach Redis
    //  before the next owner can: Redis delivers in the order it executes.
    s_flush(self);
    if (!self->cmd)
        return;
    char key[320];
    s_lease_key(self, room_id, key, sizeof key);
    redisAppendCommand(self->cmd, "EVAL %s 1 %s %s", s_release_lua, key, self->token);
    s_collect(self, 1, NULL);
}

//  --- the view ----------------------------------------------------------------------

static bool s_has(const uint16_t *nodes, int count, int node)
{
    for (int i = 0; i < count; i++)
        if (nodes[i] == node)
            return true;
    return false;
}

typedef struct {
    self_t *self;
    const uint16_t *gone;
    int gone_count;
    const bool *died;
} view_change_t;

//  Subscribes a tracked room's watchers again at its new owner, from the last seq
//  they were sent, because its old owner died with their subscriptions.
static void s_resubscribe(self_t *self, int64_t room_id, track_t *track)
{
    for (size_t i = 0; i < track->count; i++) {
        pl_msg_t msg = {.type = PL_MSG_ROOM_SUBSCRIBE,
                        .as.room_subscribe = {track->items[i].conn_id,
                                              track->items[i].user_id,
                                              room_id,
                                              track->last_seq,
                                              {0},
                                              1}};
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        if (pl_msg_encode(&msg, &buf) == 0)
            s_route_room(self, &msg, room_id, false, 0, buf.data, buf.size);
        msgpack_sbuffer_destroy(&buf);
    }
}

static void s_view_changed(self_t *self, const uint16_t *nodes, int count)
{
    uint16_t gone[PL_CLUSTER_MAX_NODES];
    bool died[PL_CLUSTER_MAX_NODES];
    int gone_count = 0;
    for (int i = 0; i < self->live_count; i++)
        if (!s_has(nodes, count, self->live[i]) && self->live[i] != self->self_node)
            gone[gone_count++] = self->live[i];
    //  A node that drains marks that it left: its rooms hand their subscribers over.
    for (int i = 0; i < gone_count; i++) {
        died[i] = true;
        if (!self->cmd)
            continue;
        redisReply *reply =
            redisCommand(self->cmd, "EXISTS %sleft:%d", self->args->prefix, gone[i]);
        died[i] = !(reply && reply->type == REDIS_REPLY_INTEGER && reply->integer);
        freeReplyObject(reply);
        pl_info("bridge: node %d %s", gone[i], died[i] ? "is gone (no heartbeat)" : "left");
    }
    for (int i = 0; i < count; i++)
        if (!s_has(self->live, self->live_count, nodes[i]))
            pl_info("bridge: node %d joined", nodes[i]);
    memcpy(self->live, nodes, (size_t)count * sizeof *nodes);
    self->live_count = count;
    pl_cluster_set_live(nodes, count);
    //  Told once the view is set: the notifier reads it (pl_cluster_owns).
    pl_msg_t moved = {
        .type = PL_MSG_VIEW_CHANGED,
        .as.view_changed = {{(const char *)nodes, (uint32_t)(count * sizeof *nodes)}}};
    for (int w = 0; w < self->args->writer_count; w++)
        pl_msg_send(zsock_resolve(self->writers[w]), &moved);
    pl_msg_send(zsock_resolve(self->notifier), &moved);

    id_list_t held = s_ids(self->held);
    for (size_t i = 0; i < held.count; i++)
        if (self->leaving || pl_cluster_owner((int64_t)held.ids[i]) != self->self_node)
            s_release_room(self, held.ids[i], pl_idmap_get(self->held, held.ids[i]));
    free(held.ids);

    for (int i = 0; i < gone_count; i++)
        if (died[i])
            s_refuse_unanswered(self, gone[i]);
    for (int i = 0; i < gone_count; i++)
        for (int s = 0; s < self->args->room_count; s++) {
            pl_msg_t msg = {.type = PL_MSG_NODE_GONE, .as.node_gone = {gone[i]}};
            pl_msg_send(zsock_resolve(self->rooms[s]), &msg);
        }

    id_list_t tracked = s_ids(self->tracks);
    for (size_t i = 0; i < tracked.count; i++) {
        int64_t room_id = (int64_t)tracked.ids[i];
        track_t *track = pl_idmap_get(self->tracks, tracked.ids[i]);
        int owner = pl_cluster_owner(room_id);
        bool owner_died = false;
        for (int g = 0; g < gone_count; g++)
            owner_died |= track->owner == gone[g] && died[g];
        if (owner_died) {
            //  Nobody hands these subscribers over: subscribe them again.
            s_resubscribe(self, room_id, track);
            if (owner == self->self_node)
                s_track_drop(self, room_id);
        } else if (owner != track->owner) {
            //  The old owner hands its subscribers over to the new one.
            if (owner == self->self_node)
                s_track_drop(self, room_id);
            else
                track->owner = owner;
        }
    }
    free(tracked.ids);
}

//  --- heartbeat ---------------------------------------------------------------------

static int s_node_order(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

//  Renews this node's key and entry, and reads the live nodes. Returns 0, 1 when
//  another process holds this node_id, or -1 when Redis failed.
static int s_heartbeat(self_t *self)
{
    if (!self->cmd)
        return -1;
    int ttl = self->args->node_ttl_ms;
    int64_t now = pl_now_ms();
    redisAppendCommand(self->cmd, "EVAL %s 1 %s %s %d", s_acquire_lua, self->node_key, self->token,
                       ttl);
    if (self->draining)
        redisAppendCommand(self->cmd, "ZREM %s %d", self->nodes_key, self->self_node);
    else
        redisAppendCommand(self->cmd, "ZADD %s %" PRId64 " %d", self->nodes_key, now + ttl,
                           self->self_node);
    redisAppendCommand(self->cmd, "ZREMRANGEBYSCORE %s -inf %" PRId64, self->nodes_key, now);
    redisAppendCommand(self->cmd, "ZRANGE %s 0 -1", self->nodes_key);
    redisReply *replies[4] = {0};
    if (s_collect(self, 4, replies))
        return -1;
    int rc = 0;
    if (!replies[0] || replies[0]->type != REDIS_REPLY_INTEGER || !replies[0]->integer)
        rc = 1;
    uint16_t nodes[PL_CLUSTER_MAX_NODES];
    int count = 0;
    redisReply *list = replies[3];
    for (size_t i = 0; rc == 0 && list && list->type == REDIS_REPLY_ARRAY && i < list->elements &&
                       count < PL_CLUSTER_MAX_NODES;
         i++) {
        long node = list->element[i]->str ? strtol(list->element[i]->str, NULL, 10) : 0;
        if (node > 0 && node <= PL_NODE_ID_MAX && node != self->self_node)
            nodes[count++] = (uint16_t)node;
    }
    if (!self->leaving && count < PL_CLUSTER_MAX_NODES)
        nodes[count++] = (uint16_t)self->self_node;
    for (int i = 0; i < 4; i++)
        freeReplyObject(replies[i]);
    if (rc)
        return rc;
    qsort(nodes, (size_t)count, sizeof *nodes, s_node_order);
    bool changed = count != self->live_count;
    for (int i = 0; !changed && i < count; i++)
        changed = !s_has(self->live, self->live_count, nodes[i]);
    if (changed)
        s_view_changed(self, nodes, count);
    return 0;
}

//  --- connecting -----------------------------------------------------------------------

static void s_redis_lost(self_t *self, const char *why)
{
    if (self->cmd || self->sub)
        pl_warn("bridge: lost Redis at %s:%d (%s); reconnecting", self->args->redis.host,
                self->args->redis.port, why && why[0] ? why : "no answer");
    redisFree(self->cmd);
    redisFree(self->sub);
    self->cmd = self->sub = NULL;
    self->publishing = 0;
    self->publishing_records = 0;
    atomic_store(&s_redis_up, false);
    //  Sends passed to other nodes, or their answers, may have been lost with Redis.
    s_refuse_unanswered(self, -1);
    self->next_reconnect = s_now() + self->backoff_ms;
    self->backoff_ms =
        self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

//  Opens both connections and subscribes. Returns 0 or -1 (err says why).
static int s_connect(self_t *self, char *err, size_t err_len)
{
    err[0] = '\0';
    self->cmd = pl_redis_connect(&self->args->redis, REDIS_TIMEOUT_MS, err, err_len);
    self->sub =
        self->cmd ? pl_redis_connect(&self->args->redis, REDIS_TIMEOUT_MS, err, err_len) : NULL;
    redisReply *reply =
        self->sub ? redisCommand(self->sub, "SUBSCRIBE %s %s", self->own_channel, self->all_channel)
                  : NULL;
    //  The second confirmation is read by the loop like any other reply.
    bool ok = reply && reply->type == REDIS_REPLY_ARRAY;
    freeReplyObject(reply);
    if (!ok) {
        if (!err[0])
            snprintf(err, err_len, "cannot subscribe at Redis %s:%d", self->args->redis.host,
                     self->args->redis.port);
        redisFree(self->cmd);
        redisFree(self->sub);
        self->cmd = self->sub = NULL;
        return -1;
    }
    atomic_store(&s_redis_up, true);
    self->backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

static void s_reconnect(self_t *self)
{
    char err[256];
    if (s_connect(self, err, sizeof err)) {
        self->next_reconnect = s_now() + self->backoff_ms;
        self->backoff_ms =
            self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
        return;
    }
    pl_info("bridge: Redis at %s:%d is back", self->args->redis.host, self->args->redis.port);
    if (s_heartbeat(self) == 1)
        pl_error("bridge: another live process holds node_id %d", self->self_node);
    self->next_renew = 0;
}

//  --- what arrives from other nodes ---------------------------------------------------------

//  A fan-out for this node: one CONN_FANOUT per writer shard holding any recipient.
static void s_fanout_here(self_t *self, const pl_msg_conn_fanout_t *m)
{
    size_t n = m->conn_ids.len / sizeof(uint64_t);
    uint64_t writers = (uint64_t)self->args->writer_count;
    uint64_t *ids = malloc((n ? 2 * n : 1) * sizeof *ids);
    if (!ids)
        return;
    memcpy(ids, m->conn_ids.ptr, n * sizeof *ids);
    uint64_t *subset = ids + n;
    for (uint64_t w = 0; w < writers; w++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (ids[i] % writers == w)
                subset[k++] = ids[i];
        bool rides = m->ack_conn && m->ack_conn % writers == w;
        if (!k && !rides)
            continue;
        pl_msg_t msg = {.type = PL_MSG_CONN_FANOUT,
                        .as.conn_fanout = {{(const char *)subset, (uint32_t)(k * sizeof *subset)},
                                           m->text,
                                           rides ? m->ack_conn : 0,
                                           rides ? m->ack : (pl_str_t){"", 0},
                                           m->room_id,
                                           m->seq}};
        pl_msg_send(zsock_resolve(self->writers[w]), &msg);
    }
    free(ids);
    if (m->ack_conn)
        s_answered(self, m->ack_conn, m->room_id);
    track_t *track = pl_idmap_get(self->tracks, (uint64_t)m->room_id);
    if (track && m->seq > track->last_seq)
        track->last_seq = m->seq;
}

//  An ack that did not ride with its message (see room.c) answers a forwarded send too.
static void s_ack_seen(self_t *self, const pl_msg_conn_send_t *m)
{
    static const char head[] = "{\"type\":\"ack\"";
    if (m->text.len < sizeof head || memcmp(m->text.ptr, head, sizeof head - 1) != 0)
        return;
    char text[256];
    size_t len = m->text.len < sizeof text - 1 ? m->text.len : sizeof text - 1;
    memcpy(text, m->text.ptr, len);
    text[len] = '\0';
    const char *room = strstr(text, "\"room\":");
    if (room)
        s_answered(self, m->conn_id, strtoll(room + strlen("\"room\":"), NULL, 10));
}

static void s_arrived(self_t *self, int hops, const uint8_t *data, size_t len)
{
    pl_msg_t msg;
    if (pl_msg_decode(data, len, &msg)) {
        pl_warn("bridge: dropped an undecodable message from Redis");
        return;
    }
    atomic_fetch_add(&s_received, 1);
    bool to_notifier;
    int64_t key = s_owner_key(&msg, &to_notifier);
    if (key) {
        s_route_room(self, &msg, key, to_notifier, hops + 1, data, len);
        return;
    }
    switch (msg.type) {
    case PL_MSG_CONN_FANOUT:
        s_fanout_here(self, &msg.as.conn_fanout);
        break;
    case PL_MSG_CONN_SEND:
        s_ack_seen(self, &msg.as.conn_send);
        s_raw_send(s_writer(self, msg.as.conn_send.conn_id), &msg, data, len);
        break;
    case PL_MSG_CONN_SSE_LIVE:
        s_raw_send(s_writer(self, msg.as.conn_sse_live.conn_id), &msg, data, len);
        break;
    case PL_MSG_CONN_ROOM_NOTICE:
    case PL_MSG_CONN_USER_EVENT:
        for (int w = 0; w < self->args->writer_count; w++)
            s_raw_send(self->writers[w], &msg, data, len);
        break;
    case PL_MSG_NOTIFY_ROOM_CREATED:
        s_raw_send(self->notifier, &msg, data, len);
        break;
    case PL_MSG_NODE_REPLY: {
        const pl_msg_node_reply_t *m = &msg.as.node_reply;
        pl_msg_t reply = {.type = PL_MSG_REPLY,
                          .as.reply = {m->req_id, m->status, m->id, m->created, m->body}};
        pl_waiter_post(m->waiter, &reply);
        break;
    }
    default:
        pl_warn("bridge: unexpected %s from another node", pl_msg_name(msg.type));
    }
}

//  One PUBLISH's payload: the sender, then records (see the top of this file).
static void s_payload(self_t *self, const uint8_t *data, size_t len)
{
    if (len < 2)
        return;
    int from = data[0] | data[1] << 8;
    if (from == self->self_node)
        return;
    size_t at = 2;
    while (at + RECORD_HEAD <= len) {
        uint32_t n;
        memcpy(&n, data + at + 1, sizeof n);
        if (n > len - at - RECORD_HEAD)
            break;
        s_arrived(self, data[at], data + at + RECORD_HEAD, n);
        at += RECORD_HEAD + n;
    }
}

static void s_on_sub(self_t *self)
{
    if (redisBufferRead(self->sub) != REDIS_OK) {
        s_redis_lost(self, self->sub->errstr);
        return;
    }
    for (;;) {
        void *reply_arg = NULL;
        if (redisGetReplyFromReader(self->sub, &reply_arg) != REDIS_OK) {
            s_redis_lost(self, self->sub->errstr);
            return;
        }
        redisReply *reply = reply_arg;
        if (!reply)
            return;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
            strcmp(reply->element[0]->str ? reply->element[0]->str : "", "message") == 0)
            s_payload(self, (const uint8_t *)reply->element[2]->str, reply->element[2]->len);
        freeReplyObject(reply);
    }
}

//  --- what local actors hand over ---------------------------------------------------------

static void s_from_inbox(self_t *self, pl_msg_frame_t *in)
{
    const pl_msg_t *msg = &in->msg;
    const void *data = zmq_msg_data(&in->frame);
    size_t len = zmq_msg_size(&in->frame);
    bool to_notifier;
    int64_t key = s_owner_key(msg, &to_notifier);
    if (key) {
        s_route_room(self, msg, key, to_notifier, 0, data, len);
        return;
    }
    int node = -1;
    switch (msg->type) {
    case PL_MSG_ROOM_LOAD:
        s_claim(self, msg->as.room_load.room_id, (int)msg->as.room_load.shard);
        return;
    case PL_MSG_ROOM_RELEASED:
        s_released(self, msg->as.room_released.room_id);
        return;
    case PL_MSG_CONN_FANOUT: {
        const pl_msg_conn_fanout_t *m = &msg->as.conn_fanout;
        uint64_t first = m->ack_conn;
        if (m->conn_ids.len >= sizeof first)
            memcpy(&first, m->conn_ids.ptr, sizeof first);
        node = pl_cluster_node_of(first);
        break;
    }
    case PL_MSG_CONN_SEND:
        node = pl_cluster_node_of(msg->as.conn_send.conn_id);
        break;
    case PL_MSG_CONN_SSE_LIVE:
        node = pl_cluster_node_of(msg->as.conn_sse_live.conn_id);
        break;
    case PL_MSG_CONN_ROOM_NOTICE:
    case PL_MSG_NOTIFY_ROOM_CREATED:
        node = 0;
        break;
    case PL_MSG_CONN_USER_EVENT:
        node = (int)msg->as.conn_user_event.node;
        break;
    case PL_MSG_NODE_REPLY:
        node = pl_cluster_node_of(msg->as.node_reply.waiter);
        break;
    default:
        pl_warn("bridge: unexpected %s", pl_msg_name(msg->type));
        return;
    }
    if (self->cmd && node != self->self_node)
        s_queue(self, node, 0, data, len);
}

static void s_on_inbox(self_t *self)
{
    pl_msg_frame_t in;
    for (int i = 0;
         i < INBOX_BATCH && pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0; i++) {
        s_from_inbox(self, &in);
        pl_msg_frame_close(&in);
    }
}

//  --- the loop ----------------------------------------------------------------------

static void s_timers(self_t *self)
{
    int64_t now = s_now();
    if (!self->cmd && now >= self->next_reconnect)
        s_reconnect(self);
    if (self->cmd && now >= self->next_heartbeat) {
        self->next_heartbeat = now + self->args->heartbeat_ms;
        if (s_heartbeat(self) == 1)
            pl_error("bridge: another live process holds node_id %d: give each node its own",
                     self->self_node);
    }
    if (self->cmd && now >= self->next_renew) {
        self->next_renew = now + self->args->lease_ms / 3;
        s_renew(self);
    }
    //  Cut off from Redis, a lease may be someone else's once it runs out: no seq is
    //  handed out from then on, until it is renewed (the room keeps its subscribers).
    if (!self->cmd && pl_idmap_size(self->held) &&
        now - self->last_renewed > self->args->lease_ms - self->args->lease_ms / 4) {
        id_list_t held = s_ids(self->held);
        for (size_t i = 0; i < held.count; i++) {
            held_t *h = pl_idmap_get(self->held, held.ids[i]);
            if (!h->fenced)
                s_fence(self, held.ids[i], h, true);
        }
        free(held.ids);
    }
    if (pl_idmap_size(self->claims) && now >= self->next_claim) {
        self->next_claim = now + CLAIM_RETRY_MS;
        s_try_claims(self);
    }
    s_unpark(self);
    if (self->draining && !self->leaving && now >= self->leave_at) {
        self->leaving = true;
        s_heartbeat(self);
    }
}

static int s_wait_ms(self_t *self)
{
    int64_t now = s_now();
    int64_t next = self->cmd ? self->next_heartbeat : self->next_reconnect;
    if (self->cmd && self->next_renew < next)
        next = self->next_renew;
    if (pl_idmap_size(self->claims) && self->next_claim < next)
        next = self->next_claim;
    if (self->draining && !self->drain_signalled)
        next = now + 20;
    if (self->parked && self->parked->due_ms < next)
        next = self->parked->due_ms;
    return next <= now ? 0 : (int)(next - now);
}

static void s_start_drain(self_t *self)
{
    self->draining = true;
    self->leave_at = s_now() + 2 * self->args->heartbeat_ms;
    self->drain_deadline = self->leave_at + self->args->lease_ms;
    if (self->cmd) {
        redisAppendCommand(self->cmd, "SET %sleft:%d 1 PX %d", self->args->prefix, self->self_node,
                           LEFT_MARK_MS);
        s_collect(self, 1, NULL);
    }
    self->next_heartbeat = 0;
    pl_info("bridge: draining: handing %zu room(s) to the other nodes", pl_idmap_size(self->held));
}

static void s_bound_sends(self_t *self, int timeout_ms)
{
    for (int i = 0; self->rooms && i < self->args->room_count; i++)
        if (self->rooms[i])
            zsock_set_sndtimeo(self->rooms[i], timeout_ms);
    for (int i = 0; self->writers && i < self->args->writer_count; i++)
        if (self->writers[i])
            zsock_set_sndtimeo(self->writers[i], timeout_ms);
    if (self->loader)
        zsock_set_sndtimeo(self->loader, timeout_ms);
    if (self->notifier)
        zsock_set_sndtimeo(self->notifier, timeout_ms);
}

//  Returns false once $TERM has come.
static bool s_on_pipe(self_t *self, zsock_t *pipe)
{
    char *command = zstr_recv(pipe);
    bool go_on = command && !streq(command, "$TERM");
    if (command && streq(command, "DRAIN"))
        s_start_drain(self);
    //  This node's actors stop now, before the bridge: what other nodes still send here
    //  is dropped at once, not after SEND_TIMEOUT_MS per message, which kept a stop
    //  waiting for seconds.
    if (command && streq(command, "LOCAL_STOP"))
        s_bound_sends(self, 0);
    free(command);
    return go_on;
}

static void s_loop(self_t *self, zsock_t *pipe)
{
    for (;;) {
        zmq_pollitem_t items[3] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
                                   {zsock_resolve(self->inbox), 0, ZMQ_POLLIN, 0},
                                   {NULL, self->sub ? self->sub->fd : -1, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, self->sub ? 3 : 2, s_wait_ms(self));
        if (rc < 0 && errno != EINTR)
            return;
        if ((items[0].revents & ZMQ_POLLIN) && !s_on_pipe(self, pipe))
            return;
        if (items[1].revents & ZMQ_POLLIN)
            s_on_inbox(self);
        if (self->sub && (items[2].revents & ZMQ_POLLIN))
            s_on_sub(self);
        s_timers(self);
        s_flush(self);
        if (self->leaving && !self->drain_signalled &&
            ((!pl_idmap_size(self->held) && !self->parked) || s_now() > self->drain_deadline)) {
            self->drain_signalled = true;
            zsock_signal(pipe, 0);
        }
    }
}

//  --- lifecycle ---------------------------------------------------------------------

static void s_free_value(uint64_t id, void *value, void *arg)
{
    (void)id, (void)arg;
    free(value);
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    s_bound_sends(self, 0);
    //  Requests waiting here go on to their rooms' nodes rather than being lost.
    while (self->parked) {
        self->parked->due_ms = 0;
        s_unpark(self);
    }
    s_flush(self);
    if (self->cmd) {
        //  Leave at once rather than after the TTL: the others take over sooner.
        redisAppendCommand(self->cmd, "ZREM %s %d", self->nodes_key, self->self_node);
        redisAppendCommand(self->cmd, "EVAL %s 1 %s %s", s_release_lua, self->node_key,
                           self->token);
        s_collect(self, 2, NULL);
    }
    redisFree(self->cmd);
    redisFree(self->sub);
    atomic_store(&s_redis_up, false);
    for (int i = 0; i <= PL_NODE_ID_MAX; i++)
        free(self->out[i].data);
    if (self->held)
        pl_idmap_each(self->held, s_free_value, NULL);
    if (self->claims)
        pl_idmap_each(self->claims, s_free_value, NULL);
    if (self->tracks)
        pl_idmap_each(self->tracks, s_track_free, NULL);
    pl_idmap_destroy(&self->held);
    pl_idmap_destroy(&self->claims);
    pl_idmap_destroy(&self->tracks);
    if (self->unanswered)
        pl_idmap_each(self->unanswered, s_free_value, NULL);
    pl_idmap_destroy(&self->unanswered);
    for (int i = 0; self->rooms && i < self->args->room_count; i++)
        zsock_destroy(&self->rooms[i]);
    for (int i = 0; self->writers && i < self->args->writer_count; i++)
        zsock_destroy(&self->writers[i]);
    free(self->rooms);
    free(self->writers);
    zsock_destroy(&self->loader);
    zsock_destroy(&self->notifier);
    pl_actor_inbox_destroy(&self->inbox);
    free(self);
    *self_p = NULL;
}

static self_t *s_self_new(pl_bridge_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->args = args;
    self->self_node = args->node_id;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->parked_tail = &self->parked;
    uint8_t random[8];
    randombytes_buf(random, sizeof random);
    snprintf(self->token, sizeof self->token, "%d:%02x%02x%02x%02x%02x%02x%02x%02x", args->node_id,
             random[0], random[1], random[2], random[3], random[4], random[5], random[6],
             random[7]);
    snprintf(self->node_key, sizeof self->node_key, "%snode:%d", args->prefix, args->node_id);
    snprintf(self->nodes_key, sizeof self->nodes_key, "%snodes", args->prefix);
    snprintf(self->own_channel, sizeof self->own_channel, "%sn:%d", args->prefix, args->node_id);
    snprintf(self->all_channel, sizeof self->all_channel, "%sall", args->prefix);
    self->inbox = pl_actor_inbox(PL_BRIDGE_INBOX);
    self->loader = pl_actor_outlet(PL_LOADER_INBOX);
    self->notifier = pl_actor_outlet(PL_NOTIFIER_INBOX);
    self->rooms = calloc((size_t)args->room_count, sizeof *self->rooms);
    self->writers = calloc((size_t)args->writer_count, sizeof *self->writers);
    self->held = pl_idmap_new();
    self->claims = pl_idmap_new();
    self->tracks = pl_idmap_new();
    self->unanswered = pl_idmap_new();
    bool ok = self->inbox && self->loader && self->notifier && self->rooms && self->writers &&
              self->held && self->claims && self->tracks && self->unanswered;
    char name[32];
    for (int i = 0; ok && i < args->room_count; i++) {
        pl_room_inbox_name(i, name, sizeof name);
        ok = (self->rooms[i] = pl_actor_outlet(name)) != NULL;
    }
    for (int i = 0; ok && i < args->writer_count; i++) {
        pl_conn_inbox_name(i, name, sizeof name);
        ok = (self->writers[i] = pl_actor_outlet(name)) != NULL;
    }
    if (ok)
        s_bound_sends(self, SEND_TIMEOUT_MS);
    else
        s_self_destroy(&self);
    return self;
}

void pl_bridge_actor(zsock_t *pipe, void *args_arg)
{
    pl_bridge_args_t *args = args_arg;
    pl_actor_name_thread("bridge");
    self_t *self = s_self_new(args);
    bool started = self && s_connect(self, args->error, sizeof args->error) == 0;
    if (started) {
        //  A node restarted at once (after kill -9) finds its last life's key until it
        //  runs out: wait that long before taking the key for another live node's.
        int rc = s_heartbeat(self);
        int64_t until = s_now() + args->node_ttl_ms + 2 * args->heartbeat_ms;
        while (rc == 1 && s_now() < until) {
            zclock_sleep(args->heartbeat_ms);
            rc = s_heartbeat(self);
        }
        if (rc == 1)
            snprintf(args->error, sizeof args->error,
                     "node_id %d is already used by a live node: give each node its own node_id",
                     args->node_id);
        else if (rc < 0)
            snprintf(args->error, sizeof args->error, "Redis failed during the first heartbeat");
        started = rc == 0;
        self->next_heartbeat = s_now() + args->heartbeat_ms;
        self->last_renewed = s_now();
    }
    if (!pl_actor_ready(pipe, started, &args->failed)) {
        if (self)
            redisFree(self->cmd), self->cmd = NULL;
        s_self_destroy(&self);
        return;
    }
    s_loop(self, pipe);
    s_self_destroy(&self);
}
