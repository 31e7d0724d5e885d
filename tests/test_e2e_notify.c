/*  End to end: notifications of the real parley binary as a client sees them
    (PROTOCOL.md "Users, follows, contents, likes", "Rooms", "Notifications"): the
    event stream GET /api/events with its replay, heartbeat, auth and connection
    limit; follows; room_created for likers; dm and group_message for absent
    members with coalescing; the stored list, marking read, and durability across
    kill -9. Each test starts its own server on a free port with a fresh data dir.

    A stream opened on a fresh user sends Last-Event-ID: 0 unless the test is about
    plain streams: it replays nothing then, and cannot miss a notification committed
    between the response head and the server registering the stream. That some user
    got nothing is shown by a later notification (a "marker") being the next one
    its stream sees, rather than by waiting. */
#include "api.h"
#include "e2e_suite.h"
#include "fixtures.h"
#include "http_client.h"
#include "net.h"
#include "server_proc.h"
#include "sse_client.h"
#include "ws_client.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  How long one expected notification or frame may take.
#define EVENT_MS 5000

//  What a test opened, released by the suite's .fini (each test runs in a process
//  of its own): the tokens of its users and the streams it did not close.
static char *s_tokens[64];
static size_t s_token_count;
static pl_sse_t *s_streams[32];
static size_t s_stream_count;

static void s_teardown(void)
{
    for (size_t i = 0; i < s_stream_count; i++)
        pl_sse_close(&s_streams[i]);
    for (size_t i = 0; i < s_token_count; i++)
        free(s_tokens[i]);
    pl_e2e_teardown();
}

//  Closes a stream before the test ends.
static void s_close(pl_sse_t **sse)
{
    for (size_t i = 0; i < s_stream_count; i++)
        if (s_streams[i] == *sse)
            s_streams[i] = NULL;
    pl_sse_close(sse);
}

TestSuite(e2e_notify, .init = pl_e2e_setup, .fini = s_teardown, .timeout = 120);

//  --- helpers ---------------------------------------------------------------------

typedef pl_api_user_t user_t;

//  A new user called name; its token is freed by the suite's .fini.
static user_t s_user(const char *name)
{
    cr_assert_lt(s_token_count, sizeof s_tokens / sizeof s_tokens[0]);
    user_t user = pl_api_signup(name);
    s_tokens[s_token_count++] = user.token;
    return user;
}

//  count users called <prefix>0, <prefix>1, ...
static void s_users(user_t *users, size_t count, const char *prefix)
{
    for (size_t i = 0; i < count; i++)
        users[i] = s_user(pl_api_fmt("%s%zu", prefix, i));
}

//  A room as its notifications show it: a DM is titled by the sender's name.
typedef struct {
    int64_t id;
    bool dm;
    const char *title; //  a group room's
} room_t;

//  The DM room of a and b.
static room_t s_dm(const user_t *a, const user_t *b)
{
    json_t *room = pl_api_json("POST", pl_api_fmt("/api/users/%lld/dm", (long long)b->id), a->token,
                               NULL, 201);
    room_t dm = {pl_api_int(room, "id"), true, NULL};
    json_decref(room);
    return dm;
}

//  Opens GET path with the extra headers; asserts a 200 event stream whose first
//  block is "retry: 2000" alone.
static pl_sse_t *s_open(const char *path, const char *headers)
{
    pl_http_response_t refused;
    pl_sse_t *sse = pl_sse_connect(s_srv.port, path, headers, &refused);
    cr_assert(sse, "GET %s: status %d, body %s", path, refused.status,
              refused.body ? refused.body : "");
    const char *type = pl_http_header(pl_sse_response(sse), "Content-Type");
    cr_assert(type && strncmp(type, "text/event-stream", 17) == 0, "Content-Type %s", type);
    pl_sse_block_t block;
    cr_assert_eq(pl_sse_next(sse, EVENT_MS, &block), 1, "no first block");
    cr_assert_eq(block.retry, 2000, "the first block is not retry: 2000");
    cr_assert(!block.data && !block.event && !block.id);
    pl_sse_block_free(&block);
    cr_assert_lt(s_stream_count, sizeof s_streams / sizeof s_streams[0]);
    s_streams[s_stream_count++] = sse;
    return sse;
}

//  Writes "Authorization: Bearer <token>\r\n" and the lines in more (NULL: none).
static void s_headers(char *headers, size_t size, const user_t *user, const char *more)
{
    snprintf(headers, size, "Authorization: Bearer %s\r\n%s", user->token, more ? more : "");
}

//  Opens the stream of user with Last-Event-ID: after (after < 0: none).
static pl_sse_t *s_stream(const user_t *user, int64_t after)
{
    char headers[1024];
    s_headers(headers, sizeof headers, user,
              after >= 0 ? pl_api_fmt("Last-Event-ID: %lld\r\n", (long long)after) : NULL);
    return s_open("/api/events", headers);
}

//  Expects GET path with headers to be refused with status and error code.
static void s_refused(const char *path, const char *headers, int status, const char *code)
{
    pl_http_response_t r;
    pl_sse_t *sse = pl_sse_connect(s_srv.port, path, headers, &r);
    cr_assert_null(sse, "GET %s was not refused", path);
    cr_assert_eq(r.status, status, "GET %s: status %d, body %s", path, r.status, r.body);
    const char *got = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
    cr_assert(got && strcmp(got, code) == 0, "GET %s: %s", path, r.body);
    pl_http_response_free(&r);
}

//  The next notification of a stream (caller decrefs); asserts one comes.
static json_t *s_next(pl_sse_t *sse)
{
    char why[512];
    json_t *notification = pl_sse_next_notification(sse, EVENT_MS, why, sizeof why);
    cr_assert(notification, "%s", why);
    return notification;
}

static int64_t s_id(const json_t *notification)
{
    return pl_api_int(notification, "id");
}

//  Asserts what every notification carries, with kind, text and actor, and
//  returns its id.
static int64_t s_check(const json_t *n, const char *kind, const char *text, const user_t *actor)
{
    const char *shown = pl_api_show(n);
    cr_assert_gt(s_id(n), 0, "%s", shown);
    cr_assert_str_eq(pl_api_str(n, "kind"), kind, "%s", shown);
    cr_assert_str_eq(pl_api_str(n, "text"), text, "%s", shown);
    cr_assert(json_is_boolean(json_object_get(n, "read")), "%s", shown);
    cr_assert_gt(pl_api_int(n, "ts"), 1700000000000LL, "%s", shown);
    json_t *who = json_object_get(n, "actor");
    cr_assert_eq(pl_api_int(who, "id"), actor->id, "%s", shown);
    cr_assert_str_eq(pl_api_str(who, "display_name"), actor->name, "%s", shown);
    return s_id(n);
}

