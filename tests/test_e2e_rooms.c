/*  End to end: contents, rooms and messages over HTTP against the real parley binary,
    as a client sees them (PROTOCOL.md "Errors", "Users, follows, contents, likes",
    "Rooms"). Each test starts its own server on a free port with a fresh data dir. */
#include "api.h"
#include "e2e_suite.h"
#include "fixtures.h"
#include "http_client.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(e2e_rooms, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120);

//  --- helpers ---------------------------------------------------------------------

//  GET /api/rooms/{id}/messages?<query>; returns the whole answer (caller decrefs).
static json_t *s_history(const char *token, int64_t room_id, const char *query)
{
    return pl_api_json("GET", pl_api_fmt("/api/rooms/%lld/messages?%s", (long long)room_id, query),
                       token, NULL, 200);
}

//  Asserts a history page holds exactly the seqs first..last (none when last < first),
//  in order, each with body "m-<seq>", and has_more as given.
static void s_expect_page(const char *token, int64_t room_id, const char *query, int64_t first,
                          int64_t last, bool has_more)
{
    json_t *page = s_history(token, room_id, query);
    json_t *messages = json_object_get(page, "messages");
    cr_assert(json_is_array(messages));
    int64_t count = last >= first ? last - first + 1 : 0;
    cr_assert_eq((int64_t)json_array_size(messages), count, "?%s: %zu messages, expected %lld",
                 query, json_array_size(messages), (long long)count);
    for (int64_t i = 0; i < count; i++) {
        json_t *message = json_array_get(messages, (size_t)i);
        cr_assert_eq(pl_api_int(message, "seq"), first + i, "?%s: position %lld", query,
                     (long long)i);
        char body[32];
        snprintf(body, sizeof body, "m-%lld", (long long)(first + i));
        cr_assert_str_eq(pl_api_str(message, "body"), body);
    }
    cr_assert(json_is_boolean(json_object_get(page, "has_more")));
    cr_assert_eq(json_is_true(json_object_get(page, "has_more")), has_more, "?%s: has_more", query);
    json_decref(page);
}

//  All messages of a room in ascending order (at most 200); caller decrefs.
static json_t *s_all_messages(const char *token, int64_t room_id)
{
    json_t *page = s_history(token, room_id, "after=0&limit=200");
    cr_assert(json_is_false(json_object_get(page, "has_more")));
    json_t *messages = json_incref(json_object_get(page, "messages"));
    json_decref(page);
    return messages;
}

//  The caller's room list; caller decrefs.
static json_t *s_rooms(const char *token)
{
    json_t *list = pl_api_json("GET", "/api/rooms", token, NULL, 200);
    json_t *rooms = json_incref(json_object_get(list, "rooms"));
    json_decref(list);
    cr_assert(json_is_array(rooms));
    return rooms;
}

//  Asserts the caller's room list holds exactly the rooms in ids, in that order, with
//  the unread counts in unread.
static void s_expect_rooms(const char *token, const int64_t *ids, const int64_t *unread,
                           size_t count)
{
    json_t *rooms = s_rooms(token);
    cr_assert_eq(json_array_size(rooms), count, "%zu rooms listed, expected %zu",
                 json_array_size(rooms), count);
    for (size_t i = 0; i < count; i++) {
        json_t *room = json_array_get(rooms, i);
        cr_assert_eq(pl_api_int(room, "id"), ids[i], "position %zu: room %lld, expected %lld", i,
                     (long long)pl_api_int(room, "id"), (long long)ids[i]);
        cr_assert_eq(pl_api_int(room, "unread"), unread[i], "room %lld: unread %lld, expected %lld",
                     (long long)ids[i], (long long)pl_api_int(room, "unread"),
                     (long long)unread[i]);
    }
    json_decref(rooms);
}

//  POST /api/rooms/{room}/read {"seq"}, then waits (2 s at most) for the room to
//  show unread, and asserts it does.
static void s_read(const char *token, int64_t room, int64_t seq, int64_t unread)
{
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/read", (long long)room), token,
                  pl_api_fmt("{\"seq\":%lld}", (long long)seq), 204, NULL);
    int64_t shown = -1;
    for (int attempt = 0; attempt < 100 && shown != unread; attempt++) {
        if (attempt > 0)
            nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        json_t *json =
            pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room), token, NULL, 200);
        shown = pl_api_int(json, "unread");
        json_decref(json);
    }
    cr_assert_eq(shown, unread, "room %lld read up to %lld: unread %lld, expected %lld",
                 (long long)room, (long long)seq, (long long)shown, (long long)unread);
}

//  --- contents ----------------------------------------------------------------------

