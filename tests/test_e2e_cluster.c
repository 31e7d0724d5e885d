/*  End to end: a cluster of real parley nodes joined by a real Redis and sharing one
    PostgreSQL (tests/support/cluster_suite.h), driven by WebSocket, SSE and HTTP
    clients connected to different nodes: chat, presence, typing and reads across
    nodes, HTTP publishing at any node, a room's requests forwarded to its owner,
    notifications to a user's stream on another node, one room per content however
    many callers on however many nodes, a node killed with -9 under traffic, a node
    drained with SIGTERM, Redis restarted, and the configuration mistakes that must
    stop a node at start-up. */
#include "api.h"
#include "chat.h"
#include "cluster_suite.h"
#include "fixtures.h"
#include "http_client.h"
#include "net.h"
#include "sse_client.h"
#include "ws_client.h"

#include "parley/cluster.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_MS 8000

TestSuite(e2e_cluster, .init = pl_cluster_setup, .fini = pl_cluster_teardown, .timeout = 240);

//  --- helpers ------------------------------------------------------------------------

typedef pl_api_user_t user_t;

static pl_ws_t *s_connect(int node, const user_t *user)
{
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(pl_cluster_port(node), user->token, &status);
    cr_assert(ws, "upgrade at node %d failed with HTTP %d", node + 1, status);
    return ws;
}

static json_t *s_subscribe(pl_ws_t *ws, int64_t room, int64_t since)
{
    if (since < 0)
        pl_chat_sendf(ws, "{\"type\":\"subscribe\",\"room\":%lld}", (long long)room);
    else
        pl_chat_sendf(ws, "{\"type\":\"subscribe\",\"room\":%lld,\"since\":%lld}", (long long)room,
                      (long long)since);
    json_t *reply = pl_chat_next(ws, "subscribed");
    cr_assert_eq(pl_api_int(reply, "room"), room, "%s", pl_api_show(reply));
    return reply;
}

//  The room's stored messages as the history API of node sees them (caller decrefs).
static json_t *s_history(int node, const user_t *user, int64_t room, int64_t after)
{
    pl_api_use_port(pl_cluster_port(node));
    json_t *page = pl_api_json("GET",
                               pl_api_fmt("/api/rooms/%lld/messages?after=%lld&limit=200",
                                          (long long)room, (long long)after),
                               user->token, NULL, 200);
    json_t *messages = json_incref(json_object_get(page, "messages"));
    json_decref(page);
    return messages;
}

//  How many messages the room holds, checking they are seqs 1..n (paged by `after`).
static size_t s_stored_count(int node, const user_t *user, int64_t room)
{
    size_t count = 0;
    for (;;) {
        json_t *page = s_history(node, user, room, (int64_t)count);
        size_t n = json_array_size(page);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(pl_api_int(json_array_get(page, i), "seq"), (int64_t)(count + i + 1),
                         "room %lld: a gap or a duplicate after seq %zu", (long long)room,
                         count + i);
        json_decref(page);
        count += n;
        if (n < 200)
            return count;
    }
}

//  A group room made by owner at node 0 that the others joined (at node 1).
static int64_t s_shared_room(const user_t *owner, const user_t *other)
{
    pl_api_use_port(pl_cluster_port(0));
    int64_t room = pl_api_new_room(owner->token);
    pl_api_use_port(pl_cluster_port(1));
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/join", (long long)room), other->token, NULL,
                  204, NULL);
    return room;
}

//  The node (0-based) that owns a room while nodes 1..count are live.
static int s_owner(int64_t room, int count)
{
    uint16_t nodes[PL_CLUSTER_NODES];
    for (int i = 0; i < count; i++)
        nodes[i] = (uint16_t)(i + 1);
    return pl_cluster_owner_among(room, nodes, count) - 1;
}

//  A new shared room whose owner is node `owner` while nodes 1..count are live.
static int64_t s_room_owned_by(const user_t *owner_user, const user_t *other, int owner, int count)
{
    for (int tries = 0; tries < 64; tries++) {
        int64_t room = s_shared_room(owner_user, other);
        if (s_owner(room, count) == owner)
            return room;
    }
    cr_assert_fail("no room hashed to node %d in 64 tries", owner + 1);
    return 0;
}

//  The health of node (0-based) once it answers status.
static json_t *s_health_until(int node, int status)
{
    return pl_api_health_until(pl_cluster_port(node), status);
}

//  Waits until node (0-based) sees count live nodes.
static void s_live_nodes_until(int node, size_t count)
{
    pl_api_live_nodes_until(pl_cluster_port(node), count);
}

