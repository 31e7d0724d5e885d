/*  Connection writer actor (see conn.h for its contract).

    Per connection the writer keeps a byte queue of whole frames. Messages are
    handled in batches: every message already in the inbox is taken first, which
    appends frames to queues and notes which connections got any; then each of those
    is written with one send of everything queued. Under load a batch holds many
    frames per connection, and so the number of sends falls as load rises. The sends
    of a batch go to the kernel together, in one system call (send_batch.h): the
    call, not the copy, is most of what a small send costs.

    Sends never block (the descriptor comes from peer_sockets.h). While a connection
    has bytes the kernel would not take, the writer polls its socket for writability
    and holds civetweb's connection lock, so that nothing civetweb itself writes (a
    pong, a close frame) can land inside a half-written frame of ours. A connection
    whose descriptor is unknown is written with civetweb's blocking mg_write instead.

    A connection is dropped, by shutting its socket down (its civetweb thread then
    sees the end of the stream and closes it), when its queue passes queue_limit,
    when it accepts nothing for stall_ms, or when a send fails. */
#include "parley/conn.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/idmap.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/send_batch.h"
#include "parley/waiter.h"

#include <civetweb.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

//  Most messages handled before the queued frames are written.
#define BATCH_MAX 256
//  Most sends handed to the kernel in one system call (send_batch.h).
#define SENDS_MAX 1024
//  User buckets of the connection marks (see conn.h): user ids are dense, so up to
//  this many users never share one.
#define USER_MARK_BUCKETS 65536

typedef struct {
    uint64_t id;
    int64_t user_id;
    struct mg_connection *conn; //  borrowed from civetweb until CONN_CLOSE
    int fd;                     //  the socket, or -1 when unknown
    _Atomic int64_t *last_seen; //  borrowed: stamped by the reader on every frame
    char *queue;                //  owned: frames not yet written
    size_t queued, capacity;
    bool pending;           //  listed in self->pending_ids for this batch
    bool blocked;           //  listed in self->blocked_ids
    bool locked;            //  we hold the connection lock: a frame is half written
    int64_t stalled_since;  //  when the kernel last refused bytes, 0 if it has not
    bool dead;              //  dropped: write nothing more
    bool sse;               //  an SSE stream: raw bytes, no WebSocket framing
    bool live;              //  an SSE stream that has had its replay: user events reach it
    int64_t next_heartbeat; //  an SSE stream: when its next ": ping" is due
} wconn_t;

//  The connections of one user on this writer.
typedef struct {
    uint64_t *ids;
    size_t count, capacity;
} user_conns_t;

typedef struct {
    zsock_t *pipe;         //  borrowed
    zsock_t *inbox;        //  owned
    pl_idmap_t *conns;     //  owned: id -> wconn_t (owned)
    pl_idmap_t *users;     //  owned: user id -> user_conns_t (owned)
    uint64_t *pending_ids; //  owned: connections with queued bytes this batch
    size_t pending_count, pending_capacity;
    uint64_t *blocked_ids; //  owned: connections waiting for writability
    size_t blocked_count, blocked_capacity;
    pl_send_batch_t *sends; //  owned: the sends of one flush, made together
    wconn_t **sending;      //  owned: by index in sends, whose queue each one writes
    int64_t queue_limit, stall_ms, silence_ms, heartbeat_ms;
    int64_t sweep_ms;   //  how often to look for silent connections and due heartbeats
    int64_t next_sweep; //  when to look next
    bool terminated;
    bool drained;           //  a graceful stop has closed every connection: close new ones too
    uint64_t frames_queued; //  this batch's, counted into the metrics once per batch
} self_t;

//  Per user bucket, the sum of the marks of the WebSockets the writers hold. Process
//  wide: servers in one process only make the sums differ more often.
static _Atomic uint64_t s_user_marks[USER_MARK_BUCKETS];

