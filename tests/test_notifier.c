/*  The notifier actor in isolation: the test plays its neighbours. It binds the
    persister's inbox (answering NOTIFICATION_STORE itself, writing the rows to the
    store when a test needs them there) and one writer shard's inbox, and sends
    what the rooms, the HTTP handlers and the persister would send. */
#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/conn.h"
#include "parley/notifier.h"
#include "parley/persister.h"
#include "parley/store.h"
#include "peer.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

static char s_dir[64];
static pl_store_t *s_store; //  the test's write connection
static pl_notifier_args_t s_args;
static zactor_t *s_notifier;
static zsock_t *s_to_notifier, *s_persister, *s_writer;
static int64_t s_alice, s_bob, s_carol;
static int64_t s_room; //  a room that exists, for the rows' foreign key

static int64_t s_add_user(const char *name, const char *display_name)
{
    int64_t id;
    cr_assert_eq(s_store->ops->user_insert(s_store, pl_str_of(name), pl_str_of("$argon2id$x"),
                                           pl_str_of(display_name), 1, &id),
                 PL_STATUS_OK);
    return id;
}

//  Starts the notifier with a budget of writes_per_s (0: none).
static void s_start_notifier_with(int64_t writes_per_s)
{
    s_args = (pl_notifier_args_t){
        .store = {.data_dir = s_dir}, .writer_count = 1, .writes_per_s = writes_per_s};
    s_notifier = zactor_new(pl_notifier_actor, &s_args);
    cr_assert(s_notifier);
    cr_assert_not(s_args.failed, "the notifier did not start");
    s_to_notifier = pl_actor_outlet(PL_NOTIFIER_INBOX);
    cr_assert(s_to_notifier);
}

static void s_start_notifier(void)
{
    s_start_notifier_with(0);
}

static void s_stop_notifier(void)
{
    zsock_destroy(&s_to_notifier);
    zactor_destroy(&s_notifier);
}

static void setup(void)
{
    zsys_handler_set(NULL);
    snprintf(s_dir, sizeof s_dir, "/tmp/parley-notifier-XXXXXX");
    cr_assert(mkdtemp(s_dir));
    char err[256];
    s_store = pl_store_sqlite_open(s_dir, true, err, sizeof err);
    cr_assert(s_store, "%s", err);
    s_alice = s_add_user("alice", "Alice");
    s_bob = s_add_user("bob", "Bob");
    s_carol = s_add_user("carol", "Carol");
    bool created;
    cr_assert_eq(s_store->ops->room_ensure_dm(s_store, s_alice, s_bob, 1, &s_room, &created),
                 PL_STATUS_OK);
    s_persister = pl_actor_inbox(PL_PERSISTER_INBOX);
    char name[32];
    pl_conn_inbox_name(0, name, sizeof name);
    s_writer = pl_actor_inbox(name);
    cr_assert(s_persister && s_writer);
    s_start_notifier();
}

static void teardown(void)
{
    s_stop_notifier();
    pl_actor_inbox_destroy(&s_persister);
    pl_actor_inbox_destroy(&s_writer);
    pl_store_close(&s_store);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", s_dir);
    cr_assert_eq(system(command), 0);
}

TestSuite(notifier, .init = setup, .fini = teardown, .timeout = 30);

static void s_send(const pl_msg_t *msg)
{
    cr_assert_eq(pl_msg_send(zsock_resolve(s_to_notifier), msg), 0);
}

//  A notification the notifier asked to store, copied out of its frame.
typedef struct {
    int64_t id, version, user_id, room_id, count;
    char kind[32];
    json_t *body;
} stored_t;

//  Takes the next NOTIFICATION_STORE; with commit, writes it to the store as the
//  persister would (without reporting it yet).
static stored_t s_expect_store(bool commit)
{
    pl_msg_frame_t in;
    cr_assert(pl_peer_recv(s_persister, 5000, &in), "no NOTIFICATION_STORE came");
    cr_assert_eq(in.msg.type, PL_MSG_NOTIFICATION_STORE, "got %s", pl_msg_name(in.msg.type));
    const pl_msg_notification_store_t *m = &in.msg.as.notification_store;
    stored_t out = {m->id, m->version, m->user_id, m->room_id, m->count, "", NULL};
    snprintf(out.kind, sizeof out.kind, "%.*s", (int)m->kind.len, m->kind.ptr);
    out.body = json_loadb(m->body.ptr, m->body.len, 0, NULL);
    cr_assert(json_is_object(out.body));
    if (commit) {
        pl_notification_row_t row = {m->id,    m->version, m->user_id, m->room_id,
                                     m->count, m->ts,      m->kind,    m->body};
        cr_assert_eq(s_store->ops->notification_put(s_store, &row), PL_STATUS_OK);
    }
    pl_msg_frame_close(&in);
    return out;
}