//  Asserts n is an unread follow from actor; returns its id.
static int64_t s_check_follow(const json_t *n, const user_t *actor)
{
    int64_t id = s_check(n, "follow", pl_api_fmt("%s followed you", actor->name), actor);
    const char *shown = pl_api_show(n);
    cr_assert_str_eq(pl_api_str(n, "url"), pl_api_fmt("/users/%lld", (long long)actor->id));
    cr_assert(json_is_string(json_object_get(json_object_get(n, "actor"), "username")), "%s",
              shown);
    cr_assert(json_is_false(json_object_get(n, "read")), "%s", shown);
    cr_assert_null(json_object_get(n, "room"), "%s", shown);
    cr_assert_null(json_object_get(n, "content"), "%s", shown);
    return id;
}

//  Asserts the next notification of a stream is a follow from actor; returns its id.
static int64_t s_next_follow(pl_sse_t *sse, const user_t *actor)
{
    json_t *n = s_next(sse);
    int64_t id = s_check_follow(n, actor);
    json_decref(n);
    return id;
}

//  Asserts n is about a message in room from sender, counting count, with text.
static void s_check_message(const json_t *n, const room_t *room, const user_t *sender,
                            int64_t count, const char *text)
{
    s_check(n, room->dm ? "dm" : "group_message", text, sender);
    const char *shown = pl_api_show(n);
    json_t *ref = json_object_get(n, "room");
    cr_assert_eq(pl_api_int(ref, "id"), room->id, "%s", shown);
    cr_assert_str_eq(pl_api_str(ref, "kind"), room->dm ? "dm" : "group", "%s", shown);
    cr_assert_str_eq(pl_api_str(ref, "title"), room->dm ? sender->name : room->title, "%s", shown);
    cr_assert_str_eq(pl_api_str(n, "url"), pl_api_fmt("/rooms/%lld", (long long)room->id), "%s",
                     shown);
    cr_assert_eq(pl_api_int(n, "count"), count, "%s", shown);
}

//  Publishes body from sender in room; returns nothing (the Message is checked by
//  the rooms suite).
static void s_say(const user_t *sender, const room_t *room, const char *body)
{
    json_decref(pl_api_publish(sender->token, room->id, NULL, body));
}

//  Says body and asserts the next notification of stream is about it, unread,
//  counting count, with text; returns its id.
static int64_t s_say_notified(const user_t *sender, const room_t *room, const char *body,
                              pl_sse_t *stream, int64_t count, const char *text)
{
    s_say(sender, room, body);
    json_t *n = s_next(stream);
    s_check_message(n, room, sender, count, text);
    cr_assert(json_is_false(json_object_get(n, "read")), "%s", pl_api_show(n));
    int64_t id = s_id(n);
    json_decref(n);
    return id;
}

//  Reads the notifications of a stream until one counts count: each of them
//  notification id of kind, unread, its count growing (a push may be skipped when
//  updates come faster than commits). Returns the last one (caller decrefs).
static json_t *s_until_count(pl_sse_t *sse, int64_t id, const char *kind, int64_t count)
{
    int64_t seen = 0;
    for (;;) {
        json_t *n = s_next(sse);
        const char *shown = pl_api_show(n);
        cr_assert_str_eq(pl_api_str(n, "kind"), kind, "%s", shown);
        cr_assert_eq(s_id(n), id, "another notification than %lld: %s", (long long)id, shown);
        int64_t got = pl_api_int(n, "count");
        cr_assert(got > seen && got <= count, "count %lld after %lld, expected up to %lld: %s",
                  (long long)got, (long long)seen, (long long)count, shown);
        cr_assert(json_is_false(json_object_get(n, "read")), "%s", shown);
        if (got == count)
            return n;
        seen = got;
        json_decref(n);
    }
}

//  follower follows followee, expecting 204.
static void s_follow(const user_t *follower, const user_t *followee)
{
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)followee->id),
                  follower->token, NULL, 204, NULL);
}

//  follower follows followee and the next notification of followee's stream is
//  that follow; returns its id.
static int64_t s_follow_notified(const user_t *follower, const user_t *followee, pl_sse_t *stream)
{
    s_follow(follower, followee);
    return s_next_follow(stream, follower);
}

//  GET /api/notifications?<query> of user: returns the notifications (caller
//  decrefs) and the unread count in *unread (may be NULL).
static json_t *s_list(const user_t *user, const char *query, int64_t *unread)
{
    json_t *page =
        pl_api_json("GET", pl_api_fmt("/api/notifications?%s", query), user->token, NULL, 200);
    json_t *list = json_incref(json_object_get(page, "notifications"));
    cr_assert(json_is_array(list), "%s", pl_api_show(page));
    int64_t count = pl_api_int(page, "unread");
    if (unread)
        *unread = count;
    json_decref(page);
    return list;
}

//  Asserts the list (GET ?query) holds exactly the ids given, in that order, and
//  that the unread count is unread.
static void s_expect_list(const user_t *user, const char *query, const int64_t *ids, size_t count,
                          int64_t unread)
{
    int64_t got_unread;
    json_t *list = s_list(user, query, &got_unread);
    cr_assert_eq(json_array_size(list), count, "?%s: %zu notifications, expected %zu: %s", query,
                 json_array_size(list), count, pl_api_show(list));
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(s_id(json_array_get(list, i)), ids[i], "?%s: position %zu: %s", query, i,
                     pl_api_show(list));
    cr_assert_eq(got_unread, unread, "?%s: unread %lld, expected %lld", query,
                 (long long)got_unread, (long long)unread);
    json_decref(list);
}

//  The stored notification id of user (asserted to be among the latest 100);
//  caller decrefs.
static json_t *s_stored(const user_t *user, int64_t id)
{
    json_t *list = s_list(user, "limit=100", NULL);
    size_t i;
    json_t *n;
    json_array_foreach(list, i, n)
    {
        if (s_id(n) == id) {
            json_incref(n);
            json_decref(list);
            return n;
        }
    }
    cr_assert_fail("notification %lld is not listed: %s", (long long)id, pl_api_show(list));
    return NULL;
}

//  Asserts the stored notification id of user equals n.
static void s_expect_stored_as(const user_t *user, const json_t *n)
{
    json_t *stored = s_stored(user, s_id(n));
    cr_assert(json_equal(stored, n), "stored %s, expected %s", pl_api_show(stored), pl_api_show(n));
    json_decref(stored);
}

//  Asserts the stored notification id of user is read (or not) and counts count
//  (0: a notification without a count).
static void s_expect_stored(const user_t *user, int64_t id, bool read, int64_t count)
{
    json_t *n = s_stored(user, id);
    cr_assert(json_is_boolean(json_object_get(n, "read")) &&
                  json_is_true(json_object_get(n, "read")) == read,
              "not read=%d: %s", read, pl_api_show(n));
    if (count)
        cr_assert_eq(pl_api_int(n, "count"), count, "%s", pl_api_show(n));
    else
        cr_assert_null(json_object_get(n, "count"), "%s", pl_api_show(n));
    json_decref(n);
}