uint64_t pl_conn_mark(uint64_t conn_id)
{
    //  splitmix64's finaliser.
    uint64_t z = conn_id + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t pl_conn_user_marks(int64_t user_id)
{
    return atomic_load_explicit(&s_user_marks[(uint64_t)user_id % USER_MARK_BUCKETS],
                                memory_order_relaxed);
}

//  Adds (or takes away) a WebSocket's mark in its user's bucket. SSE streams are
//  left out: room notices never reach them.
static void s_user_mark(const wconn_t *wc, bool add)
{
    if (wc->sse)
        return;
    _Atomic uint64_t *bucket = &s_user_marks[(uint64_t)wc->user_id % USER_MARK_BUCKETS];
    if (add)
        atomic_fetch_add_explicit(bucket, pl_conn_mark(wc->id), memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(bucket, pl_conn_mark(wc->id), memory_order_relaxed);
}

void pl_conn_inbox_name(int shard, char *name, size_t size)
{
    snprintf(name, size, "conn-%d", shard);
}

size_t pl_ws_frame_header(uint8_t out[10], int opcode, uint64_t payload_len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

static void s_unlock(wconn_t *wc)
{
    if (wc->locked)
        mg_unlock_connection(wc->conn);
    wc->locked = false;
}

static void s_wconn_free(wconn_t *wc)
{
    s_unlock(wc);
    free(wc->queue);
    free(wc);
}

static void s_free_entry(uint64_t id, void *value, void *arg)
{
    s_user_mark(value, false);
    s_wconn_free(value);
}

static void s_free_user(uint64_t id, void *value, void *arg)
{
    user_conns_t *user = value;
    free(user->ids);
    free(user);
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->conns)
        pl_idmap_each(self->conns, s_free_entry, NULL);
    if (self->users)
        pl_idmap_each(self->users, s_free_user, NULL);
    pl_idmap_destroy(&self->conns);
    pl_idmap_destroy(&self->users);
    pl_actor_inbox_destroy(&self->inbox);
    free(self->pending_ids);
    free(self->blocked_ids);
    pl_send_batch_destroy(&self->sends);
    free(self->sending);
    free(self);
    *self_p = NULL;
}

static self_t *s_self_new(zsock_t *pipe, pl_conn_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char name[32];
    pl_conn_inbox_name(args->shard, name, sizeof name);
    self->pipe = pipe;
    self->queue_limit = args->queue_limit;
    self->stall_ms = args->stall_ms;
    self->silence_ms = args->silence_ms;
    self->heartbeat_ms = args->heartbeat_ms;
    self->sweep_ms = args->silence_ms < args->heartbeat_ms ? args->silence_ms : args->heartbeat_ms;
    self->sweep_ms /= 4;
    self->conns = pl_idmap_new();
    self->users = pl_idmap_new();
    self->inbox = pl_actor_inbox(name);
    self->sends = pl_send_batch_new(SENDS_MAX, true);
    self->sending = calloc(SENDS_MAX, sizeof *self->sending);
    if (!self->conns || !self->users || !self->inbox || !self->sends || !self->sending)
        s_self_destroy(&self);
    return self;
}

//  Appends id to a growable list; false when memory ran out.
static bool s_list_add(uint64_t **list, size_t *count, size_t *capacity, uint64_t id)
{
    if (*count == *capacity) {
        size_t grown_capacity = *capacity ? *capacity * 2 : 64;
        uint64_t *grown = realloc(*list, grown_capacity * sizeof *grown);
        if (!grown)
            return false;
        *list = grown;
        *capacity = grown_capacity;
    }
    (*list)[(*count)++] = id;
    return true;
}

//  Drops a connection. With its socket known it is shut down: civetweb's thread for
//  it sees the end and closes it. Otherwise it gets a close frame with code.
static void s_kill(wconn_t *wc, int code, const char *reason)
{
    if (wc->dead)
        return;
    pl_info("conn %" PRIu64 ": dropped (%s)", wc->id, reason);
    wc->dead = true;
    wc->queued = 0;
    if (wc->fd >= 0)
        shutdown(wc->fd, SHUT_RDWR);
    else if (!wc->sse) {
        char payload[2] = {(char)(code >> 8), (char)(code & 0xff)};
        mg_websocket_write(wc->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, 2);
    }
    s_unlock(wc);
}

//  Appends bytes (a frame header, when head_len > 0, then the payload) to a
//  connection's queue, growing it geometrically.
static void s_enqueue_bytes(self_t *self, wconn_t *wc, const uint8_t *head, size_t head_len,
                            const char *payload, size_t len)
{
    if (wc->dead || head_len + len == 0)
        return;
    size_t need = wc->queued + head_len + len;
    if ((int64_t)need > self->queue_limit) {
        pl_metrics_count(PL_COUNTER_SLOW_READERS_CUT, 1);
        s_kill(wc, 1008, "slow reader: outbound queue over its limit");
        return;
    }
    if (need > wc->capacity) {
        size_t capacity = wc->capacity ? wc->capacity : 4096;
        while (capacity < need)
            capacity *= 2;
        char *grown = realloc(wc->queue, capacity);
        if (!grown) {
            s_kill(wc, 1011, "out of memory");
            return;
        }
        wc->queue = grown;
        wc->capacity = capacity;
    }
    if (head_len)
        memcpy(wc->queue + wc->queued, head, head_len);
    memcpy(wc->queue + wc->queued + head_len, payload, len);
    wc->queued = need;
    self->frames_queued++;
    if (!wc->pending) {
        if (!s_list_add(&self->pending_ids, &self->pending_count, &self->pending_capacity, wc->id))
            s_kill(wc, 1011, "out of memory");
        wc->pending = true;
    }
}

//  Appends one WebSocket frame to a connection's queue. SSE streams take no
//  WebSocket frames: what goes to them comes as CONN_SSE_LIVE and CONN_USER_EVENT.
static void s_enqueue(self_t *self, wconn_t *wc, int opcode, const char *payload, size_t len)
{
    if (wc->sse)
        return;
    uint8_t header[10];
    size_t header_len = pl_ws_frame_header(header, opcode, len);
    s_enqueue_bytes(self, wc, header, header_len, payload, len);
}

//  Readies a connection's queue for a send of the batch: false when there is nothing
//  to send, or when it was written another way (an unknown socket: civetweb's
//  blocking write, bounded by request_timeout_ms).
static bool s_flush_begin(wconn_t *wc)
{
    wc->pending = false;
    if (wc->dead || wc->queued == 0)
        return false;
    if (wc->fd < 0) {
        mg_lock_connection(wc->conn);
        int written = mg_write(wc->conn, wc->queue, wc->queued);
        mg_unlock_connection(wc->conn);
        wc->queued = 0;
        if (written < 0)
            s_kill(wc, 1011, "write failed");
        return false;
    }
    //  The lock civetweb's own writes take: none of them can come between our bytes.
    if (!wc->locked) {
        mg_lock_connection(wc->conn);
        wc->locked = true;
    }
    return true;
}

//  Takes the outcome of a connection's send (bytes taken or -errno): what was taken
//  leaves the queue; a connection left with bytes waits for writability.
static void s_flush_end(self_t *self, wconn_t *wc, ssize_t sent)
{
    if (sent < 0 && sent != -EAGAIN && sent != -EWOULDBLOCK && sent != -EINTR) {
        s_kill(wc, 1011, strerror((int)-sent));
        return;
    }
    if (sent > 0) {
        memmove(wc->queue, wc->queue + sent, wc->queued - (size_t)sent);
        wc->queued -= (size_t)sent;
        wc->stalled_since = 0;
    }
    if (wc->queued == 0) {
        s_unlock(wc);
        return;
    }
    if (!wc->stalled_since)
        wc->stalled_since = pl_now_ms();
    if (!wc->blocked) {
        wc->blocked =
            s_list_add(&self->blocked_ids, &self->blocked_count, &self->blocked_capacity, wc->id);
        if (!wc->blocked)
            s_kill(wc, 1011, "out of memory");
    }
}

//  Makes the sends added to the batch and takes their outcomes.
static void s_flush_run(self_t *self)
{
    size_t count = pl_send_batch_count(self->sends);
    if (count == 0)
        return;
    pl_send_batch_run(self->sends);
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        ssize_t sent = pl_send_batch_result(self->sends, i);
        bytes += sent > 0 ? (uint64_t)sent : 0;
        s_flush_end(self, self->sending[i], sent);
    }
    pl_metrics_count(PL_COUNTER_SENDS, count);
    pl_metrics_count(PL_COUNTER_BYTES_OUT, bytes);
}

//  Adds a connection's queue to the batch of sends.
static void s_flush_add(self_t *self, wconn_t *wc)
{
    if (!s_flush_begin(wc))
        return;
    if (pl_send_batch_full(self->sends))
        s_flush_run(self);
    self->sending[pl_send_batch_add(self->sends, wc->fd, wc->queue, wc->queued)] = wc;
}

static void s_flush_pending(self_t *self)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->pending_ids[i]);
        if (wc)
            s_flush_add(self, wc);
    }
    self->pending_count = 0;
    s_flush_run(self);
}