//  An SSE stream of user at node (0-based), with Last-Event-ID: after (NULL: none).
static pl_sse_t *s_events(const user_t *user, int node, const char *after)
{
    char headers[512];
    int len = snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", user->token);
    if (after)
        snprintf(headers + len, sizeof headers - (size_t)len, "Last-Event-ID: %s\r\n", after);
    pl_sse_t *events = pl_sse_connect(pl_cluster_port(node), "/api/events", headers, NULL);
    cr_assert(events, "no SSE stream at node %d", node + 1);
    return events;
}

//  parley_bridge_messages_total{direction} of a node's /metrics.
static long long s_bridge_messages(int node, const char *direction)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(pl_cluster_port(node), "GET", "/metrics", NULL, NULL, 0, &r), 0);
    char name[96];
    snprintf(name, sizeof name, "parley_bridge_messages_total{direction=\"%s\"} ", direction);
    const char *line = r.body ? strstr(r.body, name) : NULL;
    long long value = line ? strtoll(line + strlen(name), NULL, 10) : -1;
    pl_http_response_free(&r);
    cr_assert_geq(value, 0, "no %s in node %d's /metrics", name, node + 1);
    return value;
}

//  --- chat across nodes ------------------------------------------------------------

Test(e2e_cluster, health_names_the_node_and_the_live_nodes)
{
    json_t *health = s_health_until(1, 200);
    cr_assert_str_eq(pl_api_str(health, "status"), "ok");
    cr_assert_eq(pl_api_int(health, "node_id"), 2);
    cr_assert_str_eq(pl_api_str(health, "redis"), "up");
    json_t *nodes = json_object_get(health, "nodes");
    cr_assert_eq(json_array_size(nodes), 2, "%s", pl_api_show(health));
    json_decref(health);
}

