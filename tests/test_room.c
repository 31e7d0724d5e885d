/*  The room actor in isolation: the test plays every neighbour. It binds the
    persister's, the loader's and the notifier's inboxes and both writer shards'
    inboxes (writer_count 2: connection c belongs to shard c % 2), answers ROOM_LOAD
    with a hand-made room state and MESSAGE_STORE with MESSAGE_STORED when a test
    says so, and sends the requests the connections would send. The room actor opens
    no store (the loader reads for it), so no data dir is needed.

    No sleeps. Every wait is a bounded poll for one expected message. To see that
    nothing else came, the test puts a barrier through the actor: a typing request
    from a stranger, which the actor refuses with an error frame to a connection
    kept for barriers on each writer shard. The actor handles its inbox in order and
    each writer's inbox is a FIFO, so what reached a writer before its barrier is
    exactly what the actor sent it for the earlier requests (s_sync). The barrier room
    is loaded in setup and stays served while another room loads.

    Writers also get CONN_ROOM_NOTICE after a delivery whenever a member has a
    subscribed connection (the room compares its connection marks with the writers',
    and no writer runs here); those notices are left aside by s_take. */
#include "parley/actor.h"
#include "parley/conn.h"
#include "parley/loader.h"
#include "parley/notifier.h"
#include "parley/persister.h"
#include "parley/room.h"
#include "peer.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#define WRITERS   2
#define WINDOW    4    //  the recovery window: small, so that it wraps
#define WAIT_MS   5000 //  how long an expected message may take
#define QUIET_MS  100  //  how long to listen for one that must not come (after a barrier)
#define SYNC_ROOM 1    //  the barrier room, loaded in setup
#define ROOM      12   //  the room under test
#define SYNC_CONN 1000 //  + shard: the connection that receives the barriers
#define STRANGER  66   //  a member of no room
#define LOG_MAX   32

enum { ALICE = 1, BOB = 2, CAROL = 3, DAVE = 4 };

static pl_room_args_t s_args;
static zactor_t *s_room;
static zsock_t *s_to_room, *s_persister, *s_loader, *s_notifier, *s_writers[WRITERS];

//  What a writer shard received, copied out of its frame.
typedef struct {
    int type;
    uint64_t conn_id;   //  CONN_SEND
    char *text;         //  CONN_SEND, CONN_FANOUT
    json_t *json;       //  text parsed
    uint64_t *conn_ids; //  CONN_FANOUT
    size_t conn_count;
    uint64_t ack_conn; //  CONN_FANOUT: 0 when no ack rides
    json_t *ack;       //  CONN_FANOUT: the ack that rides, or NULL
} got_t;

typedef struct {
    got_t got[LOG_MAX];
    size_t count, next;
} log_t;

static log_t s_logs[WRITERS];

static void s_log_reset(log_t *log)
{
    for (size_t i = 0; i < log->count; i++) {
        free(log->got[i].text);
        free(log->got[i].conn_ids);
        json_decref(log->got[i].json);
        json_decref(log->got[i].ack);
    }
    *log = (log_t){0};
}

static void s_start_room(void)
{
    s_args = (pl_room_args_t){.shard = 0,
                              .shard_count = 1,
                              .writer_count = WRITERS,
                              .window = WINDOW,
                              .presence_max_members = 50};
    s_room = pl_actor_start("room-0", pl_room_actor, &s_args);
    cr_assert(s_room);
    cr_assert_not(s_args.failed, "the room actor did not start");
    char name[32];
    pl_room_inbox_name(0, name, sizeof name);
    s_to_room = pl_actor_outlet(name);
    cr_assert(s_to_room);
}

static void s_request(const pl_msg_t *msg)
{
    cr_assert_eq(pl_msg_send(zsock_resolve(s_to_room), msg), 0);
}

static json_t *s_parse(pl_str_t text)
{
    json_t *json = json_loadb(text.ptr, text.len, 0, NULL);
    cr_assert(json_is_object(json), "not a JSON object: %.*s", (int)text.len, text.ptr);
    return json;
}

//  --- the loader -----------------------------------------------------------------

//  A member's User with its read pointer, as the store hands it to the loader.
static json_t *s_user(int64_t id)
{
    static const char *const names[] = {"", "Alice", "Bob", "Carol", "Dave"};
    return json_pack("{s:I, s:s, s:s, s:n, s:i, s:i}", "id", (json_int_t)id, "username", names[id],
                     "display_name", names[id], "avatar_url", "created_at", 1, "read_seq", 0);
}

//  A stored Message as the loader hands it over: from alice, body "old <seq>".
static json_t *s_stored_message(int64_t room, int64_t seq)
{
    char client_id[32], body[32];
    snprintf(client_id, sizeof client_id, "old-%lld", (long long)seq);
    snprintf(body, sizeof body, "old %lld", (long long)seq);
    return json_pack("{s:I, s:I, s:s, s:{s:i, s:s, s:n}, s:s, s:s, s:I}", "room", (json_int_t)room,
                     "seq", (json_int_t)seq, "client_id", client_id, "sender", "id", ALICE,
                     "display_name", "Alice", "avatar_url", "kind", "text", "body", body, "ts",
                     (json_int_t)(1000 + seq));
}

