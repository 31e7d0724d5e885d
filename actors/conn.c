/*  Connection actor (see conn.h for its contract).

    Per connection the actor keeps a queue of whole frames (out_queue.h). A frame for
    many connections is built once and queued by reference: at N recipients a copy
    into each queue was most of the writer's time, its stores landing in N queues no
    cache holds. Messages are handled in batches: every message already in the inbox
    is taken first, which queues frames and notes which connections got any; then
    each of those is written with one send of everything queued (the kernel gathers
    the frames). Under load a batch holds many frames per connection, and so the
    number of sends falls as load rises. The sends of a batch go to the kernel
    together, in one system call (send_batch.h): the call, not the copy, is most of
    what a small send costs. What reading a batch of sockets queued (pongs, errors,
    close frames) is written the same way.

    Reading and writing never block. A connection the actor drops, or whose client
    went away, is only marked during a pass (its id is noted as doomed) and is
    finished at the end of the loop's turn: its rooms are told, its socket closed,
    its memory freed, its slot given back. Every list and the epoll set name
    connections by id, so a finished connection is simply not found again. */
#include "parley/conn.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/idmap.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/notifier.h"
#include "parley/out_queue.h"
#include "parley/room.h"
#include "parley/send_batch.h"
#include "parley/waiter.h"
#include "parley/ws_reader.h"
#include "parley/ws_session.h"

#include <civetweb.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

//  Most messages handled before the queued frames are written.
#define BATCH_MAX 256
//  Most sends handed to the kernel in one system call (send_batch.h).
#define SENDS_MAX 1024
//  Sends made between two looks at the sockets while a flush writes a long list: a
//  fan-out to thousands takes milliseconds, and the sender's next message, read
//  meanwhile, is committed while the rest is written.
#define SENDS_BETWEEN_READS 128
//  Most frames one send gathers; a queue holding more is sent again at once.
#define FRAMES_PER_SEND 128
//  Most frames the sends of one system call gather in all.
#define FRAMES_PER_BATCH 16384
//  Most times one flush writes again the connections left with more frames than a
//  send gathers; the rest wait for the next turn, so that a long backlog (a reader
//  that stalled and drains) does not keep the inbox and the sockets waiting.
#define FLUSH_ROUNDS 8
//  Most socket events taken from epoll in one wake.
#define EVENTS_MAX 256
//  Bytes read from one socket in one wake, at most.
#define READ_MAX 65536
//  How long a closed WebSocket is read, after its close frame is written, for the
//  client to close its side.
#define CLOSE_LINGER_MS 2000
//  User buckets of the connection marks (see conn.h): user ids are dense, so up to
//  this many users never share one.
#define USER_MARK_BUCKETS 65536

typedef struct {
    uint64_t id;
    int64_t user_id;
    int fd;                 //  the socket (owned)
    pl_out_queue_t out;     //  owned: frames not yet written
    uint32_t events;        //  what the epoll set waits for on fd (0: not in it)
    bool pending;           //  listed in self->pending_ids for this batch
    bool blocked;           //  listed in self->blocked_ids
    int64_t stalled_since;  //  when the kernel last refused bytes, 0 if it has not
    bool dead;              //  dropped: write nothing more (it is doomed)
    bool sse;               //  an SSE stream: raw bytes, no WebSocket framing
    bool live;              //  an SSE stream that has had its replay: user events reach it
    bool announced;         //  an SSE stream its notifier was told of (STREAM_OPEN)
    int notifier_node;      //  announced: the node whose notifier was told (the user's owner then)
    int64_t next_heartbeat; //  an SSE stream: when its next ": ping" is due
    //  A WebSocket's reading side.
    int64_t last_seen;    //  ms of the last bytes from the client
    bool released;        //  its rooms are left and its slot given back
    bool closing;         //  a close frame is queued: nothing more of the client's is handled
    bool client_closed;   //  the close frame answers the client's
    bool half_closed;     //  it is written and our side shut: read to the end, then finish
    int64_t linger_until; //  half closed: when to finish anyway
    pl_ws_reader_t reader;
    pl_ws_session_t session;
} wconn_t;

//  A send of a batch: whose queue it writes, and how many bytes it offers.
typedef struct {
    wconn_t *wc;
    size_t offered;
} sending_t;

//  A frame for one connection that follows a run of fan-outs: a sender's ack.
typedef struct {
    uint64_t conn_id;
    pl_out_frame_t *frame; //  owned
} rider_t;

//  Consecutive CONN_FANOUTs to the same connections (a room's messages committed
//  together), queued as one frame: one lookup and one queue entry per connection for
//  the run, not per message. Their riders follow the run.
typedef struct {
    pl_out_frame_t *frame; //  owned: the run's frames, one after another; NULL: no run
    char *ids;             //  owned: the connection ids of every fan-out in the run
    size_t ids_len, ids_capacity;
    rider_t *riders; //  owned
    size_t rider_count, rider_capacity;
} fanout_run_t;

//  The connections of one user on this writer.
typedef struct {
    uint64_t *ids;
    size_t count, capacity;
} user_conns_t;

