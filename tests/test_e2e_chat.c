/*  End to end: chatting over the WebSocket /ws of the real parley binary (PROTOCOL.md
    "WebSocket", "Rooms", "Errors"): subscribing with and without recovery, sending
    with acks and retries, fan-out order, read receipts, typing, presence, member
    events, error frames, the rate limit and durability across kill -9. */
#include "api.h"
#include "chat.h"
#include "e2e_suite.h"
#include "fixtures.h"
#include "http_client.h"
#include "server_proc.h"
#include "ws_client.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  How long one expected frame may take.
#define FRAME_MS 5000

//  A rate limit no test that is not about it reaches.
static const char *const s_unlimited[] = {"--rate-limit-per-s", "100000", "--rate-limit-burst",
                                          "100000", NULL};

TestSuite(e2e_chat, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120);

//  --- helpers ---------------------------------------------------------------------

typedef pl_api_user_t user_t;

//  Sends an HTTP request and asserts its status; returns the body's JSON or NULL
//  (caller decrefs).
static json_t *s_http(const char *method, const char *path, const user_t *user, const char *body,
                      int status)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, method, path, user->token, body, &r), 0,
                 "%s %s: no answer", method, path);
    cr_assert_eq(r.status, status, "%s %s: status %d, body %s", method, path, r.status, r.body);
    json_t *json = json_incref(r.json);
    pl_http_response_free(&r);
    return json;
}

static int64_t s_content(const user_t *owner)
{
    json_t *content =
        s_http("POST", "/api/contents", owner, "{\"kind\":\"movie\",\"title\":\"Stalker\"}", 201);
    int64_t id = pl_api_int(content, "id");
    json_decref(content);
    return id;
}

//  POST /api/contents/{content}/room, expecting status; returns the room id.
static int64_t s_content_room(const user_t *user, int64_t content, int status)
{
    char path[64];
    snprintf(path, sizeof path, "/api/contents/%lld/room", (long long)content);
    json_t *room = s_http("POST", path, user, NULL, status);
    int64_t id = pl_api_int(room, "id");
    json_decref(room);
    return id;
}

//  A new content with its group room, owned by owner; members join it over HTTP.
static int64_t s_new_room(const user_t *owner)
{
    return s_content_room(owner, s_content(owner), 201);
}

//  POST /api/rooms/{room}/<action> (join or leave), expecting 204.
static void s_membership(const user_t *user, int64_t room, const char *action)
{
    char path[64];
    snprintf(path, sizeof path, "/api/rooms/%lld/%s", (long long)room, action);
    json_decref(s_http("POST", path, user, NULL, 204));
}

//  Every stored message of a room (at most 200), ascending; caller decrefs.
static json_t *s_history(const user_t *user, int64_t room)
{
    char path[96];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages?after=0&limit=200", (long long)room);
    json_t *page = s_http("GET", path, user, NULL, 200);
    json_t *messages = json_incref(json_object_get(page, "messages"));
    json_decref(page);
    cr_assert(json_is_array(messages));
    return messages;
}

//  Publishes a message over HTTP (body: the JSON request); returns the Message.
static json_t *s_publish(const user_t *user, int64_t room, const char *body)
{
    char path[64];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    return s_http("POST", path, user, body, 201);
}

static void s_expect_stored(const user_t *user, int64_t room, size_t count)
{
    json_t *messages = s_history(user, room);
    cr_assert_eq(json_array_size(messages), count, "%zu messages stored, expected %zu",
                 json_array_size(messages), count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(pl_api_int(json_array_get(messages, i), "seq"), (int64_t)i + 1);
    json_decref(messages);
}

static pl_ws_t *s_connect(const user_t *user)
{
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, user->token, &status);
    cr_assert(ws, "upgrade failed with HTTP %d", status);
    return ws;
}

//  True for frames the server pushes on its own (not answers to a request).
static bool s_is_push(const char *type)
{
    static const char *const pushes[] = {"message", "presence", "typing", "read", "member", "room"};
    for (size_t i = 0; i < sizeof pushes / sizeof pushes[0]; i++)
        if (type && strcmp(type, pushes[i]) == 0)
            return true;
    return false;
}

//  Receives the next answer to a request (skipping pushed frames) and asserts its
//  type; caller decrefs.
static json_t *s_reply(pl_ws_t *ws, const char *type)
{
    for (;;) {
        json_t *frame = pl_ws_recv_json(ws, FRAME_MS);
        cr_assert(frame, "no %s frame", type);
        const char *got = json_string_value(json_object_get(frame, "type"));
        if (s_is_push(got)) {
            json_decref(frame);
            continue;
        }
        cr_assert(got && strcmp(got, type) == 0, "expected %s, got %s", type, pl_api_show(frame));
        return frame;
    }
}

//  Expects an error frame with code and ref (NULL: no ref) as the next answer.
static void s_expect_error(pl_ws_t *ws, const char *code, const char *ref)
{
    json_t *frame = s_reply(ws, "error");
    cr_assert_str_eq(pl_api_str(frame, "code"), code, "%s", pl_api_show(frame));
    cr_assert(json_is_string(json_object_get(frame, "message")));
    const char *got = json_string_value(json_object_get(frame, "ref"));
    //  Not fatal: a missing ref should not hide what the rest of the test checks.
    if (ref)
        cr_expect(got && strcmp(got, ref) == 0, "error without ref %s: %s", ref,
                  pl_api_show(frame));
    else
        cr_expect_null(json_object_get(frame, "ref"), "%s", pl_api_show(frame));
    json_decref(frame);
}

static void s_expect_pong(pl_ws_t *ws)
{
    pl_chat_sendf(ws, "{\"type\":\"ping\",\"ref\":\"p\"}");
    json_decref(s_reply(ws, "pong"));
}

//  Subscribes (since < 0: without since) and returns the "subscribed" reply.
static json_t *s_subscribe(pl_ws_t *ws, int64_t room, int64_t since)
{
    if (since < 0)
        pl_chat_sendf(ws, "{\"type\":\"subscribe\",\"room\":%lld}", (long long)room);
    else
        pl_chat_sendf(ws, "{\"type\":\"subscribe\",\"room\":%lld,\"since\":%lld}", (long long)room,
                      (long long)since);
    json_t *reply = s_reply(ws, "subscribed");
    cr_assert_eq(pl_api_int(reply, "room"), room);
    return reply;
}

static void s_subscribe_now(pl_ws_t *ws, int64_t room)
{
    json_decref(s_subscribe(ws, room, -1));
}

//  Expects the ack of client_id as the next answer; returns its seq.
static int64_t s_expect_ack(pl_ws_t *ws, int64_t room, const char *client_id)
{
    json_t *ack = s_reply(ws, "ack");
    cr_assert_str_eq(pl_api_str(ack, "client_id"), client_id);
    cr_assert_eq(pl_api_int(ack, "room"), room);
    cr_assert_gt(pl_api_int(ack, "ts"), 1700000000000LL);
    int64_t seq = pl_api_int(ack, "seq");
    json_decref(ack);
    return seq;
}

//  True when the JSON array holds the integer value.
static bool s_has_id(const json_t *array, int64_t value)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) if (json_integer_value(item) == value) return true;
    return false;
}

//  A room of owner that the other users have joined.
static int64_t s_shared_room(const user_t *owner, const user_t *others, size_t count)
{
    int64_t room = s_new_room(owner);
    for (size_t i = 0; i < count; i++)
        s_membership(&others[i], room, "join");
    return room;
}

//  --- subscribing -------------------------------------------------------------------