Test(e2e_cluster, messages_reach_subscribers_on_both_nodes_in_order_with_acks)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    //  One room owned by each node: both paths (local owner, forwarded) are exercised.
    for (int owner = 0; owner < 2; owner++) {
        int64_t room = s_room_owned_by(&alice, &bob, owner, 2);
        pl_ws_t *a = s_connect(0, &alice), *b = s_connect(1, &bob);
        json_decref(s_subscribe(a, room, -1));
        json_decref(s_subscribe(b, room, -1));
        const int count = 60;
        for (int i = 1; i <= count; i++) {
            char id[32];
            snprintf(id, sizeof id, "c-%d-%d", owner, i);
            pl_chat_send(i % 2 ? a : b, room, id, "hello across nodes");
        }
        pl_chat_expect_messages(a, room, 1, count);
        pl_chat_expect_messages(b, room, 1, count);
        json_t *stored = s_history(owner == 0 ? 1 : 0, &alice, room, 0);
        cr_assert_eq(json_array_size(stored), (size_t)count);
        json_decref(stored);
        //  They crossed Redis: the node without the room forwarded its sends, and the
        //  owner fanned out to the other's subscriber.
        for (int node = 0; node < 2; node++)
            cr_assert_gt(s_bridge_messages(node, "out"), 0, "node %d sent nothing over Redis",
                         node + 1);
        pl_ws_close(&a);
        pl_ws_close(&b);
    }
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, a_retry_at_the_other_node_is_acked_with_the_same_seq_and_stored_once)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 1, 2);
    pl_ws_t *a1 = s_connect(0, &alice);
    pl_chat_send(a1, room, "once", "exactly once");
    json_t *ack = pl_chat_next(a1, "ack");
    int64_t seq = pl_api_int(ack, "seq");
    json_decref(ack);
    pl_ws_t *a2 = s_connect(1, &alice);
    pl_chat_send(a2, room, "once", "exactly once");
    ack = pl_chat_next(a2, "ack");
    cr_assert_eq(pl_api_int(ack, "seq"), seq, "a retry got a new seq: %s", pl_api_show(ack));
    json_decref(ack);
    json_t *stored = s_history(0, &alice, room, 0);
    cr_assert_eq(json_array_size(stored), 1);
    json_decref(stored);
    pl_ws_close(&a1);
    pl_ws_close(&a2);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, presence_typing_and_reads_cross_nodes)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 0, 2);
    pl_ws_t *a = s_connect(0, &alice);
    json_decref(s_subscribe(a, room, -1));
    pl_ws_t *b = s_connect(1, &bob);
    json_t *subscribed = s_subscribe(b, room, -1);
    //  Bob, on the other node, sees Alice online, and Alice sees Bob come online.
    json_t *online = json_object_get(subscribed, "online");
    cr_assert_eq(json_array_size(online), 2, "%s", pl_api_show(subscribed));
    json_decref(subscribed);
    json_t *presence = pl_chat_next(a, "presence");
    cr_assert_eq(pl_api_int(presence, "user"), bob.id);
    cr_assert(json_is_true(json_object_get(presence, "online")));
    json_decref(presence);
    pl_chat_sendf(b, "{\"type\":\"typing\",\"room\":%lld}", (long long)room);
    json_t *typing = pl_chat_next(a, "typing");
    cr_assert_eq(pl_api_int(typing, "user"), bob.id);
    json_decref(typing);
    pl_chat_send(a, room, "r1", "read me");
    json_decref(pl_chat_next(b, "message"));
    pl_chat_sendf(b, "{\"type\":\"read\",\"room\":%lld,\"seq\":1}", (long long)room);
    json_t *read = pl_chat_next(a, "read");
    cr_assert_eq(pl_api_int(read, "user"), bob.id);
    cr_assert_eq(pl_api_int(read, "seq"), 1);
    json_decref(read);
    //  Bob's connection goes away: Alice sees him go offline.
    pl_ws_close(&b);
    presence = pl_chat_next(a, "presence");
    cr_assert_eq(pl_api_int(presence, "user"), bob.id);
    cr_assert(json_is_false(json_object_get(presence, "online")));
    json_decref(presence);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, http_publishes_at_either_node_reach_websockets_on_the_other)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 0, 2);
    pl_ws_t *a = s_connect(0, &alice);
    json_decref(s_subscribe(a, room, -1));
    pl_api_use_port(pl_cluster_port(1));
    json_t *message = pl_api_json("POST", pl_api_fmt("/api/rooms/%lld/messages", (long long)room),
                                  bob.token, "{\"client_id\":\"h1\",\"body\":\"over http\"}", 201);
    cr_assert_eq(pl_api_int(message, "seq"), 1);
    cr_assert_str_eq(pl_api_str(message, "body"), "over http");
    json_decref(message);
    json_t *pushed = pl_chat_next(a, "message");
    cr_assert_eq(pl_api_int(pushed, "seq"), 1);
    json_decref(pushed);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, a_room_notice_and_a_notification_reach_a_user_on_the_other_node)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 0, 2);
    pl_ws_t *b = s_connect(1, &bob);
    pl_sse_t *events = s_events(&bob, 1, NULL);
    pl_ws_t *a = s_connect(0, &alice);
    json_decref(s_subscribe(a, room, -1));
    pl_chat_send(a, room, "n1", "are you there?");
    //  Bob is not subscribed: a room frame on his WebSocket, a notification on his stream.
    json_t *notice = pl_chat_next(b, "room");
    cr_assert_eq(pl_api_int(json_object_get(notice, "room"), "id"), room, "%s",
                 pl_api_show(notice));
    json_decref(notice);
    char why[256] = "";
    json_t *notification = pl_sse_next_notification(events, FRAME_MS, why, sizeof why);
    cr_assert(notification, "no notification at node 2: %s", why);
    cr_assert_str_eq(pl_api_str(notification, "kind"), "group_message");
    json_decref(notification);
    //  A follow made at node 1 reaches Bob's stream at node 2 too.
    pl_api_use_port(pl_cluster_port(0));
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)bob.id), alice.token,
                  NULL, 204, NULL);
    for (;;) {
        notification = pl_sse_next_notification(events, FRAME_MS, why, sizeof why);
        cr_assert(notification, "no follow notification at node 2: %s", why);
        bool follow = strcmp(pl_api_str(notification, "kind"), "follow") == 0;
        json_decref(notification);
        if (follow)
            break;
    }
    pl_sse_close(&events);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, notifications_replay_at_another_node_after_last_event_id)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob"),
           carol = pl_api_signup("Carol");
    pl_sse_t *events = s_events(&bob, 1, "0");
    pl_api_use_port(pl_cluster_port(0));
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)bob.id), alice.token,
                  NULL, 204, NULL);
    char why[256] = "";
    json_t *first = pl_sse_next_notification(events, FRAME_MS, why, sizeof why);
    cr_assert(first, "%s", why);
    json_decref(first);
    char last[32];
    snprintf(last, sizeof last, "%s", pl_sse_last_event_id(events));
    pl_sse_close(&events);
    //  Carol follows Bob while he is away; he comes back at the other node.
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)bob.id), carol.token,
                  NULL, 204, NULL);
    events = s_events(&bob, 0, last);
    json_t *missed = pl_sse_next_notification(events, FRAME_MS, why, sizeof why);
    cr_assert(missed, "nothing replayed after %s: %s", last, why);
    cr_assert_eq(pl_api_int(json_object_get(missed, "actor"), "id"), carol.id, "%s",
                 pl_api_show(missed));
    json_decref(missed);
    pl_sse_close(&events);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
    pl_api_user_free(&carol);
}

