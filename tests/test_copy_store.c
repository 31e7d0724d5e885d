/*  Tests for `parley copy-store` (src/store/copy.c): a populated SQLite data dir
    copied into a fresh database of the suite's PostgreSQL server answers every read
    the same; a second run copies nothing; a run after a partial copy completes it;
    counts that differ fail the run; the id counters move past what was copied. */
#define PL_PG_SUITE_ALWAYS
#include "parley/copy_store.h"
#include "parley/store.h"
#include "pg_suite.h"
#include "tmp_dir.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char s_dir[64];
static char s_url[256];
static pl_store_t *s_sqlite; //  the source's writer, populated by s_setup

//  What s_setup stores.
static int64_t s_ann, s_bob, s_group, s_dm;
#define MESSAGES 5

static void s_ok(pl_status_t status, const char *what)
{
    cr_assert_eq(status, PL_STATUS_OK, "%s: status %d", what, (int)status);
}

static void s_populate(pl_store_t *store)
{
    const pl_store_ops_t *ops = store->ops;
    s_ok(ops->user_insert(store, pl_str_of("ann"), pl_str_of("$argon2id$ann"), pl_str_of("Ann"), 1,
                          &s_ann),
         "ann");
    s_ok(ops->user_insert(store, pl_str_of("bob"), pl_str_of("$argon2id$bob"), pl_str_of("Bob"), 2,
                          &s_bob),
         "bob");
    s_ok(ops->user_update(store, s_bob, (pl_str_t){NULL, 0}, pl_str_of("/uploads/b.png")),
         "avatar");
    s_ok(ops->follow_add(store, s_bob, s_ann, 3), "follow");
    int64_t content = 0, other = 0;
    s_ok(ops->content_insert(store, pl_str_of("movie"), pl_str_of("Amélie"),
                             pl_str_of("Une serveuse à Montmartre."), 2001, 4, &content),
         "content");
    s_ok(ops->content_insert(store, pl_str_of("book"), pl_str_of("Emma"), (pl_str_t){NULL, 0}, 0, 5,
                             &other),
         "content without a year");
    s_ok(ops->like_add(store, content, s_bob, 6), "like");
    bool flag = false;
    s_ok(ops->room_ensure_group(store, content, 7, &s_group, &flag), "group");
    s_ok(ops->member_add(store, s_group, s_ann, 8, &flag), "member ann");
    s_ok(ops->member_add(store, s_group, s_bob, 9, &flag), "member bob");
    s_ok(ops->room_ensure_dm(store, s_ann, s_bob, 10, &s_dm, &flag), "dm");
    s_ok(ops->begin(store), "begin");
    for (int seq = 1; seq <= MESSAGES; seq++) {
        char body[32];
        snprintf(body, sizeof body, "message %d", seq);
        pl_message_row_t row = {
            s_group,         seq,      s_ann, 100 + seq, pl_str_of(body), pl_str_of("text"),
            pl_str_of(body), {NULL, 0}};
        s_ok(ops->message_insert(store, &row), "message");
    }
    s_ok(ops->room_advance(store, s_group, MESSAGES, 100 + MESSAGES), "room advance");
    s_ok(ops->read_advance(store, s_group, s_ann, MESSAGES), "read advance");
    s_ok(ops->read_advance(store, s_group, s_bob, 2), "bob read");
    s_ok(ops->commit(store), "commit");
    pl_notification_row_t note = {3,
                                  7,
                                  s_bob,
                                  s_group,
                                  2,
                                  200,
                                  pl_str_of("group_message"),
                                  pl_str_of("{\"kind\":\"group_message\",\"count\":2}")};
    s_ok(ops->notification_put(store, &note), "notification");
}

//  An upload's name, and a file of that name in <data_dir>/uploads.
#define UPLOAD_NAME "00000000000000000000000000000000000000000000000000000000000000aa.png"
static const char s_upload_bytes[] = "\x89PNG\r\n\x1a\n\0 not really a picture";

