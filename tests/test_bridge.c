/*  The bridge actor in isolation, against a real Redis (tests/support/redis_server.h):
    the test plays the local actors (it binds the room shards', the writers' and the
    loader's inboxes) and the other nodes (it reads and writes Redis itself). Node 1
    is the bridge under test; "node 2" is the test, registered by hand in {p}nodes.

    Each test starts its own Redis and bridge (Criterion runs each test in a process
    of its own, so the cluster view, which is per process, starts empty). */
#include "parley/actor.h"
#include "parley/bridge.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/conn.h"
#include "parley/loader.h"
#include "parley/room.h"
#include "peer.h"
#include "redis_server.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#define WAIT_MS  5000
#define ROOMS    2
#define WRITERS  2
#define PREFIX   "t:"
#define LEASE_MS 600

static pl_redis_server_t s_redis;
static pl_bridge_args_t s_args;
static zactor_t *s_bridge;
static zsock_t *s_rooms[ROOMS], *s_writers[WRITERS], *s_loader, *s_to_bridge;

//  Registers node 2 as live for a while, so that ownership splits between 1 and 2.
static void s_register_node_2(void)
{
    cr_assert_geq(pl_redis_server_query(&s_redis, "ZADD " PREFIX "nodes %lld 2",
                                        (long long)(pl_now_ms() + 60000)),
                  0);
}

static void s_start_bridge(void)
{
    s_args = (pl_bridge_args_t){.node_id = 1,
                                .prefix = PREFIX,
                                .heartbeat_ms = 50,
                                .node_ttl_ms = 1000,
                                .lease_ms = LEASE_MS,
                                .room_count = ROOMS,
                                .writer_count = WRITERS};
    char why[256];
    cr_assert_eq(pl_redis_parse_url(s_redis.url, &s_args.redis, why, sizeof why), 0, "%s", why);
    s_bridge = pl_actor_start("bridge", pl_bridge_actor, &s_args);
    cr_assert(s_bridge && !s_args.failed, "the bridge did not start: %s", s_args.error);
}

static void s_setup(void)
{
    char why[256];
    if (pl_redis_server_start(&s_redis, why, sizeof why) != 0)
        cr_skip_test("SKIPPED: bridge tests: %s", why);
    pl_cluster_init(1);
    char name[32];
    for (int i = 0; i < ROOMS; i++) {
        pl_room_inbox_name(i, name, sizeof name);
        cr_assert((s_rooms[i] = pl_actor_inbox(name)));
    }
    for (int i = 0; i < WRITERS; i++) {
        pl_conn_inbox_name(i, name, sizeof name);
        cr_assert((s_writers[i] = pl_actor_inbox(name)));
    }
    cr_assert((s_loader = pl_actor_inbox(PL_LOADER_INBOX)));
    s_register_node_2();
    s_start_bridge();
    cr_assert((s_to_bridge = pl_actor_outlet(PL_BRIDGE_INBOX)));
}

static void s_teardown(void)
{
    zsock_destroy(&s_to_bridge);
    pl_actor_stop(&s_bridge, &s_args);
    for (int i = 0; i < ROOMS; i++)
        pl_actor_inbox_destroy(&s_rooms[i]);
    for (int i = 0; i < WRITERS; i++)
        pl_actor_inbox_destroy(&s_writers[i]);
    pl_actor_inbox_destroy(&s_loader);
    pl_redis_server_cleanup(&s_redis);
}

