/*  The persister actor in isolation: the test plays its neighbours, pushing requests
    into inproc://persister and taking replies through waiters, then checks the rows
    with its own SQLite connection. */
#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/persister.h"
#include "parley/room.h"
#include "parley/store.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>

static char s_dir[64];
static pl_persister_args_t s_args;
static zactor_t *s_persister;
static zsock_t *s_outlet;
static pl_waiters_t *s_waiters;
static int s_room_shards; //  0 unless a test plays a room shard

static void s_start(void)
{
    s_args = (pl_persister_args_t){
        .store = {.data_dir = s_dir}, .batch_max = 64, .room_shards = s_room_shards};
    s_persister = zactor_new(pl_persister_actor, &s_args);
    cr_assert(s_persister);
    cr_assert_not(s_args.failed, "persister failed: %s", s_args.error);
    s_outlet = pl_actor_outlet(PL_PERSISTER_INBOX);
    cr_assert(s_outlet);
}

static void s_stop(void)
{
    zsock_destroy(&s_outlet);
    zactor_destroy(&s_persister);
}

static void setup(void)
{
    zsys_handler_set(NULL);
    snprintf(s_dir, sizeof s_dir, "/tmp/parley-persister-XXXXXX");
    cr_assert(mkdtemp(s_dir));
    s_waiters = pl_waiters_new();
    s_room_shards = 0;
    s_start();
}

static void teardown(void)
{
    s_stop();
    pl_waiters_destroy(&s_waiters);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", s_dir);
    cr_assert_eq(system(command), 0);
}

TestSuite(persister, .init = setup, .fini = teardown, .timeout = 20);

//  Queues a USER_CREATE for username on waiter; returns the req_id to wait for.
static uint64_t s_send_create(pl_waiter_t *waiter, const char *username)
{
    pl_msg_t msg = {.type = PL_MSG_USER_CREATE,
                    .as.user_create = {.waiter = (uint64_t)(uintptr_t)waiter,
                                       .req_id = pl_waiter_arm(waiter),
                                       .username = pl_str_of(username),
                                       .password_hash = pl_str_of("$argon2id$fake"),
                                       .display_name = pl_str_of("Name"),
                                       .created_at = 1234}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &msg), 0);
    return msg.as.user_create.req_id;
}

static pl_msg_reply_t s_wait(pl_waiter_t *waiter, uint64_t req_id)
{
    pl_msg_frame_t in;
    cr_assert_eq(pl_waiter_wait(waiter, req_id, 5000, &in), 0, "no reply");
    cr_assert_eq(in.msg.type, PL_MSG_REPLY);
    pl_msg_reply_t reply = in.msg.as.reply;
    pl_msg_frame_close(&in);
    return reply;
}

//  The one integer sql returns (?1 bound to text when given), on a connection of
//  the test's own.
static int64_t s_query_int(const char *sql, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/parley.db", s_dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sql);
    if (text)
        sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW, "%s", sql);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

//  Counts users named username in the database.
static int s_count_rows(const char *username)
{
    return (int)s_query_int("SELECT count(*) FROM users WHERE username = ?1", username);
}

Test(persister, reply_comes_after_the_row_is_committed)
{
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    uint64_t req_id = s_send_create(waiter, "alice");
    pl_msg_reply_t reply = s_wait(waiter, req_id);
    cr_assert_eq(reply.status, PL_STATUS_OK);
    cr_assert_gt(reply.id, 0);
    //  A fresh connection sees the row the moment the reply arrives.
    cr_assert_eq(s_count_rows("alice"), 1);
}

Test(persister, a_conflict_in_a_batch_spoils_nothing_else)
{
    //  Queued back to back, these land in one batch (or a few); whichever way they
    //  are grouped, each gets its own answer and the good ones are stored.
    enum { N = 40 };
    pl_waiter_t *waiters[N];
    uint64_t ids[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        waiters[i] = pl_waiter_new(s_waiters);
        snprintf(names[i], sizeof names[i], "user_%d", i % 2 ? i : 0);
        ids[i] = s_send_create(waiters[i], names[i]);
    }
    int conflicts = 0;
    for (int i = 0; i < N; i++) {
        pl_msg_reply_t reply = s_wait(waiters[i], ids[i]);
        if (i == 0)
            cr_assert_eq(reply.status, PL_STATUS_OK);
        else if (i % 2 == 0) {
            cr_assert_eq(reply.status, PL_STATUS_CONFLICT, "request %d", i);
            conflicts++;
        } else
            cr_assert_eq(reply.status, PL_STATUS_OK, "request %d", i);
    }
    cr_assert_eq(conflicts, N / 2 - 1);
    cr_assert_eq(s_count_rows("user_0"), 1);
    for (int i = 1; i < N; i += 2)
        cr_assert_eq(s_count_rows(names[i]), 1);
}

