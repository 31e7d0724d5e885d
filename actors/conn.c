/*  Connection writer actor (see conn.h for its contract).

    Per connection the writer keeps a byte queue of whole frames. Messages are
    handled in batches: every message already in the inbox is taken first, which
    appends frames to queues and notes which connections got any; then each of those
    is written with one mg_write of everything queued. Under load a batch holds many
    frames per connection, and so the number of system calls falls as load rises.

    mg_write blocks until the bytes are in the kernel or request_timeout_ms passes;
    a write that fails or times out marks the connection dead: nothing more is queued
    for it, and its civetweb thread notices the broken socket and closes it. */
#include "parley/conn.h"

#include "parley/actor.h"
#include "parley/idmap.h"
#include "parley/log.h"
#include "parley/waiter.h"

#include <civetweb.h>
#include <stdlib.h>

#define CLOSE_POLICY 1008 //  RFC 6455: policy violation (here: a reader too slow)

typedef struct {
    uint64_t id;
    struct mg_connection *conn; //  borrowed from civetweb until CONN_CLOSE
    char *queue;                //  owned: frames not yet written
    size_t queued, capacity;
    bool pending; //  listed in self->pending_ids for this batch
    bool dead;    //  a write failed or the queue overflowed: write nothing more
} wconn_t;

typedef struct {
    zsock_t *pipe;         //  borrowed
    zsock_t *inbox;        //  owned
    pl_idmap_t *conns;     //  owned: id -> wconn_t (owned)
    uint64_t *pending_ids; //  owned: connections with queued bytes this batch
    size_t pending_count, pending_capacity;
    int64_t queue_limit;
} self_t;

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

static void s_wconn_free(wconn_t *wc)
{
    free(wc->queue);
    free(wc);
}

static void s_free_entry(uint64_t id, void *value, void *arg)
{
    s_wconn_free(value);
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->conns)
        pl_idmap_each(self->conns, s_free_entry, NULL);
    pl_idmap_destroy(&self->conns);
    pl_actor_inbox_destroy(&self->inbox);
    free(self->pending_ids);
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
    self->conns = pl_idmap_new();
    self->inbox = pl_actor_inbox(name);
    if (!self->conns || !self->inbox)
        s_self_destroy(&self);
    return self;
}

//  Sends a close frame with code and reason, straight away (not queued).
static void s_send_close(wconn_t *wc, int code, const char *reason)
{
    char payload[125];
    size_t reason_len = strlen(reason);
    payload[0] = (char)(code >> 8);
    payload[1] = (char)code;
    memcpy(payload + 2, reason, reason_len);
    mg_websocket_write(wc->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, 2 + reason_len);
}

//  Gives up on a connection: drops its queue and, when asked, tells the client why.
static void s_kill(wconn_t *wc, int code, const char *reason)
{
    wc->dead = true;
    wc->queued = 0;
    if (code)
        s_send_close(wc, code, reason);
}

//  Appends one frame to a connection's queue, growing it geometrically.
static void s_enqueue(self_t *self, wconn_t *wc, int opcode, const char *payload, size_t len)
{
    if (wc->dead)
        return;
    uint8_t header[10];
    size_t header_len = pl_ws_frame_header(header, opcode, len);
    size_t need = wc->queued + header_len + len;
    if ((int64_t)need > self->queue_limit) {
        pl_warn("conn %" PRIu64 ": outbound queue over %" PRId64 " bytes, closing a slow reader",
                wc->id, self->queue_limit);
        s_kill(wc, CLOSE_POLICY, "slow reader");
        return;
    }
    if (need > wc->capacity) {
        size_t capacity = wc->capacity ? wc->capacity : 4096;
        while (capacity < need)
            capacity *= 2;
        char *grown = realloc(wc->queue, capacity);
        if (!grown) {
            s_kill(wc, CLOSE_POLICY, "out of memory");
            return;
        }
        wc->queue = grown;
        wc->capacity = capacity;
    }
    memcpy(wc->queue + wc->queued, header, header_len);
    memcpy(wc->queue + wc->queued + header_len, payload, len);
    wc->queued = need;
    if (!wc->pending) {
        if (self->pending_count == self->pending_capacity) {
            size_t capacity = self->pending_capacity ? self->pending_capacity * 2 : 64;
            uint64_t *grown = realloc(self->pending_ids, capacity * sizeof *grown);
            if (!grown) {
                s_kill(wc, CLOSE_POLICY, "out of memory");
                return;
            }
            self->pending_ids = grown;
            self->pending_capacity = capacity;
        }
        self->pending_ids[self->pending_count++] = wc->id;
        wc->pending = true;
    }
}