Test(e2e_chat, subscribe_answers_with_the_room_state)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice);
    pl_chat_sendf(a, "{\"type\":\"subscribe\",\"room\":%lld,\"ref\":\"s1\"}", (long long)room);
    json_t *reply = s_reply(a, "subscribed");
    cr_assert_eq(pl_api_int(reply, "room"), room);
    cr_assert_eq(pl_api_int(reply, "seq"), 0);
    cr_assert_str_eq(pl_api_str(reply, "ref"), "s1");
    cr_assert_null(json_object_get(reply, "recovered"), "recovered without since");
    json_t *online = json_object_get(reply, "online");
    cr_assert(json_is_array(online));
    cr_assert_eq(json_array_size(online), 1);
    cr_assert(s_has_id(online, alice.id));
    json_decref(reply);

    json_decref(s_publish(&bob, room, "{\"body\":\"one\"}"));
    json_decref(s_publish(&bob, room, "{\"body\":\"two\"}"));
    pl_chat_expect_messages(a, room, 1, 2);

    pl_ws_t *b = s_connect(&bob);
    reply = s_subscribe(b, room, 0);
    cr_assert_eq(pl_api_int(reply, "seq"), 2);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    cr_assert_null(json_object_get(reply, "ref"));
    online = json_object_get(reply, "online");
    cr_assert_eq(json_array_size(online), 2);
    cr_assert(s_has_id(online, alice.id) && s_has_id(online, bob.id));
    json_decref(reply);
    json_t *message = pl_chat_next(b, "message");
    cr_assert_eq(pl_api_int(message, "room"), room);
    cr_assert_eq(pl_api_int(message, "seq"), 1);
    cr_assert_str_eq(pl_api_str(message, "kind"), "text");
    cr_assert_str_eq(pl_api_str(message, "body"), "one");
    cr_assert(json_is_null(json_object_get(message, "client_id")));
    cr_assert_eq(pl_api_int(json_object_get(message, "sender"), "id"), bob.id);
    cr_assert_str_eq(pl_api_str(json_object_get(message, "sender"), "display_name"), "Bob");
    cr_assert_gt(pl_api_int(message, "ts"), 1700000000000LL);
    json_decref(message);
    message = pl_chat_next(b, "message");
    cr_assert_eq(pl_api_int(message, "seq"), 2);
    cr_assert_str_eq(pl_api_str(message, "body"), "two");
    json_decref(message);

    //  Subscribing twice on one connection delivers each message once.
    s_subscribe_now(a, room);
    json_decref(s_publish(&bob, room, "{\"body\":\"three\"}"));
    json_decref(s_publish(&bob, room, "{\"body\":\"four\"}"));
    pl_chat_expect_messages(a, room, 3, 4);
    //  After unsubscribing, nothing: the next thing the room tells Alice is the
    //  answer to her next subscribe, which it sends after message 5.
    pl_chat_sendf(a, "{\"type\":\"unsubscribe\",\"room\":%lld}", (long long)room);
    s_expect_pong(a);
    json_decref(s_publish(&bob, room, "{\"body\":\"five\"}"));
    pl_chat_expect_messages(b, room, 3, 5);
    pl_chat_sendf(a, "{\"type\":\"subscribe\",\"room\":%lld,\"ref\":\"back\"}", (long long)room);
    for (;;) {
        json_t *frame = pl_ws_recv_json(a, FRAME_MS);
        cr_assert(frame, "no answer to the subscribe");
        cr_assert(strcmp(pl_api_str(frame, "type"), "message") != 0, "after unsubscribing: %s",
                  pl_api_show(frame));
        bool done = strcmp(pl_api_str(frame, "type"), "subscribed") == 0;
        json_decref(frame);
        if (done)
            break;
    }
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_chat, non_members_and_unknown_rooms_get_error_frames)
{
    user_t alice = pl_api_signup("Alice"), eve = pl_api_signup("Eve");
    int64_t room = s_new_room(&alice);
    pl_ws_t *e = s_connect(&eve);
    pl_chat_sendf(e, "{\"type\":\"subscribe\",\"room\":%lld,\"ref\":\"sub-1\"}", (long long)room);
    s_expect_error(e, "forbidden", "sub-1");
    pl_chat_sendf(e, "{\"type\":\"subscribe\",\"room\":987654,\"ref\":\"sub-2\"}");
    s_expect_error(e, "room_not_found", "sub-2");
    pl_chat_send(e, room, "e-1", "let me in");
    s_expect_error(e, "forbidden", "e-1");
    pl_chat_send(e, 987654, "e-2", "anyone?");
    s_expect_error(e, "room_not_found", "e-2");
    pl_chat_sendf(e, "{\"type\":\"typing\",\"room\":%lld,\"ref\":\"t-1\"}", (long long)room);
    s_expect_error(e, "forbidden", "t-1");
    pl_chat_sendf(e, "{\"type\":\"read\",\"room\":%lld,\"seq\":1,\"ref\":\"rd-1\"}",
                  (long long)room);
    s_expect_error(e, "forbidden", "rd-1");
    s_expect_pong(e);
    //  A member receives nothing of the outsider's attempts.
    pl_ws_t *a = s_connect(&alice);
    s_subscribe_now(a, room);
    json_decref(s_publish(&alice, room, "{\"body\":\"mine\"}"));
    json_t *message = pl_chat_next(a, "message");
    cr_assert_eq(pl_api_int(message, "seq"), 1);
    cr_assert_str_eq(pl_api_str(message, "body"), "mine");
    json_decref(message);
    s_expect_stored(&alice, room, 1);
    pl_ws_close(&e);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
    pl_api_user_free(&eve);
}

//  --- sending and fan-out ------------------------------------------------------------

Test(e2e_chat, two_hundred_messages_reach_every_subscriber_in_order)
{
    pl_e2e_restart_with(s_unlimited);
    user_t users[3] = {pl_api_signup("Sender"), pl_api_signup("R1"), pl_api_signup("R2")};
    int64_t room = s_shared_room(&users[0], &users[1], 2);
    pl_ws_t *sender = s_connect(&users[0]), *r1 = s_connect(&users[1]), *r2 = s_connect(&users[2]);
    s_subscribe_now(sender, room);
    s_subscribe_now(r1, room);
    s_subscribe_now(r2, room);
    enum { COUNT = 200 };
    for (int i = 1; i <= COUNT; i++) {
        char client_id[16], body[16];
        snprintf(client_id, sizeof client_id, "c-%d", i);
        snprintf(body, sizeof body, "n%d", i);
        pl_chat_send(sender, room, client_id, body);
    }
    //  The sender: an ack per message, with the seq its message got, and (being
    //  subscribed) every message too, both in order, each message before its ack.
    int64_t acked[COUNT + 1] = {0};
    int acks = 0, messages = 0;
    while (acks < COUNT || messages < COUNT) {
        json_t *frame = pl_ws_recv_json(sender, FRAME_MS);
        cr_assert(frame, "sender: %d acks and %d messages, then nothing", acks, messages);
        const char *type = json_string_value(json_object_get(frame, "type"));
        cr_assert(type);
        if (strcmp(type, "ack") == 0) {
            acks++;
            char client_id[16];
            snprintf(client_id, sizeof client_id, "c-%d", acks);
            cr_assert_str_eq(pl_api_str(frame, "client_id"), client_id, "acks out of order");
            acked[acks] = pl_api_int(frame, "seq");
            cr_assert_eq(acked[acks], acks);
            cr_assert_geq(messages, acks, "the ack of seq %d came before its message", acks);
        } else if (strcmp(type, "message") == 0) {
            cr_assert_eq(pl_api_int(frame, "seq"), ++messages);
        } else {
            cr_assert(s_is_push(type), "sender got %s", pl_api_show(frame));
        }
        json_decref(frame);
    }
    pl_ws_t *receivers[] = {r1, r2};
    for (int r = 0; r < 2; r++) {
        for (int seq = 1; seq <= COUNT; seq++) {
            json_t *message = pl_chat_next(receivers[r], "message");
            cr_assert_eq(pl_api_int(message, "seq"), seq, "receiver %d: seq %lld, expected %d", r,
                         (long long)pl_api_int(message, "seq"), seq);
            char client_id[16], body[16];
            snprintf(client_id, sizeof client_id, "c-%d", seq);
            snprintf(body, sizeof body, "n%d", seq);
            cr_assert_str_eq(pl_api_str(message, "client_id"), client_id);
            cr_assert_str_eq(pl_api_str(message, "body"), body);
            cr_assert_eq(acked[seq], seq, "ack and delivery disagree");
            cr_assert_eq(pl_api_int(json_object_get(message, "sender"), "id"), users[0].id);
            json_decref(message);
        }
    }
    s_expect_stored(&users[1], room, COUNT);
    pl_ws_close(&sender);
    pl_ws_close(&r1);
    pl_ws_close(&r2);
    for (int i = 0; i < 3; i++)
        pl_api_user_free(&users[i]);
}