Test(persister, stop_commits_what_was_already_queued)
{
    enum { N = 200 };
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "queued_%d", i);
        s_send_create(waiter, name);
    }
    //  Stop at once: the persister must commit everything queued before it exits.
    s_stop();
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "queued_%d", i);
        cr_assert_eq(s_count_rows(name), 1, "%s was lost", name);
    }
    s_start();
}

Test(persister, a_restart_keeps_every_row)
{
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    pl_msg_reply_t first = s_wait(waiter, s_send_create(waiter, "before_restart"));
    s_stop();
    s_start();
    pl_msg_reply_t again = s_wait(waiter, s_send_create(waiter, "before_restart"));
    cr_assert_eq(again.status, PL_STATUS_CONFLICT);
    pl_msg_reply_t next = s_wait(waiter, s_send_create(waiter, "after_restart"));
    cr_assert_eq(next.status, PL_STATUS_OK);
    cr_assert_gt(next.id, first.id);
}

Test(persister, update_reports_a_missing_user)
{
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    pl_msg_t msg = {.type = PL_MSG_USER_UPDATE,
                    .as.user_update = {.waiter = (uint64_t)(uintptr_t)waiter,
                                       .req_id = pl_waiter_arm(waiter),
                                       .user_id = 999,
                                       .display_name = pl_str_of("Nobody")}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &msg), 0);
    cr_assert_eq(s_wait(waiter, msg.as.user_update.req_id).status, PL_STATUS_NOT_FOUND);
}

Test(persister, refuses_to_start_on_an_unusable_data_dir)
{
    s_stop();
    pl_persister_args_t bad = {.store = {.data_dir = "/proc/parley-cannot-be-here"},
                               .batch_max = 8};
    zactor_t *actor = zactor_new(pl_persister_actor, &bad);
    cr_assert(actor);
    cr_assert(bad.failed);
    cr_assert_str_not_empty(bad.error);
    zactor_destroy(&actor);
    s_start();
}

static void s_send_message(int64_t room, int64_t seq, int64_t sender, int64_t ts)
{
    pl_msg_t msg = {
        .type = PL_MSG_MESSAGE_STORE,
        .as.message_store = {
            room, seq, sender, ts, {NULL, 0}, pl_str_of("text"), pl_str_of("hi"), {NULL, 0}}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &msg), 0);
}

//  Restarts the persister with one room shard, played by the test: MESSAGE_STORED
//  reports arrive on the inbox returned.
static zsock_t *s_play_room_shard(void)
{
    s_stop();
    s_room_shards = 1;
    char name[32];
    pl_room_inbox_name(0, name, sizeof name);
    zsock_t *room_inbox = pl_actor_inbox(name);
    cr_assert(room_inbox);
    zsock_set_rcvtimeo(room_inbox, 5000);
    s_start();
    return room_inbox;
}

static void s_stop_playing_room_shard(zsock_t **room_inbox)
{
    s_stop();
    pl_actor_inbox_destroy(room_inbox);
    s_room_shards = 0;
    s_start();
}

//  The DM room of users a and b.
static int64_t s_dm_room(pl_waiter_t *waiter, int64_t a, int64_t b)
{
    pl_msg_t dm = {.type = PL_MSG_ROOM_ENSURE_DM,
                   .as.room_ensure_dm = {(uint64_t)(uintptr_t)waiter, pl_waiter_arm(waiter), a, b}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &dm), 0);
    return s_wait(waiter, dm.as.room_ensure_dm.req_id).id;
}

//  Messages move their room's last seq and their senders' read pointers once per
//  batch; a request that reads them (a join reads the room's last seq) must see
//  every message queued before it, and a read pointer never moves back.
Test(persister, messages_advance_rooms_and_senders_as_if_one_by_one)
{
    zsock_t *room_inbox = s_play_room_shard();
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    int64_t a = s_wait(waiter, s_send_create(waiter, "ann")).id;
    int64_t b = s_wait(waiter, s_send_create(waiter, "bob")).id;
    int64_t c = s_wait(waiter, s_send_create(waiter, "cat")).id;
    int64_t room = s_dm_room(waiter, a, b);

    //  Back to back, so most of it lands in one batch. The times are later than the
    //  room's creation, which is its first activity.
    int64_t t = pl_now_ms() + 1000;
    s_send_message(room, 1, a, t + 1);
    s_send_message(room, 2, b, t + 2);
    s_send_message(room, 3, a, t + 3);
    pl_msg_t join = {
        .type = PL_MSG_MEMBER_ADD,
        .as.member_add = {(uint64_t)(uintptr_t)waiter, pl_waiter_arm(waiter), room, c, 0}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &join), 0);
    s_send_message(room, 4, a, t + 4);
    pl_msg_t read = {.type = PL_MSG_READ_STORE, .as.read_store = {0, 0, room, b, 1}};
    cr_assert_eq(pl_msg_send(zsock_resolve(s_outlet), &read), 0);

    cr_assert_eq(s_wait(waiter, join.as.member_add.req_id).status, PL_STATUS_OK);
    //  Told as runs of seqs, in order: 1-3 in one report when they shared a batch.
    for (int64_t seq = 1; seq <= 4;) {
        pl_msg_frame_t in;
        cr_assert_eq(pl_msg_recv(zsock_resolve(room_inbox), &in, 0), 0, "no MESSAGE_STORED");
        cr_assert_eq(in.msg.type, PL_MSG_MESSAGE_STORED);
        cr_assert_eq(in.msg.as.message_stored.seq, seq);
        cr_assert_geq(in.msg.as.message_stored.last, seq);
        cr_assert_eq(in.msg.as.message_stored.status, PL_STATUS_OK);
        seq = in.msg.as.message_stored.last + 1;
        pl_msg_frame_close(&in);
    }
    //  The read pointer is stored before the waiter hears of it: wait for one more
    //  write behind it.
    s_wait(waiter, s_send_create(waiter, "last"));
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT last_seq FROM rooms WHERE id = %lld", (long long)room);
    cr_assert_eq(s_query_int(sql, NULL), 4);
    snprintf(sql, sizeof sql, "SELECT last_activity FROM rooms WHERE id = %lld", (long long)room);
    cr_assert_eq(s_query_int(sql, NULL), t + 4);
    const int64_t users[] = {a, b, c}, expected[] = {4, 2, 3};
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT last_read_seq FROM members WHERE room_id = %lld AND user_id = %lld",
                 (long long)room, (long long)users[i]);
        cr_assert_eq(s_query_int(sql, NULL), expected[i], "user %d", i);
    }
    s_stop_playing_room_shard(&room_inbox);
}