//  The state of a group room "Dune" with alice, bob, carol and dave as members, last
//  seq last_seq, and the stored messages seqs (count of them, oldest first) as its
//  recent ones. The caller frees the text.
static char *s_state(int64_t room, int64_t last_seq, const int64_t *seqs, size_t count)
{
    json_t *members = json_array();
    for (int64_t id = ALICE; id <= DAVE; id++)
        json_array_append_new(members, s_user(id));
    json_t *recent = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(recent, s_stored_message(room, seqs[i]));
    json_t *state =
        json_pack("{s:b, s:I, s:{s:I, s:s, s:s, s:i, s:i}, s:o, s:o}", "is_dm", 0, "last_seq",
                  (json_int_t)last_seq, "header", "id", (json_int_t)room, "kind", "group", "title",
                  "Dune", "content_id", 7, "created_at", 1, "members", members, "recent", recent);
    char *text = json_dumps(state, JSON_COMPACT);
    json_decref(state);
    cr_assert(text);
    return text;
}

//  Takes the ROOM_LOAD for room and answers it (state NULL: none).
static void s_answer_load(int64_t room, pl_status_t status, const char *state)
{
    pl_msg_frame_t in;
    pl_peer_expect(s_loader, PL_MSG_ROOM_LOAD, WAIT_MS, &in);
    cr_assert_eq(in.msg.as.room_load.room_id, room);
    cr_assert_eq(in.msg.as.room_load.shard, 0, "the loader must answer the shard that asked");
    pl_msg_frame_close(&in);
    pl_msg_t loaded = {.type = PL_MSG_ROOM_LOADED,
                       .as.room_loaded = {room, status, pl_str_of(state)}};
    s_request(&loaded);
}

//  --- the writers ----------------------------------------------------------------

static void s_log_add(log_t *log, const pl_msg_t *msg)
{
    cr_assert_lt(log->count, LOG_MAX, "too much for one writer");
    got_t *got = &log->got[log->count++];
    *got = (got_t){.type = msg->type};
    if (msg->type == PL_MSG_CONN_SEND) {
        got->conn_id = msg->as.conn_send.conn_id;
        got->text = strndup(msg->as.conn_send.text.ptr, msg->as.conn_send.text.len);
        got->json = s_parse(msg->as.conn_send.text);
    } else if (msg->type == PL_MSG_CONN_FANOUT) {
        const pl_msg_conn_fanout_t *m = &msg->as.conn_fanout;
        got->text = strndup(m->text.ptr, m->text.len);
        got->json = s_parse(m->text);
        got->conn_count = m->conn_ids.len / sizeof(uint64_t);
        got->conn_ids = calloc(got->conn_count + 1, sizeof(uint64_t));
        memcpy(got->conn_ids, m->conn_ids.ptr, got->conn_count * sizeof(uint64_t));
        got->ack_conn = m->ack_conn;
        if (m->ack_conn)
            got->ack = s_parse(m->ack);
    }
}

//  Sends a barrier through the actor for every writer shard: a stranger typing in
//  room, refused with an error frame to SYNC_CONN + shard.
static void s_barriers(int64_t room)
{
    for (int w = 0; w < WRITERS; w++) {
        pl_msg_t typing = {.type = PL_MSG_ROOM_TYPING,
                           .as.room_typing = {SYNC_CONN + w, STRANGER, room, pl_str_of("sync")}};
        s_request(&typing);
    }
}

//  Logs what each writer receives up to its barrier.
static void s_collect(void)
{
    for (int w = 0; w < WRITERS; w++) {
        s_log_reset(&s_logs[w]);
        for (;;) {
            pl_msg_frame_t in;
            cr_assert(pl_peer_recv(s_writers[w], WAIT_MS, &in), "writer %d: no barrier came", w);
            bool barrier = in.msg.type == PL_MSG_CONN_SEND &&
                           in.msg.as.conn_send.conn_id == (uint64_t)(SYNC_CONN + w);
            if (!barrier)
                s_log_add(&s_logs[w], &in.msg);
            pl_msg_frame_close(&in);
            if (barrier)
                break;
        }
    }
}

//  Logs everything the actor has sent each writer for the requests made so far.
static void s_sync(void)
{
    s_barriers(SYNC_ROOM);
    s_collect();
}

//  The next message writer w logged (room notices aside), which must be of type.
static const got_t *s_take(int w, int type)
{
    log_t *log = &s_logs[w];
    while (log->next < log->count && log->got[log->next].type == PL_MSG_CONN_ROOM_NOTICE)
        log->next++;
    cr_assert_lt(log->next, log->count, "writer %d: no %s came", w, pl_msg_name(type));
    const got_t *got = &log->got[log->next++];
    cr_assert_eq(got->type, type, "writer %d: expected %s, got %s (%s)", w, pl_msg_name(type),
                 pl_msg_name(got->type), got->text ? got->text : "");
    return got;
}

//  Asserts that writer w logged nothing more (room notices aside).
static void s_done(int w, const char *what)
{
    log_t *log = &s_logs[w];
    for (size_t i = log->next; i < log->count; i++)
        cr_assert_eq(log->got[i].type, PL_MSG_CONN_ROOM_NOTICE, "writer %d, %s: unexpected %s %s",
                     w, what, pl_msg_name(log->got[i].type),
                     log->got[i].text ? log->got[i].text : "");
}

static void s_all_done(const char *what)
{
    for (int w = 0; w < WRITERS; w++)
        s_done(w, what);
}

//  Loads room with a state (see s_state) and checks that nothing reached a writer.
static void s_open(int64_t room, int64_t last_seq, const int64_t *seqs, size_t count)
{
    char *state = s_state(room, last_seq, seqs, count);
    s_barriers(room);
    s_answer_load(room, PL_STATUS_OK, state);
    free(state);
    s_collect();
    s_all_done("opening a room");
}