//  A new user called name whose notifier is at node `before` (0-based) while two
//  nodes are live and at node `after` once the third joins.
static user_t s_user_moving(const char *name, int before, int after)
{
    for (int tries = 0; tries < 64; tries++) {
        user_t user = pl_api_signup(name);
        if (s_owner(user.id, 2) == before && s_owner(user.id, 3) == after)
            return user;
        pl_api_user_free(&user);
    }
    cr_assert_fail("no user hashed from node %d to node %d", before + 1, after + 1);
    return (user_t){0};
}

Test(e2e_cluster, a_stream_whose_notifier_moves_ends_and_resumes_without_loss)
{
    //  Bob's notifications move to node 3 when it joins; Carol's stay at node 2.
    user_t alice = pl_api_signup("Alice"), bob = s_user_moving("Bob", 0, 2),
           carol = s_user_moving("Carol", 1, 1);
    pl_sse_t *events = s_events(&bob, 0, "0");
    pl_sse_t *staying = s_events(&carol, 0, "0");
    pl_cluster_start_node(2, NULL);
    s_live_nodes_until(0, 3);
    //  The stream ends (an EventSource reconnects by itself, with Last-Event-ID).
    pl_sse_block_t block;
    while (pl_sse_next(events, FRAME_MS, &block) == 1)
        pl_sse_block_free(&block);
    cr_assert(pl_sse_is_closed(events), "the stream of a user whose notifier moved stays open");
    pl_sse_close(&events);
    pl_api_use_port(pl_cluster_port(1));
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)bob.id), alice.token,
                  NULL, 204, NULL);
    events = s_events(&bob, 1, "0");
    char why[256] = "";
    json_t *follow = pl_sse_next_notification(events, FRAME_MS, why, sizeof why);
    cr_assert(follow, "the follow made meanwhile is not replayed: %s", why);
    cr_assert_str_eq(pl_api_str(follow, "kind"), "follow");
    json_decref(follow);
    pl_sse_close(&events);
    //  The stream of a user whose notifier stayed lived through the join, live.
    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/follow", (long long)carol.id), alice.token,
                  NULL, 204, NULL);
    follow = pl_sse_next_notification(staying, FRAME_MS, why, sizeof why);
    cr_assert(follow, "a stream whose notifier did not move: %s", why);
    cr_assert_eq(pl_api_int(json_object_get(follow, "actor"), "id"), alice.id);
    json_decref(follow);
    pl_sse_close(&staying);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
    pl_api_user_free(&carol);
}

Test(e2e_cluster, an_upload_made_at_one_node_is_served_by_the_other)
{
    user_t alice = pl_api_signup("Alice");
    char *url = NULL;
    cr_assert_eq(
        pl_fx_upload(pl_cluster_port(0), alice.token, "image/png", pl_fx_png, pl_fx_png_len, &url),
        201);
    pl_http_response_t r;
    char headers[512];
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", alice.token);
    cr_assert_eq(pl_http_request(pl_cluster_port(1), "GET", url, headers, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "GET %s at node 2: %d", url, r.status);
    cr_assert_eq(r.body_len, pl_fx_png_len);
    cr_assert_eq(memcmp(r.body, pl_fx_png, pl_fx_png_len), 0);
    pl_http_response_free(&r);
    free(url);
    pl_api_user_free(&alice);
}

//  --- one room per content ----------------------------------------------------------

typedef struct {
    int port;
    int64_t content;
    char *token;
    int64_t room;
} caller_t;

static void *s_call_room(void *arg)
{
    caller_t *c = arg;
    pl_http_response_t r;
    char path[64];
    snprintf(path, sizeof path, "/api/contents/%lld/room", (long long)c->content);
    if (pl_http_json(c->port, "POST", path, c->token, NULL, &r) == 0) {
        if (r.status == 200 || r.status == 201)
            c->room = json_integer_value(json_object_get(r.json, "id"));
        pl_http_response_free(&r);
    }
    return NULL;
}

Test(e2e_cluster, two_hundred_callers_on_two_nodes_get_one_room)
{
    enum { CALLERS = 200 };
    static caller_t callers[CALLERS];
    pthread_t threads[CALLERS];
    user_t owner = pl_api_signup("Owner");
    int64_t content = pl_api_content(owner.token, "Solaris");
    for (int i = 0; i < CALLERS; i++) {
        user_t user = pl_api_signup(NULL);
        callers[i] = (caller_t){pl_cluster_port(i % 2), content, user.token, 0};
    }
    for (int i = 0; i < CALLERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_call_room, &callers[i]), 0);
    for (int i = 0; i < CALLERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < CALLERS; i++) {
        cr_assert_neq(callers[i].room, 0, "caller %d got no room", i);
        cr_assert_eq(callers[i].room, callers[0].room, "caller %d got room %lld, not %lld", i,
                     (long long)callers[i].room, (long long)callers[0].room);
        free(callers[i].token);
    }
    pl_api_user_free(&owner);
}