typedef struct {
    zsock_t *pipe;        //  borrowed
    zsock_t *inbox;       //  owned
    pl_app_t *app;        //  borrowed
    zsock_t **rooms;      //  owned: outlets to the room shards (sends fail when full)
    zsock_t *bridge;      //  owned: outlet to the bridge, in a cluster (else NULL)
    zsock_t *notifier;    //  owned: outlet to this node's notifier (sends fail when full)
    int epfd;             //  owned: the sockets of this shard's connections
    uint8_t *scratch;     //  owned: where sockets are read and frames parsed
    size_t scratch_size;  //  PL_WS_HELD_MAX(limit) + READ_MAX
    size_t limit;         //  max_frame_bytes
    uint64_t *doomed_ids; //  owned: WebSockets to finish at the end of this turn
    size_t doomed_count, doomed_capacity;
    pl_idmap_t *conns;     //  owned: id -> wconn_t (owned)
    pl_idmap_t *users;     //  owned: user id -> user_conns_t (owned)
    uint64_t *pending_ids; //  owned: connections with queued bytes this batch
    size_t pending_count, pending_capacity;
    uint64_t *blocked_ids; //  owned: connections waiting for writability
    size_t blocked_count, blocked_capacity;
    pl_send_batch_t *sends; //  owned: the sends of one flush, made together
    sending_t *sending;     //  owned: by index in sends, what each one writes
    int64_t queue_limit, stall_ms, silence_ms, heartbeat_ms;
    struct epoll_event events[EVENTS_MAX];
    int64_t sweep_ms;   //  how often to look for silent connections and due heartbeats
    int64_t next_sweep; //  when to look next
    bool terminated;
    bool drained;           //  a graceful stop has closed every connection: close new ones too
    uint64_t frames_queued; //  queued since last counted into the metrics (s_count_deliveries)
    fanout_run_t run;
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

static void s_wconn_free(wconn_t *wc)
{
    pl_ws_reader_free(&wc->reader);
    pl_ws_session_free(&wc->session);
    pl_out_queue_clear(&wc->out);
    free(wc);
}

//  At the actor's end: the sockets close with it (the rooms and notifiers are
//  stopping too).
static void s_free_entry(uint64_t id, void *value, void *arg)
{
    wconn_t *wc = value;
    s_user_mark(wc, false);
    close(wc->fd);
    s_wconn_free(wc);
}

static void s_free_user(uint64_t id, void *value, void *arg)
{
    user_conns_t *user = value;
    free(user->ids);
    free(user);
}

//  Lets go of a run's frames; its buffers are kept for the next run.
static void s_run_clear(fanout_run_t *run)
{
    pl_out_frame_release(&run->frame);
    for (size_t i = 0; i < run->rider_count; i++)
        pl_out_frame_release(&run->riders[i].frame);
    run->rider_count = 0;
    run->ids_len = 0;
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
    for (int i = 0; self->rooms && i < self->app->room_count; i++)
        zsock_destroy(&self->rooms[i]);
    zsock_destroy(&self->bridge);
    zsock_destroy(&self->notifier);
    free(self->rooms);
    if (self->epfd >= 0)
        close(self->epfd);
    free(self->scratch);
    free(self->pending_ids);
    free(self->blocked_ids);
    free(self->doomed_ids);
    pl_send_batch_destroy(&self->sends);
    free(self->sending);
    s_run_clear(&self->run);
    free(self->run.ids);
    free(self->run.riders);
    free(self);
    *self_p = NULL;
}

//  An outlet to the inbox name whose sends fail at once when it is full, instead of
//  waiting (ws_session.c says why); NULL on failure.
static zsock_t *s_outlet(const char *name)
{
    zsock_t *outlet = pl_actor_outlet(name);
    if (outlet)
        zsock_set_sndtimeo(outlet, 0);
    return outlet;
}

//  Connects an outlet to each room shard, one to the notifier and, in a cluster, one
//  to the bridge (which starts after the connection actors: its inbox takes what waits
//  for it once bound).
static bool s_connect_rooms(self_t *self)
{
    if (!(self->notifier = s_outlet(PL_NOTIFIER_INBOX)))
        return false;
    int count = self->app->room_count;
    self->rooms = calloc((size_t)count, sizeof *self->rooms);
    for (int i = 0; self->rooms && i < count; i++) {
        char name[32];
        pl_room_inbox_name(i, name, sizeof name);
        if (!(self->rooms[i] = s_outlet(name)))
            return false;
    }
    if (pl_cluster_self() && !(self->bridge = s_outlet(PL_BRIDGE_INBOX)))
        return false;
    return self->rooms != NULL;
}

static self_t *s_self_new(zsock_t *pipe, pl_conn_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char name[32];
    pl_conn_inbox_name(args->shard, name, sizeof name);
    self->pipe = pipe;
    self->app = args->app;
    self->queue_limit = args->queue_limit;
    self->stall_ms = args->stall_ms;
    self->silence_ms = args->silence_ms;
    self->heartbeat_ms = args->heartbeat_ms;
    self->sweep_ms = args->silence_ms < args->heartbeat_ms ? args->silence_ms : args->heartbeat_ms;
    self->sweep_ms /= 4;
    self->limit = (size_t)self->app->config->max_frame_bytes;
    self->scratch_size = PL_WS_HELD_MAX(self->limit) + READ_MAX;
    self->scratch = malloc(self->scratch_size);
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->conns = pl_idmap_new();
    self->users = pl_idmap_new();
    self->inbox = pl_actor_inbox(name);
    self->sends = pl_send_batch_new(SENDS_MAX, FRAMES_PER_BATCH, true);
    self->sending = calloc(SENDS_MAX, sizeof *self->sending);
    if (!s_connect_rooms(self) || !self->scratch || self->epfd < 0 || !self->conns ||
        !self->users || !self->inbox || !self->sends || !self->sending)
        s_self_destroy(&self);
    return self;
}

//  Makes room in a growable list for at least want ids; false when memory ran out.
static bool s_list_reserve(uint64_t **list, size_t *capacity, size_t want)
{
    if (want <= *capacity)
        return true;
    size_t grown_capacity = *capacity ? *capacity * 2 : 64;
    if (grown_capacity < want)
        grown_capacity = want;
    uint64_t *grown = realloc(*list, grown_capacity * sizeof *grown);
    if (!grown)
        return false;
    *list = grown;
    *capacity = grown_capacity;
    return true;
}

//  Appends id to a growable list; false when memory ran out.
static bool s_list_add(uint64_t **list, size_t *count, size_t *capacity, uint64_t id)
{
    if (!s_list_reserve(list, capacity, *count + 1))
        return false;
    (*list)[(*count)++] = id;
    return true;
}

//  Makes the epoll set wait for what the connection needs now: a live connection's
//  bytes (for a stream, its end), and writability while the kernel holds back some of
//  its queue.
static void s_watch(self_t *self, wconn_t *wc)
{
    uint32_t want = 0;
    if (!wc->dead) {
        want |= EPOLLIN;
        want |= wc->out.bytes && wc->stalled_since ? EPOLLOUT : 0;
    }
    if (want == wc->events)
        return;
    struct epoll_event event = {.events = want, .data.u64 = wc->id};
    int op = !wc->events ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(self->epfd, op, wc->fd, &event) == 0 || op == EPOLL_CTL_DEL)
        wc->events = want;
}