static void s_report_stored(int64_t id)
{
    pl_msg_t msg = {.type = PL_MSG_NOTIFICATION_STORED,
                    .as.notification_stored = {id, PL_STATUS_OK}};
    s_send(&msg);
}

//  A message frame as a room would hand it over.
static char *s_frame(int64_t sender, const char *sender_name, const char *text)
{
    json_t *frame =
        json_pack("{s:s, s:I, s:i, s:{s:I, s:s, s:n}, s:s, s:s, s:I}", "type", "message", "room",
                  (json_int_t)s_room, "seq", 1, "sender", "id", (json_int_t)sender, "display_name",
                  sender_name, "avatar_url", "kind", "text", "body", text, "ts", (json_int_t)1000);
    char *dump = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    return dump;
}

static void s_room_message(bool is_dm, int64_t sender, const char *sender_name, const char *text,
                           const int64_t *recipients, size_t count)
{
    char *frame = s_frame(sender, sender_name, text);
    pl_msg_t msg = {
        .type = PL_MSG_NOTIFY_MESSAGE,
        .as.notify_message = {s_room,
                              is_dm,
                              pl_str_of("Dune"),
                              {(const char *)recipients, (uint32_t)(count * sizeof *recipients)},
                              pl_str_of(frame)}};
    s_send(&msg);
    free(frame);
}

static void s_stream_open(uint64_t conn_id, int64_t user_id, int64_t last_event_id)
{
    pl_msg_t msg = {.type = PL_MSG_STREAM_OPEN,
                    .as.stream_open = {conn_id, user_id, last_event_id}};
    s_send(&msg);
}

//  Takes the writer's next message, of the given type; returns its text (caller frees).
static char *s_expect_writer(int type, uint64_t id)
{
    pl_msg_frame_t in;
    cr_assert(pl_peer_recv(s_writer, 5000, &in), "the writer got nothing");
    cr_assert_eq(in.msg.type, type, "got %s", pl_msg_name(in.msg.type));
    pl_str_t text;
    if (type == PL_MSG_CONN_SSE_LIVE) {
        cr_assert_eq(in.msg.as.conn_sse_live.conn_id, id);
        text = in.msg.as.conn_sse_live.text;
    } else {
        cr_assert_eq(in.msg.as.conn_user_event.user_id, (int64_t)id);
        text = in.msg.as.conn_user_event.text;
    }
    char *copy = strndup(text.ptr ? text.ptr : "", text.len);
    pl_msg_frame_close(&in);
    return copy;
}

Test(notifier, coalesces_a_room_while_a_write_is_in_flight)
{
    int64_t recipients[] = {s_bob, s_carol};
    s_room_message(false, s_alice, "Alice", "one", recipients, 2);
    stored_t first[2] = {s_expect_store(false), s_expect_store(false)};
    //  More messages while both writes are in flight: nothing is written yet.
    s_room_message(false, s_alice, "Alice", "two", recipients, 2);
    s_room_message(false, s_alice, "Alice", "three", recipients, 2);
    pl_peer_expect_nothing(s_persister, 150, "a second write of a notification in flight");
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(first[i].kind, "group_message");
        cr_assert_eq(first[i].room_id, s_room);
        cr_assert_eq(first[i].count, 1);
        s_report_stored(first[i].id);
    }
    cr_assert_neq(first[0].id, first[1].id);
    //  Once reported, each is written again with what changed meanwhile, in one go.
    for (int i = 0; i < 2; i++) {
        stored_t again = s_expect_store(false);
        const stored_t *before = again.user_id == first[0].user_id ? &first[0] : &first[1];
        cr_assert_eq(before->version, before->id, "a new notification's version is its id");
        cr_assert_eq(again.id, before->id, "a coalesced update must keep its id");
        cr_assert_gt(again.version, first[0].version, "an update needs a newer version");
        cr_assert_gt(again.version, first[1].version, "an update needs a newer version");
        cr_assert_eq(again.count, 3);
        cr_assert_str_eq(json_string_value(json_object_get(again.body, "text")),
                         "3 new messages in Dune: Alice: three");
        json_decref(again.body);
        json_decref(first[i].body);
    }
}