static void s_write_upload(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/uploads", s_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/uploads/" UPLOAD_NAME, s_dir);
    FILE *file = fopen(path, "wb");
    cr_assert_not_null(file);
    cr_assert_eq(fwrite(s_upload_bytes, 1, sizeof s_upload_bytes, file), sizeof s_upload_bytes);
    fclose(file);
    //  A temporary file a crash left is no upload.
    snprintf(path, sizeof path, "%s/uploads/tmp-left-behind", s_dir);
    file = fopen(path, "wb");
    cr_assert_not_null(file);
    fclose(file);
}

static void s_setup(void)
{
    const char *server = pl_pg_suite_url();
    cr_assert_eq(pl_tmp_dir_make(s_dir, sizeof s_dir, "parley-copy-"), 0);
    cr_assert_eq(pl_pg_database_new(server, s_url, sizeof s_url), 0);
    char err[512] = "";
    s_sqlite = pl_store_sqlite_open(s_dir, true, err, sizeof err);
    cr_assert_not_null(s_sqlite, "%s", err);
    s_populate(s_sqlite);
    s_write_upload();
}

static void s_teardown(void)
{
    pl_store_close(&s_sqlite);
    pl_tmp_dir_remove(s_dir);
    const char *server = getenv(PL_PG_SERVER_ENV);
    if (server && s_url[0])
        pl_pg_database_drop(server, s_url);
}

TestSuite(copy_store, .init = s_setup, .fini = s_teardown, .timeout = 30);

//  Runs the copy; returns its status, and its report in *report (caller frees).
static int s_copy(char **report)
{
    size_t size = 0;
    FILE *out = open_memstream(report, &size);
    cr_assert_not_null(out);
    int rc = pl_copy_store(s_dir, s_url, out);
    fclose(out);
    return rc;
}

static void s_expect_copy(int want, const char *line)
{
    char *report = NULL;
    int rc = s_copy(&report);
    cr_assert_eq(rc, want, "copy-store answered %d:\n%s", rc, report);
    cr_assert(strstr(report, line), "no '%s' in:\n%s", line, report);
    free(report);
}

static void s_sql(const char *sql)
{
    PGconn *conn = PQconnectdb(s_url);
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
}

static pl_store_t *s_open_postgres(bool writer)
{
    char err[512] = "";
    pl_store_t *store = pl_store_postgres_open(s_url, writer, err, sizeof err);
    cr_assert_not_null(store, "%s", err);
    return store;
}

//  The reads compared between the original and the copy, each as new JSON.
static json_t *s_rooms_of_ann(pl_store_t *store)
{
    json_t *out = NULL;
    s_ok(store->ops->rooms_of_user(store, s_ann, &out), "ann's rooms");
    return out;
}

static json_t *s_rooms_of_bob(pl_store_t *store)
{
    json_t *out = NULL;
    s_ok(store->ops->rooms_of_user(store, s_bob, &out), "bob's rooms");
    return out;
}

static json_t *s_members(pl_store_t *store)
{
    json_t *out = NULL;
    s_ok(store->ops->room_members(store, s_group, &out), "members");
    return out;
}

static json_t *s_messages(pl_store_t *store)
{
    json_t *out = NULL;
    bool more = false;
    s_ok(store->ops->messages_page(store, s_group, 0, INT64_MAX, 3, false, &out, &more), "page");
    return json_pack("{s:o, s:b}", "messages", out, "has_more", more);
}

static json_t *s_notifications(pl_store_t *store)
{
    json_t *out = NULL;
    int64_t unread = 0;
    s_ok(store->ops->notifications_page(store, s_bob, INT64_MAX, 20, &out, &unread), "page");
    return json_pack("{s:o, s:I}", "notifications", out, "unread", (json_int_t)unread);
}

static json_t *s_search(pl_store_t *store)
{
    json_t *out = NULL;
    s_ok(store->ops->content_search(store, pl_str_of("amelie"), (pl_str_t){NULL, 0}, 20, &out),
         "search");
    return out;
}

static json_t *s_listing(pl_store_t *store)
{
    json_t *out = NULL;
    s_ok(store->ops->content_search(store, (pl_str_t){NULL, 0}, (pl_str_t){NULL, 0}, 20, &out),
         "listing");
    return out;
}