//  The notifier of a node: this node's own, or another node's through the bridge.
static void *s_notifier_at(const self_t *self, int node)
{
    return zsock_resolve(self->bridge && node != pl_cluster_self() ? self->bridge : self->notifier);
}

//  Ends a connection for the rest of the server: a WebSocket's rooms, or a stream's
//  notifier, hear it is gone and its slot is given back. Done before its client can
//  see the end (a close frame, or the end of the stream), so a client that saw it may
//  connect again at once.
static void s_release(self_t *self, wconn_t *wc)
{
    if (wc->released)
        return;
    wc->released = true;
    if (wc->sse) {
        //  Told only while the view still names the notifier that counted it: once the
        //  user moved, that notifier forgets the user's streams by itself (notifier.c,
        //  s_view_changed), and the bridge would route the close to the new one, which
        //  never counted this stream and could count out another of the user's.
        pl_msg_t close = {.type = PL_MSG_STREAM_CLOSE, .as.stream_close = {wc->id, wc->user_id}};
        if (wc->announced && pl_cluster_owner(wc->user_id) == wc->notifier_node &&
            pl_msg_send(s_notifier_at(self, wc->notifier_node), &close) != 0)
            pl_error("conn %" PRIu64 ": its notifier is full: the stream's end is not told",
                     wc->id);
    } else {
        pl_ws_session_ctx_t ctx = {self->app, self->rooms, self->bridge, NULL, NULL};
        pl_ws_session_end(&ctx, &wc->session);
    }
    atomic_fetch_sub(&self->app->open_streams, 1);
}

//  Marks a connection dead (nothing more is written to it or read from it) once its
//  rooms and slot are released; it is finished at the end of the turn. Its queue is
//  let go of then: a send of the batch being built may point into its frames.
static void s_doom(self_t *self, wconn_t *wc)
{
    s_release(self, wc);
    wc->dead = true;
    //  Its slot was reserved when it registered (s_open): a connection is doomed at
    //  most once, and the doomed of a turn are fewer than those registered.
    self->doomed_ids[self->doomed_count++] = wc->id;
    s_watch(self, wc);
}

//  Drops a connection: its socket is shut down, so its client sees the end at once.
static void s_kill(self_t *self, wconn_t *wc, const char *reason)
{
    if (wc->dead)
        return;
    pl_info("conn %" PRIu64 ": dropped (%s)", wc->id, reason);
    shutdown(wc->fd, SHUT_RDWR);
    s_doom(self, wc);
}

//  A connection whose client has gone (or finished its close): finished like a dropped
//  one, but not worth a line in the log.
static void s_end(self_t *self, wconn_t *wc)
{
    if (wc->dead)
        return;
    pl_debug("conn %" PRIu64 ": closed", wc->id);
    s_doom(self, wc);
}

//  Lists a connection among those to write at the end of the batch.
static void s_mark_pending(self_t *self, wconn_t *wc)
{
    if (wc->pending)
        return;
    if (!s_list_add(&self->pending_ids, &self->pending_count, &self->pending_capacity, wc->id))
        s_kill(self, wc, "out of memory");
    wc->pending = true;
}

//  Queues a frame (the connection takes its own hold of it); NULL, a frame that could
//  not be built, drops the connection rather than leave a gap in what it is told.
static void s_enqueue_frame(self_t *self, wconn_t *wc, pl_out_frame_t *frame)
{
    if (wc->dead)
        return;
    if (!frame) {
        s_kill(self, wc, "out of memory");
        return;
    }
    if (pl_out_frame_len(frame) == 0)
        return;
    if ((int64_t)(wc->out.bytes + pl_out_frame_len(frame)) > self->queue_limit) {
        pl_metrics_count(PL_COUNTER_SLOW_READERS_CUT, 1);
        s_kill(self, wc, "slow reader: outbound queue over its limit");
        return;
    }
    if (!pl_out_queue_push(&wc->out, frame)) {
        s_kill(self, wc, "out of memory");
        return;
    }
    self->frames_queued += pl_out_frame_count(frame);
    s_mark_pending(self, wc);
}