static void setup(void)
{
    zsys_handler_set(NULL);
    s_persister = pl_actor_inbox(PL_PERSISTER_INBOX);
    s_loader = pl_actor_inbox(PL_LOADER_INBOX);
    s_notifier = pl_actor_inbox(PL_NOTIFIER_INBOX);
    cr_assert(s_persister && s_loader && s_notifier);
    for (int w = 0; w < WRITERS; w++) {
        char name[32];
        pl_conn_inbox_name(w, name, sizeof name);
        s_writers[w] = pl_actor_inbox(name);
        cr_assert(s_writers[w]);
    }
    s_start_room();
    s_open(SYNC_ROOM, 0, NULL, 0);
}

//  Takes what is left in an inbox and destroys it. The frames are then freed on this
//  thread, which received them, not by ZeroMQ's own thread as the inbox closes, where
//  ThreadSanitizer could not see them handed over (see tsan.h).
static void s_inbox_destroy(zsock_t **inbox_p)
{
    pl_msg_frame_t in;
    while (*inbox_p && pl_msg_recv(zsock_resolve(*inbox_p), &in, ZMQ_DONTWAIT) == 0)
        pl_msg_frame_close(&in);
    pl_actor_inbox_destroy(inbox_p);
}

static void teardown(void)
{
    for (int w = 0; w < WRITERS; w++)
        s_log_reset(&s_logs[w]);
    zsock_destroy(&s_to_room);
    pl_actor_stop(&s_room, &s_args); //  synchronous: all it sent is in the inboxes now
    for (int w = 0; w < WRITERS; w++)
        s_inbox_destroy(&s_writers[w]);
    s_inbox_destroy(&s_persister);
    s_inbox_destroy(&s_loader);
    s_inbox_destroy(&s_notifier);
}

TestSuite(room, .init = setup, .fini = teardown, .timeout = 30);

//  --- requests -------------------------------------------------------------------

static void s_subscribe_to(int64_t room, uint64_t conn, int64_t user, int64_t since,
                           const char *ref)
{
    pl_msg_t msg = {.type = PL_MSG_ROOM_SUBSCRIBE,
                    .as.room_subscribe = {conn, user, room, since, pl_str_of(ref)}};
    s_request(&msg);
}

static void s_subscribe(uint64_t conn, int64_t user)
{
    s_subscribe_to(ROOM, conn, user, -1, NULL);
}

static void s_unsubscribe(uint64_t conn, int64_t user)
{
    pl_msg_t msg = {.type = PL_MSG_ROOM_UNSUBSCRIBE,
                    .as.room_unsubscribe = {conn, user, ROOM, {NULL, 0}}};
    s_request(&msg);
}

//  A text message from user on conn (client_id and ref may be NULL).
static void s_send_to(int64_t room, uint64_t conn, int64_t user, const char *client_id,
                      const char *body, const char *ref)
{
    pl_msg_t msg = {.type = PL_MSG_ROOM_SEND,
                    .as.room_send = {.conn_id = conn,
                                     .user_id = user,
                                     .room_id = room,
                                     .client_id = pl_str_of(client_id),
                                     .kind = pl_str_of("text"),
                                     .body = pl_str_of(body),
                                     .url = {NULL, 0},
                                     .ref = pl_str_of(ref)}};
    s_request(&msg);
}

static void s_send(uint64_t conn, int64_t user, const char *client_id, const char *body,
                   const char *ref)
{
    s_send_to(ROOM, conn, user, client_id, body, ref);
}

//  The persister reports seqs seq..last of ROOM committed (status OK) or failed.
static void s_stored(int64_t seq, int64_t last, pl_status_t status)
{
    pl_msg_t msg = {.type = PL_MSG_MESSAGE_STORED, .as.message_stored = {ROOM, seq, last, status}};
    s_request(&msg);
}

//  Takes the next MESSAGE_STORE, which must be seq of ROOM from sender with that
//  client_id and body; returns its ts.
static int64_t s_expect_store(int64_t seq, int64_t sender, const char *client_id, const char *body)
{
    pl_msg_frame_t in;
    pl_peer_expect(s_persister, PL_MSG_MESSAGE_STORE, WAIT_MS, &in);
    const pl_msg_message_store_t *m = &in.msg.as.message_store;
    cr_assert_eq(m->room_id, ROOM);
    cr_assert_eq(m->seq, seq, "expected seq %lld, got %lld", (long long)seq, (long long)m->seq);
    cr_assert_eq(m->sender_id, sender);
    cr_assert(m->client_id.ptr && m->client_id.len == strlen(client_id) &&
                  memcmp(m->client_id.ptr, client_id, m->client_id.len) == 0,
              "client_id: expected %s", client_id);
    cr_assert(m->kind.len == 4 && memcmp(m->kind.ptr, "text", 4) == 0);
    cr_assert(m->body.len == strlen(body) && memcmp(m->body.ptr, body, m->body.len) == 0,
              "body: expected %s, got %.*s", body, (int)m->body.len, m->body.ptr);
    cr_assert_null(m->url.ptr);
    cr_assert_gt(m->ts, 0);
    int64_t ts = m->ts;
    pl_msg_frame_close(&in);
    return ts;
}

//  Sends a text message and has the persister report it committed as seq; returns
//  its ts.
static int64_t s_commit(uint64_t conn, int64_t user, const char *client_id, const char *body,
                        int64_t seq)
{
    s_send(conn, user, client_id, body, NULL);
    int64_t ts = s_expect_store(seq, user, client_id, body);
    s_stored(seq, seq, PL_STATUS_OK);
    return ts;
}

//  --- frames ---------------------------------------------------------------------