//  POST /api/notifications/read as user with body, expecting 204.
static void s_mark_read(const user_t *user, const char *body)
{
    pl_api_expect("POST", "/api/notifications/read", user->token, body, 204, NULL);
}

static void s_sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

//  A WebSocket of user subscribed to room.
static pl_ws_t *s_ws_subscribed(const user_t *user, const room_t *room)
{
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, user->token, &status);
    cr_assert(ws, "upgrade failed with HTTP %d", status);
    json_t *request = json_pack("{s:s, s:I}", "type", "subscribe", "room", (json_int_t)room->id);
    cr_assert_eq(pl_ws_send_json(ws, request), 0);
    json_decref(request);
    json_t *reply = pl_ws_recv_type(ws, "subscribed", EVENT_MS);
    cr_assert(reply, "no subscribed frame");
    cr_assert_eq(pl_api_int(reply, "room"), room->id);
    json_decref(reply);
    return ws;
}

//  --- follows -------------------------------------------------------------------

Test(e2e_notify, a_follow_notifies_the_followed_user_only)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    user_t dave = s_user("Dave");
    pl_sse_t *alice_stream = s_stream(&alice, 0), *bob_stream = s_stream(&bob, 0);
    pl_sse_t *carol_stream = s_stream(&carol, 0);

    s_follow(&bob, &alice);
    json_t *pushed = s_next(alice_stream);
    int64_t id = s_check_follow(pushed, &bob);
    //  The stored notification is the one pushed.
    s_expect_stored_as(&alice, pushed);
    json_decref(pushed);
    s_expect_list(&alice, "", (int64_t[]){id}, 1, 1);

    //  Neither the follower nor a bystander got anything: the next notification their
    //  streams see is a later one.
    int64_t to_carol = s_follow_notified(&dave, &carol, carol_stream);
    cr_assert_gt(to_carol, id);
    cr_assert_gt(s_follow_notified(&dave, &bob, bob_stream), to_carol);
    s_expect_list(&carol, "", (int64_t[]){to_carol}, 1, 1);
    s_expect_list(&dave, "", NULL, 0, 0);
    //  And alice got nothing more.
    cr_assert_gt(s_follow_notified(&carol, &alice, alice_stream), id);
}

//  Asserts GET /api/users/{id} as viewer shows the counts given.
static void s_expect_profile(const user_t *viewer, const user_t *user, int64_t followers,
                             int64_t following, bool followed_by_me)
{
    json_t *json = pl_api_json("GET", pl_api_fmt("/api/users/%lld", (long long)user->id),
                               viewer->token, NULL, 200);
    const char *shown = pl_api_show(json);
    cr_assert_eq(pl_api_int(json, "id"), user->id, "%s", shown);
    cr_assert_str_eq(pl_api_str(json, "display_name"), user->name, "%s", shown);
    cr_assert_eq(pl_api_int(json, "followers"), followers, "%s", shown);
    cr_assert_eq(pl_api_int(json, "following"), following, "%s", shown);
    json_t *mine = json_object_get(json, "followed_by_me");
    cr_assert(json_is_boolean(mine) && json_is_true(mine) == followed_by_me, "%s", shown);
    json_decref(json);
}

Test(e2e_notify, follow_errors_and_counts)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    char follow_alice[64], follow_bob[64];
    snprintf(follow_alice, sizeof follow_alice, "/api/users/%lld/follow", (long long)alice.id);
    snprintf(follow_bob, sizeof follow_bob, "/api/users/%lld/follow", (long long)bob.id);
    s_expect_profile(&bob, &alice, 0, 0, false);
    pl_sse_t *stream = s_stream(&alice, 0);

    s_follow(&bob, &alice);
    pl_api_expect("POST", follow_alice, bob.token, NULL, 409, "conflict");
    pl_api_expect("POST", follow_bob, bob.token, NULL, 400, "bad_request");
    pl_api_expect("DELETE", follow_bob, bob.token, NULL, 400, "bad_request");
    pl_api_expect("POST", "/api/users/987654/follow", bob.token, NULL, 404, "user_not_found");
    pl_api_expect("DELETE", "/api/users/987654/follow", bob.token, NULL, 404, "user_not_found");
    pl_api_expect("DELETE", follow_bob, alice.token, NULL, 404, "not_found");
    pl_api_expect("POST", follow_alice, NULL, NULL, 401, "unauthorized");
    pl_api_expect("DELETE", follow_alice, NULL, NULL, 401, "unauthorized");
    pl_api_expect("GET", "/api/users/987654", bob.token, NULL, 404, "user_not_found");
    s_follow(&carol, &alice);
    s_follow(&alice, &carol);

    s_expect_profile(&bob, &alice, 2, 1, true);
    s_expect_profile(&carol, &alice, 2, 1, true);
    s_expect_profile(&alice, &alice, 2, 1, false);
    s_expect_profile(&alice, &bob, 0, 1, false);
    s_expect_profile(&bob, &carol, 1, 1, false);
    s_expect_profile(&alice, &carol, 1, 1, true);
    //  Only the two follows that succeeded notified alice.
    int64_t by_bob = s_next_follow(stream, &bob);
    int64_t by_carol = s_next_follow(stream, &carol);
    s_expect_list(&alice, "", (int64_t[]){by_carol, by_bob}, 2, 2);

    pl_api_expect("DELETE", follow_alice, bob.token, NULL, 204, NULL);
    pl_api_expect("DELETE", follow_alice, bob.token, NULL, 404, "not_found");
    s_expect_profile(&bob, &alice, 1, 1, false);
    s_expect_profile(&carol, &bob, 0, 0, false);
    s_expect_profile(&carol, &alice, 1, 1, true);
    //  Following again after an unfollow works.
    s_follow(&bob, &alice);
    s_expect_profile(&bob, &alice, 2, 1, true);
    s_expect_profile(&alice, &bob, 0, 1, false);
}

//  --- messages -------------------------------------------------------------------

Test(e2e_notify, a_dm_to_an_absent_member_is_one_coalesced_notification)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    room_t room = s_dm(&alice, &bob);
    pl_sse_t *bob_stream = s_stream(&bob, 0), *alice_stream = s_stream(&alice, 0);
    int64_t id = s_say_notified(&alice, &room, "first", bob_stream, 1, "Alice: first");

    //  Two more while it is unread: the same notification, updated.
    s_say(&alice, &room, "second");
    s_say(&alice, &room, "third");
    json_t *n = s_until_count(bob_stream, id, "dm", 3);
    s_check_message(n, &room, &alice, 3, "3 new messages from Alice: third");
    //  One row, as pushed.
    s_expect_stored_as(&bob, n);
    json_decref(n);
    s_expect_list(&bob, "", (int64_t[]){id}, 1, 1);

    //  The sender got nothing: the next notification of its stream is a later follow.
    int64_t follow = s_follow_notified(&carol, &alice, alice_stream);
    cr_assert_gt(follow, id);
    s_expect_list(&alice, "", (int64_t[]){follow}, 1, 1);
}