TestSuite(bridge, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  A room id that the live nodes {1, 2} give to node.
static int64_t s_room_of_node(int node)
{
    const uint16_t live[] = {1, 2};
    for (int64_t room = 1;; room++)
        if (pl_cluster_owner_among(room, live, 2) == node)
            return room;
}

//  Waits until the bridge tells every writer that the view holds `count` nodes
//  (each writer hears every change, the first one too), and checks the view is set.
static void s_view_until(int count)
{
    for (int w = 0; w < WRITERS; w++)
        for (size_t nodes = 0; nodes != (size_t)count;) {
            pl_msg_frame_t in;
            pl_peer_expect(s_writers[w], PL_MSG_VIEW_CHANGED, WAIT_MS, &in);
            nodes = in.msg.as.view_changed.nodes.len / sizeof(uint16_t);
            pl_msg_frame_close(&in);
        }
    uint16_t live[PL_CLUSTER_MAX_NODES];
    cr_assert_eq(pl_cluster_live(live), count);
}

//  A redis connection of the test's own, subscribed to channel.
static redisContext *s_subscriber(const char *channel)
{
    redisContext *redis = redisConnect("127.0.0.1", s_redis.port);
    cr_assert(redis && !redis->err);
    redisSetTimeout(redis, (struct timeval){WAIT_MS / 1000, 0});
    redisReply *reply = redisCommand(redis, "SUBSCRIBE %s", channel);
    cr_assert(reply && reply->type == REDIS_REPLY_ARRAY);
    freeReplyObject(reply);
    return redis;
}

//  The next payload published on the subscriber's channel (caller frees the reply).
static redisReply *s_next_payload(redisContext *redis)
{
    redisReply *reply = NULL;
    cr_assert_eq(redisGetReply(redis, (void **)&reply), REDIS_OK, "nothing was published");
    cr_assert(reply->type == REDIS_REPLY_ARRAY && reply->elements == 3);
    return reply;
}

//  Publishes one record (a catalogue message) from node 2 to channel.
static void s_publish_from_2(const char *channel, const pl_msg_t *msg, int hops)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    cr_assert_eq(pl_msg_encode(msg, &buf), 0);
    uint8_t payload[4096];
    uint32_t len = (uint32_t)buf.size;
    cr_assert_lt(buf.size + 7, sizeof payload);
    payload[0] = 2;
    payload[1] = 0;
    payload[2] = (uint8_t)hops;
    memcpy(payload + 3, &len, sizeof len);
    memcpy(payload + 7, buf.data, buf.size);
    redisContext *redis = redisConnect("127.0.0.1", s_redis.port);
    redisReply *reply = redisCommand(redis, "PUBLISH %s %b", channel, payload, buf.size + 7);
    cr_assert(reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1,
              "the bridge does not listen on %s", channel);
    freeReplyObject(reply);
    redisFree(redis);
    msgpack_sbuffer_destroy(&buf);
}

Test(bridge, sees_the_live_nodes_and_keeps_its_own_key)
{
    s_view_until(2);
    cr_assert_eq(pl_cluster_owns(s_room_of_node(1)), true);
    cr_assert_eq(pl_cluster_owns(s_room_of_node(2)), false);
    cr_assert_eq(pl_redis_server_query(&s_redis, "EXISTS " PREFIX "node:1"), 1);
    cr_assert(pl_bridge_redis_up());
}

Test(bridge, a_load_of_its_own_room_takes_the_lease_before_the_loader_reads)
{
    s_view_until(2);
    int64_t room = s_room_of_node(1);
    pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room, 1}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_to_bridge), &load), 0);
    pl_msg_frame_t in;
    pl_peer_expect(s_loader, PL_MSG_ROOM_LOAD, WAIT_MS, &in);
    cr_assert_eq(in.msg.as.room_load.room_id, room);
    cr_assert_eq(in.msg.as.room_load.shard, 1);
    pl_msg_frame_close(&in);
    cr_assert_eq(pl_redis_server_query(&s_redis, "EXISTS " PREFIX "room:%lld", (long long)room), 1,
                 "no lease in Redis");
}

Test(bridge, a_load_of_another_nodes_room_is_answered_moved)
{
    s_view_until(2);
    int64_t room = s_room_of_node(2);
    pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room, 0}};
    pl_msg_send(zsock_resolve(s_to_bridge), &load);
    pl_msg_frame_t in;
    pl_peer_expect(s_rooms[0], PL_MSG_ROOM_LOADED, WAIT_MS, &in);
    cr_assert_eq(in.msg.as.room_loaded.room_id, room);
    cr_assert_eq(in.msg.as.room_loaded.status, PL_STATUS_MOVED);
    pl_msg_frame_close(&in);
    pl_peer_expect_nothing(s_loader, 100, "a load of a room node 1 does not own");
}

Test(bridge, a_lease_held_elsewhere_is_waited_for_and_taken_once_free)
{
    s_view_until(2);
    int64_t room = s_room_of_node(1);
    cr_assert_eq(
        pl_redis_server_query(&s_redis, "SET " PREFIX "room:%lld 2:old PX 300", (long long)room),
        0);
    int64_t asked = zclock_mono();
    pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room, 0}};
    pl_msg_send(zsock_resolve(s_to_bridge), &load);
    pl_msg_frame_t in;
    pl_peer_expect(s_loader, PL_MSG_ROOM_LOAD, WAIT_MS, &in);
    pl_msg_frame_close(&in);
    cr_assert_geq(zclock_mono() - asked, 250, "the room was loaded while another node held it");
}