Test(e2e_rooms, contents_are_created_and_read_back)
{
    char *token = pl_api_user(NULL, NULL);
    json_t *content = pl_api_json("POST", "/api/contents", token,
                                  "{\"kind\":\"book\",\"title\":\"Le Petit Prince\","
                                  "\"description\":\"A pilot meets a prince.\",\"year\":1943}",
                                  201);
    int64_t id = pl_api_int(content, "id");
    cr_assert_gt(id, 0);
    cr_assert_str_eq(pl_api_str(content, "kind"), "book");
    cr_assert_str_eq(pl_api_str(content, "title"), "Le Petit Prince");
    cr_assert_str_eq(pl_api_str(content, "description"), "A pilot meets a prince.");
    cr_assert_eq(pl_api_int(content, "year"), 1943);
    cr_assert_eq(pl_api_int(content, "likes"), 0);
    cr_assert(json_is_null(json_object_get(content, "room_id")));
    json_t *read =
        pl_api_json("GET", pl_api_fmt("/api/contents/%lld", (long long)id), token, NULL, 200);
    cr_assert(json_equal(read, content), "GET differs from POST");
    json_decref(read);
    json_decref(content);

    //  Optional fields may be left out; 200 characters (not bytes) is a valid title.
    char title[200 * 2 + 1] = "";
    for (int i = 0; i < 200; i++)
        strcat(title, "é");
    char *body = pl_api_dump(json_pack("{s:s, s:s}", "kind", "movie", "title", title));
    content = pl_api_json("POST", "/api/contents", token, body, 201);
    free(body);
    cr_assert_str_eq(pl_api_str(content, "title"), title);
    cr_assert(json_is_null(json_object_get(content, "year")));
    cr_assert_neq(pl_api_int(content, "id"), id);
    json_decref(content);

    pl_api_expect("GET", "/api/contents/987654", token, NULL, 404, "content_not_found");
    pl_api_expect("POST", "/api/contents", NULL, "{\"kind\":\"movie\",\"title\":\"x\"}", 401,
                  "unauthorized");
    free(token);
}

Test(e2e_rooms, bad_contents_are_refused_with_the_field_named)
{
    char *token = pl_api_user(NULL, NULL);
    char long_title[202], long_description[4002];
    memset(long_title, 'a', 201);
    long_title[201] = '\0';
    memset(long_description, 'd', 4001);
    long_description[4001] = '\0';
    char *too_long_title =
        pl_api_dump(json_pack("{s:s, s:s}", "kind", "movie", "title", long_title));
    char *too_long_description = pl_api_dump(json_pack("{s:s, s:s, s:s}", "kind", "movie", "title",
                                                       "x", "description", long_description));
    const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"kind\":\"movie\"}", "title"},
        {"{\"kind\":\"movie\",\"title\":\"\"}", "title"},
        {"{\"kind\":\"movie\",\"title\":null}", "title"},
        {too_long_title, "title"},
        {"{\"kind\":\"movie\",\"title\":42}", "title"},
        {"{\"kind\":\"movie\",\"title\":[\"x\"]}", "title"},
        {"{\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"series\",\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"Movie\",\"title\":\"x\"}", "kind"},
        {"{\"kind\":1,\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"year\":0}", "year"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"year\":-1999}", "year"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"year\":10000}", "year"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"year\":\"1999\"}", "year"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"year\":1999.5}", "year"},
        {"{\"kind\":\"book\",\"title\":\"x\",\"description\":7}", "description"},
        {too_long_description, "description"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        pl_api_expect_bad("POST", "/api/contents", token, cases[i].body, cases[i].field);
    pl_api_expect("POST", "/api/contents", token, "{\"kind\":\"movie\",", 400, "bad_request");
    pl_api_expect("POST", "/api/contents", token, "[\"movie\"]", 400, "bad_request");
    free(too_long_title);
    free(too_long_description);
    free(token);
}

//  --- group rooms -------------------------------------------------------------------

Test(e2e_rooms, a_content_room_is_created_once_and_joined_by_every_caller)
{
    int64_t alice_id, bob_id;
    char *alice = pl_api_user("Alice", &alice_id), *bob = pl_api_user("Bob", &bob_id);
    int64_t content_id = pl_api_content(alice, "Solaris");
    json_t *room = pl_api_json("POST", pl_api_fmt("/api/contents/%lld/room", (long long)content_id),
                               alice, NULL, 201);
    int64_t room_id = pl_api_int(room, "id");
    cr_assert_str_eq(pl_api_str(room, "kind"), "group");
    cr_assert_eq(pl_api_int(room, "content_id"), content_id);
    cr_assert_eq(pl_api_int(room, "members"), 1);
    cr_assert_eq(pl_api_int(room, "last_seq"), 0);
    cr_assert(json_is_null(json_object_get(room, "last_message")));
    cr_assert_eq(pl_api_int(room, "unread"), 0);
    json_decref(room);
    cr_assert_eq(pl_api_content_room(alice, content_id, 200), room_id);
    cr_assert_eq(pl_api_content_room(bob, content_id, 200), room_id);
    json_t *content =
        pl_api_json("GET", pl_api_fmt("/api/contents/%lld", (long long)content_id), bob, NULL, 200);
    cr_assert_eq(pl_api_int(content, "room_id"), room_id);
    json_decref(content);
    room = pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room_id), bob, NULL, 200);
    cr_assert_eq(pl_api_int(room, "members"), 2);
    json_decref(room);
    pl_api_expect("POST", "/api/contents/987654/room", alice, NULL, 404, "content_not_found");
    free(alice);
    free(bob);
}

#define RACERS 200

typedef struct {
    int port;
    int64_t content_id;
    const char *token;
    int status;
    int64_t room_id;
} racer_t;