Test(e2e_notify, a_subscribed_member_is_not_notified_until_it_unsubscribes)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    room_t room = s_dm(&alice, &bob);
    pl_sse_t *bob_stream = s_stream(&bob, 0);
    pl_ws_t *bob_ws = s_ws_subscribed(&bob, &room);
    pl_ws_t *alice_ws = s_ws_subscribed(&alice, &room);

    s_say(&alice, &room, "while subscribed 1");
    s_say(&alice, &room, "while subscribed 2");
    for (int seq = 1; seq <= 2; seq++) {
        json_t *message = pl_ws_recv_type(bob_ws, "message", EVENT_MS);
        cr_assert(message, "bob's WebSocket got no message %d", seq);
        cr_assert_eq(pl_api_int(message, "seq"), seq);
        json_decref(message);
    }

    //  Unsubscribed (alice sees bob go offline, so the room has taken it in), bob
    //  is absent: the next message notifies him, and it is the first notification
    //  (count 1), so none was made while he was subscribed.
    json_t *request = json_pack("{s:s, s:I}", "type", "unsubscribe", "room", (json_int_t)room.id);
    cr_assert_eq(pl_ws_send_json(bob_ws, request), 0);
    json_decref(request);
    for (bool offline = false; !offline;) {
        json_t *presence = pl_ws_recv_type(alice_ws, "presence", EVENT_MS);
        cr_assert(presence, "alice saw no presence of bob going offline");
        offline = pl_api_int(presence, "user") == bob.id &&
                  json_is_false(json_object_get(presence, "online"));
        json_decref(presence);
    }
    int64_t id = s_say_notified(&alice, &room, "after", bob_stream, 1, "Alice: after");
    s_expect_list(&bob, "", (int64_t[]){id}, 1, 1);
    //  The WebSocket, still open but not subscribed, did not stop the notification.
    cr_assert_not(pl_ws_is_closed(bob_ws));
    pl_ws_close(&bob_ws);
    pl_ws_close(&alice_ws);
}

Test(e2e_notify, group_messages_notify_every_absent_member_but_the_sender)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    room_t room = {pl_api_content_room(alice.token, pl_api_content(alice.token, "Stalker"), 201),
                   false, "Stalker"};
    pl_api_join(bob.token, room.id);
    pl_api_join(carol.token, room.id);
    pl_sse_t *alice_stream = s_stream(&alice, 0), *bob_stream = s_stream(&bob, 0);
    pl_sse_t *carol_stream = s_stream(&carol, 0);

    const char *hello = "Alice in Stalker: hello group";
    int64_t to_bob = s_say_notified(&alice, &room, "hello group", bob_stream, 1, hello);
    json_t *n = s_next(carol_stream);
    s_check_message(n, &room, &alice, 1, hello);
    int64_t to_carol = s_id(n);
    json_decref(n);
    cr_assert_neq(to_bob, to_carol);

    //  Bob answers: alice gets a notification of her own, carol's grows, and bob's
    //  (he sent this one) stays as it was.
    int64_t to_alice =
        s_say_notified(&bob, &room, "hi Alice", alice_stream, 1, "Bob in Stalker: hi Alice");
    n = s_until_count(carol_stream, to_carol, "group_message", 2);
    s_check_message(n, &room, &bob, 2, "2 new messages in Stalker: Bob: hi Alice");
    json_decref(n);
    cr_assert_gt(s_follow_notified(&carol, &bob, bob_stream), to_alice);
    n = s_stored(&bob, to_bob);
    s_check_message(n, &room, &alice, 1, hello);
    json_decref(n);
    s_expect_list(&alice, "", (int64_t[]){to_alice}, 1, 1);
    s_expect_list(&carol, "", (int64_t[]){to_carol}, 1, 1);
}

//  --- room_created ----------------------------------------------------------------

//  POST or DELETE /api/contents/{id}/like as user, expecting 204. Skips the test
//  when the server has no likes endpoint yet (404 without content_not_found, or
//  405): that is another branch's work.
static void s_like(const user_t *user, int64_t content_id, const char *method)
{
    const char *path = pl_api_fmt("/api/contents/%lld/like", (long long)content_id);
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, method, path, user->token, NULL, &r), 0,
                 "%s %s: no answer", method, path);
    const char *code = json_string_value(json_object_get(json_object_get(r.json, "error"), "code"));
    bool missing =
        r.status == 405 || (r.status == 404 && !(code && strcmp(code, "content_not_found") == 0));
    int status = r.status;
    pl_http_response_free(&r);
    if (missing)
        cr_skip_test("likes endpoint not merged yet (%s %s: %d)", method, path, status);
    cr_assert_eq(status, 204, "%s %s: status %d", method, path, status);
}

Test(e2e_notify, a_new_content_room_notifies_its_likers_only)
{
    user_t u[5];
    s_users(u, 5, "U");
    user_t *creator = &u[0], *likers = &u[1], *never = &u[3], *unliked = &u[4];
    int64_t content = pl_api_content(likers[0].token, "Solaris");
    s_like(&likers[0], content, "POST");
    s_like(&likers[1], content, "POST");
    s_like(unliked, content, "POST");
    s_like(unliked, content, "DELETE");
    pl_sse_t *streams[5];
    for (int i = 0; i < 5; i++)
        streams[i] = s_stream(&u[i], 0);

    //  The creator opens the room without liking the content.
    int64_t room = pl_api_content_room(creator->token, content, 201);
    int64_t ids[2];
    for (int i = 0; i < 2; i++) {
        json_t *n = s_next(streams[1 + i]);
        ids[i] = s_check(n, "room_created", "U0 opened a room for Solaris", creator);
        const char *shown = pl_api_show(n);
        cr_assert_str_eq(pl_api_str(n, "url"), pl_api_fmt("/rooms/%lld", (long long)room));
        cr_assert(json_is_false(json_object_get(n, "read")), "%s", shown);
        cr_assert(json_is_string(json_object_get(json_object_get(n, "actor"), "username")), "%s",
                  shown);
        json_t *ref = json_object_get(n, "room");
        cr_assert_eq(pl_api_int(ref, "id"), room, "%s", shown);
        cr_assert_str_eq(pl_api_str(ref, "kind"), "group", "%s", shown);
        cr_assert_str_eq(pl_api_str(ref, "title"), "Solaris", "%s", shown);
        json_t *about = json_object_get(n, "content");
        cr_assert_eq(pl_api_int(about, "id"), content, "%s", shown);
        cr_assert_str_eq(pl_api_str(about, "title"), "Solaris", "%s", shown);
        cr_assert_str_eq(pl_api_str(about, "kind"), "movie", "%s", shown);
        json_decref(n);
    }
    cr_assert_neq(ids[0], ids[1]);
    int64_t newest = ids[0] > ids[1] ? ids[0] : ids[1];

    //  The creator, a user who never liked it and one who took the like back got
    //  nothing (every liker's was written at once, before the markers); joining the
    //  existing room notifies no one.
    cr_assert_eq(pl_api_content_room(never->token, content, 200), room);
    for (int i = 0; i < 5; i++) {
        const user_t *marker = i == 1 ? never : &likers[0];
        cr_assert_gt(s_follow_notified(marker, &u[i], streams[i]), newest, "U%d", i);
    }
    json_t *list = s_list(&likers[0], "", NULL);
    cr_assert_eq(json_array_size(list), 2, "%s", pl_api_show(list));
    cr_assert_eq(s_id(json_array_get(list, 1)), ids[0]);
    json_decref(list);
}