//  --- rooms moving between nodes ----------------------------------------------------

//  Rounds of traffic after the new node is live; before, traffic runs all along.
enum { MOVE_ROOMS = 8, MOVE_ROUNDS_AFTER = 30, MOVE_ROUNDS_MAX = 5000 };

typedef struct {
    pl_ws_t *ws;
    int64_t rooms[MOVE_ROOMS];
    int64_t acked[MOVE_ROOMS]; //  the last seq acked per room
    atomic_bool joined;        //  set once the changes to the cluster are done
    int rounds;                //  how many were sent
    int refusals;              //  sends answered unavailable (and sent again)
    char failure[256];
} mover_t;

//  Sends a round of one message per room, then takes the answers; a send refused as
//  unavailable is sent again with its client_id, as a client would.
static void *s_move_traffic(void *arg)
{
    mover_t *m = arg;
    int after = 0;
    for (int round = 1; round <= MOVE_ROUNDS_MAX && after < MOVE_ROUNDS_AFTER && !m->failure[0];
         round++) {
        m->rounds = round;
        after += atomic_load(&m->joined);
        bool done[MOVE_ROOMS] = {false};
        for (int attempt = 0; attempt < 100 && !m->failure[0]; attempt++) {
            int waiting = 0;
            for (int r = 0; r < MOVE_ROOMS; r++) {
                if (done[r])
                    continue;
                char text[160];
                int len = snprintf(text, sizeof text,
                                   "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"m-%d-%d\","
                                   "\"body\":\"moving\"}",
                                   (long long)m->rooms[r], round, r);
                pl_ws_send_text(m->ws, text, (size_t)len);
                waiting++;
            }
            if (!waiting)
                break;
            while (waiting > 0) {
                json_t *frame = pl_ws_recv_json(m->ws, FRAME_MS);
                if (!frame) {
                    snprintf(m->failure, sizeof m->failure, "round %d: an answer never came",
                             round);
                    break;
                }
                const char *type = json_string_value(json_object_get(frame, "type"));
                if (type && strcmp(type, "ack") == 0) {
                    int r = 0;
                    while (r < MOVE_ROOMS &&
                           m->rooms[r] != json_integer_value(json_object_get(frame, "room")))
                        r++;
                    int64_t seq = json_integer_value(json_object_get(frame, "seq"));
                    if (r < MOVE_ROOMS && !done[r]) {
                        if (seq != m->acked[r] + 1)
                            snprintf(m->failure, sizeof m->failure,
                                     "room %lld: acked seq %lld after %lld", (long long)m->rooms[r],
                                     (long long)seq, (long long)m->acked[r]);
                        m->acked[r] = seq;
                        done[r] = true;
                    }
                    waiting--;
                } else if (type && strcmp(type, "error") == 0) {
                    const char *code = json_string_value(json_object_get(frame, "code"));
                    if (!code || strcmp(code, "unavailable") != 0)
                        snprintf(m->failure, sizeof m->failure, "an error that is no retry: %s",
                                 pl_api_show(frame));
                    m->refusals++;
                    waiting--;
                }
                json_decref(frame);
            }
        }
    }
    return NULL;
}