//  Queues raw bytes (an SSE stream's) for one connection.
static void s_enqueue_bytes(self_t *self, wconn_t *wc, const char *bytes, size_t len)
{
    pl_out_frame_t *frame = pl_out_frame_new(NULL, 0, bytes, len);
    s_enqueue_frame(self, wc, frame);
    pl_out_frame_release(&frame);
}

//  One WebSocket frame, to be queued for any number of connections; NULL when memory
//  ran out.
static pl_out_frame_t *s_ws_frame(int opcode, const char *payload, size_t len)
{
    uint8_t header[10];
    size_t header_len = pl_ws_frame_header(header, opcode, len);
    return pl_out_frame_new(header, header_len, payload, len);
}

//  Queues a WebSocket frame for a connection. SSE streams take no WebSocket frames:
//  what goes to them comes as CONN_SSE_LIVE and CONN_USER_EVENT.
static void s_enqueue_ws(self_t *self, wconn_t *wc, pl_out_frame_t *frame)
{
    if (!wc->sse && !wc->closing)
        s_enqueue_frame(self, wc, frame);
}

//  Queues a WebSocket frame built for this connection alone.
static void s_enqueue(self_t *self, wconn_t *wc, int opcode, const char *payload, size_t len)
{
    if (wc->sse || wc->closing)
        return;
    pl_out_frame_t *frame = s_ws_frame(opcode, payload, len);
    s_enqueue_frame(self, wc, frame);
    pl_out_frame_release(&frame);
}

//  Queues a close frame (code 0: one without a status) as the WebSocket's last; the
//  client's frames are handled no more.
static void s_close_with(self_t *self, wconn_t *wc, int code, const char *reason)
{
    if (wc->sse || wc->closing)
        return;
    s_release(self, wc);
    char payload[125];
    int len = code ? snprintf(payload, sizeof payload, "%c%c%s", (char)(code >> 8),
                              (char)(code & 0xff), reason)
                   : 0;
    s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, payload, (size_t)len);
    wc->closing = true;
}

//  Readies a connection's queue for a send of the batch: false when there is nothing
//  to send.
static bool s_flush_begin(wconn_t *wc)
{
    wc->pending = false;
    return !wc->dead && wc->out.bytes > 0;
}

//  Takes the outcome of a connection's send of `offered` bytes (bytes taken or
//  -errno): what was taken leaves the queue; a connection the kernel took less from
//  waits for writability, one that had more frames than a send gathers is written
//  again in this flush; a closing WebSocket whose close frame is out shuts its side and
//  reads to the client's end.
static void s_flush_end(self_t *self, wconn_t *wc, ssize_t sent, size_t offered)
{
    if (wc->dead)
        return;
    if (sent < 0 && sent != -EAGAIN && sent != -EWOULDBLOCK && sent != -EINTR) {
        s_kill(self, wc, strerror((int)-sent));
        return;
    }
    if (sent > 0) {
        pl_out_queue_consume(&wc->out, (size_t)sent);
        wc->stalled_since = 0;
    }
    if (wc->out.bytes && (size_t)sent == offered) {
        s_mark_pending(self, wc);
        return;
    }
    if (wc->out.bytes == 0) {
        if (wc->closing && wc->client_closed) {
            //  Both close frames are out: the server closes the connection first.
            s_end(self, wc);
            return;
        }
        if (wc->closing && !wc->half_closed) {
            shutdown(wc->fd, SHUT_WR);
            wc->half_closed = true;
            wc->linger_until = pl_now_ms() + CLOSE_LINGER_MS;
        }
        s_watch(self, wc);
        return;
    }
    if (!wc->stalled_since)
        wc->stalled_since = pl_now_ms();
    s_watch(self, wc);
    if (!wc->blocked) {
        wc->blocked =
            s_list_add(&self->blocked_ids, &self->blocked_count, &self->blocked_capacity, wc->id);
        if (!wc->blocked)
            s_kill(self, wc, "out of memory");
    }
}

//  Defined with the reading side; a long flush reads between its sends.
static void s_handle_io(self_t *self, bool in_flush);

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
        s_flush_end(self, self->sending[i].wc, sent, self->sending[i].offered);
    }
    pl_metrics_count(PL_COUNTER_SENDS, count);
    pl_metrics_count(PL_COUNTER_BYTES_OUT, bytes);
}

//  Adds a connection's queue to the batch of sends.
static void s_flush_add(self_t *self, wconn_t *wc)
{
    if (!s_flush_begin(wc))
        return;
    if (pl_send_batch_full(self->sends, FRAMES_PER_SEND))
        s_flush_run(self);
    struct iovec iov[FRAMES_PER_SEND];
    size_t count = pl_out_queue_gather(&wc->out, iov, FRAMES_PER_SEND);
    size_t offered = 0;
    for (size_t i = 0; i < count; i++)
        offered += iov[i].iov_len;
    self->sending[pl_send_batch_add(self->sends, wc->fd, iov, count)] = (sending_t){wc, offered};
}