Test(notifier, pushes_only_after_the_commit_is_reported)
{
    s_stream_open(7, s_bob, -1);
    char *live = s_expect_writer(PL_MSG_CONN_SSE_LIVE, 7);
    cr_assert_str_eq(live, "", "a stream without Last-Event-ID gets no replay");
    free(live);
    int64_t recipient = s_bob;
    s_room_message(true, s_alice, "Alice", "hi bob", &recipient, 1);
    stored_t stored = s_expect_store(false);
    cr_assert_str_eq(stored.kind, "dm");
    pl_peer_expect_nothing(s_writer, 150, "a push before the commit");
    s_report_stored(stored.id);
    char *event = s_expect_writer(PL_MSG_CONN_USER_EVENT, (uint64_t)s_bob);
    char expected[64];
    snprintf(expected, sizeof expected, "event: notification\nid: %lld\ndata: {",
             (long long)stored.id);
    cr_assert(strncmp(event, expected, strlen(expected)) == 0, "event: %s", event);
    cr_assert(strstr(event, "\"text\":\"Alice: hi bob\""), "event: %s", event);
    cr_assert(strstr(event, "\"read\":false"), "event: %s", event);
    cr_assert_eq(strcmp(event + strlen(event) - 2, "\n\n"), 0);
    free(event);
    json_decref(stored.body);
}

Test(notifier, a_user_without_streams_gets_no_push)
{
    int64_t recipient = s_carol;
    s_room_message(true, s_alice, "Alice", "hi", &recipient, 1);
    stored_t stored = s_expect_store(false);
    s_report_stored(stored.id);
    pl_peer_expect_nothing(s_writer, 150, "a push to a user with no stream");
    json_decref(stored.body);
}

Test(notifier, read_ends_coalescing_and_reaches_the_persister)
{
    int64_t recipient = s_bob;
    s_room_message(true, s_alice, "Alice", "first", &recipient, 1);
    stored_t first = s_expect_store(false);
    s_report_stored(first.id);
    int64_t ids[] = {first.id};
    pl_msg_t read = {
        .type = PL_MSG_NOTIFICATIONS_READ,
        .as.notifications_read = {
            .waiter = 42, .req_id = 43, .user_id = s_bob, .ids = {(const char *)ids, sizeof ids}}};
    s_send(&read);
    pl_msg_frame_t in;
    cr_assert(pl_peer_recv(s_persister, 5000, &in));
    cr_assert_eq(in.msg.type, PL_MSG_NOTIFICATIONS_READ);
    cr_assert_eq(in.msg.as.notifications_read.waiter, 42, "the waiter must reach the persister");
    cr_assert_eq(in.msg.as.notifications_read.user_id, s_bob);
    pl_msg_frame_close(&in);
    s_room_message(true, s_alice, "Alice", "second", &recipient, 1);
    stored_t second = s_expect_store(false);
    cr_assert_gt(second.id, first.id, "a message after the read starts a new notification");
    cr_assert_eq(second.count, 1);
    json_decref(first.body);
    json_decref(second.body);
}