#define SENDERS         4
#define SENDER_MESSAGES 50

typedef struct {
    pl_ws_t *ws;
    int64_t room;
    int index;
    int acks;        //  acks received in client_id order
    int64_t last;    //  seq of the last ack
    char error[256]; //  what went wrong, or ""
} sender_t;

static void *s_sender(void *arg)
{
    sender_t *s = arg;
    char text[256];
    for (int i = 0; i < SENDER_MESSAGES; i++) {
        int len = snprintf(text, sizeof text,
                           "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"s%d-%d\","
                           "\"body\":\"from %d\"}",
                           (long long)s->room, s->index, i, s->index);
        if (pl_ws_send_text(s->ws, text, (size_t)len) != 0) {
            snprintf(s->error, sizeof s->error, "send %d failed", i);
            return NULL;
        }
    }
    while (s->acks < SENDER_MESSAGES) {
        json_t *ack = pl_ws_recv_type(s->ws, "ack", FRAME_MS);
        char expected[32];
        snprintf(expected, sizeof expected, "s%d-%d", s->index, s->acks);
        const char *client_id = json_string_value(json_object_get(ack, "client_id"));
        int64_t seq = json_integer_value(json_object_get(ack, "seq"));
        if (!client_id || strcmp(client_id, expected) != 0 || seq <= s->last) {
            snprintf(s->error, sizeof s->error, "ack %d: client_id %s seq %lld after %lld", s->acks,
                     client_id ? client_id : "(none)", (long long)seq, (long long)s->last);
            json_decref(ack);
            return NULL;
        }
        s->last = seq;
        s->acks++;
        json_decref(ack);
    }
    return NULL;
}

Test(e2e_chat, concurrent_senders_are_delivered_in_one_gapless_order)
{
    pl_e2e_restart_with(s_unlimited);
    user_t watcher = pl_api_signup("Watcher"), users[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        users[i] = pl_api_signup("Sender");
    int64_t room = s_shared_room(&watcher, users, SENDERS);
    pl_ws_t *w = s_connect(&watcher);
    s_subscribe_now(w, room);
    sender_t senders[SENDERS];
    pthread_t threads[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        senders[i] = (sender_t){.ws = s_connect(&users[i]), .room = room, .index = i};
    for (int i = 0; i < SENDERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_sender, &senders[i]), 0);
    //  The watcher sees 1..N without gaps, and each sender's messages in its order.
    const int total = SENDERS * SENDER_MESSAGES;
    int next_of[SENDERS] = {0};
    for (int seq = 1; seq <= total; seq++) {
        json_t *message = pl_chat_next(w, "message");
        cr_assert_eq(pl_api_int(message, "seq"), seq, "got seq %lld, expected %d",
                     (long long)pl_api_int(message, "seq"), seq);
        int sender = -1, index = -1;
        cr_assert_eq(sscanf(pl_api_str(message, "client_id"), "s%d-%d", &sender, &index), 2);
        cr_assert(sender >= 0 && sender < SENDERS);
        cr_assert_eq(index, next_of[sender], "sender %d: message %d before %d", sender, index,
                     next_of[sender]);
        next_of[sender]++;
        cr_assert_eq(pl_api_int(json_object_get(message, "sender"), "id"), users[sender].id);
        json_decref(message);
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(threads[i], NULL);
        cr_expect_str_empty(senders[i].error, "sender %d: %s", i, senders[i].error);
        cr_expect_eq(senders[i].acks, SENDER_MESSAGES);
        pl_ws_close(&senders[i].ws);
        pl_api_user_free(&users[i]);
    }
    s_expect_stored(&watcher, room, (size_t)total);
    pl_ws_close(&w);
    pl_api_user_free(&watcher);
}

Test(e2e_chat, a_retried_client_id_is_acked_with_the_same_seq_and_stored_once)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(b, room);
    pl_chat_send(a, room, "r-1", "hello");
    int64_t seq = s_expect_ack(a, room, "r-1");
    cr_assert_eq(seq, 1);
    pl_chat_send(a, room, "r-1", "hello");
    cr_assert_eq(s_expect_ack(a, room, "r-1"), seq);
    //  A retry sent before the first was acknowledged: two acks, one message.
    pl_chat_send(a, room, "r-2", "again");
    pl_chat_send(a, room, "r-2", "again");
    cr_assert_eq(s_expect_ack(a, room, "r-2"), 2);
    json_t *second = pl_ws_recv_type(a, "ack", FRAME_MS);
    cr_assert(second, "a retry sent before the first ack got no ack");
    cr_assert_str_eq(pl_api_str(second, "client_id"), "r-2");
    cr_assert_eq(pl_api_int(second, "seq"), 2);
    json_decref(second);
    //  Bob got each message once: the next one he sees after r-2 is r-3.
    pl_chat_send(a, room, "r-3", "last");
    cr_assert_eq(s_expect_ack(a, room, "r-3"), 3);
    for (int64_t expected = 1; expected <= 3; expected++) {
        json_t *message = pl_chat_next(b, "message");
        cr_assert_eq(pl_api_int(message, "seq"), expected);
        json_decref(message);
    }
    s_expect_stored(&alice, room, 3);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_chat, http_publishes_reach_websocket_subscribers)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(a, room);
    s_subscribe_now(b, room);
    json_t *published = s_publish(&bob, room, "{\"client_id\":\"h-1\",\"body\":\"via http\"}");
    pl_ws_t *both[] = {a, b};
    for (int i = 0; i < 2; i++) {
        json_t *message = pl_chat_next(both[i], "message");
        cr_assert_eq(pl_api_int(message, "seq"), pl_api_int(published, "seq"));
        cr_assert_str_eq(pl_api_str(message, "client_id"), "h-1");
        cr_assert_str_eq(pl_api_str(message, "body"), "via http");
        cr_assert_eq(pl_api_int(message, "ts"), pl_api_int(published, "ts"));
        cr_assert_eq(pl_api_int(json_object_get(message, "sender"), "id"), bob.id);
        json_decref(message);
    }
    json_decref(published);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  --- recovery ----------------------------------------------------------------------