static int64_t s_int(const json_t *json, const char *key)
{
    const json_t *value = json_object_get(json, key);
    cr_assert(json_is_integer(value), "no integer %s in %s", key, json_dumps(json, 0));
    return json_integer_value(value);
}

static void s_check_str(const json_t *json, const char *key, const char *expected)
{
    const char *value = json_string_value(json_object_get(json, key));
    cr_assert(value, "no string %s in %s", key, json_dumps(json, 0));
    cr_assert_str_eq(value, expected, "%s: expected %s, got %s", key, expected, value);
}

static void s_check_type(const json_t *json, const char *type)
{
    s_check_str(json, "type", type);
    cr_assert_eq(s_int(json, "room"), ROOM);
}

//  A "message" frame: seq, sender and body.
static void s_check_message(const json_t *json, int64_t seq, int64_t sender, const char *body)
{
    s_check_type(json, "message");
    cr_assert_eq(s_int(json, "seq"), seq, "expected message %lld, got %lld", (long long)seq,
                 (long long)s_int(json, "seq"));
    cr_assert_eq(s_int(json_object_get(json, "sender"), "id"), sender);
    s_check_str(json, "body", body);
}

//  An "ack" frame: seq, ts, client_id and ref (NULL: none).
static void s_check_ack(const json_t *json, int64_t seq, int64_t ts, const char *client_id,
                        const char *ref)
{
    s_check_type(json, "ack");
    cr_assert_eq(s_int(json, "seq"), seq, "ack of seq %lld, expected %lld",
                 (long long)s_int(json, "seq"), (long long)seq);
    cr_assert_eq(s_int(json, "ts"), ts);
    s_check_str(json, "client_id", client_id);
    if (ref)
        s_check_str(json, "ref", ref);
    else
        cr_assert_null(json_object_get(json, "ref"));
}

//  The next frame for one connection on its writer.
static const got_t *s_take_send(uint64_t conn)
{
    const got_t *got = s_take((int)(conn % WRITERS), PL_MSG_CONN_SEND);
    cr_assert_eq(got->conn_id, conn, "a frame for %llu went to %llu: %s", (unsigned long long)conn,
                 (unsigned long long)got->conn_id, got->text);
    return got;
}

//  The next CONN_FANOUT on writer w, listing exactly conns (in any order), with the
//  ack of ack_conn riding in it (0: none).
static const got_t *s_take_fanout(int w, const uint64_t *conns, size_t count, uint64_t ack_conn)
{
    const got_t *got = s_take(w, PL_MSG_CONN_FANOUT);
    cr_assert_eq(got->conn_count, count, "writer %d: fanout to %zu connections, expected %zu", w,
                 got->conn_count, count);
    for (size_t i = 0; i < count; i++) {
        cr_assert_eq(conns[i] % WRITERS, (uint64_t)w, "the test expects a wrong shard");
        size_t found = 0;
        for (size_t j = 0; j < got->conn_count; j++)
            found += got->conn_ids[j] == conns[i];
        cr_assert_eq(found, 1, "writer %d: connection %llu listed %zu times", w,
                     (unsigned long long)conns[i], found);
    }
    cr_assert_eq(got->ack_conn, ack_conn, "writer %d: ack for %llu, expected %llu", w,
                 (unsigned long long)got->ack_conn, (unsigned long long)ack_conn);
    return got;
}

static void s_check_error(const got_t *got, const char *code, const char *ref)
{
    s_check_str(got->json, "type", "error");
    s_check_str(got->json, "code", code);
    s_check_str(got->json, "ref", ref);
}

//  The online list of a "subscribed" frame holds exactly users.
static void s_check_online(const json_t *json, const int64_t *users, size_t count)
{
    const json_t *online = json_object_get(json, "online");
    cr_assert_eq(json_array_size(online), count, "online: %s", json_dumps(online, 0));
    for (size_t i = 0; i < count; i++) {
        bool found = false;
        for (size_t j = 0; j < count; j++)
            found |= json_integer_value(json_array_get(online, j)) == users[i];
        cr_assert(found, "user %lld not online: %s", (long long)users[i], json_dumps(online, 0));
    }
}

static void s_check_presence(const json_t *json, int64_t user, bool online)
{
    s_check_type(json, "presence");
    cr_assert_eq(s_int(json, "user"), user);
    cr_assert_eq(json_is_true(json_object_get(json, "online")), online);
}

//  Subscribes each (conn, user) to ROOM and drops what the writers got for it.
static void s_subscribe_all(const uint64_t *conns, const int64_t *users, size_t count)
{
    for (size_t i = 0; i < count; i++)
        s_subscribe(conns[i], users[i]);
    s_sync();
}

//  --- sending --------------------------------------------------------------------

Test(room, a_send_is_delivered_only_after_its_commit_once_per_writer_shard)
{
    s_open(ROOM, 5, NULL, 0);
    //  Shard 0: alice on 10, carol on 12; shard 1: bob on 11 and 13.
    s_subscribe_all((uint64_t[]){10, 12, 11, 13}, (int64_t[]){ALICE, CAROL, BOB, BOB}, 4);
    s_send(10, ALICE, "c-1", "hello", "r-1");
    int64_t ts = s_expect_store(6, ALICE, "c-1", "hello");
    s_sync();
    s_all_done("before the commit");
    pl_peer_expect_nothing(s_notifier, QUIET_MS, "before the commit");

    s_stored(6, 6, PL_STATUS_OK);
    s_sync();
    const got_t *zero = s_take_fanout(0, (uint64_t[]){10, 12}, 2, 10);
    const got_t *one = s_take_fanout(1, (uint64_t[]){11, 13}, 2, 0);
    s_check_message(zero->json, 6, ALICE, "hello");
    cr_assert_eq(s_int(zero->json, "ts"), ts);
    s_check_str(zero->json, "client_id", "c-1");
    cr_assert_str_eq(one->text, zero->text, "every shard must get the same frame bytes");
    s_check_ack(zero->ack, 6, ts, "c-1", "r-1");
    s_all_done("a delivery (one fanout per shard, the ack riding in it)");
}