Test(notifier, replay_leaves_out_what_is_still_in_flight)
{
    int64_t recipient = s_bob;
    //  Two committed and reported, one committed but not reported yet.
    s_room_message(true, s_alice, "Alice", "one", &recipient, 1);
    stored_t one = s_expect_store(true);
    s_report_stored(one.id);
    pl_msg_t follow = {.type = PL_MSG_NOTIFY_FOLLOW, .as.notify_follow = {s_carol, s_bob}};
    s_send(&follow);
    stored_t two = s_expect_store(true);
    cr_assert_str_eq(two.kind, "follow");
    cr_assert_str_eq(json_string_value(json_object_get(two.body, "text")), "Carol followed you");
    s_report_stored(two.id);
    pl_msg_t follow_again = {.type = PL_MSG_NOTIFY_FOLLOW, .as.notify_follow = {s_alice, s_bob}};
    s_send(&follow_again);
    stored_t three = s_expect_store(true);

    s_stream_open(9, s_bob, one.id - 1);
    char *replay = s_expect_writer(PL_MSG_CONN_SSE_LIVE, 9);
    const char *first = strstr(replay, "\nid: ");
    char one_id[32], two_id[32], three_id[32];
    snprintf(one_id, sizeof one_id, "\nid: %lld\n", (long long)one.id);
    snprintf(two_id, sizeof two_id, "\nid: %lld\n", (long long)two.id);
    snprintf(three_id, sizeof three_id, "\nid: %lld\n", (long long)three.id);
    cr_assert(first && strncmp(first, one_id, strlen(one_id)) == 0, "replay: %s", replay);
    cr_assert(strstr(replay, two_id) > first, "replay: %s", replay);
    cr_assert_null(strstr(replay, three_id), "in flight, so it must come live: %s", replay);
    free(replay);
    s_report_stored(three.id);
    char *event = s_expect_writer(PL_MSG_CONN_USER_EVENT, (uint64_t)s_bob);
    cr_assert(strstr(event, three_id), "event: %s", event);
    free(event);
    json_decref(one.body);
    json_decref(two.body);
    json_decref(three.body);
}

Test(notifier, unread_room_notifications_go_on_coalescing_after_a_restart)
{
    int64_t recipient = s_bob;
    s_room_message(true, s_alice, "Alice", "before", &recipient, 1);
    stored_t before = s_expect_store(true);
    s_report_stored(before.id);
    s_stop_notifier();
    s_start_notifier();
    s_room_message(true, s_alice, "Alice", "after", &recipient, 1);
    stored_t after = s_expect_store(false);
    cr_assert_eq(after.id, before.id);
    cr_assert_eq(after.count, 2);
    //  And ids handed out after a restart never reuse a stored one.
    pl_msg_t follow = {.type = PL_MSG_NOTIFY_FOLLOW, .as.notify_follow = {s_carol, s_bob}};
    s_send(&follow);
    stored_t next = s_expect_store(false);
    cr_assert_gt(next.id, before.id);
    json_decref(before.body);
    json_decref(after.body);
    json_decref(next.body);
}

Test(notifier, a_busy_room_keeps_within_the_write_budget)
{
    //  1,500 absent members, a budget of 500 writes a second: the first 500 at once,
    //  the rest as the budget refills, so no sooner than 2 s; and a second message
    //  meanwhile coalesces into the writes still waiting instead of adding any.
    s_stop_notifier();
    s_start_notifier_with(500);
    enum { MEMBERS = 1500 };
    int64_t *members = malloc(MEMBERS * sizeof *members);
    for (int i = 0; i < MEMBERS; i++)
        members[i] = 1000 + i;
    int64_t started = pl_now_ms();
    s_room_message(false, s_alice, "Alice", "first", members, MEMBERS);
    bool *seen = calloc(MEMBERS, sizeof *seen);
    int counted_two = 0;
    for (int i = 0; i < MEMBERS; i++) {
        stored_t one = s_expect_store(false);
        int64_t member = one.user_id - 1000;
        cr_assert(member >= 0 && member < MEMBERS && !seen[member],
                  "user %lld written twice or unknown", (long long)one.user_id);
        seen[member] = true;
        counted_two += one.count == 2;
        if (i == 499)
            s_room_message(false, s_alice, "Alice", "second", members, MEMBERS);
        json_decref(one.body);
    }
    int64_t elapsed = pl_now_ms() - started;
    cr_assert_geq(elapsed, 1800, "1,500 writes in %lld ms: over the budget", (long long)elapsed);
    cr_assert_gt(counted_two, 500, "only %d waiting writes carried the second message",
                 counted_two);
    //  Nothing more: the second message made no writes of its own.
    pl_msg_frame_t extra;
    cr_assert_not(pl_peer_recv(s_persister, 300, &extra), "a write past one per member");
    free(seen);
    free(members);
}