Test(e2e_chat, a_reconnect_with_since_gets_exactly_the_missed_messages)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(b, room);
    char client_id[16];
    for (int i = 1; i <= 10; i++) {
        snprintf(client_id, sizeof client_id, "m-%d", i);
        pl_chat_send(a, room, client_id, "x");
        cr_assert_eq(s_expect_ack(a, room, client_id), i);
        if (i == 4) {
            pl_chat_expect_messages(b, room, 1, 4);
            pl_ws_close(&b);
        }
    }
    b = s_connect(&bob);
    json_t *reply = s_subscribe(b, room, 4);
    cr_assert_eq(pl_api_int(reply, "seq"), 10);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    json_decref(reply);
    for (int seq = 5; seq <= 10; seq++) {
        json_t *message = pl_chat_next(b, "message");
        cr_assert_eq(pl_api_int(message, "seq"), seq);
        snprintf(client_id, sizeof client_id, "m-%d", seq);
        cr_assert_str_eq(pl_api_str(message, "client_id"), client_id);
        json_decref(message);
    }
    //  Nothing more was replayed: the next message is the live one.
    pl_chat_send(a, room, "m-11", "live");
    cr_assert_eq(s_expect_ack(a, room, "m-11"), 11);
    pl_chat_expect_messages(b, room, 11, 11);
    //  A since at the latest seq replays nothing.
    pl_ws_t *b2 = s_connect(&bob);
    reply = s_subscribe(b2, room, 11);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    json_decref(reply);
    pl_chat_send(a, room, "m-12", "live");
    cr_assert_eq(s_expect_ack(a, room, "m-12"), 12);
    pl_chat_expect_messages(b2, room, 12, 12);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_ws_close(&b2);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  Sends count messages numbered prefix-1.. with body and expects their acks, seq
//  1..count in order (the room's first messages).
static void s_send_numbered(pl_ws_t *ws, int64_t room, const char *prefix, int count,
                            const char *body)
{
    char client_id[32];
    for (int i = 1; i <= count; i++) {
        snprintf(client_id, sizeof client_id, "%s-%d", prefix, i);
        pl_chat_send(ws, room, client_id, body);
    }
    for (int i = 1; i <= count; i++) {
        snprintf(client_id, sizeof client_id, "%s-%d", prefix, i);
        cr_assert_eq(s_expect_ack(ws, room, client_id), i);
    }
}

//  Expects the messages s_send_numbered sent, in order, each once, with bodies of
//  body_len bytes; then a live one.
static void s_expect_numbered(pl_ws_t *sender, pl_ws_t *ws, int64_t room, const char *prefix,
                              int count, size_t body_len)
{
    char client_id[32];
    for (int seq = 1; seq <= count; seq++) {
        json_t *message = pl_chat_next(ws, "message");
        cr_assert_eq(pl_api_int(message, "seq"), seq);
        snprintf(client_id, sizeof client_id, "%s-%d", prefix, seq);
        cr_assert_str_eq(pl_api_str(message, "client_id"), client_id);
        cr_assert_eq(strlen(pl_api_str(message, "body")), body_len);
        json_decref(message);
    }
    pl_chat_send(sender, room, "live", "after them");
    pl_chat_expect_messages(ws, room, count + 1, count + 1);
}