//  Counts the frames queued since last counted as delivered: before their writes, so a
//  client that has a frame finds it counted.
static void s_count_deliveries(self_t *self)
{
    pl_metrics_count(PL_COUNTER_DELIVERIES, self->frames_queued);
    self->frames_queued = 0;
}

//  Writes the connections listed this batch, and again (up to FLUSH_ROUNDS times)
//  those left with more frames than one send gathers. With read_between, the first
//  round reads the sockets that have bytes every SENDS_BETWEEN_READS sends; what
//  that queues is written in the next round. Each round writes only what was listed
//  when it began, so clients that keep sending cannot keep a flush going.
static void s_flush_pending(self_t *self, bool read_between)
{
    s_count_deliveries(self);
    for (int round = 0; self->pending_count && round < FLUSH_ROUNDS; round++) {
        //  A connection is listed once per listing, but a flush left for this turn may
        //  have been written since (on EPOLLOUT) and listed again: only a connection
        //  still pending is added, so that no batch sends its bytes twice.
        size_t listed = self->pending_count;
        for (size_t i = 0; i < listed; i++) {
            wconn_t *wc = pl_idmap_get(self->conns, self->pending_ids[i]);
            if (wc && wc->pending)
                s_flush_add(self, wc);
            if (read_between && round == 0 &&
                pl_send_batch_count(self->sends) >= SENDS_BETWEEN_READS) {
                s_flush_run(self);
                s_handle_io(self, true);
                s_count_deliveries(self);
            }
        }
        s_flush_run(self);
        self->pending_count -= listed;
        memmove(self->pending_ids, self->pending_ids + listed,
                self->pending_count * sizeof *self->pending_ids);
    }
}

//  Drops the connections that have taken nothing for longer than stall_ms, and
//  forgets those no longer waiting for writability.
static void s_check_stalls(self_t *self)
{
    int64_t now = pl_now_ms();
    size_t kept = 0;
    for (size_t i = 0; i < self->blocked_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->blocked_ids[i]);
        if (!wc)
            continue;
        //  A connection whose last send was taken whole is not stalled, though it may
        //  hold frames a flush left for the next turn.
        bool stalled = wc->out.bytes && !wc->dead && wc->stalled_since;
        if (stalled && now - wc->stalled_since > self->stall_ms) {
            pl_metrics_count(PL_COUNTER_SLOW_READERS_CUT, 1);
            s_kill(self, wc, "slow reader: took nothing for too long");
        }
        wc->blocked = stalled && !wc->dead;
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

//  Queues a text frame for the connection a request came from (ws_session.h).
typedef struct {
    self_t *self;
    wconn_t *wc;
} reply_to_t;

static void s_reply_text(void *arg, const char *text, size_t len)
{
    reply_to_t *to = arg;
    s_enqueue(to->self, to->wc, MG_WEBSOCKET_OPCODE_TEXT, text, len);
}

//  The code a close frame from the client is answered with: its own, none for none
//  (0), 1002 for one outside 1000-4999 or reserved for local use (1004-1006, 1015).
static int s_close_answer(int code)
{
    if (code == 1005)
        return 0;
    bool reserved = (code >= 1004 && code <= 1006) || code == 1015;
    return code < 1000 || code > 4999 || reserved ? 1002 : code;
}

//  Handles the events of one read of a WebSocket, frame by frame, until they run
//  out or one of them ends what the client may say.
static void s_handle_frames(self_t *self, wconn_t *wc, size_t len)
{
    reply_to_t to = {self, wc};
    pl_ws_session_ctx_t ctx = {self->app, self->rooms, self->bridge, s_reply_text, &to};
    size_t pos = 0;
    pl_ws_event_t event;
    while (!wc->closing && !wc->dead) {
        switch (pl_ws_reader_next(&wc->reader, self->scratch, len, &pos, self->limit, &event)) {
        case PL_WS_EVENT_NEED_MORE:
            if (pl_ws_reader_hold(&wc->reader, self->scratch + pos, len - pos))
                s_close_with(self, wc, 1011, "out of memory");
            return;
        case PL_WS_EVENT_MESSAGE:
            pl_ws_session_message(&ctx, &wc->session, event.opcode, event.data, event.len);
            break;
        case PL_WS_EVENT_PING:
            s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_PONG, event.data, event.len);
            break;
        case PL_WS_EVENT_PONG:
            break;
        case PL_WS_EVENT_CLOSE:
            //  Answered with the client's own code (none when it gave none), or 1002
            //  for a code no endpoint may send (RFC 6455 7.4).
            s_close_with(self, wc, s_close_answer(event.code), "");
            wc->client_closed = true;
            return;
        case PL_WS_EVENT_FAIL:
            s_close_with(self, wc, event.code, event.reason);
            return;
        }
    }
}

//  Reads what a WebSocket's client sent, once, behind the bytes it held back last
//  time. A closing connection's bytes are read only to see the client's end.
static void s_read(self_t *self, wconn_t *wc)
{
    size_t held = pl_ws_reader_restore(&wc->reader, self->scratch);
    ssize_t got = recv(wc->fd, self->scratch + held, self->scratch_size - held, MSG_DONTWAIT);
    if (got == 0) {
        s_end(self, wc);
        return;
    }
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            pl_ws_reader_hold(&wc->reader, self->scratch, held);
        else
            s_end(self, wc);
        return;
    }
    wc->last_seen = pl_now_ms();
    if (!wc->closing)
        s_handle_frames(self, wc, held + (size_t)got);
}