static pthread_barrier_t s_barrier;

static void *s_race(void *arg)
{
    racer_t *racer = arg;
    pthread_barrier_wait(&s_barrier);
    pl_http_response_t r;
    if (pl_http_request_timeout(racer->port, "POST",
                                pl_api_fmt("/api/contents/%lld/room", (long long)racer->content_id),
                                pl_api_fmt("Authorization: Bearer %s\r\n", racer->token), NULL, 0,
                                30000, &r) == 0) {
        racer->status = r.status;
        json_t *id = json_object_get(r.json, "id");
        racer->room_id = json_is_integer(id) ? (int64_t)json_integer_value(id) : 0;
        pl_http_response_free(&r);
    }
    return NULL;
}

static void *s_signup_range(void *arg)
{
    racer_t *racers = arg;
    for (int i = 0; i < RACERS / 8; i++) {
        char *name = pl_fx_unique_name("racer");
        char *token = NULL;
        racers[i].status = pl_fx_signup(racers[i].port, name, "password1", NULL, &token, NULL);
        racers[i].token = token;
        free(name);
    }
    return NULL;
}

Test(e2e_rooms, two_hundred_racing_callers_get_one_room)
{
    char *owner = pl_api_user(NULL, NULL);
    int64_t content_id = pl_api_content(owner, "Rashomon");
    static racer_t racers[RACERS];
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++)
        racers[i] = (racer_t){.port = s_srv.port, .content_id = content_id};
    //  The users first, eight at a time.
    for (int t = 0; t < 8; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, s_signup_range, &racers[t * (RACERS / 8)]),
                     0);
    for (int t = 0; t < 8; t++)
        pthread_join(threads[t], NULL);
    for (int i = 0; i < RACERS; i++) {
        cr_assert_eq(racers[i].status, 201, "signup %d: %d", i, racers[i].status);
        racers[i].status = 0;
    }
    pthread_barrier_init(&s_barrier, NULL, RACERS);
    for (int i = 0; i < RACERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_race, &racers[i]), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&s_barrier);
    int created = 0, existed = 0;
    for (int i = 0; i < RACERS; i++) {
        created += racers[i].status == 201;
        existed += racers[i].status == 200;
        cr_expect(racers[i].status == 200 || racers[i].status == 201, "caller %d got %d", i,
                  racers[i].status);
        cr_expect_eq(racers[i].room_id, racers[0].room_id, "caller %d got room %lld, not %lld", i,
                     (long long)racers[i].room_id, (long long)racers[0].room_id);
    }
    cr_assert_eq(created, 1, "%d callers got 201", created);
    cr_assert_eq(existed, RACERS - 1, "%d callers got 200", existed);
    int64_t room_id = racers[0].room_id;
    json_t *room = pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room_id),
                               racers[7].token, NULL, 200);
    cr_assert_eq(pl_api_int(room, "members"), RACERS);
    cr_assert_eq(json_array_size(json_object_get(room, "member_list")), RACERS);
    json_decref(room);
    json_t *content = pl_api_json("GET", pl_api_fmt("/api/contents/%lld", (long long)content_id),
                                  owner, NULL, 200);
    cr_assert_eq(pl_api_int(content, "room_id"), room_id);
    json_decref(content);
    //  The owner never called: not a member.
    pl_api_expect("GET", pl_api_fmt("/api/rooms/%lld", (long long)room_id), owner, NULL, 403,
                  "forbidden");
    for (int i = 0; i < RACERS; i++)
        free((char *)racers[i].token);
    free(owner);
}

//  --- DMs --------------------------------------------------------------------------

Test(e2e_rooms, a_dm_is_one_room_from_both_sides)
{
    int64_t alice_id, bob_id;
    char *alice = pl_api_user("Alice A", &alice_id), *bob = pl_api_user("Bob B", &bob_id);
    json_t *room =
        pl_api_json("POST", pl_api_fmt("/api/users/%lld/dm", (long long)bob_id), alice, NULL, 201);
    int64_t room_id = pl_api_int(room, "id");
    cr_assert_str_eq(pl_api_str(room, "kind"), "dm");
    cr_assert_str_eq(pl_api_str(room, "title"), "Bob B");
    cr_assert_eq(pl_api_int(json_object_get(room, "peer"), "id"), bob_id);
    cr_assert_str_eq(pl_api_str(json_object_get(room, "peer"), "display_name"), "Bob B");
    cr_assert_eq(pl_api_int(room, "members"), 2);
    json_decref(room);

    room =
        pl_api_json("POST", pl_api_fmt("/api/users/%lld/dm", (long long)alice_id), bob, NULL, 200);
    cr_assert_eq(pl_api_int(room, "id"), room_id);
    cr_assert_str_eq(pl_api_str(room, "title"), "Alice A");
    cr_assert_eq(pl_api_int(json_object_get(room, "peer"), "id"), alice_id);
    json_decref(room);
    room =
        pl_api_json("POST", pl_api_fmt("/api/users/%lld/dm", (long long)bob_id), alice, NULL, 200);
    cr_assert_eq(pl_api_int(room, "id"), room_id);
    json_decref(room);

    //  Both see it in their list; the DM carries its peer there too.
    json_t *rooms = s_rooms(bob);
    cr_assert_eq(json_array_size(rooms), 1);
    cr_assert_eq(pl_api_int(json_array_get(rooms, 0), "id"), room_id);
    cr_assert_eq(pl_api_int(json_object_get(json_array_get(rooms, 0), "peer"), "id"), alice_id);
    json_decref(rooms);

    pl_api_expect("POST", pl_api_fmt("/api/users/%lld/dm", (long long)alice_id), alice, NULL, 400,
                  "bad_request");
    pl_api_expect("POST", "/api/users/987654/dm", alice, NULL, 404, "user_not_found");
    //  A DM cannot be joined or left, not even by its members.
    char *carol = pl_api_user(NULL, NULL);
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/join", (long long)room_id), carol, NULL, 403,
                  "forbidden");
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/leave", (long long)room_id), alice, NULL, 403,
                  "forbidden");
    pl_api_expect("GET", pl_api_fmt("/api/rooms/%lld", (long long)room_id), carol, NULL, 403,
                  "forbidden");
    room = pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room_id), alice, NULL, 200);
    cr_assert_eq(pl_api_int(room, "members"), 2);
    json_decref(room);
    free(alice);
    free(bob);
    free(carol);
}