Test(e2e_notify, a_liker_who_opens_the_room_is_not_told_of_it)
{
    user_t u[2];
    s_users(u, 2, "L");
    int64_t content = pl_api_content(u[0].token, "Stalker");
    s_like(&u[0], content, "POST");
    s_like(&u[1], content, "POST");
    pl_sse_t *opener = s_stream(&u[0], 0), *other = s_stream(&u[1], 0);
    pl_api_content_room(u[0].token, content, 201);
    json_t *n = s_next(other);
    int64_t told = s_check(n, "room_created", "L0 opened a room for Stalker", &u[0]);
    json_decref(n);
    //  The opener's next notification is a later follow: nothing came before it.
    cr_assert_gt(s_follow_notified(&u[1], &u[0], opener), told);
    s_close(&opener);
    s_close(&other);
}

//  --- the stream -------------------------------------------------------------------

#define FOLLOWERS 8

//  Asserts the next notification of a stream is the follow of f, stored as pushed;
//  returns its id.
static int64_t s_next_follow_stored(pl_sse_t *sse, const user_t *user, const user_t *f)
{
    json_t *n = s_next(sse);
    int64_t id = s_check_follow(n, f);
    s_expect_stored_as(user, n);
    json_decref(n);
    return id;
}

Test(e2e_notify, last_event_id_replays_exactly_the_missed_notifications)
{
    user_t alice = s_user("Alice"), f[FOLLOWERS];
    s_users(f, FOLLOWERS, "F");
    int64_t ids[FOLLOWERS];

    pl_sse_t *stream = s_stream(&alice, 0);
    for (int i = 0; i < 2; i++) {
        s_follow(&f[i], &alice);
        ids[i] = s_next_follow_stored(stream, &alice, &f[i]);
    }
    cr_assert_lt(ids[0], ids[1]);
    s_close(&stream);
    for (int i = 2; i < 5; i++)
        s_follow(&f[i], &alice);

    //  Back with the last id seen: the three missed, oldest first, then live ones,
    //  each once.
    stream = s_stream(&alice, ids[1]);
    for (int i = 2; i < 5; i++) {
        ids[i] = s_next_follow_stored(stream, &alice, &f[i]);
        cr_assert_gt(ids[i], ids[i - 1]);
    }
    for (int i = 5; i < 7; i++) {
        s_follow(&f[i], &alice);
        ids[i] = s_next_follow_stored(stream, &alice, &f[i]);
        cr_assert_gt(ids[i], ids[i - 1]);
    }
    s_close(&stream);

    //  The same with ?last_event_id= (for clients that cannot set the header).
    char headers[1024];
    s_headers(headers, sizeof headers, &alice, NULL);
    stream = s_open(pl_api_fmt("/api/events?last_event_id=%lld", (long long)ids[3]), headers);
    for (int i = 4; i < 7; i++)
        cr_assert_eq(s_next_follow_stored(stream, &alice, &f[i]), ids[i]);
    s_follow(&f[7], &alice);
    ids[7] = s_next_follow_stored(stream, &alice, &f[7]);
    s_close(&stream);

    //  Last-Event-ID: 0 replays everything; the newest id, or none, replays nothing.
    stream = s_stream(&alice, 0);
    for (int i = 0; i < FOLLOWERS; i++)
        cr_assert_eq(s_next_follow_stored(stream, &alice, &f[i]), ids[i]);
    pl_sse_t *newest = s_stream(&alice, ids[7]), *plain = s_stream(&alice, -1);
    pl_api_expect("DELETE", pl_api_fmt("/api/users/%lld/follow", (long long)alice.id), f[0].token,
                  NULL, 204, NULL);
    s_follow(&f[0], &alice);
    int64_t again = s_next_follow_stored(stream, &alice, &f[0]);
    cr_assert_gt(again, ids[7]);
    cr_assert_eq(s_next_follow(newest, &f[0]), again);
    cr_assert_eq(s_next_follow(plain, &f[0]), again);
    s_close(&stream);
    s_close(&newest);
    s_close(&plain);

    static const char *const bad[] = {"abc", "-1", "1x", "+5", "1.5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_headers(headers, sizeof headers, &alice, pl_api_fmt("Last-Event-ID: %s\r\n", bad[i]));
        s_refused("/api/events", headers, 400, "bad_request");
    }
    s_headers(headers, sizeof headers, &alice, NULL);
    s_refused("/api/events?last_event_id=x", headers, 400, "bad_request");
    //  Too long for any id: refused from the query as from the header, not taken for
    //  no id at all (the last_event_id fuzz target's finding).
    s_refused("/api/events?last_event_id=00000000000000000000000000000005", headers, 400,
              "bad_request");
}

//  A browser's EventSource reconnects with the id of the last event it got. An
//  unread notification about a room is pushed again (same notification id) as it
//  grows: its event id must still be newer than everything the stream saw before,
//  or the reconnect would bring those again.
Test(e2e_notify, a_reconnect_after_a_coalesced_update_replays_nothing_twice)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    room_t room = s_dm(&alice, &bob);
    pl_sse_t *stream = s_stream(&bob, 0);
    int64_t dm = s_say_notified(&alice, &room, "one", stream, 1, "Alice: one");
    int64_t follow = s_follow_notified(&carol, &bob, stream);
    cr_assert_gt(follow, dm);
    s_say_notified(&alice, &room, "two", stream, 2, "2 new messages from Alice: two");
    long long last = strtoll(pl_sse_last_event_id(stream), NULL, 10);
    cr_assert_gt(last, follow, "the update's event id must be the newest the stream saw");
    s_close(&stream);

    //  The stream has seen everything: a reconnect with its last event id must not
    //  bring carol's follow again.
    stream = s_stream(&bob, last);
    s_follow(&alice, &bob);
    json_t *next = s_next(stream);
    cr_assert_eq(pl_api_int(json_object_get(next, "actor"), "id"), alice.id,
                 "after Last-Event-ID %lld the stream repeated %s", last, pl_api_show(next));
    s_check_follow(next, &alice);
    json_decref(next);
}