//  Writes everything queued for one connection in one mg_write.
static void s_flush_one(wconn_t *wc)
{
    wc->pending = false;
    if (wc->dead || wc->queued == 0)
        return;
    //  The same lock mg_websocket_write takes: frames from other threads (a close
    //  frame from the reader thread) never land in the middle of ours.
    mg_lock_connection(wc->conn);
    int written = mg_write(wc->conn, wc->queue, wc->queued);
    mg_unlock_connection(wc->conn);
    if (written != (int)wc->queued) {
        pl_info("conn %" PRIu64 ": write failed, dropping the connection", wc->id);
        s_kill(wc, 0, NULL);
    }
    wc->queued = 0;
}

static void s_flush_pending(self_t *self)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->pending_ids[i]);
        if (wc)
            s_flush_one(wc);
    }
    self->pending_count = 0;
}

static void s_reply(uint64_t waiter, uint64_t req_id)
{
    pl_msg_t reply = {.type = PL_MSG_REPLY, .as.reply = {req_id, PL_STATUS_OK, 0}};
    pl_waiter_post(waiter, &reply);
}

static void s_drain_one(uint64_t id, void *value, void *arg)
{
    wconn_t *wc = value;
    s_flush_one(wc);
    if (!wc->dead)
        s_kill(wc, (int)*(int64_t *)arg, "server shutting down");
}

static void s_handle(self_t *self, const pl_msg_t *msg)
{
    switch (msg->type) {
    case PL_MSG_CONN_OPEN: {
        const pl_msg_conn_open_t *m = &msg->as.conn_open;
        wconn_t *wc = calloc(1, sizeof *wc);
        if (wc) {
            wc->id = m->conn_id;
            wc->conn = (struct mg_connection *)(uintptr_t)m->handle;
        }
        if (!wc || pl_idmap_put(self->conns, m->conn_id, wc)) {
            pl_error("conn %" PRIu64 ": out of memory registering it", m->conn_id);
            free(wc);
        }
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
        break;
    }
    case PL_MSG_CONN_CLOSE: {
        const pl_msg_conn_close_t *m = &msg->as.conn_close;
        wconn_t *wc = pl_idmap_remove(self->conns, m->conn_id);
        if (wc)
            s_wconn_free(wc);
        s_reply(m->waiter, m->req_id);
        break;
    }
    case PL_MSG_CONN_DRAIN: {
        const pl_msg_conn_drain_t *m = &msg->as.conn_drain;
        s_flush_pending(self);
        pl_idmap_each(self->conns, s_drain_one, (void *)&m->close_code);
        s_reply(m->waiter, m->req_id);
        break;
    }
    default:
        pl_error("conn writer: unexpected %s", pl_msg_name(msg->type));
    }
}

//  Takes every message already queued, then writes what they queued.
static void s_handle_batch(void *self_arg)
{
    self_t *self = self_arg;
    pl_msg_frame_t in;
    while (pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0) {
        s_handle(self, &in.msg);
        pl_msg_frame_close(&in);
    }
    s_flush_pending(self);
}

void pl_conn_actor(zsock_t *pipe, void *args_arg)
{
    pl_conn_args_t *args = args_arg;
    char name[32];
    pl_conn_inbox_name(args->shard, name, sizeof name);
    pl_actor_name_thread(name);
    self_t *self = s_self_new(pipe, args);
    if (!self) {
        pl_actor_fail(pipe, &args->failed);
        return;
    }
    zsock_signal(pipe, 0);
    pl_actor_loop(pipe, self->inbox, s_handle_batch, self);
    s_self_destroy(&self);
}