//  --- membership -------------------------------------------------------------------

Test(e2e_rooms, join_and_leave_follow_the_rules)
{
    int64_t bob_id;
    char *alice = pl_api_user(NULL, NULL), *bob = pl_api_user(NULL, &bob_id);
    int64_t room_id = pl_api_new_room(alice);
    char room_path[64], join[64], leave[64];
    snprintf(room_path, sizeof room_path, "/api/rooms/%lld", (long long)room_id);
    snprintf(join, sizeof join, "/api/rooms/%lld/join", (long long)room_id);
    snprintf(leave, sizeof leave, "/api/rooms/%lld/leave", (long long)room_id);

    pl_api_expect("GET", room_path, bob, NULL, 403, "forbidden");
    pl_api_expect("POST", leave, bob, NULL, 403, "forbidden");
    pl_api_expect("POST", join, bob, NULL, 204, NULL);
    pl_api_expect("POST", join, bob, NULL, 204, NULL);
    json_t *room = pl_api_json("GET", room_path, bob, NULL, 200);
    cr_assert_eq(pl_api_int(room, "members"), 2, "joining twice counts once");
    json_t *members = json_object_get(room, "member_list");
    cr_assert_eq(json_array_size(members), 2);
    bool listed = false;
    size_t i;
    json_t *member;
    json_array_foreach(members, i, member)
    {
        cr_assert(json_is_string(json_object_get(member, "username")));
        cr_assert(json_is_string(json_object_get(member, "display_name")));
        listed |= pl_api_int(member, "id") == bob_id;
    }
    cr_assert(listed, "bob is not in member_list");
    json_decref(room);

    pl_api_expect("POST", leave, bob, NULL, 204, NULL);
    pl_api_expect("POST", leave, bob, NULL, 403, "forbidden");
    pl_api_expect("GET", room_path, bob, NULL, 403, "forbidden");
    pl_api_expect("GET", pl_api_fmt("/api/rooms/%lld/messages", (long long)room_id), bob, NULL, 403,
                  "forbidden");
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/messages", (long long)room_id), bob,
                  "{\"body\":\"hello?\"}", 403, "forbidden");
    room = pl_api_json("GET", room_path, alice, NULL, 200);
    cr_assert_eq(pl_api_int(room, "members"), 1);
    cr_assert_eq(json_array_size(json_object_get(room, "member_list")), 1);
    json_decref(room);
    json_t *rooms = s_rooms(bob);
    cr_assert_eq(json_array_size(rooms), 0, "a room bob left is still listed");
    json_decref(rooms);

    pl_api_expect("POST", "/api/rooms/987654/join", bob, NULL, 404, "room_not_found");
    pl_api_expect("POST", "/api/rooms/987654/leave", bob, NULL, 404, "room_not_found");
    pl_api_expect("GET", "/api/rooms/987654", bob, NULL, 404, "room_not_found");
    pl_api_expect("POST", join, NULL, NULL, 401, "unauthorized");
    free(alice);
    free(bob);
}

//  --- room list -------------------------------------------------------------------