//  A replay of 300 messages reaches the writer in one batch, more frames than one send
//  of a connection gathers: the rest must follow in the same order, none twice.
Test(e2e_chat, a_replay_longer_than_one_send_arrives_whole_and_in_order)
{
    pl_e2e_restart_with(s_unlimited);
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice);
    s_send_numbered(a, room, "r", 300, "replayed");
    pl_ws_t *b = s_connect(&bob);
    json_t *reply = s_subscribe(b, room, 0);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    json_decref(reply);
    s_expect_numbered(a, b, room, "r", 300, strlen("replayed"));
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  A subscriber that stops reading while 20,000 messages (24 MB) go by fills its
//  socket, then parley's queue for it; read again, that queue drains over many short
//  sends, sends taken whole and turns, and the subscriber gets every message, in order,
//  none twice, still connected: a connection whose sends are taken is not stalled,
//  however much it still holds (the queue's bound, 64 MiB here, is above it).
Test(e2e_chat, a_reader_that_pauses_then_catches_up_gets_every_message_in_order)
{
    const char *const args[] = {
        "--rate-limit-per-s", "100000", "--rate-limit-burst", "100000", "--outbound-queue-bytes",
        "67108864",           NULL};
    pl_e2e_restart_with(args);
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(b, room);
    char body[1001];
    memset(body, 'p', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    s_send_numbered(a, room, "p", 20000, body);
    s_expect_numbered(a, b, room, "p", 20000, sizeof body - 1);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  With one writer, every fan-out to this room is a flush of more sends than the writer
//  makes between two looks at its sockets, so the members' own sends and pings are read
//  in the middle of writing the others' messages: each member still gets every message
//  once, in one gapless order, its acks after its own messages and its pongs answered.
Test(e2e_chat, members_writing_while_a_fan_out_to_hundreds_is_written_are_served_in_order)
{
    enum { MEMBERS = 200, EACH = 2, TOTAL = MEMBERS * EACH };
    const char *const args[] = {"--rate-limit-per-s",
                                "100000",
                                "--rate-limit-burst",
                                "100000",
                                "--writer-threads",
                                "1",
                                "--max-connections",
                                "400",
                                NULL};
    pl_e2e_restart_with(args);
    user_t *users = calloc(MEMBERS, sizeof *users);
    pl_ws_t **ws = calloc(MEMBERS, sizeof *ws);
    cr_assert(users && ws);
    for (int i = 0; i < MEMBERS; i++)
        users[i] = pl_api_signup(pl_api_fmt("M%d", i));
    int64_t room = s_shared_room(&users[0], users + 1, MEMBERS - 1);
    for (int i = 0; i < MEMBERS; i++) {
        ws[i] = s_connect(&users[i]);
        s_subscribe_now(ws[i], room);
    }
    for (int k = 0; k < EACH; k++)
        for (int i = 0; i < MEMBERS; i++) {
            pl_chat_send(ws[i], room, pl_api_fmt("m%d-%d", i, k), "hi");
            pl_chat_sendf(ws[i], "{\"type\":\"ping\",\"ref\":\"p%d\"}", k);
        }
    for (int i = 0; i < MEMBERS; i++) {
        int messages = 0, acks = 0, pongs = 0, own = 0;
        while (messages < TOTAL || acks < EACH || pongs < EACH) {
            json_t *frame = pl_ws_recv_json(ws[i], FRAME_MS);
            cr_assert(frame, "member %d: %d messages, %d acks, %d pongs, then nothing", i, messages,
                      acks, pongs);
            const char *type = pl_api_str(frame, "type");
            const char *client_id = json_string_value(json_object_get(frame, "client_id"));
            char mine[32];
            snprintf(mine, sizeof mine, "m%d-%d", i, strcmp(type, "ack") == 0 ? acks : own);
            if (strcmp(type, "message") == 0) {
                cr_assert_eq(pl_api_int(frame, "seq"), ++messages, "member %d: %s", i,
                             pl_api_show(frame));
                own += client_id && strcmp(client_id, mine) == 0;
            } else if (strcmp(type, "ack") == 0) {
                cr_assert_str_eq(client_id, mine, "member %d: %s", i, pl_api_show(frame));
                cr_assert_lt(acks++, own, "member %d: an ack before its message", i);
            } else if (strcmp(type, "pong") == 0) {
                cr_assert_str_eq(pl_api_str(frame, "ref"), pl_api_fmt("p%d", pongs++));
            } else {
                cr_assert(s_is_push(type), "member %d got %s", i, pl_api_show(frame));
            }
            json_decref(frame);
        }
        cr_assert_eq(own, EACH, "member %d saw %d of its own messages", i, own);
    }
    json_t *stored =
        s_http("GET", pl_api_fmt("/api/rooms/%lld", (long long)room), &users[0], NULL, 200);
    cr_assert_eq(pl_api_int(stored, "last_seq"), TOTAL);
    json_decref(stored);
    for (int i = 0; i < MEMBERS; i++) {
        pl_ws_close(&ws[i]);
        pl_api_user_free(&users[i]);
    }
    free(ws);
    free(users);
}

Test(e2e_chat, a_since_older_than_the_recovery_window_is_not_recovered)
{
    const char *args[] = {"--recovery-window", "5", NULL};
    pl_e2e_restart_with(args);
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice);
    char client_id[16];
    for (int i = 1; i <= 10; i++) {
        snprintf(client_id, sizeof client_id, "w-%d", i);
        pl_chat_send(a, room, client_id, "x");
        cr_assert_eq(s_expect_ack(a, room, client_id), i);
    }
    pl_ws_t *b = s_connect(&bob);
    json_t *reply = s_subscribe(b, room, 2);
    cr_assert_eq(pl_api_int(reply, "seq"), 10);
    cr_assert(json_is_false(json_object_get(reply, "recovered")), "recovered: %s",
              pl_api_show(reply));
    json_decref(reply);
    pl_chat_send(a, room, "w-11", "live");
    cr_assert_eq(s_expect_ack(a, room, "w-11"), 11);
    pl_chat_expect_messages(b, room, 11, 11);
    //  The last five are still recoverable.
    pl_ws_t *b2 = s_connect(&bob);
    reply = s_subscribe(b2, room, 6);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    json_decref(reply);
    pl_chat_expect_messages(b2, room, 7, 11);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_ws_close(&b2);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_chat, a_new_member_can_subscribe_as_soon_as_the_join_is_answered)
{
    user_t alice = pl_api_signup("Alice");
    int64_t content = s_content(&alice);
    int64_t room = s_content_room(&alice, content, 201);
    //  Alice's subscription keeps the room live in the server.
    pl_ws_t *a = s_connect(&alice);
    s_subscribe_now(a, room);
    for (int i = 0; i < 100; i++) {
        user_t user = pl_api_signup("Newcomer");
        pl_ws_t *ws = s_connect(&user);
        //  Joining over /join and over the content's room are both answered only
        //  once the member is in.
        if (i % 10 != 9)
            s_membership(&user, room, "join");
        else
            cr_assert_eq(s_content_room(&user, content, 200), room);
        pl_chat_sendf(ws, "{\"type\":\"subscribe\",\"room\":%lld,\"ref\":\"now\"}",
                      (long long)room);
        json_decref(s_reply(ws, "subscribed"));
        pl_ws_close(&ws);
        pl_api_user_free(&user);
    }
    pl_ws_close(&a);
    pl_api_user_free(&alice);
}

//  --- read, typing, presence, members -----------------------------------------------

Test(e2e_chat, read_receipts_go_to_every_subscriber)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(a, room);
    s_subscribe_now(b, room);
    for (int i = 1; i <= 3; i++) {
        char client_id[16];
        snprintf(client_id, sizeof client_id, "x-%d", i);
        pl_chat_send(a, room, client_id, "x");
        s_expect_ack(a, room, client_id);
    }
    pl_chat_sendf(b, "{\"type\":\"read\",\"room\":%lld,\"seq\":2}", (long long)room);
    pl_ws_t *both[] = {a, b};
    for (int i = 0; i < 2; i++) {
        json_t *read = pl_chat_next(both[i], "read");
        cr_assert_eq(pl_api_int(read, "room"), room);
        cr_assert_eq(pl_api_int(read, "user"), bob.id);
        cr_assert_eq(pl_api_int(read, "seq"), 2);
        json_decref(read);
    }
    //  The read pointer is what the room list counts from (the read frame is no
    //  promise that it is stored yet: poll briefly).
    int64_t unread = -1;
    for (int attempt = 0; attempt < 100 && unread != 1; attempt++) {
        if (attempt > 0)
            nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        json_t *list = s_http("GET", "/api/rooms", &bob, NULL, 200);
        unread = pl_api_int(json_array_get(json_object_get(list, "rooms"), 0), "unread");
        json_decref(list);
    }
    cr_assert_eq(unread, 1, "unread %lld after reading 2 of 3", (long long)unread);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  Expects the next typing frame on ws to be from user_id; with no_presence, no
//  presence frame may come before it.
static void s_expect_typing_from(pl_ws_t *ws, int64_t room, int64_t user_id, bool no_presence)
{
    for (;;) {
        json_t *frame = pl_ws_recv_json(ws, FRAME_MS);
        cr_assert(frame, "no typing frame");
        const char *type = json_string_value(json_object_get(frame, "type"));
        cr_assert(type);
        cr_assert(!no_presence || strcmp(type, "presence") != 0, "unexpected %s",
                  pl_api_show(frame));
        if (strcmp(type, "typing") == 0) {
            cr_assert_eq(pl_api_int(frame, "room"), room);
            cr_assert_eq(pl_api_int(frame, "user"), user_id, "typing from %lld, expected %lld",
                         (long long)pl_api_int(frame, "user"), (long long)user_id);
            json_decref(frame);
            return;
        }
        json_decref(frame);
    }
}

static void s_typing(pl_ws_t *ws, int64_t room)
{
    pl_chat_sendf(ws, "{\"type\":\"typing\",\"room\":%lld}", (long long)room);
}

Test(e2e_chat, typing_goes_to_the_others_only)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a1 = s_connect(&alice), *a2 = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(a1, room);
    s_subscribe_now(a2, room);
    s_subscribe_now(b, room);
    s_typing(a1, room);
    s_expect_typing_from(b, room, alice.id, false);
    s_expect_typing_from(a2, room, alice.id, false);
    //  a1 did not get its own: the next typing it sees is Bob's.
    s_typing(b, room);
    s_expect_typing_from(a1, room, bob.id, false);
    s_expect_typing_from(a2, room, bob.id, false);
    //  Typing is never stored.
    s_expect_stored(&alice, room, 0);
    pl_ws_close(&a1);
    pl_ws_close(&a2);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  Expects a presence frame for user as the next pushed frame of that kind.
static void s_expect_presence(pl_ws_t *ws, int64_t room, int64_t user_id, bool online)
{
    json_t *presence = pl_chat_next(ws, "presence");
    cr_assert_eq(pl_api_int(presence, "room"), room);
    cr_assert_eq(pl_api_int(presence, "user"), user_id);
    cr_assert(json_is_boolean(json_object_get(presence, "online")));
    cr_assert_eq(json_is_true(json_object_get(presence, "online")), online, "%s",
                 pl_api_show(presence));
    json_decref(presence);
}

Test(e2e_chat, presence_follows_a_users_first_and_last_connection)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice);
    s_subscribe_now(a, room);
    pl_ws_t *b1 = s_connect(&bob);
    s_subscribe_now(b1, room);
    s_expect_presence(a, room, bob.id, true);
    //  Bob's second connection changes nothing for Alice...
    pl_ws_t *b2 = s_connect(&bob);
    json_t *reply = s_subscribe(b2, room, -1);
    cr_assert(s_has_id(json_object_get(reply, "online"), alice.id));
    cr_assert(s_has_id(json_object_get(reply, "online"), bob.id));
    cr_assert_eq(json_array_size(json_object_get(reply, "online")), 2, "a user listed twice");
    json_decref(reply);
    s_typing(b1, room);
    s_expect_typing_from(a, room, bob.id, true);
    //  ... nor does closing one of the two.
    pl_ws_close(&b2);
    s_typing(b1, room);
    s_expect_typing_from(a, room, bob.id, true);
    //  Alice sees Bob go when his last connection does, abruptly or not.
    pl_ws_abort(&b1);
    s_expect_presence(a, room, bob.id, false);
    //  And come back.
    pl_ws_t *b3 = s_connect(&bob);
    s_subscribe_now(b3, room);
    s_expect_presence(a, room, bob.id, true);
    pl_ws_close(&b3);
    s_expect_presence(a, room, bob.id, false);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  Expects a member event on ws.