Test(bridge, a_release_gives_the_lease_up)
{
    s_view_until(2);
    int64_t room = s_room_of_node(1);
    pl_msg_t load = {.type = PL_MSG_ROOM_LOAD, .as.room_load = {room, 0}};
    pl_msg_send(zsock_resolve(s_to_bridge), &load);
    pl_msg_frame_t in;
    pl_peer_expect(s_loader, PL_MSG_ROOM_LOAD, WAIT_MS, &in);
    pl_msg_frame_close(&in);
    pl_msg_t released = {.type = PL_MSG_ROOM_RELEASED, .as.room_released = {room}};
    pl_msg_send(zsock_resolve(s_to_bridge), &released);
    for (int i = 0; i < WAIT_MS / 10; i++) {
        if (pl_redis_server_query(&s_redis, "EXISTS " PREFIX "room:%lld", (long long)room) == 0)
            return;
        zclock_sleep(10);
    }
    cr_assert_fail("the lease is still held");
}

Test(bridge, requests_for_another_nodes_room_are_published_on_its_channel)
{
    s_view_until(2);
    redisContext *node2 = s_subscriber(PREFIX "n:2");
    int64_t room = s_room_of_node(2);
    uint64_t conn = pl_cluster_tag(7);
    pl_msg_t send = {.type = PL_MSG_ROOM_SEND,
                     .as.room_send = {.conn_id = conn,
                                      .user_id = 5,
                                      .room_id = room,
                                      .client_id = pl_str_of("c1"),
                                      .kind = pl_str_of("text"),
                                      .body = pl_str_of("hi")}};
    pl_msg_send(zsock_resolve(s_to_bridge), &send);
    redisReply *reply = s_next_payload(node2);
    const redisReply *payload = reply->element[2];
    cr_assert_gt(payload->len, 7);
    cr_assert_eq((uint8_t)payload->str[0], 1, "the sender is not node 1");
    uint32_t len;
    memcpy(&len, payload->str + 3, sizeof len);
    pl_msg_t got;
    cr_assert_eq(pl_msg_decode(payload->str + 7, len, &got), 0);
    cr_assert_eq(got.type, PL_MSG_ROOM_SEND);
    cr_assert_eq(got.as.room_send.room_id, room);
    cr_assert_eq(got.as.room_send.conn_id, conn);
    freeReplyObject(reply);
    redisFree(node2);
}

Test(bridge, frames_from_another_node_reach_the_local_writers)
{
    s_view_until(2);
    //  A fan-out for connections 1 and 2 of node 1: one per writer shard.
    uint64_t ids[2] = {pl_cluster_tag(2), pl_cluster_tag(3)};
    pl_msg_t fanout = {.type = PL_MSG_CONN_FANOUT,
                       .as.conn_fanout = {{(const char *)ids, sizeof ids},
                                          pl_str_of("{\"type\":\"message\"}"),
                                          0,
                                          pl_str_of(""),
                                          9,
                                          4}};
    s_publish_from_2(PREFIX "n:1", &fanout, 0);
    for (int w = 0; w < WRITERS; w++) {
        pl_msg_frame_t in;
        pl_peer_expect(s_writers[w], PL_MSG_CONN_FANOUT, WAIT_MS, &in);
        cr_assert_eq(in.msg.as.conn_fanout.conn_ids.len, sizeof(uint64_t));
        uint64_t id;
        memcpy(&id, in.msg.as.conn_fanout.conn_ids.ptr, sizeof id);
        cr_assert_eq(id % WRITERS, (uint64_t)w, "connection %llu went to writer %d",
                     (unsigned long long)id, w);
        pl_msg_frame_close(&in);
    }
    //  A request for a room node 1 owns goes to its room shard.
    int64_t room = s_room_of_node(1);
    pl_msg_t typing = {.type = PL_MSG_ROOM_TYPING, .as.room_typing = {5, 6, room, {0}}};
    s_publish_from_2(PREFIX "n:1", &typing, 0);
    pl_msg_frame_t in;
    pl_peer_expect(s_rooms[pl_room_shard(room, ROOMS)], PL_MSG_ROOM_TYPING, WAIT_MS, &in);
    pl_msg_frame_close(&in);
}