//  An SSE stream's client sends nothing after its request: its bytes are read to see
//  the end of the stream, and dropped.
static void s_read_stream_end(self_t *self, wconn_t *wc)
{
    ssize_t got = recv(wc->fd, self->scratch, self->scratch_size, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        s_end(self, wc);
}

//  Takes what epoll reports ready: writable sockets are added to the batch of sends,
//  readable ones read. During a flush (between its sends) only reads are taken: the
//  batch is the flush's, and writability is reported again (level-triggered).
static void s_handle_io(self_t *self, bool in_flush)
{
    int count = epoll_wait(self->epfd, self->events, EVENTS_MAX, 0);
    for (int i = 0; i < count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->events[i].data.u64);
        uint32_t ready = self->events[i].events;
        if (!wc || wc->dead)
            continue;
        if (!in_flush && ready & (EPOLLOUT | EPOLLERR | EPOLLHUP) && wc->out.bytes)
            s_flush_add(self, wc);
        if (ready & (EPOLLIN | EPOLLERR | EPOLLHUP) && !wc->dead)
            (wc->sse ? s_read_stream_end : s_read)(self, wc);
    }
    if (!in_flush)
        s_flush_run(self);
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
        if (len <= 0 || (size_t)len >= size)
            continue;
        pl_out_frame_t *notice = s_ws_frame(MG_WEBSOCKET_OPCODE_TEXT, frame, (size_t)len);
        for (size_t c = 0; c < user->count; c++) {
            if (exclude &&
                bsearch(&user->ids[c], exclude, excluded, sizeof *exclude, s_compare_ids))
                continue;
            wconn_t *wc = pl_idmap_get(self->conns, user->ids[c]);
            if (wc)
                s_enqueue_ws(self, wc, notice);
        }
        pl_out_frame_release(&notice);
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
        s_kill(self, wc, "going away");
        return;
    }
    s_close_with(self, wc, 1001, "going away");
}

//  Registers a connection whose socket is handed over: a WebSocket, or an SSE stream,
//  whose notifier is then asked for its head and replay.
static void s_open(self_t *self, const pl_msg_conn_open_t *m)
{
    wconn_t *wc = calloc(1, sizeof *wc);
    if (wc) {
        wc->id = m->conn_id;
        wc->user_id = m->user_id;
        wc->fd = (int)m->fd;
        wc->sse = m->sse != 0;
        wc->last_seen = pl_now_ms();
        wc->next_heartbeat = wc->last_seen + self->heartbeat_ms;
        pl_ws_session_init(&wc->session, wc->id, wc->user_id, self->app->config);
    }
    if (!wc ||
        !s_list_reserve(&self->doomed_ids, &self->doomed_capacity,
                        pl_idmap_size(self->conns) + 1) ||
        pl_idmap_put(self->conns, m->conn_id, wc)) {
        pl_error("conn %" PRIu64 ": out of memory registering it", m->conn_id);
        free(wc);
        close((int)m->fd);
        atomic_fetch_sub(&self->app->open_streams, 1);
        return;
    }
    s_user_mark(wc, true);
    if (!s_user_add(self, wc))
        pl_error("conn %" PRIu64 ": out of memory indexing its user", m->conn_id);
    s_watch(self, wc);
    if (wc->sse) {
        pl_msg_t open = {.type = PL_MSG_STREAM_OPEN,
                         .as.stream_open = {wc->id, wc->user_id, m->last_event_id, m->head}};
        wc->notifier_node = pl_cluster_owner(wc->user_id);
        wc->announced = pl_msg_send(s_notifier_at(self, wc->notifier_node), &open) == 0;
        //  Its client sees the end and comes back with Last-Event-ID.
        if (!wc->announced)
            s_kill(self, wc, "its notifier is full");
    }
    //  Upgraded just before the stop began, registered just after the drain.
    if (self->drained)
        s_drain_one(wc->id, wc, self);
}

//  Forgets a connection, closes its socket and frees it.
static void s_forget(self_t *self, wconn_t *wc)
{
    pl_idmap_remove(self->conns, wc->id);
    s_user_mark(wc, false);
    s_user_remove(self, wc);
    if (wc->events)
        epoll_ctl(self->epfd, EPOLL_CTL_DEL, wc->fd, NULL);
    close(wc->fd);
    s_wconn_free(wc);
}

//  Finishes the connections doomed during the turn (released already): their sockets
//  close and their memory is freed.
static void s_finish_doomed(self_t *self)
{
    for (size_t i = 0; i < self->doomed_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, self->doomed_ids[i]);
        if (wc)
            s_forget(self, wc);
    }
    self->doomed_count = 0;
}

//  In a cluster a user's SSE streams are fed by the notifier of one node (see
//  app.h): when the view names another, the stream ends and its client comes back
//  with Last-Event-ID to the new one. A stream announced under this view already
//  (opened after the bridge set it, before this message came) is left alone.
typedef struct {
    self_t *self;
    const uint16_t *nodes;
    int count;
} view_change_t;

static void s_end_moved_stream(uint64_t id, void *value, void *arg)
{
    (void)id;
    wconn_t *wc = value;
    const view_change_t *view = arg;
    if (!wc->announced ||
        pl_cluster_owner_among(wc->user_id, view->nodes, view->count) == wc->notifier_node)
        return;
    //  No STREAM_CLOSE (see s_release).
    wc->announced = false;
    s_kill(view->self, wc, "its notifier moved to another node");
}