Test(e2e_rooms, the_room_list_puts_recent_activity_first_and_counts_unread)
{
    char *alice = pl_api_user(NULL, NULL), *bob = pl_api_user(NULL, NULL);
    int64_t r1 = pl_api_new_room(alice), r2 = pl_api_new_room(alice), r3 = pl_api_new_room(alice);
    s_expect_rooms(alice, (int64_t[]){r3, r2, r1}, (int64_t[]){0, 0, 0}, 3);
    pl_api_join(bob, r1);
    pl_api_join(bob, r2);
    pl_api_join(bob, r3);

    json_decref(pl_api_publish(alice, r1, NULL, "first in r1"));
    s_expect_rooms(alice, (int64_t[]){r1, r3, r2}, (int64_t[]){0, 0, 0}, 3);
    s_expect_rooms(bob, (int64_t[]){r1, r3, r2}, (int64_t[]){1, 0, 0}, 3);
    json_t *rooms = s_rooms(bob);
    json_t *last = json_object_get(json_array_get(rooms, 0), "last_message");
    cr_assert_str_eq(pl_api_str(last, "body"), "first in r1");
    cr_assert_eq(pl_api_int(last, "seq"), 1);
    cr_assert(json_is_null(json_object_get(json_array_get(rooms, 1), "last_message")));
    json_decref(rooms);

    json_decref(pl_api_publish(bob, r2, NULL, "one"));
    json_decref(pl_api_publish(bob, r2, NULL, "two"));
    s_expect_rooms(alice, (int64_t[]){r2, r1, r3}, (int64_t[]){2, 0, 0}, 3);
    s_expect_rooms(bob, (int64_t[]){r2, r1, r3}, (int64_t[]){0, 1, 0}, 3);

    //  Read pointers: partial, complete, and never backwards. (Whether a read shows
    //  at once is a_read_pointer_shows_in_the_very_next_listing's business.)
    s_read(alice, r2, 1, 1);
    s_expect_rooms(alice, (int64_t[]){r2, r1, r3}, (int64_t[]){1, 0, 0}, 3);
    s_read(alice, r2, 2, 0);
    s_expect_rooms(alice, (int64_t[]){r2, r1, r3}, (int64_t[]){0, 0, 0}, 3);
    s_read(alice, r2, 1, 0);
    //  The next message of the room is stored after that read: one unread, not two.
    json_decref(pl_api_publish(bob, r2, NULL, "three"));
    s_expect_rooms(alice, (int64_t[]){r2, r1, r3}, (int64_t[]){1, 0, 0}, 3);
    s_read(bob, r1, 1, 0);
    s_expect_rooms(bob, (int64_t[]){r2, r1, r3}, (int64_t[]){0, 0, 0}, 3);
    char read_r2[64];
    snprintf(read_r2, sizeof read_r2, "/api/rooms/%lld/read", (long long)r2);

    pl_api_expect_bad("POST", read_r2, alice, "{}", "seq");
    pl_api_expect_bad("POST", read_r2, alice, "{\"seq\":\"2\"}", "seq");
    pl_api_expect_bad("POST", read_r2, alice, "{\"seq\":-1}", "seq");
    pl_api_expect("POST", "/api/rooms/987654/read", alice, "{\"seq\":1}", 404, "room_not_found");

    //  A new member starts with everything before joining read.
    char *carol = pl_api_user(NULL, NULL);
    pl_api_join(carol, r2);
    s_expect_rooms(carol, (int64_t[]){r2}, (int64_t[]){0}, 1);
    json_decref(pl_api_publish(alice, r2, NULL, "four"));
    s_expect_rooms(carol, (int64_t[]){r2}, (int64_t[]){1}, 1);
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/read", (long long)r1), carol, "{\"seq\":1}",
                  403, "forbidden");
    free(alice);
    free(bob);
    free(carol);
}

Test(e2e_rooms, a_read_pointer_shows_in_the_very_next_listing)
{
    char *alice = pl_api_user(NULL, NULL), *bob = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    pl_api_join(bob, room);
    char read[64], room_path[64];
    snprintf(read, sizeof read, "/api/rooms/%lld/read", (long long)room);
    snprintf(room_path, sizeof room_path, "/api/rooms/%lld", (long long)room);
    //  The 204 of a read comes once the pointer moved: every round shows it at once.
    for (int seq = 1; seq <= 20; seq++) {
        json_decref(pl_api_publish(bob, room, NULL, "news"));
        pl_api_expect("POST", read, alice, pl_api_fmt("{\"seq\":%d}", seq), 204, NULL);
        json_t *json = pl_api_json("GET", room_path, alice, NULL, 200);
        cr_assert_eq(pl_api_int(json, "unread"), 0, "round %d: unread %lld right after the read",
                     seq, (long long)pl_api_int(json, "unread"));
        json_decref(json);
    }
    free(alice);
    free(bob);
}

//  --- history ---------------------------------------------------------------------