Test(e2e_cluster, rooms_moving_to_a_joining_node_show_no_gap_duplicate_or_reordering)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    mover_t mover = {.ws = s_connect(0, &alice)};
    pl_ws_t *b = s_connect(1, &bob);
    int moving = 0;
    for (int r = 0; r < MOVE_ROOMS; r++) {
        mover.rooms[r] = s_shared_room(&alice, &bob);
        json_decref(s_subscribe(mover.ws, mover.rooms[r], -1));
        json_decref(s_subscribe(b, mover.rooms[r], -1));
        moving += s_owner(mover.rooms[r], 3) == 2;
    }
    cr_assert_gt(moving, 0, "no room hashes to the joining node: pick more rooms");
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, s_move_traffic, &mover), 0);
    pl_cluster_start_node(2, NULL);
    s_live_nodes_until(0, 3);
    atomic_store(&mover.joined, true);
    pthread_join(thread, NULL);
    cr_assert_eq(mover.failure[0], '\0', "%s", mover.failure);
    cr_assert_eq(mover.refusals, 0, "%d sends were refused while rooms moved", mover.refusals);
    //  Bob saw every room's messages once each, in seq order, from whichever node.
    int64_t seen[MOVE_ROOMS] = {0};
    int64_t total = 0, expected = 0;
    for (int r = 0; r < MOVE_ROOMS; r++)
        expected += mover.acked[r];
    while (total < expected) {
        json_t *message = pl_chat_next(b, "message");
        int64_t room = pl_api_int(message, "room"), seq = pl_api_int(message, "seq");
        int r = 0;
        while (r < MOVE_ROOMS && mover.rooms[r] != room)
            r++;
        cr_assert_lt(r, MOVE_ROOMS);
        cr_assert_eq(seq, seen[r] + 1, "room %lld: seq %lld after %lld", (long long)room,
                     (long long)seq, (long long)seen[r]);
        seen[r] = seq;
        json_decref(message);
        total++;
    }
    for (int r = 0; r < MOVE_ROOMS; r++) {
        cr_assert_eq(mover.acked[r], mover.rounds);
        size_t stored = s_stored_count(2, &alice, mover.rooms[r]);
        cr_assert_eq(stored, (size_t)mover.rounds, "room %lld holds %zu messages",
                     (long long)mover.rooms[r], stored);
    }
    pl_ws_close(&mover.ws);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, a_rolling_restart_under_traffic_refuses_no_send)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    mover_t mover = {.ws = s_connect(0, &alice)};
    for (int r = 0; r < MOVE_ROOMS; r++) {
        mover.rooms[r] = s_shared_room(&alice, &bob);
        json_decref(s_subscribe(mover.ws, mover.rooms[r], -1));
    }
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, s_move_traffic, &mover), 0);
    //  Node 2 restarts (drained, then back) twice while node 1 carries Alice's traffic.
    for (int restart = 0; restart < 2; restart++) {
        cr_assert_eq(pl_server_stop(&s_cluster.nodes[1]), 0, "node 2 did not drain cleanly");
        s_live_nodes_until(0, 1);
        pl_cluster_start_node(1, NULL);
        s_live_nodes_until(0, 2);
    }
    atomic_store(&mover.joined, true);
    pthread_join(thread, NULL);
    cr_assert_eq(mover.failure[0], '\0', "%s", mover.failure);
    cr_assert_eq(mover.refusals, 0, "%d sends were refused during the restarts", mover.refusals);
    for (int r = 0; r < MOVE_ROOMS; r++) {
        cr_assert_eq(mover.acked[r], mover.rounds, "room %lld: %lld acked of %d rounds",
                     (long long)mover.rooms[r], (long long)mover.acked[r], mover.rounds);
        size_t stored = s_stored_count(1, &alice, mover.rooms[r]);
        cr_assert_eq(stored, (size_t)mover.rounds, "room %lld holds %zu messages after %d rounds",
                     (long long)mover.rooms[r], stored, mover.rounds);
    }
    pl_ws_close(&mover.ws);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  --- failures ------------------------------------------------------------------------

enum { KILL_BEFORE = 20, KILL_IN_FLIGHT = 5, KILL_TOTAL = 40 };

//  Sends client_ids k-<first>..k-<last> until each is acked, resending those refused
//  as unavailable (as a client would, with the same client_id); records each seq.
static void s_send_until_acked(pl_ws_t *ws, int64_t room, int first, int last, int64_t *seqs,
                               bool already_sent)
{
    for (int attempt = 0;; attempt++) {
        int pending = 0;
        for (int i = first; i <= last; i++) {
            if (seqs[i])
                continue;
            char id[32];
            snprintf(id, sizeof id, "k-%d", i);
            if (attempt > 0 || !already_sent)
                pl_chat_send(ws, room, id, "in traffic");
            pending++;
        }
        if (!pending)
            return;
        cr_assert_lt(attempt, 50, "%d sends never acked", pending);
        while (pending > 0) {
            json_t *frame = pl_ws_recv_json(ws, FRAME_MS);
            cr_assert(frame, "%d sends were never answered", pending);
            const char *type = pl_api_str(frame, "type");
            if (strcmp(type, "ack") == 0 || strcmp(type, "error") == 0) {
                const char *id = strcmp(type, "ack") == 0 ? pl_api_str(frame, "client_id")
                                                          : pl_api_str(frame, "ref");
                int i = atoi(id + 2);
                cr_assert(i >= first && i <= last, "an answer for %s: %s", id, pl_api_show(frame));
                if (strcmp(type, "ack") == 0) {
                    cr_assert(!seqs[i] || seqs[i] == pl_api_int(frame, "seq"),
                              "%s acked twice with different seqs", id);
                    if (!seqs[i])
                        pending--;
                    seqs[i] = pl_api_int(frame, "seq");
                } else {
                    cr_assert_str_eq(pl_api_str(frame, "code"), "unavailable", "%s",
                                     pl_api_show(frame));
                    pending--;
                }
            }
            json_decref(frame);
        }
    }
}