//  The connection of the i-th id of a list (u64 array), or NULL when it is gone.
static wconn_t *s_conn_at(const self_t *self, const char *ids, size_t i)
{
    uint64_t id;
    memcpy(&id, ids + i * sizeof id, sizeof id);
    return pl_idmap_get(self->conns, id);
}

//  Queues the run's frame for each of its connections, then its riders.
static void s_run_flush(self_t *self)
{
    fanout_run_t *run = &self->run;
    if (!run->frame)
        return;
    pl_out_frame_fit(&run->frame);
    //  The riders' connections are written first: a sender's ack lets it send again
    //  while the rest of the fan-out is written.
    for (size_t i = 0; i < run->rider_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, run->riders[i].conn_id);
        if (wc && !wc->dead && !wc->closing)
            s_mark_pending(self, wc);
    }
    for (size_t i = 0; i < run->ids_len / sizeof(uint64_t); i++) {
        wconn_t *wc = s_conn_at(self, run->ids, i);
        if (wc)
            s_enqueue_ws(self, wc, run->frame);
    }
    for (size_t i = 0; i < run->rider_count; i++) {
        wconn_t *wc = pl_idmap_get(self->conns, run->riders[i].conn_id);
        if (wc)
            s_enqueue_ws(self, wc, run->riders[i].frame);
    }
    s_run_clear(run);
}

//  Starts a run with a fan-out's frame (it lists some connections), header the
//  WebSocket header of its text; false when memory ran out.
static bool s_run_start(self_t *self, const pl_msg_conn_fanout_t *m, const uint8_t *header,
                        size_t header_len)
{
    fanout_run_t *run = &self->run;
    if (m->conn_ids.len > run->ids_capacity) {
        char *grown = realloc(run->ids, m->conn_ids.len);
        if (!grown)
            return false;
        run->ids = grown;
        run->ids_capacity = m->conn_ids.len;
    }
    run->frame = pl_out_frame_new(header, header_len, m->text.ptr, m->text.len);
    if (!run->frame)
        return false;
    memcpy(run->ids, m->conn_ids.ptr, m->conn_ids.len);
    run->ids_len = m->conn_ids.len;
    return true;
}

//  Adds a frame for one connection behind the run; false when memory ran out.
static bool s_run_ride(fanout_run_t *run, uint64_t conn_id, pl_str_t text)
{
    if (run->rider_count == run->rider_capacity) {
        size_t capacity = run->rider_capacity ? 2 * run->rider_capacity : 16;
        rider_t *grown = realloc(run->riders, capacity * sizeof *grown);
        if (!grown)
            return false;
        run->riders = grown;
        run->rider_capacity = capacity;
    }
    pl_out_frame_t *frame = s_ws_frame(MG_WEBSOCKET_OPCODE_TEXT, text.ptr, text.len);
    if (!frame)
        return false;
    run->riders[run->rider_count++] = (rider_t){conn_id, frame};
    return true;
}

//  Queues a fan-out's ack (if any) behind the run, not riding with it.
static void s_ack_after_run(self_t *self, const pl_msg_conn_fanout_t *m)
{
    s_run_flush(self);
    wconn_t *acked = m->ack_conn ? pl_idmap_get(self->conns, m->ack_conn) : NULL;
    if (acked)
        s_enqueue(self, acked, MG_WEBSOCKET_OPCODE_TEXT, m->ack.ptr, m->ack.len);
}

//  One frame for many connections (the room encoded it once): joins the run when it
//  goes to the same connections as the run's, else ends it and starts another. The
//  sender's ack rides with it: after the message, and so after the run.
static void s_fanout(self_t *self, const pl_msg_conn_fanout_t *m)
{
    fanout_run_t *run = &self->run;
    //  An ack alone (its writer holds none of the recipients) starts no run.
    if (m->conn_ids.len == 0) {
        s_ack_after_run(self, m);
        return;
    }
    uint8_t header[10];
    size_t header_len = pl_ws_frame_header(header, MG_WEBSOCKET_OPCODE_TEXT, m->text.len);
    bool joined = run->frame && m->conn_ids.len == run->ids_len &&
                  memcmp(m->conn_ids.ptr, run->ids, run->ids_len) == 0 &&
                  pl_out_frame_append(&run->frame, header, header_len, m->text.ptr, m->text.len);
    if (!joined) {
        s_run_flush(self);
        if (!s_run_start(self, m, header, header_len)) {
            //  Dropped rather than left with a gap in what they are told.
            for (size_t i = 0; i < m->conn_ids.len / sizeof(uint64_t); i++) {
                wconn_t *wc = s_conn_at(self, m->conn_ids.ptr, i);
                if (wc)
                    s_kill(self, wc, "out of memory");
            }
        }
    }
    if (m->ack_conn && !(run->frame && s_run_ride(run, m->ack_conn, m->ack)))
        s_ack_after_run(self, m);
}