Test(e2e_rooms, history_pages_in_both_directions)
{
    char *alice = pl_api_user("Alice", NULL), *bob = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    s_expect_page(alice, room, "", 1, 0, false);
    for (int seq = 1; seq <= 120; seq++) {
        char body[32];
        snprintf(body, sizeof body, "m-%d", seq);
        json_t *message = pl_api_publish(alice, room, NULL, body);
        cr_assert_eq(pl_api_int(message, "seq"), seq);
        json_decref(message);
    }
    s_expect_page(alice, room, "", 71, 120, true);
    s_expect_page(alice, room, "limit=200", 1, 120, false);
    s_expect_page(alice, room, "limit=120", 1, 120, false);
    s_expect_page(alice, room, "limit=119", 2, 120, true);
    s_expect_page(alice, room, "limit=1", 120, 120, true);
    s_expect_page(alice, room, "before=71&limit=50", 21, 70, true);
    s_expect_page(alice, room, "before=21&limit=50", 1, 20, false);
    s_expect_page(alice, room, "before=21&limit=20", 1, 20, false);
    s_expect_page(alice, room, "before=1", 1, 0, false);
    s_expect_page(alice, room, "before=500", 71, 120, true);
    s_expect_page(alice, room, "after=0&limit=50", 1, 50, true);
    s_expect_page(alice, room, "after=50&limit=50", 51, 100, true);
    s_expect_page(alice, room, "after=100&limit=50", 101, 120, false);
    s_expect_page(alice, room, "after=100&limit=20", 101, 120, false);
    s_expect_page(alice, room, "after=119", 120, 120, false);
    s_expect_page(alice, room, "after=120", 1, 0, false);

    //  Walking back page by page visits every message once.
    int64_t before = 0, seen = 0, expected_next = 120;
    bool more = true;
    while (more) {
        json_t *page = s_history(
            alice, room, before ? pl_api_fmt("limit=7&before=%lld", (long long)before) : "limit=7");
        json_t *messages = json_object_get(page, "messages");
        cr_assert_gt(json_array_size(messages), 0);
        for (size_t i = json_array_size(messages); i-- > 0;) {
            cr_assert_eq(pl_api_int(json_array_get(messages, i), "seq"), expected_next);
            expected_next--;
            seen++;
        }
        before = pl_api_int(json_array_get(messages, 0), "seq");
        more = json_is_true(json_object_get(page, "has_more"));
        json_decref(page);
    }
    cr_assert_eq(seen, 120);

    //  The messages carry their sender.
    json_t *page = s_history(alice, room, "limit=1");
    json_t *message = json_array_get(json_object_get(page, "messages"), 0);
    cr_assert_eq(pl_api_int(message, "room"), room);
    cr_assert_str_eq(pl_api_str(message, "kind"), "text");
    cr_assert_str_eq(pl_api_str(json_object_get(message, "sender"), "display_name"), "Alice");
    cr_assert_gt(pl_api_int(message, "ts"), 1700000000000LL);
    json_decref(page);

    const struct {
        const char *query, *field;
    } bad[] = {
        {"limit=0", "limit"},    {"limit=201", "limit"},
        {"limit=-5", "limit"},   {"limit=abc", "limit"},
        {"limit=", "limit"},     {"limit=10x", "limit"},
        {"limit=1.5", "limit"},  {"before=0", "before"},
        {"before=-1", "before"}, {"before=x", "before"},
        {"before=", "before"},   {"after=-1", "after"},
        {"after=y", "after"},    {"after=", "after"},
        {"after=1e3", "after"},  {"before=99999999999999999999999", "before"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        pl_api_expect_bad("GET",
                          pl_api_fmt("/api/rooms/%lld/messages?%s", (long long)room, bad[i].query),
                          alice, NULL, bad[i].field);
    pl_api_expect("GET", pl_api_fmt("/api/rooms/%lld/messages", (long long)room), bob, NULL, 403,
                  "forbidden");
    pl_api_expect("GET", "/api/rooms/987654/messages", alice, NULL, 404, "room_not_found");
    free(alice);
    free(bob);
}

//  --- publishing ----------------------------------------------------------------

Test(e2e_rooms, publishing_validates_and_bad_messages_store_nothing)
{
    char *alice = pl_api_user(NULL, NULL), *bob = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    char path[64];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    json_t *message = pl_api_publish(alice, room, "ok-1", "hello");
    cr_assert_eq(pl_api_int(message, "seq"), 1);
    cr_assert_str_eq(pl_api_str(message, "client_id"), "ok-1");
    cr_assert_str_eq(pl_api_str(message, "kind"), "text");
    cr_assert_str_eq(pl_api_str(message, "body"), "hello");
    cr_assert_eq(pl_api_int(message, "room"), room);
    json_decref(message);

    static const char hash[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char long_body[4002], long_client_id[66];
    memset(long_body, 'b', 4001);
    long_body[4001] = '\0';
    memset(long_client_id, 'c', 65);
    long_client_id[65] = '\0';
    char *too_long = pl_api_dump(json_pack("{s:s}", "body", long_body));
    char *long_id = pl_api_dump(json_pack("{s:s, s:s}", "client_id", long_client_id, "body", "x"));
    char *upper = pl_api_dump(json_pack("{s:s, s:s}", "kind", "image", "url",
                                        "/uploads/0123456789ABCDEF0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef.png"));
    char *bmp = pl_api_dump(
        json_pack("{s:s, s:s}", "kind", "image", "url", pl_api_fmt("/uploads/%s.bmp", hash)));
    char *short_hash = pl_api_dump(
        json_pack("{s:s, s:s}", "kind", "image", "url", pl_api_fmt("/uploads/%.63s.png", hash)));
    char *never_uploaded = pl_api_dump(
        json_pack("{s:s, s:s}", "kind", "image", "url", pl_api_fmt("/uploads/%s.png", hash)));
    const struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "body"},
        {"{\"body\":\"\"}", "body"},
        {"{\"body\":null}", "body"},
        {"{\"body\":5}", "body"},
        {too_long, "body"},
        {"{\"kind\":\"video\",\"body\":\"x\"}", "kind"},
        {"{\"kind\":7,\"body\":\"x\"}", "kind"},
        {"{\"kind\":\"image\"}", "url"},
        {"{\"kind\":\"image\",\"url\":\"https://evil.example/cat.png\"}", "url"},
        {"{\"kind\":\"image\",\"url\":\"/uploads/../etc/passwd.png\"}", "url"},
        {upper, "url"},
        {bmp, "url"},
        {short_hash, "url"},
        {never_uploaded, "url"},
        {"{\"client_id\":\"has space\",\"body\":\"x\"}", "client_id"},
        {"{\"client_id\":\"\",\"body\":\"x\"}", "client_id"},
        {"{\"client_id\":12,\"body\":\"x\"}", "client_id"},
        {long_id, "client_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        pl_api_expect_bad("POST", path, alice, cases[i].body, cases[i].field);
    pl_api_expect("POST", path, alice, "{\"body\":", 400, "bad_request");
    pl_api_expect("POST", path, bob, "{\"body\":\"not a member\"}", 403, "forbidden");
    pl_api_expect("POST", "/api/rooms/987654/messages", alice, "{\"body\":\"x\"}", 404,
                  "room_not_found");
    free(too_long);
    free(long_id);
    free(upper);
    free(bmp);
    free(short_hash);
    free(never_uploaded);

    //  Nothing of that was stored: the history still holds only the first message,
    //  and the next one follows it directly.
    json_t *messages = s_all_messages(alice, room);
    cr_assert_eq(json_array_size(messages), 1, "%zu messages stored", json_array_size(messages));
    json_decref(messages);
    json_t *room_json =
        pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room), alice, NULL, 200);
    cr_assert_eq(pl_api_int(room_json, "last_seq"), 1);
    json_decref(room_json);

    //  The limits themselves are allowed: 4000 characters, an upload url, a 64 byte id.
    char max_body[4000 * 3 + 1] = "";
    for (int i = 0; i < 4000; i++)
        strcat(max_body, "가");
    message = pl_api_publish(alice, room, long_client_id + 1, max_body);
    cr_assert_eq(pl_api_int(message, "seq"), 2);
    cr_assert_str_eq(pl_api_str(message, "body"), max_body);
    json_decref(message);
    char *url = NULL;
    cr_assert_eq(pl_fx_upload(s_srv.port, alice, "image/png", pl_fx_png, pl_fx_png_len, &url), 201);
    char *image = pl_api_dump(json_pack("{s:s, s:s}", "kind", "image", "url", url));
    message = pl_api_json("POST", path, alice, image, 201);
    free(image);
    cr_assert_eq(pl_api_int(message, "seq"), 3);
    cr_assert_str_eq(pl_api_str(message, "kind"), "image");
    cr_assert_str_eq(pl_api_str(message, "url"), url);
    json_decref(message);
    free(url);
    free(alice);
    free(bob);
}

Test(e2e_rooms, a_retried_client_id_gets_the_same_seq_and_is_stored_once)
{
    char *alice = pl_api_user(NULL, NULL), *bob = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    pl_api_join(bob, room);
    json_t *first = pl_api_publish(alice, room, "retry-1", "once");
    json_t *again = pl_api_publish(alice, room, "retry-1", "once");
    cr_assert_eq(pl_api_int(again, "seq"), pl_api_int(first, "seq"));
    cr_assert_str_eq(pl_api_str(again, "body"), "once");
    cr_assert_eq(pl_api_int(again, "ts"), pl_api_int(first, "ts"));
    json_decref(again);
    //  Even with another body, a retry is the original message.
    again = pl_api_publish(alice, room, "retry-1", "twice?");
    cr_assert_eq(pl_api_int(again, "seq"), pl_api_int(first, "seq"));
    cr_assert_str_eq(pl_api_str(again, "body"), "once");
    json_decref(again);
    //  The same client_id from another user is another message.
    json_t *other = pl_api_publish(bob, room, "retry-1", "bob's");
    cr_assert_eq(pl_api_int(other, "seq"), pl_api_int(first, "seq") + 1);
    json_decref(other);
    json_decref(first);

    json_t *messages = s_all_messages(alice, room);
    cr_assert_eq(json_array_size(messages), 2, "%zu messages stored", json_array_size(messages));
    cr_assert_str_eq(pl_api_str(json_array_get(messages, 0), "body"), "once");
    cr_assert_str_eq(pl_api_str(json_array_get(messages, 1), "body"), "bob's");
    json_decref(messages);
    free(alice);
    free(bob);
}

typedef struct {
    int port;
    const char *token;
    int64_t room;
    const char *client_id;
    int status;
    int64_t seq;
} retry_t;

static void *s_publish_thread(void *arg)
{
    retry_t *r = arg;
    char *body = pl_api_dump(json_pack("{s:s, s:s}", "client_id", r->client_id, "body", "raced"));
    pl_http_response_t response;
    if (pl_http_request_timeout(r->port, "POST",
                                pl_api_fmt("/api/rooms/%lld/messages", (long long)r->room),
                                pl_api_fmt("Authorization: Bearer %s\r\n"
                                           "Content-Type: application/json\r\n",
                                           r->token),
                                body, strlen(body), 4000, &response) == 0) {
        r->status = response.status;
        json_t *seq = json_object_get(response.json, "seq");
        r->seq = json_is_integer(seq) ? (int64_t)json_integer_value(seq) : 0;
        pl_http_response_free(&response);
    }
    free(body);
    return NULL;
}

Test(e2e_rooms, concurrent_retries_of_one_client_id_all_get_the_seq)
{
    char *alice = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    enum { RETRIES = 4 };
    retry_t retries[RETRIES];
    pthread_t threads[RETRIES];
    for (int i = 0; i < RETRIES; i++) {
        retries[i] = (retry_t){s_srv.port, alice, room, "same-id", -1, 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, s_publish_thread, &retries[i]), 0);
    }
    for (int i = 0; i < RETRIES; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < RETRIES; i++) {
        cr_expect_eq(retries[i].status, 201, "request %d: status %d (-1: no answer in 4 s)", i,
                     retries[i].status);
        cr_expect_eq(retries[i].seq, 1, "request %d: seq %lld", i, (long long)retries[i].seq);
    }
    json_t *messages = s_all_messages(alice, room);
    cr_assert_eq(json_array_size(messages), 1, "%zu messages stored", json_array_size(messages));
    json_decref(messages);
    free(alice);
}