//  Retries the connections waiting for writability; ready says which of them poll
//  reported ready (NULL: all of them). Drops those stalled for longer than stall_ms,
//  and forgets those no longer waiting.
static void s_flush_blocked(self_t *self, const zmq_pollitem_t *ready)
{
    for (size_t i = 0; i < self->blocked_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->blocked_ids[i]);
        if (wc && (!ready || ready[i].revents))
            s_flush_add(self, wc);
    }
    s_flush_run(self);
    int64_t now = pl_now_ms();
    size_t kept = 0;
    for (size_t i = 0; i < self->blocked_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->blocked_ids[i]);
        if (!wc)
            continue;
        if (wc->queued && !wc->dead && now - wc->stalled_since > self->stall_ms) {
            pl_metrics_count(PL_COUNTER_SLOW_READERS_CUT, 1);
            s_kill(wc, 1008, "slow reader: took nothing for too long");
        }
        wc->blocked = wc->queued && !wc->dead;
        if (wc->blocked)
            self->blocked_ids[kept++] = wc->id;
    }
    self->blocked_count = kept;
}

//  Notes a connection under its user; false when memory ran out.
static bool s_user_add(self_t *self, wconn_t *wc)
{
    user_conns_t *user = pl_idmap_get(self->users, (uint64_t)wc->user_id);
    if (!user) {
        user = calloc(1, sizeof *user);
        if (!user || pl_idmap_put(self->users, (uint64_t)wc->user_id, user)) {
            free(user);
            return false;
        }
    }
    return s_list_add(&user->ids, &user->count, &user->capacity, wc->id);
}