//  A stream that goes away while an unread notification about a room grows must
//  learn of the growth when it comes back with the id it saw last.
Test(e2e_notify, a_reconnect_replays_a_notification_that_grew_meanwhile)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    room_t room = s_dm(&alice, &bob);
    pl_sse_t *stream = s_stream(&bob, 0);
    int64_t dm = s_say_notified(&alice, &room, "one", stream, 1, "Alice: one");
    s_close(&stream);

    s_say(&alice, &room, "two");
    //  Committed: the list shows it grown.
    for (int attempt = 0;; attempt++) {
        json_t *stored = s_stored(&bob, dm);
        bool grown = pl_api_int(stored, "count") == 2;
        json_decref(stored);
        if (grown)
            break;
        cr_assert_lt(attempt, 250, "the stored notification never counted 2");
        s_sleep_ms(20);
    }
    stream = s_stream(&bob, dm);
    json_t *n = s_next(stream);
    cr_assert_eq(s_id(n), dm, "after Last-Event-ID %lld: %s", (long long)dm, pl_api_show(n));
    s_check_message(n, &room, &alice, 2, "2 new messages from Alice: two");
    json_decref(n);
}

Test(e2e_notify, every_stream_of_a_user_gets_every_notification)
{
    user_t alice = s_user("Alice"), f[3];
    s_users(f, 3, "F");
    pl_sse_t *one = s_stream(&alice, 0), *two = s_stream(&alice, 0);
    s_follow(&f[0], &alice);
    json_t *a = s_next(one), *b = s_next(two);
    int64_t first = s_check_follow(a, &f[0]);
    cr_assert(json_equal(a, b), "%s != %s", pl_api_show(a), pl_api_show(b));
    json_decref(a);
    json_decref(b);

    //  One closes; the other goes on; a third joins it.
    s_close(&one);
    int64_t second = s_follow_notified(&f[1], &alice, two);
    pl_sse_t *three = s_stream(&alice, second);
    int64_t third = s_follow_notified(&f[2], &alice, two);
    cr_assert_eq(s_next_follow(three, &f[2]), third);
    cr_assert(first < second && second < third);
}

Test(e2e_notify, an_idle_stream_gets_heartbeats)
{
    const char *args[] = {"--sse-heartbeat-ms", "200", NULL};
    pl_e2e_restart_with(args);
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    pl_sse_t *stream = s_stream(&alice, 0);
    for (int i = 0; i < 3; i++) {
        int64_t start = pl_net_now_ms();
        pl_sse_block_t block;
        cr_assert_eq(pl_sse_next(stream, 1000, &block), 1, "no heartbeat %d within 1 s", i);
        cr_assert(block.comment_only, "block %d is not a comment", i);
        cr_assert_str_eq(block.comment, "ping");
        cr_assert_null(block.data);
        pl_sse_block_free(&block);
        cr_assert_lt(pl_net_now_ms() - start, 1000);
    }
    //  Notifications still come between them.
    s_follow_notified(&bob, &alice, stream);
}

Test(e2e_notify, a_stream_needs_a_valid_token_from_any_of_three_places)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    s_refused("/api/events", NULL, 401, "unauthorized");
    s_refused("/api/events", "Authorization: Bearer not-a-token\r\n", 401, "unauthorized");
    s_refused("/api/events?token=not-a-token", NULL, 401, "unauthorized");
    s_refused("/api/events", "Cookie: parley_token=not-a-token\r\n", 401, "unauthorized");
    //  A bad Last-Event-ID does not get past a missing token.
    s_refused("/api/events?last_event_id=x", NULL, 401, "unauthorized");

    char path[1024], cookie[1024];
    snprintf(path, sizeof path, "/api/events?token=%s&last_event_id=0", alice.token);
    pl_sse_t *by_query = s_open(path, NULL);
    const pl_http_response_t *head = pl_sse_response(by_query);
    cr_assert_eq(head->status, 200);
    const char *cache = pl_http_header(head, "Cache-Control");
    cr_assert(cache && strstr(cache, "no-store"), "Cache-Control %s", cache);
    snprintf(cookie, sizeof cookie, "Cookie: parley_token=%s\r\nLast-Event-ID: 0\r\n", alice.token);
    pl_sse_t *by_cookie = s_open("/api/events", cookie);
    //  With the default heartbeat (30 s) an idle stream stays silent.
    pl_sse_block_t block;
    cr_assert_eq(pl_sse_next(by_query, 300, &block), 0, "an unexpected block: %s",
                 block.comment ? block.comment : block.data);
    int64_t id = s_follow_notified(&bob, &alice, by_query);
    cr_assert_eq(s_next_follow(by_cookie, &bob), id);
}

//  Opens a stream of user, retrying for 5 s at most while the server answers 503
//  (a slot being released); asserts it opens.
static pl_sse_t *s_stream_when_free(const user_t *user)
{
    char headers[1024];
    s_headers(headers, sizeof headers, user, "Last-Event-ID: 0\r\n");
    int64_t deadline = pl_net_now_ms() + 5000;
    for (;;) {
        pl_http_response_t r;
        pl_sse_t *sse = pl_sse_connect(s_srv.port, "/api/events", headers, &r);
        int status = r.status;
        pl_http_response_free(&r);
        if (sse)
            return sse;
        cr_assert_eq(status, 503, "GET /api/events: status %d", status);
        cr_assert_lt(pl_net_now_ms(), deadline, "no slot came free within 5 s");
        s_sleep_ms(20);
    }
}

Test(e2e_notify, streams_count_against_max_connections_with_websockets)
{
    const char *args[] = {"--max-connections", "2", NULL};
    pl_e2e_restart_with(args);
    //  The limit is each node's: in a cluster run, every stream goes to one node.
    pl_net_spread(0, 0);
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    pl_sse_t *one = s_stream(&alice, 0), *two = s_stream(&bob, 0);
    char headers[1024];
    s_headers(headers, sizeof headers, &alice, NULL);
    s_refused("/api/events", headers, 503, "unavailable");
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, alice.token, &status);
    cr_assert_null(ws, "a WebSocket got past max_connections");
    cr_assert_eq(status, 503);
    //  Plain requests are not limited.
    s_expect_list(&alice, "", NULL, 0, 0);

    //  A closed stream frees its slot, and the new stream is live.
    s_close(&one);
    pl_sse_t *three = s_stream_when_free(&alice);
    pl_sse_block_t block;
    cr_assert_eq(pl_sse_next(three, EVENT_MS, &block), 1);
    cr_assert_eq(block.retry, 2000);
    pl_sse_block_free(&block);
    s_follow_notified(&bob, &alice, three);
    s_follow_notified(&alice, &bob, two);
    s_refused("/api/events", headers, 503, "unavailable");

    //  With both streams gone a WebSocket gets a slot.
    s_close(&two);
    s_close(&three);
    ws = pl_fx_ws_connect_when_free(s_srv.port, alice.token, 5000, &status);
    cr_assert(ws, "no slot came free within 5 s (upgrade: status %d)", status);
    pl_ws_close(&ws);
}