Test(e2e_rooms, a_retry_of_an_older_message_still_gets_its_seq)
{
    //  A small recovery window: the retried message is no longer in the room's memory.
    const char *args[] = {"--recovery-window", "5", NULL};
    pl_e2e_restart_with(args);
    char *alice = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    for (int i = 1; i <= 10; i++) {
        char client_id[16];
        snprintf(client_id, sizeof client_id, "old-%d", i);
        json_decref(pl_api_publish(alice, room, client_id, "x"));
    }
    json_t *again = pl_api_publish(alice, room, "old-1", "x");
    cr_assert_eq(pl_api_int(again, "seq"), 1);
    json_decref(again);
    json_t *messages = s_all_messages(alice, room);
    cr_assert_eq(json_array_size(messages), 10, "%zu messages stored", json_array_size(messages));
    json_decref(messages);
    free(alice);
}

//  --- durability ------------------------------------------------------------------

#define WRITERS         5
#define WRITER_MESSAGES 20

typedef struct {
    int port;
    const char *token;
    int64_t room;
    int index;
    int failures;
    int64_t seqs[WRITER_MESSAGES];
} writer_t;

static void *s_writer(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < WRITER_MESSAGES; i++) {
        char *body =
            pl_api_dump(json_pack("{s:s, s:s}", "client_id", pl_api_fmt("w%d-%d", w->index, i),
                                  "body", pl_api_fmt("body %d/%d", w->index, i)));
        pl_http_response_t r;
        if (pl_http_json(w->port, "POST",
                         pl_api_fmt("/api/rooms/%lld/messages", (long long)w->room), w->token, body,
                         &r) == 0 &&
            r.status == 201 && json_is_integer(json_object_get(r.json, "seq")))
            w->seqs[i] = (int64_t)json_integer_value(json_object_get(r.json, "seq"));
        else
            w->failures++;
        pl_http_response_free(&r);
        free(body);
    }
    return NULL;
}