static void s_user_remove(self_t *self, const wconn_t *wc)
{
    user_conns_t *user = pl_idmap_get(self->users, (uint64_t)wc->user_id);
    for (size_t i = 0; user && i < user->count; i++) {
        if (user->ids[i] == wc->id) {
            user->ids[i] = user->ids[--user->count];
            break;
        }
    }
    if (user && user->count == 0)
        s_free_user(0, pl_idmap_remove(self->users, (uint64_t)wc->user_id), NULL);
}

static int s_compare_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

//  Sends {"type":"room","room":Room} to each listed user's connections here, except
//  the excluded ones, splicing each user's unread count into the one Room template.
static void s_room_notice(self_t *self, const pl_msg_conn_room_notice_t *m)
{
    size_t excluded = m->exclude.len / sizeof(uint64_t);
    uint64_t *exclude = excluded ? malloc(m->exclude.len) : NULL;
    if (excluded && !exclude)
        return;
    if (exclude) {
        memcpy(exclude, m->exclude.ptr, m->exclude.len);
        qsort(exclude, excluded, sizeof *exclude, s_compare_ids);
    }
    //  The template is a JSON object; its closing brace makes room for "unread".
    size_t head = m->room.len - 1, size = head + 64;
    char *frame = malloc(size);
    size_t pairs = m->users.len / (2 * sizeof(int64_t));
    for (size_t i = 0; frame && i < pairs; i++) {
        int64_t pair[2];
        memcpy(pair, m->users.ptr + i * sizeof pair, sizeof pair);
        user_conns_t *user = pl_idmap_get(self->users, (uint64_t)pair[0]);
        if (!user)
            continue;
        int len = snprintf(frame, size, "{\"type\":\"room\",\"room\":%.*s,\"unread\":%" PRId64 "}}",
                           (int)head, m->room.ptr, pair[1]);
        for (size_t c = 0; c < user->count; c++) {
            if (exclude &&
                bsearch(&user->ids[c], exclude, excluded, sizeof *exclude, s_compare_ids))
                continue;
            wconn_t *wc = pl_idmap_get(self->conns, user->ids[c]);
            if (wc && len > 0 && (size_t)len < size)
                s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_TEXT, frame, (size_t)len);
        }
    }
    free(frame);
    free(exclude);
}