Test(e2e_cluster, a_node_killed_under_traffic_loses_no_acked_message_and_leaves_no_gap)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    //  The room lives on node 2, which dies; Alice stays on node 1 throughout.
    int64_t room = s_room_owned_by(&alice, &bob, 1, 2);
    pl_ws_t *a = s_connect(0, &alice);
    pl_ws_t *b = s_connect(1, &bob);
    json_decref(s_subscribe(a, room, -1));
    json_decref(s_subscribe(b, room, -1));
    int64_t seqs[KILL_TOTAL + 1] = {0};
    s_send_until_acked(a, room, 1, KILL_BEFORE, seqs, false);
    //  Sends in flight when node 2 dies: each is acked, or refused and then retried.
    for (int i = KILL_BEFORE + 1; i <= KILL_BEFORE + KILL_IN_FLIGHT; i++) {
        char id[32];
        snprintf(id, sizeof id, "k-%d", i);
        pl_chat_send(a, room, id, "in flight");
    }
    pl_server_kill9(&s_cluster.nodes[1]);
    pl_ws_abort(&b);
    s_send_until_acked(a, room, KILL_BEFORE + 1, KILL_BEFORE + KILL_IN_FLIGHT, seqs, true);
    s_live_nodes_until(0, 1);
    s_send_until_acked(a, room, KILL_BEFORE + KILL_IN_FLIGHT + 1, KILL_TOTAL, seqs, false);
    //  Every client_id stored once: seqs 1..40 without a gap, each acked with its own.
    bool used[KILL_TOTAL + 1] = {false};
    for (int i = 1; i <= KILL_TOTAL; i++) {
        cr_assert(seqs[i] >= 1 && seqs[i] <= KILL_TOTAL && !used[seqs[i]],
                  "k-%d acked with seq %lld", i, (long long)seqs[i]);
        used[seqs[i]] = true;
    }
    cr_assert_eq(s_stored_count(0, &alice, room), KILL_TOTAL);
    //  Bob reconnects to node 1 and recovers every message after the last he saw.
    pl_ws_t *b2 = s_connect(0, &bob);
    json_decref(s_subscribe(b2, room, KILL_BEFORE));
    pl_chat_expect_messages(b2, room, KILL_BEFORE + 1, KILL_TOTAL);
    pl_ws_close(&a);
    pl_ws_close(&b2);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, a_dead_nodes_users_go_offline)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 0, 2);
    pl_ws_t *a = s_connect(0, &alice);
    json_decref(s_subscribe(a, room, -1));
    pl_ws_t *b = s_connect(1, &bob);
    json_decref(s_subscribe(b, room, -1));
    json_t *presence = pl_chat_next(a, "presence");
    cr_assert(json_is_true(json_object_get(presence, "online")));
    json_decref(presence);
    pl_server_kill9(&s_cluster.nodes[1]);
    pl_ws_abort(&b);
    presence = pl_chat_next(a, "presence");
    cr_assert_eq(pl_api_int(presence, "user"), bob.id);
    cr_assert(json_is_false(json_object_get(presence, "online")), "%s", pl_api_show(presence));
    json_decref(presence);
    pl_ws_close(&a);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

Test(e2e_cluster, a_drained_node_hands_its_rooms_over_and_no_send_is_refused)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t room = s_room_owned_by(&alice, &bob, 1, 2);
    pl_ws_t *a = s_connect(0, &alice);
    pl_ws_t *b = s_connect(1, &bob);
    json_decref(s_subscribe(a, room, -1));
    json_decref(s_subscribe(b, room, -1));
    for (int i = 1; i <= 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "d-%d", i);
        pl_chat_send(a, room, id, "before the drain");
        json_t *ack = pl_chat_next(a, "ack");
        cr_assert_eq(pl_api_int(ack, "seq"), i);
        json_decref(ack);
    }
    cr_assert_eq(pl_server_stop(&s_cluster.nodes[1]), 0, "node 2 did not drain cleanly");
    //  Bob was told to go away (1001) and comes back at node 1.
    char *data;
    size_t len;
    int code = 0;
    while (pl_ws_recv(b, FRAME_MS, &data, &len, &code) > 0)
        free(data);
    cr_assert_eq(code, 1001, "node 2 closed with %d", code);
    pl_ws_close(&b);
    //  Alice's subscription was handed to node 1: she keeps getting her messages, and
    //  none of her sends is refused.
    for (int i = 11; i <= 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "d-%d", i);
        pl_chat_send(a, room, id, "after the drain");
        json_t *ack = pl_chat_next(a, "ack");
        cr_assert_eq(pl_api_int(ack, "seq"), i, "%s", pl_api_show(ack));
        json_decref(ack);
    }
    pl_ws_t *b2 = s_connect(0, &bob);
    json_decref(s_subscribe(b2, room, 10));
    pl_chat_expect_messages(b2, room, 11, 20);
    pl_ws_close(&a);
    pl_ws_close(&b2);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  Sends client_id to room and returns the answer to it: its ack or its error.