Test(room, an_unsubscribed_senders_ack_rides_in_its_shards_fanout)
{
    s_open(ROOM, 0, NULL, 0);
    //  Alice is subscribed on 10 (shard 0) but sends from 21 (shard 1, not subscribed).
    s_subscribe_all((uint64_t[]){10, 12}, (int64_t[]){ALICE, BOB}, 2);
    int64_t ts = s_commit(21, ALICE, "c-1", "from elsewhere", 1);
    s_sync();
    const got_t *zero = s_take_fanout(0, (uint64_t[]){10, 12}, 2, 0);
    const got_t *one = s_take_fanout(1, NULL, 0, 21);
    s_check_message(zero->json, 1, ALICE, "from elsewhere");
    cr_assert_str_eq(one->text, zero->text);
    s_check_ack(one->ack, 1, ts, "c-1", NULL);
    s_all_done("a delivery with the sender unsubscribed");
}

Test(room, a_committed_range_is_acked_and_delivered_in_order)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10, 11}, (int64_t[]){ALICE, BOB}, 2);
    static const char *const ids[] = {"c-a", "c-b", "c-c"};
    static const char *const bodies[] = {"one", "two", "three"};
    int64_t ts[3];
    for (int i = 0; i < 3; i++)
        s_send(10, ALICE, ids[i], bodies[i], NULL);
    for (int i = 0; i < 3; i++)
        ts[i] = s_expect_store(i + 1, ALICE, ids[i], bodies[i]);
    s_sync();
    s_all_done("before the commit");

    s_stored(1, 3, PL_STATUS_OK);
    s_sync();
    for (int i = 0; i < 3; i++) {
        const got_t *zero = s_take_fanout(0, (uint64_t[]){10}, 1, 10);
        const got_t *one = s_take_fanout(1, (uint64_t[]){11}, 1, 0);
        s_check_message(zero->json, i + 1, ALICE, bodies[i]);
        cr_assert_str_eq(one->text, zero->text);
        s_check_ack(zero->ack, i + 1, ts[i], ids[i], NULL);
    }
    s_all_done("a committed range");
}

Test(room, a_failed_store_is_an_internal_error_and_never_delivered)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10, 11}, (int64_t[]){ALICE, BOB}, 2);
    s_send(10, ALICE, "c-x", "lost", "r-x");
    s_expect_store(1, ALICE, "c-x", "lost");
    s_stored(1, 1, PL_STATUS_INTERNAL);
    s_sync();
    s_check_error(s_take_send(10), "internal", "r-x");
    s_all_done("a failed store");
    pl_peer_expect_nothing(s_notifier, QUIET_MS, "a failed store");

    //  Nothing after it was handed out, so the next message takes its seq: no client
    //  ever saw seq 1.
    s_commit(10, ALICE, "c-y", "kept", 1);
    s_sync();
    s_check_message(s_take_fanout(0, (uint64_t[]){10}, 1, 10)->json, 1, ALICE, "kept");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, 1, ALICE, "kept");
    s_all_done("the message after a failed one");

    //  Seq 2 fails while seq 3 waits: the persister refuses 3 as well (it would leave a
    //  gap), and the next message takes seq 2 again.
    s_send(10, ALICE, "c-p", "fails", "r-p");
    s_send(11, BOB, "c-q", "refused", "r-q");
    s_expect_store(2, ALICE, "c-p", "fails");
    s_expect_store(3, BOB, "c-q", "refused");
    s_stored(2, 3, PL_STATUS_INTERNAL);
    s_sync();
    s_check_error(s_take_send(10), "internal", "r-p");
    s_check_error(s_take_send(11), "internal", "r-q");
    s_commit(10, ALICE, "c-r", "next", 2);
    s_sync();
    s_check_message(s_take_fanout(0, (uint64_t[]){10}, 1, 10)->json, 2, ALICE, "next");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, 2, ALICE, "next");
    s_all_done("a failure before a commit");
}

//  The report of a failure can reach the room after sends it refused were handed out
//  and before the refusals are reported: only the first failure of those takes the
//  room back, so the seqs handed out anew are not taken back again.
Test(room, only_the_first_failure_takes_the_seqs_back)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10, 11}, (int64_t[]){ALICE, BOB}, 2);
    s_send(10, ALICE, "c-1", "fails", "r-1");
    s_send(11, BOB, "c-2", "refused", "r-2");
    s_expect_store(1, ALICE, "c-1", "fails");
    s_expect_store(2, BOB, "c-2", "refused");
    s_stored(1, 1, PL_STATUS_INTERNAL);
    s_send(10, ALICE, "c-3", "seq 1 again", NULL);
    s_expect_store(1, ALICE, "c-3", "seq 1 again");
    s_stored(2, 2, PL_STATUS_INTERNAL);
    s_send(11, BOB, "c-4", "seq 2 again", NULL);
    s_expect_store(2, BOB, "c-4", "seq 2 again");
    s_stored(1, 2, PL_STATUS_OK);
    s_sync();
    s_check_error(s_take_send(10), "internal", "r-1");
    s_check_error(s_take_send(11), "internal", "r-2");
    s_check_message(s_take_fanout(0, (uint64_t[]){10}, 1, 10)->json, 1, ALICE, "seq 1 again");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, 1, ALICE, "seq 1 again");
    s_check_message(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, 2, BOB, "seq 2 again");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 11)->json, 2, BOB, "seq 2 again");
    s_all_done("seqs handed out again after a failure");
}