static void s_reply(uint64_t waiter, uint64_t req_id)
{
    pl_msg_t reply = {.type = PL_MSG_REPLY, .as.reply = {.req_id = req_id}};
    pl_waiter_post(waiter, &reply);
}

static void s_drain_one(uint64_t id, void *value, void *arg)
{
    wconn_t *wc = value;
    self_t *self = arg;
    if (wc->sse) {
        //  An SSE stream has no close frame: its client reconnects with Last-Event-ID.
        s_kill(wc, 1001, "going away");
        return;
    }
    const char payload[] = {0x03, (char)0xe9, 'g', 'o', 'i', 'n', 'g', ' ', 'a', 'w', 'a', 'y'};
    s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, sizeof payload);
}

//  In a cluster a user's SSE streams are fed by the notifier of one node (see
//  app.h): when that node changes, the stream ends and its client comes back with
//  Last-Event-ID to the new one.
static void s_end_moved_stream(uint64_t id, void *value, void *arg)
{
    (void)id;
    wconn_t *wc = value;
    const pl_msg_view_changed_t *m = arg;
    uint16_t before[PL_CLUSTER_MAX_NODES], after[PL_CLUSTER_MAX_NODES];
    int before_count = (int)(m->before.len / sizeof *before);
    int after_count = (int)(m->after.len / sizeof *after);
    if (!wc->sse || before_count > PL_CLUSTER_MAX_NODES || after_count > PL_CLUSTER_MAX_NODES)
        return;
    memcpy(before, m->before.ptr, m->before.len);
    memcpy(after, m->after.ptr, m->after.len);
    if (pl_cluster_owner_among(wc->user_id, before, before_count) !=
        pl_cluster_owner_among(wc->user_id, after, after_count))
        s_kill(wc, 1001, "its notifier moved to another node");
}