static void s_handle(self_t *self, const pl_msg_t *msg)
{
    //  Whatever else comes is queued behind the run, as it came after it.
    if (msg->type != PL_MSG_CONN_FANOUT)
        s_run_flush(self);
    switch (msg->type) {
    case PL_MSG_CONN_OPEN:
        s_open(self, &msg->as.conn_open);
        break;
    case PL_MSG_CONN_SEND: {
        const pl_msg_conn_send_t *m = &msg->as.conn_send;
        wconn_t *wc = pl_idmap_get(self->conns, m->conn_id);
        if (wc)
            s_enqueue(self, wc, MG_WEBSOCKET_OPCODE_TEXT, m->text.ptr, m->text.len);
        break;
    }
    case PL_MSG_CONN_FANOUT:
        s_fanout(self, &msg->as.conn_fanout);
        break;
    case PL_MSG_CONN_SSE_LIVE: {
        const pl_msg_conn_sse_live_t *m = &msg->as.conn_sse_live;
        wconn_t *wc = pl_idmap_get(self->conns, m->conn_id);
        if (wc && wc->sse) {
            s_enqueue_bytes(self, wc, m->text.ptr, m->text.len);
            wc->live = true;
        }
        break;
    }
    case PL_MSG_CONN_USER_EVENT: {
        const pl_msg_conn_user_event_t *m = &msg->as.conn_user_event;
        user_conns_t *user = pl_idmap_get(self->users, (uint64_t)m->user_id);
        pl_out_frame_t *event = user ? pl_out_frame_new(NULL, 0, m->text.ptr, m->text.len) : NULL;
        for (size_t c = 0; user && c < user->count; c++) {
            wconn_t *wc = pl_idmap_get(self->conns, user->ids[c]);
            if (wc && wc->live)
                s_enqueue_frame(self, wc, event);
        }
        pl_out_frame_release(&event);
        break;
    }
    case PL_MSG_VIEW_CHANGED: {
        const pl_str_t *nodes = &msg->as.view_changed.nodes;
        uint16_t live[PL_CLUSTER_MAX_NODES];
        int count = (int)(nodes->len / sizeof *live);
        if (count > PL_CLUSTER_MAX_NODES)
            break;
        memcpy(live, nodes->ptr, (size_t)count * sizeof *live);
        pl_idmap_each(self->conns, s_end_moved_stream, &(view_change_t){self, live, count});
        break;
    }
    case PL_MSG_CONN_ROOM_NOTICE:
        s_room_notice(self, &msg->as.conn_room_notice);
        break;
    case PL_MSG_CONN_KILL: {
        const pl_msg_conn_kill_t *m = &msg->as.conn_kill;
        wconn_t *wc = pl_idmap_get(self->conns, m->conn_id);
        if (wc)
            s_close_with(self, wc, (int)m->close_code, "protocol error");
        break;
    }
    case PL_MSG_CONN_DRAIN: {
        //  1001 "going away": queued after everything else, written as far as the
        //  clients take it.
        const pl_msg_conn_drain_t *m = &msg->as.conn_drain;
        self->drained = true;
        pl_idmap_each(self->conns, s_drain_one, self);
        s_flush_pending(self, false);
        s_reply(m->waiter, m->req_id);
        break;
    }
    default:
        pl_error("conn actor: unexpected %s", pl_msg_name(msg->type));
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
    s_run_flush(self);
}

typedef struct {
    self_t *self;
    int64_t now;
} sweep_t;

//  Pings a WebSocket silent for half the TTL (a live client answers with a pong);
//  drops one silent for the whole TTL, and finishes one whose client has not closed
//  its side within CLOSE_LINGER_MS of our close; frees a WebSocket's emptied queue that
//  a burst grew. Sends SSE streams their heartbeat.
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
            s_enqueue_bytes(sweep->self, wc, ": ping\n\n", 8);
            wc->next_heartbeat = sweep->now + sweep->self->heartbeat_ms;
        }
        return;
    }
    pl_out_queue_trim(&wc->out);
    if (wc->half_closed && sweep->now > wc->linger_until) {
        s_end(sweep->self, wc);
        return;
    }
    int64_t silent = sweep->now - wc->last_seen;
    if (silent > sweep->self->silence_ms)
        s_kill(sweep->self, wc, "silent past the presence TTL");
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
    self->next_sweep = sweep.now + self->sweep_ms;
}

//  The actor's loop: like pl_actor_loop, but it also waits for its sockets, through
//  the epoll set's own descriptor.
static void s_run(self_t *self)
{
    zmq_pollitem_t items[3] = {{zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0},
                               {zsock_resolve(self->inbox), 0, ZMQ_POLLIN, 0},
                               {NULL, self->epfd, ZMQ_POLLIN, 0}};
    while (!self->terminated) {
        //  Wake up for the silence sweep, and more often while anyone is blocked, to
        //  drop those that stall.
        int64_t until_sweep = self->next_sweep - pl_now_ms();
        long timeout = until_sweep < 0 ? 0 : (long)until_sweep;
        if (self->blocked_count && timeout > 250)
            timeout = 250;
        //  Connections with frames a flush left for this turn.
        if (self->pending_count)
            timeout = 0;
        if (zmq_poll(items, 3, timeout) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv(self->pipe);
            self->terminated = !command || streq(command, "$TERM");
            free(command);
        }
        if (items[2].revents & ZMQ_POLLIN)
            s_handle_io(self, false);
        if (items[1].revents & ZMQ_POLLIN)
            s_handle_batch(self);
        s_sweep_silent(self);
        s_flush_pending(self, true);
        if (self->blocked_count)
            s_check_stalls(self);
        s_finish_doomed(self);
    }
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