Test(room, a_retry_after_a_failed_store_is_stored_anew)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10}, (int64_t[]){ALICE}, 1);
    s_send(10, ALICE, "c-x", "lost", "r-x");
    s_expect_store(1, ALICE, "c-x", "lost");
    s_stored(1, 1, PL_STATUS_INTERNAL);
    //  Meanwhile another message takes seq 1, which no client had seen.
    int64_t ts = s_commit(11, BOB, "c-y", "bob's", 1);
    s_sync();
    s_check_error(s_take_send(10), "internal", "r-x");
    s_check_message(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, 1, BOB, "bob's");
    s_check_ack(s_take_fanout(1, NULL, 0, 11)->ack, 1, ts, "c-y", NULL);
    s_all_done("a failed store, then another message");
    //  Told `internal`, the client retries with the same client_id: that is a new
    //  message to store, not bob's seq 1.
    s_send(10, ALICE, "c-x", "lost", "r-retry");
    s_sync();
    s_done(0, "a retry of a message whose store failed must not be acked before it is stored");
    s_expect_store(2, ALICE, "c-x", "lost");
}

Test(room, a_retry_before_and_after_the_commit_is_acked_with_the_same_seq)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10}, (int64_t[]){ALICE}, 1);
    s_send(10, ALICE, "c-r", "once", "first");
    int64_t ts = s_expect_store(1, ALICE, "c-r", "once");
    //  Before the commit, from another connection (the client reconnected).
    s_send(11, ALICE, "c-r", "once", "second");
    s_sync();
    s_all_done("a retry before the commit");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "a retry before the commit");

    s_stored(1, 1, PL_STATUS_OK);
    s_sync();
    const got_t *zero = s_take_fanout(0, (uint64_t[]){10}, 1, 10);
    s_check_message(zero->json, 1, ALICE, "once");
    s_check_ack(zero->ack, 1, ts, "c-r", "first");
    s_check_ack(s_take_send(11)->json, 1, ts, "c-r", "second");
    s_all_done("the commit of a retried send");

    //  After the commit.
    s_send(13, ALICE, "c-r", "once", "third");
    s_sync();
    s_check_ack(s_take_send(13)->json, 1, ts, "c-r", "third");
    s_all_done("a retry after the commit");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "a retry after the commit");

    //  A client_id is the sender's own: bob's "c-r" is a new message.
    s_send(13, BOB, "c-r", "mine", NULL);
    s_expect_store(2, BOB, "c-r", "mine");
}

Test(room, a_retry_is_recognized_however_much_others_sent_since)
{
    s_open(ROOM, 0, NULL, 0);
    int64_t ts = s_commit(10, ALICE, "c-a", "mine", 1);
    s_sync();
    s_check_ack(s_take_fanout(0, NULL, 0, 10)->ack, 1, ts, "c-a", NULL);
    //  A busy room: bob sends far more than any one sender's memory holds.
    enum { BOB_SENDS = 1100 };
    int64_t bob_ts[BOB_SENDS];
    for (int i = 0; i < BOB_SENDS; i++) {
        char client_id[16];
        snprintf(client_id, sizeof client_id, "b-%d", i);
        bob_ts[i] = s_commit(11, BOB, client_id, "busy", 2 + i);
        if (i % 16 == 15 || i == BOB_SENDS - 1)
            s_sync();
    }
    //  alice reconnects and retries: hers is still known, and so are bob's latest.
    s_send(12, ALICE, "c-a", "mine", "again");
    s_send(12, BOB, "b-1036", "busy", "bob's 64th latest");
    s_sync();
    s_check_ack(s_take_send(12)->json, 1, ts, "c-a", "again");
    s_check_ack(s_take_send(12)->json, 2 + 1036, bob_ts[1036], "b-1036", "bob's 64th latest");
    s_all_done("retries in a busy room");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "retries in a busy room");
}

Test(room, a_retry_of_a_message_loaded_with_the_room_is_acked_with_its_seq)
{
    s_open(ROOM, 3, (int64_t[]){2, 3}, 2);
    s_send(10, ALICE, "old-2", "old 2", "after a restart");
    s_sync();
    s_check_ack(s_take_send(10)->json, 2, 1002, "old-2", "after a restart");
    s_all_done("a retry of a loaded message");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "a retry of a loaded message");
    //  The client_id is alice's: bob's "old-2" is a new message.
    s_send(11, BOB, "old-2", "bob's", NULL);
    s_expect_store(4, BOB, "old-2", "bob's");
}

//  --- refusals -------------------------------------------------------------------

Test(room, a_non_member_is_forbidden)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){10}, (int64_t[]){ALICE}, 1);
    s_subscribe_to(ROOM, 30, STRANGER, 0, "s-1");
    s_send(30, STRANGER, "c-s", "let me in", NULL);
    s_sync();
    s_check_error(s_take_send(30), "forbidden", "s-1");
    s_check_error(s_take_send(30), "forbidden", "c-s"); //  no ref: named by its client_id
    s_all_done("a stranger's requests");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "a stranger's send");

    //  The refused subscription receives nothing.
    s_commit(10, ALICE, "c-1", "members only", 1);
    s_sync();
    s_take_fanout(0, (uint64_t[]){10}, 1, 10);
    s_all_done("a delivery after a refused subscription");
}