static void s_handle(self_t *self, const pl_msg_t *msg)
{
    switch (msg->type) {
    case PL_MSG_CONN_OPEN: {
        const pl_msg_conn_open_t *m = &msg->as.conn_open;
        wconn_t *wc = calloc(1, sizeof *wc);
        if (wc) {
            wc->id = m->conn_id;
            wc->user_id = m->user_id;
            wc->conn = (struct mg_connection *)(uintptr_t)m->handle;
            wc->fd = (int)m->fd;
            wc->last_seen = (_Atomic int64_t *)(uintptr_t)m->last_seen;
            wc->sse = m->sse != 0;
            wc->next_heartbeat = pl_now_ms() + self->heartbeat_ms;
        }
        if (!wc || pl_idmap_put(self->conns, m->conn_id, wc)) {
            pl_error("conn %" PRIu64 ": out of memory registering it", m->conn_id);
            free(wc);
        } else {
            s_user_mark(wc, true);
            if (!s_user_add(self, wc))
                pl_error("conn %" PRIu64 ": out of memory indexing its user", m->conn_id);
            //  Upgraded just before the stop began, registered just after the drain.
            if (self->drained)
                s_drain_one(wc->id, wc, self);
        }
        s_reply(m->waiter, m->req_id);
        break;
    }
    case PL_MSG_CONN_SEND: {
        const pl_msg_conn_send_t *m = &msg->as.conn_send;
        wconn_t *wc = pl_idmap_get(self->conns, m->conn_id);
        if (wc)
            s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_TEXT, m->text.ptr, m->text.len);
        break;
    }
    case PL_MSG_CONN_FANOUT: {
        //  One frame for many connections: the room encoded it once.
        const pl_msg_conn_fanout_t *m = &msg->as.conn_fanout;
        size_t count = m->conn_ids.len / sizeof(uint64_t);
        for (size_t i = 0; i < count; i++) {
            uint64_t id;
            memcpy(&id, m->conn_ids.ptr + i * sizeof id, sizeof id);
            wconn_t *wc = pl_idmap_get(self->conns, id);
            if (wc)
                s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_TEXT, m->text.ptr, m->text.len);
        }
        //  The sender's ack rides with its message, so it follows the message frame.
        wconn_t *acked = m->ack_conn ? pl_idmap_get(self->conns, m->ack_conn) : NULL;
        if (acked)
            s_enqueue(self, acked, MG_WEBSOCKET_OPCODE_TEXT, m->ack.ptr, m->ack.len);
        break;
    }
    case PL_MSG_CONN_SSE_LIVE: {
        const pl_msg_conn_sse_live_t *m = &msg->as.conn_sse_live;
        wconn_t *wc = pl_idmap_get(self->conns, m->conn_id);
        if (wc && wc->sse) {
            s_enqueue_bytes(self, wc, NULL, 0, m->text.ptr, m->text.len);
            wc->live = true;
        }
        break;
    }
    case PL_MSG_CONN_USER_EVENT: {
        const pl_msg_conn_user_event_t *m = &msg->as.conn_user_event;
        user_conns_t *user = pl_idmap_get(self->users, (uint64_t)m->user_id);
        for (size_t c = 0; user && c < user->count; c++) {
            wconn_t *wc = pl_idmap_get(self->conns, user->ids[c]);
            if (wc && wc->live)
                s_enqueue_bytes(self, wc, NULL, 0, m->text.ptr, m->text.len);
        }
        break;
    }
    case PL_MSG_VIEW_CHANGED:
        pl_idmap_each(self->conns, s_end_moved_stream, (void *)&msg->as.view_changed);
        break;
    case PL_MSG_CONN_ROOM_NOTICE:
        s_room_notice(self, &msg->as.conn_room_notice);
        break;
    case PL_MSG_CONN_CLOSE: {
        const pl_msg_conn_close_t *m = &msg->as.conn_close;
        wconn_t *wc = pl_idmap_remove(self->conns, m->conn_id);
        if (wc) {
            s_user_mark(wc, false);
            s_user_remove(self, wc);
            s_wconn_free(wc);
        }
        s_reply(m->waiter, m->req_id);
        break;
    }
    case PL_MSG_CONN_DRAIN: {
        //  1001 "going away": queued after everything else, written as far as the
        //  clients take it.
        const pl_msg_conn_drain_t *m = &msg->as.conn_drain;
        self->drained = true;
        pl_idmap_each(self->conns, s_drain_one, self);
        s_flush_pending(self);
        s_reply(m->waiter, m->req_id);
        break;
    }
    default:
        pl_error("conn writer: unexpected %s", pl_msg_name(msg->type));
    }
}

//  Takes the messages already queued (up to BATCH_MAX), then writes what they queued.
static void s_handle_batch(self_t *self)
{
    //  Bounded: under a sustained burst the inbox refills as fast as it is read, and a
    //  writer that read until it was empty would never write, until every queue of
    //  its shard passed the limit at once and healthy clients were dropped as slow.
    pl_msg_frame_t in;
    for (int taken = 0;
         taken < BATCH_MAX && pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0;
         taken++) {
        s_handle(self, &in.msg);
        pl_msg_frame_close(&in);
    }
    //  Counted before the writes, so a client that has a frame finds it counted.
    pl_metrics_count(PL_COUNTER_DELIVERIES, self->frames_queued);
    self->frames_queued = 0;
    s_flush_pending(self);
}