static json_t *s_send_answer(pl_ws_t *ws, int64_t room, const char *client_id)
{
    pl_chat_send(ws, room, client_id, "while Redis comes and goes");
    for (;;) {
        json_t *frame = pl_ws_recv_json(ws, FRAME_MS);
        cr_assert(frame, "no answer to %s", client_id);
        const char *type = pl_api_str(frame, "type");
        if (strcmp(type, "ack") == 0 || strcmp(type, "error") == 0)
            return frame;
        json_decref(frame);
    }
}

//  Sends client_id until it is acked (refusals must say unavailable); returns its seq.
static int64_t s_send_until_stored(pl_ws_t *ws, int64_t room, const char *client_id)
{
    for (int attempt = 0;; attempt++) {
        cr_assert_lt(attempt, 100, "%s was never acked", client_id);
        json_t *frame = s_send_answer(ws, room, client_id);
        bool acked = strcmp(pl_api_str(frame, "type"), "ack") == 0;
        if (!acked)
            cr_assert_str_eq(pl_api_str(frame, "code"), "unavailable", "%s", pl_api_show(frame));
        int64_t seq = acked ? pl_api_int(frame, "seq") : 0;
        json_decref(frame);
        if (acked)
            return seq;
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
}

Test(e2e_cluster, redis_lost_gives_clear_errors_and_the_cluster_heals_itself)
{
    user_t alice = pl_api_signup("Alice"), bob = pl_api_signup("Bob");
    int64_t there = s_room_owned_by(&alice, &bob, 1, 2), here = s_room_owned_by(&alice, &bob, 0, 2);
    pl_ws_t *a = s_connect(0, &alice), *b = s_connect(0, &bob);
    json_decref(s_subscribe(a, there, -1));
    json_decref(s_subscribe(a, here, -1));
    json_decref(s_subscribe(b, here, -1));
    cr_assert_eq(s_send_until_stored(a, there, "t-1"), 1);
    pl_redis_server_stop(&s_cluster.redis);
    json_decref(s_health_until(0, 503));
    //  The other node's room: refused, never acked.
    json_t *error = s_send_answer(a, there, "t-2");
    cr_assert_str_eq(pl_api_str(error, "code"), "unavailable", "%s", pl_api_show(error));
    json_decref(error);
    //  This node's room goes on until its lease could have run out, then refuses too.
    int64_t stored = 0;
    char id[32];
    for (;;) {
        cr_assert_lt(stored, 1000, "the room went on serving past its lease");
        snprintf(id, sizeof id, "h-%lld", (long long)stored + 1);
        json_t *frame = s_send_answer(a, here, id);
        bool acked = strcmp(pl_api_str(frame, "type"), "ack") == 0;
        if (!acked)
            cr_assert_str_eq(pl_api_str(frame, "code"), "unavailable", "%s", pl_api_show(frame));
        json_decref(frame);
        if (!acked)
            break;
        stored++;
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    char why[256];
    cr_assert_eq(pl_redis_server_start(&s_cluster.redis, why, sizeof why), 0, "%s", why);
    json_decref(s_health_until(0, 200));
    json_decref(s_health_until(1, 200));
    s_live_nodes_until(0, 2);
    //  Whole again: each refused send, retried, is stored once, after the others.
    cr_assert_eq(s_send_until_stored(a, there, "t-2"), 2);
    cr_assert_eq(s_send_until_stored(a, here, id), stored + 1);
    cr_assert_eq(s_stored_count(1, &alice, there), 2);
    //  Bob's subscription outlived the outage: every message of the room, in order.
    pl_chat_expect_messages(b, here, 1, stored + 1);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}

//  --- configuration mistakes ------------------------------------------------------------

Test(e2e_cluster, a_second_node_with_a_live_node_id_is_refused)
{
    pl_server_t twin = {0};
    snprintf(twin.postgres_url, sizeof twin.postgres_url, "%s", s_cluster.nodes[0].postgres_url);
    const char *args[] = {"--node-id", "2", "--redis-url", s_cluster.redis.url, NULL};
    cr_assert_neq(pl_server_start(&twin, args), 0, "a second node 2 started");
    FILE *log = fopen(twin.log_path, "r");
    cr_assert(log);
    char line[1024];
    bool told = false;
    while (fgets(line, sizeof line, log))
        told |= strstr(line, "node_id 2 is already used by a live node") != NULL;
    fclose(log);
    cr_assert(told, "the log does not say that node_id 2 is taken");
    twin.postgres_url[0] = '\0';
    pl_server_cleanup(&twin);
}