Test(room, an_unknown_room_is_not_found)
{
    s_subscribe_to(99, 10, ALICE, -1, "s-1");
    s_send_to(99, 10, ALICE, "c-1", "anyone?", NULL);
    s_answer_load(99, PL_STATUS_NOT_FOUND, NULL);
    s_sync();
    //  PROTOCOL.md: room_not_found is the 404 code for a room.
    s_check_error(s_take_send(10), "room_not_found", "s-1");
    s_check_error(s_take_send(10), "room_not_found", "c-1");
    s_all_done("requests for a room that does not exist");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "a send to a room that does not exist");
    pl_peer_expect_nothing(s_loader, QUIET_MS, "one load for both requests");
}

Test(room, a_room_that_cannot_be_loaded_is_an_internal_error)
{
    s_subscribe_to(ROOM, 10, ALICE, -1, "s-1");
    s_answer_load(ROOM, PL_STATUS_INTERNAL, NULL);
    s_sync();
    s_check_error(s_take_send(10), "internal", "s-1");
}

//  --- loading --------------------------------------------------------------------

Test(room, requests_during_a_load_are_handled_in_arrival_order)
{
    s_subscribe(10, ALICE);
    s_send(10, ALICE, "c-1", "one", NULL);
    s_subscribe(11, BOB);
    s_send(11, BOB, "c-2", "two", NULL);
    s_unsubscribe(10, ALICE);
    //  Only the load goes out; the barrier room is served meanwhile.
    pl_msg_frame_t in;
    pl_peer_expect(s_loader, PL_MSG_ROOM_LOAD, WAIT_MS, &in);
    cr_assert_eq(in.msg.as.room_load.room_id, ROOM);
    pl_msg_frame_close(&in);
    s_sync();
    s_all_done("while the room loads");
    pl_peer_expect_nothing(s_persister, QUIET_MS, "while the room loads");
    pl_peer_expect_nothing(s_loader, QUIET_MS, "a second load of a room being loaded");

    char *state = s_state(ROOM, 0, NULL, 0);
    pl_msg_t loaded = {.type = PL_MSG_ROOM_LOADED,
                       .as.room_loaded = {ROOM, PL_STATUS_OK, pl_str_of(state)}};
    s_request(&loaded);
    free(state);
    s_expect_store(1, ALICE, "c-1", "one");
    s_expect_store(2, BOB, "c-2", "two");
    s_sync();
    const got_t *got = s_take_send(10);
    s_check_type(got->json, "subscribed");
    s_check_online(got->json, (int64_t[]){ALICE}, 1);
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, BOB, true);
    got = s_take_send(11);
    s_check_type(got->json, "subscribed");
    s_check_online(got->json, (int64_t[]){ALICE, BOB}, 2);
    s_check_presence(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, ALICE, false);
    s_all_done("the requests that waited for the load");

    //  Alice had left the stream when seq 1 was committed: only her ack goes to 10.
    s_stored(1, 2, PL_STATUS_OK);
    s_sync();
    s_check_message(s_take_fanout(0, NULL, 0, 10)->json, 1, ALICE, "one");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, 1, ALICE, "one");
    s_check_message(s_take_fanout(1, (uint64_t[]){11}, 1, 11)->json, 2, BOB, "two");
    s_all_done("the commit of the sends that waited");
}

//  --- subscriptions --------------------------------------------------------------

//  Takes the "subscribed" reply to conn: seq, and recovered (-1: absent).
static void s_take_subscribed(uint64_t conn, int64_t seq, int recovered, const char *ref)
{
    const got_t *got = s_take_send(conn);
    s_check_type(got->json, "subscribed");
    cr_assert_eq(s_int(got->json, "seq"), seq);
    const json_t *value = json_object_get(got->json, "recovered");
    if (recovered < 0)
        cr_assert_null(value, "no since, no recovered: %s", got->text);
    else
        cr_assert(json_is_boolean(value) && json_is_true(value) == (recovered == 1),
                  "recovered should be %d: %s", recovered, got->text);
    if (ref)
        s_check_str(got->json, "ref", ref);
}

//  Takes the replayed messages first..last (from alice, stored or "live <seq>").
static void s_take_replay(uint64_t conn, int64_t first, int64_t last, int64_t live_from)
{
    for (int64_t seq = first; seq <= last; seq++) {
        char body[32];
        snprintf(body, sizeof body, seq >= live_from ? "live %lld" : "old %lld", (long long)seq);
        s_check_message(s_take_send(conn)->json, seq, ALICE, body);
    }
}