//  Threads of the server process (its /proc/PID/task entries).
static size_t s_server_threads(void)
{
    DIR *tasks = opendir(pl_api_fmt("/proc/%d/task", (int)s_srv.pid));
    cr_assert(tasks, "no /proc entry for the server");
    size_t count = 0;
    for (struct dirent *entry; (entry = readdir(tasks));)
        count += entry->d_name[0] != '.';
    closedir(tasks);
    return count;
}

Test(e2e_notify, open_streams_hold_no_civetweb_thread)
{
    //  civetweb gets 2 workers for plain requests and 512 for handshakes: more streams
    //  than that are open, live, and a plain request is still answered.
    enum { STREAMS = 600 };
    const char *args[] = {"--max-connections", "5000", "--http-threads", "2", NULL};
    pl_e2e_restart_with(args);
    pl_net_spread(0, 0);
    size_t idle_threads = s_server_threads();
    cr_assert_lt(idle_threads, 600, "%zu threads: a worker per possible connection", idle_threads);
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    char headers[1024];
    s_headers(headers, sizeof headers, &alice, NULL);
    pl_sse_t **streams = calloc(STREAMS, sizeof *streams);
    cr_assert(streams);
    for (int i = 0; i < STREAMS; i++) {
        pl_http_response_t refused;
        streams[i] = pl_sse_connect(s_srv.port, "/api/events", headers, &refused);
        cr_assert(streams[i], "stream %d: status %d", i, refused.status);
    }
    s_expect_list(&alice, "", NULL, 0, 0);
    cr_assert_eq(s_server_threads(), idle_threads, "streams started threads");
    s_follow(&bob, &alice);
    for (int i = 0; i < STREAMS; i++) {
        pl_sse_block_t block;
        cr_assert_eq(pl_sse_next(streams[i], EVENT_MS, &block), 1, "stream %d: no head", i);
        pl_sse_block_free(&block);
        s_next_follow(streams[i], &bob);
    }
    //  Closed streams give their slots back.
    for (int i = 0; i < STREAMS; i++)
        pl_sse_close(&streams[i]);
    free(streams);
    int64_t deadline = pl_net_now_ms() + 5000;
    for (int64_t open = -1; open != 0; s_sleep_ms(20)) {
        json_t *health = pl_api_json("GET", "/healthz", NULL, NULL, 200);
        open = pl_api_int(health, "connections");
        json_decref(health);
        cr_assert_lt(pl_net_now_ms(), deadline, "%lld slots still held", (long long)open);
    }
}

//  --- the stored list ------------------------------------------------------------

Test(e2e_notify, marking_read_changes_read_and_unread_and_ends_coalescing)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), f[3];
    s_users(f, 3, "F");
    pl_sse_t *stream = s_stream(&alice, 0);
    int64_t a = s_follow_notified(&f[0], &alice, stream);
    int64_t b = s_follow_notified(&f[1], &alice, stream);
    int64_t c = s_follow_notified(&f[2], &alice, stream);
    room_t room = s_dm(&bob, &alice);
    int64_t d = s_say_notified(&bob, &room, "hi", stream, 1, "Bob: hi");
    s_expect_list(&alice, "", (int64_t[]){d, c, b, a}, 4, 4);

    s_mark_read(&alice, pl_api_fmt("{\"ids\":[%lld,%lld]}", (long long)a, (long long)c));
    s_expect_list(&alice, "", (int64_t[]){d, c, b, a}, 4, 2);
    s_expect_stored(&alice, a, true, 0);
    s_expect_stored(&alice, b, false, 0);
    s_expect_stored(&alice, c, true, 0);
    s_expect_stored(&alice, d, false, 1);
    //  Again, someone else's, or unknown: nothing changes.
    s_mark_read(&alice, pl_api_fmt("{\"ids\":[%lld]}", (long long)a));
    s_mark_read(&bob, pl_api_fmt("{\"ids\":[%lld,%lld]}", (long long)b, (long long)d));
    s_mark_read(&alice, "{\"ids\":[987654]}");
    s_expect_list(&alice, "", (int64_t[]){d, c, b, a}, 4, 2);
    s_expect_stored(&alice, b, false, 0);
    s_expect_stored(&alice, d, false, 1);

    //  Unread, the DM's notification coalesces; read, the next message starts another.
    s_say(&bob, &room, "again");
    json_t *n = s_until_count(stream, d, "dm", 2);
    s_check_message(n, &room, &bob, 2, "2 new messages from Bob: again");
    json_decref(n);
    s_mark_read(&alice, pl_api_fmt("{\"ids\":[%lld]}", (long long)d));
    s_expect_stored(&alice, d, true, 2);
    s_expect_list(&alice, "", (int64_t[]){d, c, b, a}, 4, 1);
    int64_t e = s_say_notified(&bob, &room, "anew", stream, 1, "Bob: anew");
    cr_assert_gt(e, d);
    s_expect_list(&alice, "", (int64_t[]){e, d, c, b, a}, 5, 2);
    s_expect_stored(&alice, d, true, 2);

    //  All at once; then again a new one.
    s_mark_read(&alice, "{\"all\":true}");
    s_expect_list(&alice, "", (int64_t[]){e, d, c, b, a}, 5, 0);
    json_t *list = s_list(&alice, "", NULL);
    size_t i;
    json_array_foreach(list, i, n)
    {
        cr_assert(json_is_true(json_object_get(n, "read")), "%s", pl_api_show(n));
    }
    json_decref(list);
    int64_t g = s_say_notified(&bob, &room, "after all", stream, 1, "Bob: after all");
    cr_assert_gt(g, e);
    s_expect_list(&alice, "", (int64_t[]){g, e, d, c, b, a}, 6, 1);
    s_expect_stored(&alice, e, true, 1);
    //  {"all": false} with ids marks those.
    s_mark_read(&alice, pl_api_fmt("{\"all\":false,\"ids\":[%lld]}", (long long)g));
    s_expect_list(&alice, "", (int64_t[]){g, e, d, c, b, a}, 6, 0);
}