//  Takes MESSAGE_STORED reports until count seqs are told; statuses[i] is the i-th
//  seq's status and seqs[i] the seq.
static void s_take_stored(zsock_t *room_inbox, int64_t *seqs, pl_status_t *statuses, int count)
{
    for (int told = 0; told < count;) {
        pl_msg_frame_t in;
        cr_assert_eq(pl_msg_recv(zsock_resolve(room_inbox), &in, 0), 0, "no MESSAGE_STORED");
        cr_assert_eq(in.msg.type, PL_MSG_MESSAGE_STORED);
        const pl_msg_message_stored_t *m = &in.msg.as.message_stored;
        for (int64_t seq = m->seq; seq <= m->last; seq++, told++) {
            cr_assert_lt(told, count, "more seqs told than sent");
            seqs[told] = seq;
            statuses[told] = (pl_status_t)m->status;
        }
        pl_msg_frame_close(&in);
    }
}

//  A room's seqs have no gaps: when one message cannot be stored (here its sender does
//  not exist), every later seq of its room is refused until the failed seq comes
//  again, and what is finally stored is 1, 2, 3.
Test(persister, a_failed_message_holds_back_its_rooms_later_seqs)
{
    zsock_t *room_inbox = s_play_room_shard();
    pl_waiter_t *waiter = pl_waiter_new(s_waiters);
    int64_t a = s_wait(waiter, s_send_create(waiter, "ann")).id;
    int64_t b = s_wait(waiter, s_send_create(waiter, "bob")).id;
    int64_t room = s_dm_room(waiter, a, b);
    int64_t t = pl_now_ms() + 1000;
    s_send_message(room, 1, a, t + 1);
    s_send_message(room, 2, 999999, t + 2); //  no such user: the insert fails
    s_send_message(room, 3, b, t + 3);      //  handed out before the room knew
    s_send_message(room, 2, b, t + 4);      //  the room hands seq 2 out again
    s_send_message(room, 3, a, t + 5);
    int64_t seqs[5];
    pl_status_t statuses[5];
    s_take_stored(room_inbox, seqs, statuses, 5);
    const int64_t expected_seqs[] = {1, 2, 3, 2, 3};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seqs[i], expected_seqs[i], "report %d", i);
    cr_assert_eq(statuses[0], PL_STATUS_OK);
    cr_assert_neq(statuses[1], PL_STATUS_OK);
    cr_assert_eq(statuses[2], PL_STATUS_INTERNAL, "seq 3 stored after a failed seq 2");
    cr_assert_eq(statuses[3], PL_STATUS_OK);
    cr_assert_eq(statuses[4], PL_STATUS_OK);
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT group_concat(seq || ':' || sender_id || ':' || ts) = ?1 FROM "
             "(SELECT * FROM messages WHERE room_id = %lld ORDER BY seq)",
             (long long)room);
    char expected[160];
    snprintf(expected, sizeof expected, "1:%lld:%lld,2:%lld:%lld,3:%lld:%lld", (long long)a,
             (long long)(t + 1), (long long)b, (long long)(t + 4), (long long)a,
             (long long)(t + 5));
    cr_assert_eq(s_query_int(sql, expected), 1, "rows are not 1, 2 and 3 as sent again");
    snprintf(sql, sizeof sql, "SELECT last_seq FROM rooms WHERE id = %lld", (long long)room);
    cr_assert_eq(s_query_int(sql, NULL), 3);
    s_stop_playing_room_shard(&room_inbox);
}