Test(bridge, a_request_passed_on_too_often_is_refused)
{
    s_view_until(2);
    //  Node 2 forwards a send for a room it thinks is node 1's... which node 1 thinks is
    //  node 2's: past the hop limit it is refused to the (local) connection.
    int64_t room = s_room_of_node(2);
    uint64_t conn = pl_cluster_tag(4);
    pl_msg_t send = {.type = PL_MSG_ROOM_SEND,
                     .as.room_send = {.conn_id = conn,
                                      .user_id = 5,
                                      .room_id = room,
                                      .client_id = pl_str_of("c9"),
                                      .kind = pl_str_of("text"),
                                      .body = pl_str_of("hi")}};
    //  It arrives as its sixth hop (MAX_HOPS in bridge.c).
    s_publish_from_2(PREFIX "n:1", &send, 5);
    pl_msg_frame_t in;
    pl_peer_expect(s_writers[conn % WRITERS], PL_MSG_CONN_SEND, WAIT_MS, &in);
    cr_assert(strstr(in.msg.as.conn_send.text.ptr, "\"unavailable\""), "%.*s",
              (int)in.msg.as.conn_send.text.len, in.msg.as.conn_send.text.ptr);
    cr_assert(strstr(in.msg.as.conn_send.text.ptr, "\"c9\""), "the error does not name the send");
    pl_msg_frame_close(&in);
}

Test(bridge, redis_lost_refuses_cross_node_sends_and_comes_back_by_itself)
{
    s_view_until(2);
    pl_redis_server_stop(&s_redis);
    for (int i = 0; i < WAIT_MS / 10 && pl_bridge_redis_up(); i++) {
        //  The bridge notices at its next heartbeat.
        zclock_sleep(10);
    }
    cr_assert(!pl_bridge_redis_up(), "the bridge did not notice that Redis went away");
    uint64_t conn = pl_cluster_tag(6);
    pl_msg_t send = {.type = PL_MSG_ROOM_SEND,
                     .as.room_send = {.conn_id = conn,
                                      .user_id = 5,
                                      .room_id = s_room_of_node(2),
                                      .client_id = pl_str_of("c2"),
                                      .kind = pl_str_of("text"),
                                      .body = pl_str_of("hi")}};
    pl_msg_send(zsock_resolve(s_to_bridge), &send);
    pl_msg_frame_t in;
    pl_peer_expect(s_writers[conn % WRITERS], PL_MSG_CONN_SEND, WAIT_MS, &in);
    cr_assert(strstr(in.msg.as.conn_send.text.ptr, "\"unavailable\""));
    pl_msg_frame_close(&in);
    char why[256];
    cr_assert_eq(pl_redis_server_start(&s_redis, why, sizeof why), 0, "%s", why);
    for (int i = 0; i < 2 * WAIT_MS / 10 && !pl_bridge_redis_up(); i++)
        zclock_sleep(10);
    cr_assert(pl_bridge_redis_up(), "the bridge did not reconnect");
    cr_assert_eq(pl_redis_server_query(&s_redis, "EXISTS " PREFIX "node:1"), 1,
                 "the node did not register again");
}

Test(bridge, a_users_event_goes_to_the_node_holding_the_stream_only)
{
    s_view_until(2);
    redisContext *node2 = s_subscriber(PREFIX "n:2");
    redisContext *all = s_subscriber(PREFIX "all");
    pl_msg_t event = {.type = PL_MSG_CONN_USER_EVENT,
                      .as.conn_user_event = {8, pl_str_of("event: notification\n\n"), 2}};
    pl_msg_send(zsock_resolve(s_to_bridge), &event);
    redisReply *reply = s_next_payload(node2);
    freeReplyObject(reply);
    //  Then a room notice, which goes to every node: it is the next on "all".
    int64_t pair[2] = {8, 1};
    pl_msg_t notice = {
        .type = PL_MSG_CONN_ROOM_NOTICE,
        .as.conn_room_notice = {{(const char *)pair, sizeof pair}, {NULL, 0}, pl_str_of("{}")}};
    pl_msg_send(zsock_resolve(s_to_bridge), &notice);
    reply = s_next_payload(all);
    uint32_t len;
    memcpy(&len, reply->element[2]->str + 3, sizeof len);
    pl_msg_t got;
    cr_assert_eq(pl_msg_decode(reply->element[2]->str + 7, len, &got), 0);
    cr_assert_eq(got.type, PL_MSG_CONN_ROOM_NOTICE, "the user's event went to every node");
    freeReplyObject(reply);
    redisFree(node2);
    redisFree(all);
}