typedef struct {
    self_t *self;
    int64_t now;
} sweep_t;

//  Pings a WebSocket silent for half the TTL (a live client answers with a pong,
//  which its reader stamps); drops one silent for the whole TTL. Sends SSE streams
//  their heartbeat.
static void s_check_silence(uint64_t id, void *value, void *arg)
{
    wconn_t *wc = value;
    sweep_t *sweep = arg;
    if (wc->dead)
        return;
    if (wc->sse) {
        //  A comment line, so that proxies see traffic and a dead peer shows up as a
        //  stalled or failed write.
        if (sweep->now >= wc->next_heartbeat) {
            s_enqueue_bytes(sweep->self, wc, NULL, 0, ": ping\n\n", 8);
            wc->next_heartbeat = sweep->now + sweep->self->heartbeat_ms;
        }
        return;
    }
    if (!wc->last_seen)
        return;
    int64_t silent = sweep->now - atomic_load(wc->last_seen);
    if (silent > sweep->self->silence_ms)
        s_kill(wc, 1001, "silent past the presence TTL");
    else if (silent > sweep->self->silence_ms / 2)
        s_enqueue(sweep->self, wc, MG_WEBSOCKET_OPCODE_PING, "", 0);
}

//  Runs every quarter of the TTL (or of the SSE heartbeat, if shorter), so a dead
//  peer is dropped within 1.25 x the TTL and a live one is pinged at least once
//  before that, and SSE heartbeats go out at most a quarter late.
static void s_sweep_silent(self_t *self)
{
    sweep_t sweep = {self, pl_now_ms()};
    if (sweep.now < self->next_sweep)
        return;
    pl_idmap_each(self->conns, s_check_silence, &sweep);
    s_flush_pending(self);
    self->next_sweep = sweep.now + self->sweep_ms;
}

//  The writer's loop: like pl_actor_loop, but it also waits for the sockets of
//  connections with bytes the kernel has not taken yet.
static void s_run(self_t *self)
{
    zmq_pollitem_t *items = NULL;
    size_t items_capacity = 0;
    while (!self->terminated) {
        size_t count = 2 + self->blocked_count;
        if (count > items_capacity) {
            zmq_pollitem_t *grown = realloc(items, count * sizeof *grown);
            if (!grown)
                break;
            items = grown;
            items_capacity = count;
        }
        items[0] = (zmq_pollitem_t){zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0};
        items[1] = (zmq_pollitem_t){zsock_resolve(self->inbox), 0, ZMQ_POLLIN, 0};
        for (size_t i = 0; i < self->blocked_count; i++) {
            wconn_t *wc = pl_idmap_get(self->conns, self->blocked_ids[i]);
            items[2 + i] = (zmq_pollitem_t){NULL, wc && !wc->dead ? wc->fd : -1, ZMQ_POLLOUT, 0};
        }
        //  Wake up for the silence sweep, and more often while anyone is blocked, to
        //  drop those that stall.
        int64_t until_sweep = self->next_sweep - pl_now_ms();
        long timeout = until_sweep < 0 ? 0 : (long)until_sweep;
        if (self->blocked_count && timeout > 250)
            timeout = 250;
        if (zmq_poll(items, (int)count, timeout) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv(self->pipe);
            self->terminated = !command || streq(command, "$TERM");
            free(command);
        }
        if (self->blocked_count)
            s_flush_blocked(self, items + 2);
        if (items[1].revents & ZMQ_POLLIN)
            s_handle_batch(self);
        s_sweep_silent(self);
    }
    free(items);
}

void pl_conn_actor(zsock_t *pipe, void *args_arg)
{
    pl_conn_args_t *args = args_arg;
    char name[32];
    pl_conn_inbox_name(args->shard, name, sizeof name);
    pl_actor_name_thread(name);
    self_t *self = s_self_new(pipe, args);
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    s_run(self);
    s_self_destroy(&self);
}