Test(room, subscribe_since_replays_the_window_after_since)
{
    s_open(ROOM, 10, (int64_t[]){7, 8, 9, 10}, 4);
    s_subscribe_to(ROOM, 10, ALICE, 8, "a");
    s_sync();
    s_take_subscribed(10, 10, 1, "a");
    s_take_replay(10, 9, 10, 11);
    s_all_done("a subscription since 8");

    //  The window holds 7..10: since 6 misses nothing, since 5 misses 6.
    s_subscribe_to(ROOM, 11, BOB, 6, NULL);
    s_subscribe_to(ROOM, 13, CAROL, 5, NULL);
    s_subscribe_to(ROOM, 14, DAVE, 10, NULL);
    s_subscribe_to(ROOM, 16, DAVE, -1, NULL);
    s_sync();
    //  Shard 0 holds 10 (alice), 14 and 16 (dave); shard 1 holds 11 (bob), 13 (carol).
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, BOB, true);
    s_take_subscribed(11, 10, 1, NULL);
    s_take_replay(11, 7, 10, 11);
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, CAROL, true);
    s_check_presence(s_take_fanout(1, (uint64_t[]){11}, 1, 0)->json, CAROL, true);
    s_take_subscribed(13, 10, 0, NULL);
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, DAVE, true);
    s_check_presence(s_take_fanout(1, (uint64_t[]){11, 13}, 2, 0)->json, DAVE, true);
    s_take_subscribed(14, 10, 1, NULL);
    s_take_subscribed(16, 10, -1, NULL);
    s_all_done("subscriptions since 6, 5, 10 and none");

    //  The window moves with committed messages: it holds 8..11 after one more.
    s_commit(10, ALICE, "c-1", "live 11", 11);
    s_subscribe_to(ROOM, 18, ALICE, 8, NULL);
    s_subscribe_to(ROOM, 20, ALICE, 7, NULL);
    s_subscribe_to(ROOM, 22, ALICE, 6, NULL);
    s_sync();
    s_take_fanout(0, (uint64_t[]){10, 14, 16}, 3, 10);
    s_take_fanout(1, (uint64_t[]){11, 13}, 2, 0);
    s_take_subscribed(18, 11, 1, NULL);
    s_take_replay(18, 9, 11, 11);
    s_take_subscribed(20, 11, 1, NULL);
    s_take_replay(20, 8, 11, 11);
    s_take_subscribed(22, 11, 0, NULL);
    s_all_done("subscriptions after the window moved");
}

Test(room, a_replay_after_a_failed_seq_repeats_nothing_since)
{
    s_open(ROOM, 1, (int64_t[]){1}, 1);
    s_send(10, ALICE, "c-2", "fails", NULL);
    s_send(10, ALICE, "c-3", "refused", NULL);
    s_expect_store(2, ALICE, "c-2", "fails");
    s_expect_store(3, ALICE, "c-3", "refused");
    s_stored(2, 3, PL_STATUS_INTERNAL);
    s_subscribe_to(ROOM, 12, BOB, 1, NULL);
    s_sync();
    s_take_send(10); //  the `internal` errors for seqs 2 and 3
    s_take_send(10);
    s_take_subscribed(12, 1, 1, NULL);
    s_done(0, "a replay since 1");
}

Test(room, presence_follows_a_members_first_and_last_subscription)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe(10, ALICE);
    s_sync();
    s_take_subscribed(10, 0, -1, NULL);
    s_all_done("the first subscriber (nobody to tell)");

    s_subscribe(11, BOB);
    s_sync();
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, BOB, true);
    s_take_subscribed(11, 0, -1, NULL);
    s_all_done("bob's first subscription");

    //  Bob's second connection, and his first going away, change nothing.
    s_subscribe(13, BOB);
    s_unsubscribe(11, BOB);
    s_sync();
    s_take_subscribed(13, 0, -1, NULL);
    s_all_done("bob's second connection");

    s_unsubscribe(13, BOB);
    s_sync();
    s_check_presence(s_take_fanout(0, (uint64_t[]){10}, 1, 0)->json, BOB, false);
    s_all_done("bob's last unsubscription");
}

//  --- notifications --------------------------------------------------------------

//  Takes the NOTIFY_MESSAGE, which must name exactly users (in any order) and carry
//  frame.
static void s_expect_notify(const int64_t *users, size_t count, const char *frame)
{
    pl_msg_frame_t in;
    pl_peer_expect(s_notifier, PL_MSG_NOTIFY_MESSAGE, WAIT_MS, &in);
    const pl_msg_notify_message_t *m = &in.msg.as.notify_message;
    cr_assert_eq(m->room_id, ROOM);
    cr_assert_eq(m->is_dm, 0);
    cr_assert(m->title.len == 4 && memcmp(m->title.ptr, "Dune", 4) == 0);
    cr_assert(m->message.len == strlen(frame) && memcmp(m->message.ptr, frame, m->message.len) == 0,
              "the notifier must get the delivered frame");
    size_t n = m->recipients.len / sizeof(int64_t);
    int64_t ids[8];
    cr_assert_leq(n, 8);
    memcpy(ids, m->recipients.ptr, n * sizeof(int64_t));
    pl_msg_frame_close(&in);
    cr_assert_eq(n, count, "%zu recipients, expected %zu", n, count);
    for (size_t i = 0; i < count; i++) {
        size_t found = 0;
        for (size_t j = 0; j < n; j++)
            found += ids[j] == users[i];
        cr_assert_eq(found, 1, "user %lld named %zu times", (long long)users[i], found);
    }
}

Test(room, the_notifier_hears_of_members_with_no_subscription_but_the_sender)
{
    s_open(ROOM, 0, NULL, 0);
    s_subscribe_all((uint64_t[]){11}, (int64_t[]){BOB}, 1);
    //  Alice sends from a connection that is not subscribed: she is not told anyway.
    s_send(20, ALICE, "c-1", "anyone?", NULL);
    s_expect_store(1, ALICE, "c-1", "anyone?");
    s_sync();
    pl_peer_expect_nothing(s_notifier, QUIET_MS, "before the commit");
    s_stored(1, 1, PL_STATUS_OK);
    s_sync();
    const got_t *got = s_take_fanout(1, (uint64_t[]){11}, 1, 0);
    s_expect_notify((int64_t[]){CAROL, DAVE}, 2, got->text);

    //  With everyone else subscribed, nobody is.
    s_subscribe_all((uint64_t[]){13, 15}, (int64_t[]){CAROL, DAVE}, 2);
    s_commit(20, ALICE, "c-2", "all here", 2);
    s_sync();
    pl_peer_expect_nothing(s_notifier, QUIET_MS, "everyone but the sender is subscribed");
}