Test(e2e_rooms, acknowledged_messages_survive_kill_9)
{
    char *alice = pl_api_user(NULL, NULL);
    int64_t room = pl_api_new_room(alice);
    writer_t writers[WRITERS];
    pthread_t threads[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (writer_t){.port = s_srv.port, .token = alice, .room = room, .index = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, s_writer, &writers[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(threads[i], NULL);
    pl_server_kill9(&s_srv);
    for (int i = 0; i < WRITERS; i++)
        cr_assert_eq(writers[i].failures, 0, "writer %d: %d publishes failed", i,
                     writers[i].failures);

    pl_e2e_start(NULL);
    const int total = WRITERS * WRITER_MESSAGES;
    json_t *messages = s_all_messages(alice, room);
    cr_assert_eq((int)json_array_size(messages), total, "%zu messages after the restart",
                 json_array_size(messages));
    for (int i = 0; i < total; i++)
        cr_assert_eq(pl_api_int(json_array_get(messages, (size_t)i), "seq"), i + 1, "a gap at %d",
                     i);
    //  Every acknowledged message is there, under the seq it was acknowledged with.
    for (int w = 0; w < WRITERS; w++) {
        for (int i = 0; i < WRITER_MESSAGES; i++) {
            json_t *message = json_array_get(messages, (size_t)writers[w].seqs[i] - 1);
            cr_assert_str_eq(pl_api_str(message, "client_id"), pl_api_fmt("w%d-%d", w, i));
            cr_assert_str_eq(pl_api_str(message, "body"), pl_api_fmt("body %d/%d", w, i));
        }
    }
    json_decref(messages);
    json_t *next = pl_api_publish(alice, room, NULL, "after the crash");
    cr_assert_eq(pl_api_int(next, "seq"), total + 1);
    json_decref(next);
    //  A retry of an acknowledged message after the crash is still the same message.
    json_t *again = pl_api_publish(alice, room, "w0-19", "body 0/19");
    cr_assert_eq(pl_api_int(again, "seq"), writers[0].seqs[19]);
    json_decref(again);
    json_t *room_json =
        pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room), alice, NULL, 200);
    cr_assert_eq(pl_api_int(room_json, "last_seq"), total + 1);
    json_decref(room_json);
    free(alice);
}