Test(copy_store, the_copy_answers_every_read_as_the_original)
{
    s_expect_copy(0, "messages: copied 5, 5 in SQLite, 5 in PostgreSQL");
    pl_store_t *postgres = s_open_postgres(false);
    pl_user_t original, copy;
    memset(&original, 0, sizeof original);
    memset(&copy, 0, sizeof copy);
    s_ok(s_sqlite->ops->user_find(s_sqlite, pl_str_of("bob"), &original), "find bob");
    s_ok(postgres->ops->user_find(postgres, pl_str_of("bob"), &copy), "find bob");
    cr_assert_eq(memcmp(&original, &copy, sizeof copy), 0, "bob differs");
    json_t *(*const reads[])(pl_store_t *) = {s_rooms_of_ann, s_rooms_of_bob,  s_members,
                                              s_messages,     s_notifications, s_search,
                                              s_listing};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        json_t *want = reads[i](s_sqlite), *got = reads[i](postgres);
        char *want_text = json_dumps(want, JSON_SORT_KEYS),
             *got_text = json_dumps(got, JSON_SORT_KEYS);
        cr_assert(json_equal(want, got), "read %zu:\n sqlite   %s\n postgres %s", i, want_text,
                  got_text);
        free(want_text);
        free(got_text);
        json_decref(want);
        json_decref(got);
    }
    pl_store_close(&postgres);
}

Test(copy_store, the_counters_move_past_what_was_copied)
{
    s_expect_copy(0, "users: copied 2");
    pl_store_t *postgres = s_open_postgres(true);
    int64_t id = 0;
    s_ok(postgres->ops->next_id(postgres, &id), "next id");
    cr_assert_gt(id, 7, "a notification id or version could be handed out twice");
    s_ok(postgres->ops->user_insert(postgres, pl_str_of("cid"), pl_str_of("h"), pl_str_of("Cid"), 9,
                                    &id),
         "a new user");
    cr_assert_gt(id, s_bob);
    pl_store_close(&postgres);
}

Test(copy_store, a_second_run_copies_nothing)
{
    s_expect_copy(0, "messages: copied 5");
    s_expect_copy(0, "messages: copied 0, 5 in SQLite, 5 in PostgreSQL");
    s_expect_copy(0, "users: copied 0, 2 in SQLite, 2 in PostgreSQL");
    s_expect_copy(0, "uploads: copied 0, 1 files, 1 in PostgreSQL");
}

Test(copy_store, uploads_are_copied_for_every_node_to_serve)
{
    s_expect_copy(0, "uploads: copied 1, 1 files, 1 in PostgreSQL");
    pl_store_t *postgres = s_open_postgres(false);
    char *bytes = NULL;
    size_t len = 0;
    s_ok(postgres->ops->upload_get(postgres, pl_str_of(UPLOAD_NAME), &bytes, &len), "upload");
    cr_assert_eq(len, sizeof s_upload_bytes);
    cr_assert_eq(memcmp(bytes, s_upload_bytes, len), 0);
    free(bytes);
    pl_store_close(&postgres);
}

Test(copy_store, a_run_after_a_partial_copy_completes_it)
{
    s_expect_copy(0, "notifications: copied 1");
    //  As if the first run had stopped inside messages, before notifications.
    s_sql("DELETE FROM messages WHERE seq > 2");
    s_sql("DELETE FROM notifications");
    s_expect_copy(0, "messages: copied 3, 5 in SQLite, 5 in PostgreSQL");
    s_expect_copy(0, "notifications: copied 0, 1 in SQLite, 1 in PostgreSQL");
}

Test(copy_store, counts_that_differ_fail_the_run)
{
    s_expect_copy(0, "users: copied 2");
    s_sql("INSERT INTO users (id, username, password_hash, display_name, created_at)"
          " VALUES (99, 'extra', 'h', 'Extra', 1)");
    s_expect_copy(1, "users: copied 0, 2 in SQLite, 3 in PostgreSQL (they differ)");
}