static void s_expect_member(pl_ws_t *ws, int64_t room, const char *event, const user_t *user)
{
    json_t *member = pl_chat_next(ws, "member");
    cr_assert_eq(pl_api_int(member, "room"), room);
    cr_assert_str_eq(pl_api_str(member, "event"), event);
    json_t *who = json_object_get(member, "user");
    cr_assert_eq(pl_api_int(who, "id"), user->id);
    cr_assert_str_eq(pl_api_str(who, "display_name"), user->name);
    json_decref(member);
}

Test(e2e_chat, joins_and_leaves_over_http_are_pushed_to_subscribers)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob"),
           carol = pl_api_signup("Carol");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob), *c = s_connect(&carol);
    s_subscribe_now(a, room);
    s_subscribe_now(b, room);
    s_membership(&carol, room, "join");
    s_expect_member(a, room, "joined", &carol);
    s_expect_member(b, room, "joined", &carol);
    //  The new member can subscribe and send at once.
    s_subscribe_now(c, room);
    pl_chat_send(c, room, "c-1", "hi all");
    cr_assert_eq(s_expect_ack(c, room, "c-1"), 1);
    pl_chat_expect_messages(a, room, 1, 1);
    s_membership(&carol, room, "leave");
    s_expect_member(a, room, "left", &carol);
    s_expect_member(b, room, "left", &carol);
    //  Gone is gone: no more messages (the room answers Carol's next send after
    //  it broadcast a-1, so a-1 would come first), no sending, no subscribing.
    pl_chat_send(a, room, "a-1", "bye carol");
    cr_assert_eq(s_expect_ack(a, room, "a-1"), 2);
    pl_chat_expect_messages(b, room, 2, 2);
    pl_chat_send(c, room, "c-2", "still here?");
    for (;;) {
        json_t *frame = pl_ws_recv_json(c, FRAME_MS);
        cr_assert(frame, "no answer to c-2");
        const char *type = pl_api_str(frame, "type");
        cr_assert(strcmp(type, "message") != 0 || pl_api_int(frame, "seq") != 2,
                  "a member who left still gets messages");
        bool done = strcmp(type, "error") == 0;
        //  (Its ref is non_members_and_unknown_rooms_get_error_frames' business.)
        if (done)
            cr_assert_str_eq(pl_api_str(frame, "code"), "forbidden", "%s", pl_api_show(frame));
        json_decref(frame);
        if (done)
            break;
    }
    pl_chat_sendf(c, "{\"type\":\"subscribe\",\"room\":%lld,\"ref\":\"again\"}", (long long)room);
    s_expect_error(c, "forbidden", "again");
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_ws_close(&c);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
    pl_api_user_free(&carol);
}

//  PATCH /api/me reaches every room of the user live, and what they send next (and
//  the history) carries the new profile.
Test(e2e_chat, a_profile_change_is_pushed_live_to_every_room_of_the_user)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob"),
           carol = pl_api_signup("Carol");
    int64_t with_alice = s_shared_room(&alice, &bob, 1);
    int64_t with_carol = s_shared_room(&carol, &bob, 1);
    pl_ws_t *a = s_connect(&alice), *b = s_connect(&bob), *c = s_connect(&carol);
    s_subscribe_now(a, with_alice);
    s_subscribe_now(b, with_alice);
    s_subscribe_now(c, with_carol);
    const char *avatar = "https://example.org/robert.png";
    json_t *me =
        s_http("PATCH", "/api/me", &bob,
               pl_api_fmt("{\"display_name\":\"Robert\",\"avatar_url\":\"%s\"}", avatar), 200);
    cr_assert_str_eq(pl_api_str(me, "display_name"), "Robert");
    json_decref(me);
    struct {
        pl_ws_t *ws;
        int64_t room;
    } seen[] = {{a, with_alice}, {c, with_carol}};
    for (size_t i = 0; i < 2; i++) {
        json_t *member = pl_chat_next(seen[i].ws, "member");
        cr_assert_eq(pl_api_int(member, "room"), seen[i].room);
        cr_assert_str_eq(pl_api_str(member, "event"), "updated");
        json_t *who = json_object_get(member, "user");
        cr_assert_eq(pl_api_int(who, "id"), bob.id);
        cr_assert_str_eq(pl_api_str(who, "display_name"), "Robert");
        cr_assert_str_eq(pl_api_str(who, "avatar_url"), avatar);
        json_decref(member);
    }
    pl_chat_send(b, with_alice, "b-1", "call me Robert");
    cr_assert_eq(s_expect_ack(b, with_alice, "b-1"), 1);
    json_t *message = pl_chat_next(a, "message");
    json_t *sender = json_object_get(message, "sender");
    cr_assert_str_eq(pl_api_str(sender, "display_name"), "Robert", "%s", pl_api_show(message));
    cr_assert_str_eq(pl_api_str(sender, "avatar_url"), avatar);
    json_decref(message);
    json_t *history = s_history(&alice, with_alice);
    json_t *stored = json_array_get(history, 0);
    cr_assert_str_eq(pl_api_str(json_object_get(stored, "sender"), "display_name"), "Robert");
    json_decref(history);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_ws_close(&c);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
    pl_api_user_free(&carol);
}

//  --- bad requests and limits ------------------------------------------------------