Test(e2e_notify, bad_read_requests_are_refused)
{
    user_t alice = s_user("Alice");
    const char *path = "/api/notifications/read";
    //  The message names the member at fault.
    static const char *const bad_ids[] = {
        "{}",
        "{\"ids\":[]}",
        "{\"ids\":\"1\"}",
        "{\"ids\":null}",
        "{\"ids\":{\"1\":1}}",
        "{\"all\":false}",
    };
    static const char *const bad_all[] = {"{\"all\":\"yes\"}", "{\"all\":1}", "{\"all\":null}"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++)
        pl_api_expect_bad("POST", path, alice.token, bad_ids[i], "ids");
    for (size_t i = 0; i < sizeof bad_all / sizeof bad_all[0]; i++)
        pl_api_expect_bad("POST", path, alice.token, bad_all[i], "all");

    //  1000 ids at most.
    json_t *ids = json_array();
    for (int i = 1; i <= 1001; i++)
        json_array_append_new(ids, json_integer(i));
    char *too_many = pl_api_dump(json_pack("{s:O}", "ids", ids));
    json_array_remove(ids, 1000);
    char *most = pl_api_dump(json_pack("{s:o}", "ids", ids));
    pl_api_expect_bad("POST", path, alice.token, too_many, "ids");
    s_mark_read(&alice, most);
    free(too_many);
    free(most);

    pl_api_expect("POST", path, alice.token, "{\"ids\":", 400, "bad_request");
    pl_api_expect("POST", path, alice.token, "[1]", 400, "bad_request");
    pl_api_expect("POST", path, alice.token, "not json", 400, "bad_request");
    pl_api_expect("POST", path, NULL, "{\"all\":true}", 401, "unauthorized");
    char headers[1024];
    s_headers(headers, sizeof headers, &alice, "Content-Type: text/plain\r\n");
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "POST", path, headers, "{\"all\":true}", 12, &r), 0);
    cr_assert_eq(r.status, 415, "text/plain: status %d", r.status);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                     "unsupported_media_type");
    pl_http_response_free(&r);
}

//  Each element of "ids" must be an id; a bad one is answered 400 and the server
//  goes on serving.
Test(e2e_notify, a_bad_element_in_ids_is_refused_and_the_server_goes_on)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob");
    static const char *const bodies[] = {
        "{\"ids\":[\"x\"]}", "{\"ids\":[0]}",      "{\"ids\":[-3]}",
        "{\"ids\":[1.5]}",   "{\"ids\":[1,null]}", "{\"ids\":[1,2,[3]]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        pl_api_expect_bad("POST", "/api/notifications/read", alice.token, bodies[i], "ids");
        s_expect_list(&alice, "", NULL, 0, 0);
    }
    //  Still notifying, and marking read.
    pl_sse_t *stream = s_stream(&alice, 0);
    int64_t id = s_follow_notified(&bob, &alice, stream);
    s_mark_read(&alice, pl_api_fmt("{\"ids\":[%lld]}", (long long)id));
    s_expect_list(&alice, "", (int64_t[]){id}, 1, 0);
}

#define PAGED 25

Test(e2e_notify, the_list_pages_newest_first)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), f[PAGED];
    s_users(f, PAGED, "F");
    pl_sse_t *stream = s_stream(&alice, 0);
    //  ids[0] is the newest.
    int64_t ids[PAGED];
    for (int i = 0; i < PAGED; i++)
        ids[PAGED - 1 - i] = s_follow_notified(&f[i], &alice, stream);
    s_close(&stream);

    s_expect_list(&alice, "", ids, 20, PAGED);
    s_expect_list(&alice, "limit=100", ids, PAGED, PAGED);
    s_expect_list(&alice, "limit=5", ids, 5, PAGED);
    s_expect_list(&alice, pl_api_fmt("before=%lld&limit=5", (long long)ids[4]), ids + 5, 5, PAGED);
    s_expect_list(&alice, pl_api_fmt("limit=3&before=%lld", (long long)ids[20]), ids + 21, 3,
                  PAGED);
    s_expect_list(&alice, pl_api_fmt("before=%lld", (long long)ids[22]), ids + 23, 2, PAGED);
    s_expect_list(&alice, pl_api_fmt("before=%lld", (long long)ids[PAGED - 1]), NULL, 0, PAGED);
    s_expect_list(&alice, pl_api_fmt("before=%lld", (long long)ids[0] + 1000), ids, 20, PAGED);
    s_expect_list(&alice, "before=1", NULL, 0, PAGED);

    //  Walking back page by page visits every notification once.
    int seen = 0;
    int64_t before = 0;
    for (size_t size = 7; size == 7;) {
        json_t *page =
            s_list(&alice,
                   before ? pl_api_fmt("limit=7&before=%lld", (long long)before) : "limit=7", NULL);
        size_t i;
        json_t *n;
        json_array_foreach(page, i, n)
        {
            cr_assert_lt(seen, PAGED);
            cr_assert_eq(s_id(n), ids[seen], "position %d", seen);
            seen++;
            before = s_id(n);
        }
        size = json_array_size(page);
        json_decref(page);
    }
    cr_assert_eq(seen, PAGED);

    static const char *const bad[] = {
        "limit=0",   "limit=101", "limit=-1",  "limit=abc",
        "limit=",    "limit=1.5", "limit=10x", "before=0",
        "before=-1", "before=x",  "before=",   "before=99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *field = strncmp(bad[i], "limit", 5) == 0 ? "limit" : "before";
        pl_api_expect_bad("GET", pl_api_fmt("/api/notifications?%s", bad[i]), alice.token, NULL,
                          field);
    }
    pl_api_expect("GET", "/api/notifications", NULL, NULL, 401, "unauthorized");
    //  Each user sees only their own.
    s_expect_list(&bob, "limit=100", NULL, 0, 0);
}

//  --- durability ------------------------------------------------------------------

Test(e2e_notify, notifications_survive_kill_9_and_go_on_coalescing)
{
    user_t alice = s_user("Alice"), bob = s_user("Bob"), carol = s_user("Carol");
    room_t room = s_dm(&alice, &bob);
    pl_sse_t *stream = s_stream(&bob, 0);
    int64_t follow = s_follow_notified(&carol, &bob, stream);
    s_mark_read(&bob, pl_api_fmt("{\"ids\":[%lld]}", (long long)follow));
    s_say(&alice, &room, "one");
    json_t *pushed = s_next(stream);
    s_check_message(pushed, &room, &alice, 1, "Alice: one");
    int64_t dm = s_id(pushed);
    s_close(&stream);
    //  Pushed means committed: a crash right now loses nothing.
    pl_server_kill9(&s_srv);
    pl_e2e_start(NULL);

    s_expect_list(&bob, "", (int64_t[]){dm, follow}, 2, 1);
    s_expect_stored_as(&bob, pushed);
    json_decref(pushed);
    s_expect_stored(&bob, follow, true, 0);

    //  The unread notification goes on growing under its id; new ones get new ids.
    stream = s_stream(&bob, dm);
    cr_assert_eq(s_say_notified(&alice, &room, "two", stream, 2, "2 new messages from Alice: two"),
                 dm);
    s_expect_list(&bob, "", (int64_t[]){dm, follow}, 2, 1);
    cr_assert_gt(s_follow_notified(&alice, &bob, stream), dm);
}