//  Sends a formatted request, expects a bad_request error carrying ref, and checks
//  that the connection still answers a ping.
static void s_expect_bad(pl_ws_t *ws, const char *ref, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_expect_bad(pl_ws_t *ws, const char *ref, const char *fmt, ...)
{
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
    json_t *frame = s_reply(ws, "error");
    cr_assert_str_eq(pl_api_str(frame, "code"), "bad_request", "%s: %s", text, pl_api_show(frame));
    const char *got = json_string_value(json_object_get(frame, "ref"));
    cr_expect(got && strcmp(got, ref) == 0, "%s: error without ref %s: %s", text, ref,
              pl_api_show(frame));
    json_decref(frame);
    s_expect_pong(ws);
}

Test(e2e_chat, bad_sends_get_bad_request_and_store_nothing)
{
    const char *args[] = {"--max-message-chars", "10", NULL};
    pl_e2e_restart_with(args);
    user_t alice = pl_api_signup("Alice");
    int64_t room = s_new_room(&alice);
    pl_ws_t *a = s_connect(&alice);
    s_subscribe_now(a, room);
    const long long r = (long long)room;
    char long_id[66];
    memset(long_id, 'k', 65);
    long_id[65] = '\0';
    static const char hash[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    s_expect_bad(a, "b-1", "{\"type\":\"send\",\"client_id\":\"b-1\",\"body\":\"x\"}");
    s_expect_bad(a, "b-2", "{\"type\":\"send\",\"room\":0,\"client_id\":\"b-2\",\"body\":\"x\"}");
    s_expect_bad(a, "b-3",
                 "{\"type\":\"send\",\"room\":\"%lld\",\"client_id\":\"b-3\",\"body\":\"x\"}", r);
    s_expect_bad(a, "b-4", "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-4\",\"body\":\"\"}",
                 r);
    s_expect_bad(a, "b-5", "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-5\"}", r);
    s_expect_bad(a, "b-6",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-6\",\"body\":\"eleven char\"}",
                 r);
    s_expect_bad(a, "b-7",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-7\",\"kind\":\"video\","
                 "\"body\":\"x\"}",
                 r);
    s_expect_bad(a, "b-8",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-8\",\"kind\":\"image\"}", r);
    s_expect_bad(a, "b-9",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-9\",\"kind\":\"image\","
                 "\"url\":\"https://evil.example/x.png\"}",
                 r);
    s_expect_bad(a, "b-10",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-10\",\"kind\":\"image\","
                 "\"url\":\"/uploads/%.63s.png\"}",
                 r, hash);
    s_expect_bad(a, "b-11", "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-11\",\"body\":7}",
                 r);
    //  Well formed, but nothing was uploaded under that url.
    s_expect_bad(a, "b-12",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-12\",\"kind\":\"image\","
                 "\"url\":\"/uploads/%s.png\"}",
                 r, hash);
    //  Without a ref, the error names the client_id, even a bad one.
    s_expect_bad(a, "has space",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"has space\",\"body\":\"x\"}", r);
    s_expect_bad(a, "r-12",
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"has space\",\"body\":\"x\","
                 "\"ref\":\"r-12\"}",
                 r);
    s_expect_bad(a, long_id,
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"%s\",\"body\":\"x\"}", r,
                 long_id);
    s_expect_bad(a, "r-13", "{\"type\":\"read\",\"room\":%lld,\"seq\":\"1\",\"ref\":\"r-13\"}", r);
    s_expect_bad(a, "r-14", "{\"type\":\"read\",\"room\":%lld,\"seq\":1.5,\"ref\":\"r-14\"}", r);
    s_expect_bad(a, "r-15", "{\"type\":\"read\",\"room\":%lld,\"ref\":\"r-15\"}", r);
    s_expect_bad(a, "r-16",
                 "{\"type\":\"subscribe\",\"room\":%lld,\"since\":\"0\",\"ref\":\"r-16\"}", r);
    s_expect_bad(a, "r-17", "{\"type\":\"subscribe\",\"room\":%lld,\"since\":-1,\"ref\":\"r-17\"}",
                 r);

    //  An upload of this server is fine, and so are ten characters.
    char *url = NULL;
    cr_assert_eq(pl_fx_upload(s_srv.port, alice.token, "image/png", pl_fx_png, pl_fx_png_len, &url),
                 201);
    pl_chat_sendf(a,
                  "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"ok-1\",\"kind\":\"image\","
                  "\"url\":\"%s\"}",
                  r, url);
    free(url);
    cr_assert_eq(s_expect_ack(a, room, "ok-1"), 1);
    pl_chat_send(a, room, "ok-2", "ten chars!");
    cr_assert_eq(s_expect_ack(a, room, "ok-2"), 2);
    s_expect_stored(&alice, room, 2);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
}

Test(e2e_chat, a_sender_over_the_rate_limit_is_refused)
{
    const char *args[] = {"--rate-limit-per-s", "1", "--rate-limit-burst", "3", NULL};
    pl_e2e_restart_with(args);
    user_t alice = pl_api_signup("Alice");
    int64_t room = s_new_room(&alice);
    pl_ws_t *a = s_connect(&alice);
    enum { SENT = 10 };
    for (int i = 0; i < SENT; i++) {
        char client_id[16];
        snprintf(client_id, sizeof client_id, "q-%d", i);
        pl_chat_send(a, room, client_id, "flood");
    }
    int acks = 0, limited = 0;
    for (int answers = 0; answers < SENT;) {
        json_t *frame = pl_ws_recv_json(a, FRAME_MS);
        cr_assert(frame, "%d answers to %d sends", answers, SENT);
        const char *type = pl_api_str(frame, "type");
        if (strcmp(type, "ack") == 0) {
            acks++;
            answers++;
        } else if (!s_is_push(type)) {
            cr_assert_str_eq(type, "error", "%s", pl_api_show(frame));
            cr_assert_str_eq(pl_api_str(frame, "code"), "rate_limited", "%s", pl_api_show(frame));
            cr_assert(strncmp(pl_api_str(frame, "ref"), "q-", 2) == 0);
            limited++;
            answers++;
        }
        json_decref(frame);
    }
    //  The burst goes through (a token may come back meanwhile); the rest does not.
    cr_assert(acks >= 3 && acks <= 4, "%d acks", acks);
    cr_assert_eq(limited, SENT - acks);
    s_expect_stored(&alice, room, (size_t)acks);
    s_expect_pong(a);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
}

//  Receives the next answer to a request (pushed frames skipped) as the text the
//  server wrote; caller frees.
static char *s_reply_text(pl_ws_t *ws)
{
    for (;;) {
        char *data = NULL;
        size_t len = 0;
        cr_assert_eq(pl_ws_recv(ws, FRAME_MS, &data, &len, NULL), PL_WS_TEXT, "no answer");
        json_t *frame = json_loadb(data, len, 0, NULL);
        cr_assert(frame, "not JSON: %s", data);
        bool push = s_is_push(json_string_value(json_object_get(frame, "type")));
        json_decref(frame);
        if (!push)
            return data;
        free(data);
    }
}

//  Sends a send request as it is, which the server reads on its fast path
//  (send_scan.h), and again with its "type" key escaped, which only jansson reads.
//  Both answers must be the same bytes: an error with code and ref (NULL: none).
static void s_expect_same_error(pl_ws_t *ws, const char *code, const char *ref, const char *fmt,
                                ...) __attribute__((format(printf, 4, 5)));

static void s_expect_same_error(pl_ws_t *ws, const char *code, const char *ref, const char *fmt,
                                ...)
{
    char plain[512], escaped[520];
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(plain, sizeof plain, fmt, args);
    va_end(args);
    cr_assert(len > 0 && (size_t)len < sizeof plain);
    const char *type = strstr(plain, "\"type\"");
    cr_assert(type, "%s has no type", plain);
    snprintf(escaped, sizeof escaped, "%.*s\"t\\u0079pe\"%s", (int)(type - plain), plain, type + 6);
    cr_assert_eq(pl_ws_send_text(ws, plain, (size_t)len), 0);
    char *fast = s_reply_text(ws);
    cr_assert_eq(pl_ws_send_text(ws, escaped, strlen(escaped)), 0);
    char *slow = s_reply_text(ws);
    cr_assert_str_eq(fast, slow, "%s and %s answered differently", plain, escaped);
    json_t *frame = json_loads(fast, 0, NULL);
    cr_assert_str_eq(pl_api_str(frame, "type"), "error", "%s: %s", plain, fast);
    cr_assert_str_eq(pl_api_str(frame, "code"), code, "%s: %s", plain, fast);
    if (ref)
        cr_assert_str_eq(pl_api_str(frame, "ref"), ref, "%s: %s", plain, fast);
    else
        cr_assert_null(json_object_get(frame, "ref"), "%s: %s", plain, fast);
    json_decref(frame);
    free(fast);
    free(slow);
}

Test(e2e_chat, a_plain_send_is_answered_as_an_escaped_one)
{
    const char *args[] = {
        "--max-message-chars", "10", "--rate-limit-per-s", "1", "--rate-limit-burst", "1", NULL};
    pl_e2e_restart_with(args);
    user_t alice = pl_api_signup("Alice");
    int64_t room = s_new_room(&alice);
    pl_ws_t *a = s_connect(&alice);
    const long long r = (long long)room;
    static const char hash[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    //  The error's ref is the request's ref, else its client_id, even a bad one.
    s_expect_same_error(a, "bad_request", "has space",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"has space\","
                        "\"body\":\"x\"}",
                        r);
    s_expect_same_error(a, "bad_request", "r-1",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"has space\","
                        "\"body\":\"x\",\"ref\":\"r-1\"}",
                        r);
    s_expect_same_error(a, "bad_request",
                        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"%s\",\"body\":\"x\"}", r,
                        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    s_expect_same_error(a, "bad_request", "\xc3\xa9t\xc3\xa9",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"\xc3\xa9t\xc3\xa9\","
                        "\"body\":\"x\"}",
                        r);
    s_expect_same_error(a, "bad_request", "\xf0\x9f\x98\x80",
                        "{\"type\":\"send\",\"room\":%lld,\"body\":\"x\","
                        "\"ref\":\"\xf0\x9f\x98\x80\",\"client_id\":\"\"}",
                        r);
    //  Eleven characters, ASCII and not.
    s_expect_same_error(a, "bad_request", "b-1",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-1\","
                        "\"body\":\"eleven char\"}",
                        r);
    s_expect_same_error(a, "bad_request", "b-2",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-2\",\"body\":"
                        "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                        "\xa9\xc3\xa9\xc3\xa9\"}",
                        r);
    s_expect_same_error(a, "bad_request", NULL, "{\"type\":\"send\",\"room\":%lld,\"body\":\"\"}",
                        r);
    s_expect_same_error(a, "bad_request", NULL, "{\"room\":%lld,\"type\":\"send\"}", r);
    s_expect_same_error(a, "bad_request", "b-3",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-3\",\"kind\":\"video\","
                        "\"body\":\"x\"}",
                        r);
    s_expect_same_error(
        a, "bad_request", "b-4",
        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-4\",\"kind\":\"image\"}", r);
    s_expect_same_error(a, "bad_request", "b-5",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-5\",\"kind\":\"text\","
                        "\"body\":\"x\",\"url\":\"/uploads/%s.png\"}",
                        r, hash);
    s_expect_same_error(a, "bad_request", "b-6",
                        "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"b-6\",\"kind\":\"image\","
                        "\"url\":\"/uploads/%s.png\"}",
                        r, hash);
    //  The one token goes to the first good send; the next ones are over the limit.
    pl_chat_send(a, room, "ok-1", "fine");
    cr_assert_eq(s_expect_ack(a, room, "ok-1"), 1);
    s_expect_same_error(a, "rate_limited", "q-1",
                        "{ \"type\" : \"send\", \"room\" : %lld, \"client_id\" : \"q-1\", "
                        "\"body\" : \"x\" }",
                        r);
    s_expect_stored(&alice, room, 1);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
}

//  --- durability --------------------------------------------------------------------

Test(e2e_chat, acked_messages_survive_kill_9_and_are_replayed)
{
    user_t alice = pl_api_signup("Alice");
    int64_t room = s_new_room(&alice);
    pl_ws_t *a = s_connect(&alice);
    enum { COUNT = 30 };
    char client_id[16];
    for (int i = 1; i <= COUNT; i++) {
        snprintf(client_id, sizeof client_id, "k-%d", i);
        pl_chat_send(a, room, client_id, "durable");
    }
    for (int i = 1; i <= COUNT; i++) {
        snprintf(client_id, sizeof client_id, "k-%d", i);
        cr_assert_eq(s_expect_ack(a, room, client_id), i);
    }
    pl_server_kill9(&s_srv);
    pl_ws_abort(&a);
    pl_e2e_start(NULL);
    s_expect_stored(&alice, room, COUNT);
    a = s_connect(&alice);
    json_t *reply = s_subscribe(a, room, 0);
    cr_assert_eq(pl_api_int(reply, "seq"), COUNT);
    cr_assert(json_is_true(json_object_get(reply, "recovered")));
    json_decref(reply);
    for (int seq = 1; seq <= COUNT; seq++) {
        json_t *message = pl_chat_next(a, "message");
        cr_assert_eq(pl_api_int(message, "seq"), seq);
        snprintf(client_id, sizeof client_id, "k-%d", seq);
        cr_assert_str_eq(pl_api_str(message, "client_id"), client_id);
        cr_assert_str_eq(pl_api_str(message, "body"), "durable");
        json_decref(message);
    }
    //  The room goes on where it stopped; a retry of an acked message is not new.
    pl_chat_send(a, room, "k-31", "after");
    cr_assert_eq(s_expect_ack(a, room, "k-31"), COUNT + 1);
    pl_chat_send(a, room, "k-30", "durable");
    cr_assert_eq(s_expect_ack(a, room, "k-30"), COUNT);
    s_expect_stored(&alice, room, COUNT + 1);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
}

//  --- room frames -------------------------------------------------------------------

//  Expects the next "room" frame to show room with last_seq, the body of its last
//  message and unread; returns nothing, frees all.
static void s_expect_room_frame(pl_ws_t *ws, int64_t room, int64_t last_seq, const char *body,
                                int64_t unread)
{
    json_t *frame = pl_chat_next(ws, "room");
    json_t *shown = json_object_get(frame, "room");
    cr_assert_eq(pl_api_int(shown, "id"), room, "%s", pl_api_show(frame));
    cr_assert_eq(pl_api_int(shown, "last_seq"), last_seq, "%s", pl_api_show(frame));
    cr_assert_eq(pl_api_int(shown, "unread"), unread, "%s", pl_api_show(frame));
    cr_assert(json_is_integer(json_object_get(shown, "members")), "%s", pl_api_show(frame));
    json_t *last = json_object_get(shown, "last_message");
    cr_assert_str_eq(pl_api_str(last, "body"), body, "%s", pl_api_show(frame));
    cr_assert_eq(pl_api_int(last, "seq"), last_seq, "%s", pl_api_show(frame));
    cr_assert_null(json_object_get(last, "type"), "%s", pl_api_show(frame));
    json_decref(frame);
}

Test(e2e_chat, unsubscribed_connections_get_room_frames_with_their_unread)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_shared_room(&alice, &bob, 1);
    pl_ws_t *in_room = s_connect(&alice), *elsewhere = s_connect(&alice), *b = s_connect(&bob);
    s_subscribe_now(in_room, room);
    s_subscribe_now(b, room);
    pl_chat_send(b, room, "r-1", "first");
    s_expect_ack(b, room, "r-1");
    pl_chat_send(b, room, "r-2", "second");
    s_expect_ack(b, room, "r-2");
    //  Alice's other tab is not in the room: it hears of both, her unread growing.
    s_expect_room_frame(elsewhere, room, 1, "first", 1);
    s_expect_room_frame(elsewhere, room, 2, "second", 2);
    //  Her tab in the room gets the messages, never a room frame for them.
    json_t *frame = pl_chat_next(in_room, "message");
    json_decref(frame);
    frame = pl_chat_next(in_room, "message");
    json_decref(frame);
    cr_assert_null(pl_ws_recv_type(in_room, "room", 300), "a subscribed tab got a room frame");
    pl_ws_close(&in_room);
    pl_ws_close(&elsewhere);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_chat, a_dm_room_frame_shows_the_other_side_as_peer)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    pl_ws_t *b = s_connect(&bob);
    char path[64];
    snprintf(path, sizeof path, "/api/users/%lld/dm", (long long)bob.id);
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, "POST", path, alice.token, NULL, &r), 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    int64_t room = json_integer_value(json_object_get(r.json, "id"));
    pl_http_response_free(&r);
    //  Bob hears of the DM Alice opened, with Alice as the peer and title.
    json_t *frame = pl_chat_next(b, "room");
    json_t *shown = json_object_get(frame, "room");
    cr_assert_eq(pl_api_int(shown, "id"), room);
    cr_assert_str_eq(pl_api_str(json_object_get(shown, "peer"), "display_name"), "Alice");
    cr_assert_str_eq(pl_api_str(shown, "title"), "Alice");
    json_decref(frame);
    //  A message from Alice reaches Bob's unsubscribed connection the same way.
    pl_ws_t *a = s_connect(&alice);
    pl_chat_send(a, room, "d-1", "hello bob");
    s_expect_ack(a, room, "d-1");
    frame = pl_chat_next(b, "room");
    shown = json_object_get(frame, "room");
    cr_assert_str_eq(pl_api_str(json_object_get(shown, "peer"), "display_name"), "Alice");
    cr_assert_eq(pl_api_int(shown, "unread"), 1);
    cr_assert_str_eq(pl_api_str(json_object_get(shown, "last_message"), "body"), "hello bob");
    json_decref(frame);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}
