/*  The store contract suite: every behavioural test of the store interface runs
    against both backends (tests/support/store_suite.h), as store_sqlite::<name> and
    store_postgres::<name>. Tests of what only SQLite has (its file, its data dir)
    are store_sqlite only, and those of the PostgreSQL connection store_postgres
    only. The tests look at the database itself through a connection of their own. */
#define PL_PG_SUITE_ALWAYS
#include "parley/store.h"
#include "pg_suite.h"
#include "store_suite.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

//  One timeout for every suite (Criterion 2.4 leaks a little, which ASAN reports,
//  when tests that run in parallel have different ones).
TestSuite(store_sqlite, .init = pl_store_suite_sqlite, .fini = pl_store_suite_teardown,
          .timeout = 20);
TestSuite(store_postgres, .init = pl_store_suite_postgres, .fini = pl_store_suite_teardown,
          .timeout = 20);

TestSuite(store_url, .timeout = 20);

#define STORE_TEST(name) PL_STORE_TEST(store, name)

//  --------------------------------------------------------------------------------
//  Helpers

static pl_store_t *s_open(bool writer)
{
    return pl_store_suite_open(writer);
}

//  Opens and expects a refusal with a reason; returns the reason (static storage).
static const char *s_open_refused(bool writer)
{
    static char err[512];
    err[0] = '\0';
    pl_store_t *store = pl_store_open(pl_store_suite_where(), writer, err, sizeof err);
    cr_assert_null(store, "a %s was opened", writer ? "writer" : "reader");
    cr_assert_gt(strlen(err), 0, "refused without a reason");
    return err;
}

//  The test's own connection to parley.db (SQLite-only tests).
static sqlite3 *s_db(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/parley.db", pl_store_suite_dir());
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static int64_t s_query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW, "%s", sql);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static void s_query_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *stmt;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW, "%s", sql);
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
}

//  The schema version this build migrates the test's backend to, and the one its
//  database records.
static int s_current_version(void)
{
    return pl_store_suite_is_postgres() ? pl_store_postgres_schema_version()
                                        : pl_store_sqlite_schema_version();
}

static int64_t s_recorded_version(void)
{
    return pl_store_suite_sql_int(pl_store_suite_is_postgres()
                                      ? "SELECT max(version) FROM parley_schema"
                                      : "PRAGMA user_version");
}

static void s_record_version(int version)
{
    char sql[64];
    snprintf(sql, sizeof sql,
             pl_store_suite_is_postgres() ? "UPDATE parley_schema SET version = %d"
                                          : "PRAGMA user_version = %d",
             version);
    pl_store_suite_sql(sql);
}

static bool s_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

//  Whether the test's data dir holds parley.db.
static bool s_db_exists(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/parley.db", pl_store_suite_dir());
    return s_file_exists(path);
}

static int64_t s_insert(pl_store_t *store, const char *username, const char *display_name,
                        int64_t created_at)
{
    int64_t id = -7;
    pl_status_t status =
        store->ops->user_insert(store, pl_str_of(username), pl_str_of("$argon2id$v=19$hash"),
                                pl_str_of(display_name), created_at, &id);
    cr_assert_eq(status, PL_STATUS_OK, "inserting %s: status %d", username, (int)status);
    cr_assert_gt(id, 0);
    return id;
}

static void s_expect_user(pl_store_t *store, int64_t id, const char *username,
                          const char *display_name, const char *avatar_url, int64_t created_at)
{
    pl_user_t user;
    memset(&user, 0x5a, sizeof user);
    cr_assert_eq(store->ops->user_get(store, id, &user), PL_STATUS_OK, "user %ld", (long)id);
    cr_assert_eq(user.id, id);
    cr_assert_str_eq(user.username, username);
    cr_assert_str_eq(user.display_name, display_name);
    cr_assert_str_eq(user.avatar_url, avatar_url);
    cr_assert_eq(user.created_at, created_at);

    memset(&user, 0x5a, sizeof user);
    cr_assert_eq(store->ops->user_find(store, pl_str_of(username), &user), PL_STATUS_OK, "find %s",
                 username);
    cr_assert_eq(user.id, id);
    cr_assert_str_eq(user.display_name, display_name);
}

static void s_expect_no_user(pl_store_t *store, const char *username)
{
    pl_user_t user;
    cr_assert_eq(store->ops->user_find(store, pl_str_of(username), &user), PL_STATUS_NOT_FOUND,
                 "%s exists", username);
}

//  --------------------------------------------------------------------------------
//  Opening and migrating

Test(store_sqlite, writer_creates_the_database_at_the_current_version)
{
    cr_assert_geq(pl_store_sqlite_schema_version(), 1);
    cr_assert_not(s_db_exists());
    pl_store_t *store = s_open(true);
    cr_assert(s_db_exists(), "no parley.db in %s", pl_store_suite_dir());

    sqlite3 *db = s_db();
    cr_assert_eq(s_query_int(db, "PRAGMA user_version"), pl_store_sqlite_schema_version());
    char mode[32];
    s_query_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    cr_assert_str_eq(mode, "wal");
    cr_assert_eq(s_query_int(db, "SELECT count(*) FROM users"), 0);
    sqlite3_close(db);
    pl_store_close(&store);
    cr_assert_null(store);
}

Test(store_sqlite, writer_creates_a_missing_data_dir)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s/data", pl_store_suite_dir());
    char err[512] = "";
    pl_store_t *store = pl_store_sqlite_open(sub, true, err, sizeof err);
    cr_assert_not_null(store, "%s", err);
    char path[160];
    snprintf(path, sizeof path, "%s/parley.db", sub);
    cr_assert(s_file_exists(path));
    pl_store_close(&store);
}

Test(store_sqlite, unusable_data_dir_is_refused)
{
    //  A data_dir that is a file, and one whose parent does not exist.
    char path[128];
    snprintf(path, sizeof path, "%s/plain-file", pl_store_suite_dir());
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fclose(file);
    char err[512] = "";
    cr_assert_null(pl_store_sqlite_open(path, true, err, sizeof err));
    cr_assert_gt(strlen(err), 0);

    snprintf(path, sizeof path, "%s/no/such/dir", pl_store_suite_dir());
    err[0] = '\0';
    cr_assert_null(pl_store_sqlite_open(path, true, err, sizeof err));
    cr_assert_gt(strlen(err), 0);
}

STORE_TEST(reopening_keeps_rows_and_does_not_migrate_again)
{
    pl_store_t *store = s_open(true);
    int64_t id = s_insert(store, "alice", "Alice", 1000);
    pl_store_close(&store);

    //  Re-running the migrations would fail (the tables exist) or lose rows.
    for (int round = 0; round < 3; round++) {
        store = s_open(true);
        s_expect_user(store, id, "alice", "Alice", "", 1000);
        pl_store_close(&store);
    }
    cr_assert_eq(s_recorded_version(), s_current_version());
    cr_assert_eq(pl_store_suite_sql_int("SELECT count(*) FROM users"), 1);
}

STORE_TEST(newer_schema_is_refused)
{
    pl_store_t *store = s_open(true);
    pl_store_close(&store);
    s_record_version(s_current_version() + 1);

    const char *err = s_open_refused(true);
    cr_assert(strstr(err, "version") || strstr(err, "schema"), "reason '%s'", err);
    s_open_refused(false);
    //  And the database was left as it was.
    cr_assert_eq(s_recorded_version(), s_current_version() + 1);
}

Test(store_sqlite, reader_without_a_database_is_refused)
{
    s_open_refused(false);
    cr_assert_not(s_db_exists(), "a reader created parley.db");
}

STORE_TEST(reader_before_migration_is_refused)
{
    //  The database exists but no writer has migrated it.
    pl_store_suite_sql("CREATE TABLE unrelated (x INTEGER)");
    s_open_refused(false);
    char err[512];
    pl_store_pool_t *pool = pl_store_pool_new(pl_store_suite_where(), 2, err, sizeof err);
    cr_assert_null(pool, "a pool opened on an unmigrated database");
    cr_assert_gt(strlen(err), 0);
}

STORE_TEST(reader_on_an_older_schema_is_refused)
{
    //  A database an older build wrote: its tables are there, but this build's writer
    //  has not yet brought it up to date.
    pl_store_t *writer = s_open(true);
    s_insert(writer, "olga", "Olga", 1);
    pl_store_close(&writer);
    s_record_version(s_current_version() - 1);
    s_open_refused(false);
}

STORE_TEST(reader_after_migration_opens)
{
    pl_store_t *writer = s_open(true);
    pl_store_t *reader = s_open(false);
    pl_store_close(&reader);
    pl_store_close(&writer);
    //  The writer need not stay open.
    reader = s_open(false);
    pl_store_close(&reader);
}

//  --------------------------------------------------------------------------------
//  Users

STORE_TEST(user_insert_get_find)
{
    pl_store_t *store = s_open(true);
    int64_t a = s_insert(store, "alice", "Alice A.", 1700000000000);
    int64_t b = s_insert(store, "bob", "Bob", -5);
    cr_assert_neq(a, b);
    s_expect_user(store, a, "alice", "Alice A.", "", 1700000000000);
    s_expect_user(store, b, "bob", "Bob", "", -5);

    pl_user_t user;
    cr_assert_eq(store->ops->user_get(store, a, &user), PL_STATUS_OK);
    cr_assert_str_eq(user.password_hash, "$argon2id$v=19$hash");

    cr_assert_eq(store->ops->user_get(store, b + 1000, &user), PL_STATUS_NOT_FOUND);
    cr_assert_eq(store->ops->user_get(store, 0, &user), PL_STATUS_NOT_FOUND);
    cr_assert_eq(store->ops->user_get(store, -1, &user), PL_STATUS_NOT_FOUND);
    s_expect_no_user(store, "carol");
    s_expect_no_user(store, "Alice"); //  names are exact
    s_expect_no_user(store, "");
    pl_store_close(&store);
}

STORE_TEST(strings_go_in_as_views_not_c_strings)
{
    //  The persister passes views into a message frame: not NUL-terminated.
    pl_store_t *store = s_open(true);
    static const char buf[] = "carolXXXX$hashYYYYCarol C.ZZZZ";
    int64_t id = 0;
    cr_assert_eq(store->ops->user_insert(store, (pl_str_t){buf, 5}, (pl_str_t){buf + 9, 5},
                                         (pl_str_t){buf + 18, 8}, 7, &id),
                 PL_STATUS_OK);
    pl_user_t user;
    cr_assert_eq(store->ops->user_find(store, (pl_str_t){"carolina", 5}, &user), PL_STATUS_OK);
    cr_assert_eq(user.id, id);
    cr_assert_str_eq(user.username, "carol");
    cr_assert_str_eq(user.password_hash, "$hash");
    cr_assert_str_eq(user.display_name, "Carol C.");
    cr_assert_eq(store->ops->user_update(store, id, (pl_str_t){"NewNameQQQ", 7},
                                         (pl_str_t){"/u/a.pngQQQ", 8}),
                 PL_STATUS_OK);
    s_expect_user(store, id, "carol", "NewName", "/u/a.png", 7);
    pl_store_close(&store);
}

STORE_TEST(largest_valid_values_round_trip)
{
    pl_store_t *store = s_open(true);
    char username[PL_USERNAME_MAX + 1];
    memset(username, 'u', PL_USERNAME_MAX);
    username[PL_USERNAME_MAX] = '\0';
    //  64 four-byte characters: the most bytes a valid display name has.
    char display[PL_DISPLAY_NAME_MAX * 4 + 1];
    for (int i = 0; i < PL_DISPLAY_NAME_MAX; i++)
        memcpy(display + 4 * i, "\xf0\x9f\x98\x80", 4);
    display[PL_DISPLAY_NAME_MAX * 4] = '\0';
    char avatar[PL_URL_MAX + 1];
    memcpy(avatar, "https://", 8);
    memset(avatar + 8, 'a', PL_URL_MAX - 8);
    avatar[PL_URL_MAX] = '\0';

    int64_t id = s_insert(store, username, display, INT64_MAX);
    cr_assert_eq(store->ops->user_update(store, id, (pl_str_t){NULL, 0}, pl_str_of(avatar)),
                 PL_STATUS_OK);
    s_expect_user(store, id, username, display, avatar, INT64_MAX);
    pl_store_close(&store);
}

STORE_TEST(user_update_changes_only_given_fields)
{
    pl_store_t *store = s_open(true);
    int64_t id = s_insert(store, "dave", "Dave", 1);
    int64_t other = s_insert(store, "erin", "Erin", 2);
    pl_str_t none = {NULL, 0};

    cr_assert_eq(store->ops->user_update(store, id, pl_str_of("David"), none), PL_STATUS_OK);
    s_expect_user(store, id, "dave", "David", "", 1);

    cr_assert_eq(store->ops->user_update(store, id, none, pl_str_of("/uploads/d.png")),
                 PL_STATUS_OK);
    s_expect_user(store, id, "dave", "David", "/uploads/d.png", 1);

    cr_assert_eq(store->ops->user_update(store, id, none, none), PL_STATUS_OK);
    s_expect_user(store, id, "dave", "David", "/uploads/d.png", 1);

    cr_assert_eq(store->ops->user_update(store, id, pl_str_of("D"), pl_str_of("https://x/y.png")),
                 PL_STATUS_OK);
    s_expect_user(store, id, "dave", "D", "https://x/y.png", 1);

    //  An empty (non-NULL) avatar clears it.
    cr_assert_eq(store->ops->user_update(store, id, none, (pl_str_t){"", 0}), PL_STATUS_OK);
    s_expect_user(store, id, "dave", "D", "", 1);

    //  Nobody else changed.
    s_expect_user(store, other, "erin", "Erin", "", 2);
    pl_store_close(&store);
}

STORE_TEST(user_update_of_a_missing_user)
{
    pl_store_t *store = s_open(true);
    int64_t id = s_insert(store, "fred", "Fred", 1);
    cr_assert_eq(store->ops->user_update(store, id + 1, pl_str_of("X"), (pl_str_t){NULL, 0}),
                 PL_STATUS_NOT_FOUND);
    cr_assert_eq(store->ops->user_update(store, 0, (pl_str_t){NULL, 0}, pl_str_of("")),
                 PL_STATUS_NOT_FOUND);
    s_expect_user(store, id, "fred", "Fred", "", 1);
    pl_store_close(&store);
}

STORE_TEST(follow_stats)
{
    pl_store_t *store = s_open(true);
    int64_t a = s_insert(store, "anna", "Anna", 1);
    int64_t b = s_insert(store, "ben", "Ben", 1);
    int64_t c = s_insert(store, "cat", "Cat", 1);

    pl_follow_stats_t stats;
    memset(&stats, 0x5a, sizeof stats);
    cr_assert_eq(store->ops->follow_stats(store, a, b, &stats), PL_STATUS_OK);
    cr_assert_eq(stats.followers, 0);
    cr_assert_eq(stats.following, 0);
    cr_assert_not(stats.followed_by_viewer);

    cr_assert_eq(store->ops->follow_add(store, b, a, 1), PL_STATUS_OK);
    cr_assert_eq(store->ops->follow_add(store, c, a, 1), PL_STATUS_OK);
    cr_assert_eq(store->ops->follow_add(store, a, c, 1), PL_STATUS_OK);
    cr_assert_eq(store->ops->follow_add(store, a, c, 2), PL_STATUS_CONFLICT, "twice");
    cr_assert_eq(store->ops->follow_add(store, a, 999, 2), PL_STATUS_CONFLICT, "no such user");

    //  a: followed by b and c, follows c.
    cr_assert_eq(store->ops->follow_stats(store, a, b, &stats), PL_STATUS_OK);
    cr_assert_eq(stats.followers, 2);
    cr_assert_eq(stats.following, 1);
    cr_assert(stats.followed_by_viewer, "b follows a");
    cr_assert_eq(store->ops->follow_stats(store, a, a, &stats), PL_STATUS_OK);
    cr_assert_not(stats.followed_by_viewer, "a does not follow itself");
    cr_assert_eq(store->ops->follow_stats(store, a, 0, &stats), PL_STATUS_OK);
    cr_assert_not(stats.followed_by_viewer, "nobody (0) follows anyone");
    //  b: followed by nobody, follows a; a does not follow b.
    cr_assert_eq(store->ops->follow_stats(store, b, a, &stats), PL_STATUS_OK);
    cr_assert_eq(stats.followers, 0);
    cr_assert_eq(stats.following, 1);
    cr_assert_not(stats.followed_by_viewer);
    //  c: followed by a.
    cr_assert_eq(store->ops->follow_stats(store, c, a, &stats), PL_STATUS_OK);
    cr_assert_eq(stats.followers, 1);
    cr_assert_eq(stats.following, 1);
    cr_assert(stats.followed_by_viewer);

    //  A reader sees the same.
    pl_store_t *reader = s_open(false);
    cr_assert_eq(reader->ops->follow_stats(reader, a, c, &stats), PL_STATUS_OK);
    cr_assert_eq(stats.followers, 2);
    cr_assert(stats.followed_by_viewer);
    pl_store_close(&reader);
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  Contents and likes

static int64_t s_content(pl_store_t *store, const char *kind, const char *title, int64_t year)
{
    int64_t id = -7;
    cr_assert_eq(store->ops->content_insert(store, pl_str_of(kind), pl_str_of(title),
                                            (pl_str_t){NULL, 0}, year, 1, &id),
                 PL_STATUS_OK, "inserting %s", title);
    return id;
}

static int64_t s_likes(pl_store_t *store, int64_t content_id)
{
    json_t *content = NULL;
    cr_assert_eq(store->ops->content_get(store, content_id, &content), PL_STATUS_OK);
    int64_t likes = json_integer_value(json_object_get(content, "likes"));
    json_decref(content);
    return likes;
}

STORE_TEST(likes_are_added_once_and_removed_once)
{
    pl_store_t *store = s_open(true);
    int64_t a = s_insert(store, "lia", "Lia", 1), b = s_insert(store, "leo", "Leo", 1);
    int64_t film = s_content(store, "movie", "Film", 0), other = s_content(store, "book", "B", 0);
    cr_assert_eq(s_likes(store, film), 0);

    cr_assert_eq(store->ops->like_add(store, film, a, 10), PL_STATUS_OK);
    cr_assert_eq(store->ops->like_add(store, film, a, 11), PL_STATUS_CONFLICT, "liked twice");
    cr_assert_eq(store->ops->like_add(store, film, b, 12), PL_STATUS_OK);
    cr_assert_eq(store->ops->like_add(store, other, a, 13), PL_STATUS_OK);
    cr_assert_eq(store->ops->like_add(store, 987654, a, 14), PL_STATUS_NOT_FOUND, "no content");
    cr_assert_eq(s_likes(store, film), 2);
    cr_assert_eq(s_likes(store, other), 1);

    cr_assert_eq(store->ops->like_remove(store, film, a), PL_STATUS_OK);
    cr_assert_eq(store->ops->like_remove(store, film, a), PL_STATUS_NOT_FOUND, "unliked twice");
    cr_assert_eq(store->ops->like_remove(store, 987654, a), PL_STATUS_NOT_FOUND);
    cr_assert_eq(s_likes(store, film), 1);
    cr_assert_eq(s_likes(store, other), 1, "another content's like went too");
    //  Liked again after an unlike.
    cr_assert_eq(store->ops->like_add(store, film, a, 15), PL_STATUS_OK);
    cr_assert_eq(s_likes(store, film), 2);
    pl_store_close(&store);
}

STORE_TEST(content_find_matches_kind_title_and_year_exactly)
{
    pl_store_t *store = s_open(true);
    int64_t dune = s_content(store, "book", "Dune", 1965);
    int64_t undated = s_content(store, "movie", "Dune", 0);
    int64_t id = -7;
    cr_assert_eq(store->ops->content_find(store, pl_str_of("book"), pl_str_of("Dune"), 1965, &id),
                 PL_STATUS_OK);
    cr_assert_eq(id, dune);
    cr_assert_eq(store->ops->content_find(store, pl_str_of("movie"), pl_str_of("Dune"), 0, &id),
                 PL_STATUS_OK, "a content without a year");
    cr_assert_eq(id, undated);
    const struct {
        const char *kind, *title;
        int64_t year;
    } misses[] = {{"book", "Dune", 1984}, {"book", "Dune", 0},     {"movie", "Dune", 1965},
                  {"book", "dune", 1965}, {"book", "Dune ", 1965}, {"book", "Dun", 1965}};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        cr_assert_eq(store->ops->content_find(store, pl_str_of(misses[i].kind),
                                              pl_str_of(misses[i].title), misses[i].year, &id),
                     PL_STATUS_NOT_FOUND, "%s '%s' %lld was found", misses[i].kind, misses[i].title,
                     (long long)misses[i].year);
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  Transactions

STORE_TEST(duplicate_username_is_a_conflict_outside_a_transaction)
{
    pl_store_t *store = s_open(true);
    int64_t id = s_insert(store, "gina", "Gina", 1);
    int64_t dup_id = -7;
    cr_assert_eq(store->ops->user_insert(store, pl_str_of("gina"), pl_str_of("h"),
                                         pl_str_of("Other"), 2, &dup_id),
                 PL_STATUS_CONFLICT);
    cr_assert_eq(dup_id, -7, "a conflict set the id");
    s_expect_user(store, id, "gina", "Gina", "", 1);
    //  Still usable.
    int64_t next = s_insert(store, "gino", "Gino", 3);
    s_expect_user(store, next, "gino", "Gino", "", 3);
    pl_store_close(&store);
}

STORE_TEST(conflict_leaves_the_transaction_usable)
{
    pl_store_t *store = s_open(true);
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    int64_t first = s_insert(store, "hana", "Hana", 1);
    int64_t dup_id = -7;
    cr_assert_eq(store->ops->user_insert(store, pl_str_of("hana"), pl_str_of("h"),
                                         pl_str_of("Impostor"), 2, &dup_id),
                 PL_STATUS_CONFLICT);
    cr_assert_eq(dup_id, -7);
    int64_t second = s_insert(store, "hugo", "Hugo", 3);
    cr_assert_eq(store->ops->commit(store), PL_STATUS_OK);

    s_expect_user(store, first, "hana", "Hana", "", 1);
    s_expect_user(store, second, "hugo", "Hugo", "", 3);
    //  And durably: a fresh connection sees exactly those two.
    pl_store_close(&store);
    cr_assert_eq(pl_store_suite_sql_int("SELECT count(*) FROM users"), 2);
    cr_assert_eq(
        pl_store_suite_sql_int("SELECT count(*) FROM users WHERE display_name = 'Impostor'"), 0);
    pl_store_t *reader = s_open(false);
    s_expect_user(reader, first, "hana", "Hana", "", 1);
    s_expect_user(reader, second, "hugo", "Hugo", "", 3);
    pl_store_close(&reader);
}

STORE_TEST(rollback_discards)
{
    pl_store_t *store = s_open(true);
    int64_t kept = s_insert(store, "ivan", "Ivan", 1);
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_insert(store, "iris", "Iris", 2);
    cr_assert_eq(store->ops->user_update(store, kept, pl_str_of("Changed"), pl_str_of("/a.png")),
                 PL_STATUS_OK);
    s_expect_user(store, kept, "ivan", "Changed", "/a.png", 1); //  visible inside
    cr_assert_eq(store->ops->rollback(store), PL_STATUS_OK);

    s_expect_no_user(store, "iris");
    s_expect_user(store, kept, "ivan", "Ivan", "", 1);
    //  The name is free again.
    int64_t again = s_insert(store, "iris", "Iris 2", 3);
    s_expect_user(store, again, "iris", "Iris 2", "", 3);
    pl_store_close(&store);
}

STORE_TEST(commit_or_rollback_without_begin_fails)
{
    pl_store_t *store = s_open(true);
    cr_assert_neq(store->ops->commit(store), PL_STATUS_OK);
    cr_assert_neq(store->ops->rollback(store), PL_STATUS_OK);
    //  Still usable afterwards.
    s_insert(store, "jack", "Jack", 1);
    pl_store_close(&store);
}

STORE_TEST(reader_sees_committed_rows_only)
{
    pl_store_t *writer = s_open(true);
    pl_store_t *reader = s_open(false);
    int64_t early = s_insert(writer, "kate", "Kate", 1); //  autocommitted
    s_expect_user(reader, early, "kate", "Kate", "", 1);

    cr_assert_eq(writer->ops->begin(writer), PL_STATUS_OK);
    int64_t id = s_insert(writer, "karl", "Karl", 2);
    cr_assert_eq(
        writer->ops->user_update(writer, early, pl_str_of("Katherine"), (pl_str_t){NULL, 0}),
        PL_STATUS_OK);
    s_expect_no_user(reader, "karl");
    pl_user_t user;
    cr_assert_eq(reader->ops->user_get(reader, id, &user), PL_STATUS_NOT_FOUND);
    s_expect_user(reader, early, "kate", "Kate", "", 1);
    cr_assert_eq(writer->ops->commit(writer), PL_STATUS_OK);

    s_expect_user(reader, id, "karl", "Karl", "", 2);
    s_expect_user(reader, early, "kate", "Katherine", "", 1);
    pl_store_close(&reader);
    pl_store_close(&writer);
}

STORE_TEST(reader_cannot_write)
{
    pl_store_t *writer = s_open(true);
    pl_store_t *reader = s_open(false);
    int64_t id = 0;
    cr_assert_neq(reader->ops->user_insert(reader, pl_str_of("liam"), pl_str_of("h"),
                                           pl_str_of("Liam"), 1, &id),
                  PL_STATUS_OK);
    s_expect_no_user(writer, "liam");
    pl_store_close(&reader);
    pl_store_close(&writer);
}

//  --------------------------------------------------------------------------------
//  The reader pool

static pl_store_pool_t *s_pool(int size)
{
    char err[512] = "";
    pl_store_pool_t *pool = pl_store_pool_new(pl_store_suite_where(), size, err, sizeof err);
    cr_assert_not_null(pool, "%s", err);
    return pool;
}

STORE_TEST(pool_readers_work)
{
    pl_store_t *writer = s_open(true);
    int64_t id = s_insert(writer, "mona", "Mona", 1);
    pl_store_pool_t *pool = s_pool(2);
    pl_store_t *reader = pl_store_pool_take(pool);
    cr_assert_not_null(reader);
    s_expect_user(reader, id, "mona", "Mona", "", 1);
    pl_store_pool_give(pool, reader);
    pl_store_pool_destroy(&pool);
    cr_assert_null(pool);
    pl_store_pool_destroy(&pool); //  NULL is harmless
    pl_store_close(&writer);
}

//  A thread that takes one reader from the pool and reports it.
typedef struct {
    pl_store_pool_t *pool;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool started, took;
    pid_t tid;
    pl_store_t *got;
} taker_t;

static void *s_taker(void *arg)
{
    taker_t *taker = arg;
    pthread_mutex_lock(&taker->lock);
    taker->tid = (pid_t)syscall(SYS_gettid);
    taker->started = true;
    pthread_cond_broadcast(&taker->changed);
    pthread_mutex_unlock(&taker->lock);

    pl_store_t *store = pl_store_pool_take(taker->pool);

    pthread_mutex_lock(&taker->lock);
    taker->got = store;
    taker->took = true;
    pthread_cond_broadcast(&taker->changed);
    pthread_mutex_unlock(&taker->lock);
    return NULL;
}

//  The scheduler state of a thread of this process ('R', 'S', ...), from /proc.
static char s_thread_state(pid_t tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *file = fopen(path, "r");
    if (!file)
        return '?';
    size_t n = fread(line, 1, sizeof line - 1, file);
    fclose(file);
    line[n] = '\0';
    const char *paren = strrchr(line, ')');
    return paren && paren[1] == ' ' ? paren[2] : '?';
}

STORE_TEST(pool_lends_each_reader_to_one_borrower_at_a_time)
{
    enum { N = 3 };
    pl_store_t *writer = s_open(true);
    pl_store_pool_t *pool = s_pool(N);
    pl_store_t *held[N];
    for (int i = 0; i < N; i++) {
        held[i] = pl_store_pool_take(pool);
        cr_assert_not_null(held[i]);
        for (int j = 0; j < i; j++)
            cr_assert_neq(held[i], held[j], "the same reader was lent twice");
    }

    taker_t taker = {.pool = pool};
    pthread_mutex_init(&taker.lock, NULL);
    pthread_cond_init(&taker.changed, NULL);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, s_taker, &taker), 0);

    //  Wait until the taker is inside pl_store_pool_take and asleep there (or, if take
    //  does not block, has returned).
    pthread_mutex_lock(&taker.lock);
    while (!taker.started)
        pthread_cond_wait(&taker.changed, &taker.lock);
    pid_t tid = taker.tid;
    pthread_mutex_unlock(&taker.lock);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pthread_mutex_lock(&taker.lock);
        bool took = taker.took;
        pl_store_t *early = taker.got;
        pthread_mutex_unlock(&taker.lock);
        cr_assert_not(took, "take returned (%p) while every reader was lent out", (void *)early);
        if (s_thread_state(tid) == 'S')
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        cr_assert_lt(now.tv_sec - start.tv_sec, 5, "the taker never blocked");
        sched_yield();
    }

    //  Giving one back wakes it, with exactly that reader.
    pl_store_pool_give(pool, held[1]);
    pthread_mutex_lock(&taker.lock);
    while (!taker.took)
        pthread_cond_wait(&taker.changed, &taker.lock);
    pl_store_t *got = taker.got;
    pthread_mutex_unlock(&taker.lock);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_assert_eq(got, held[1], "the waiting taker got %p, not the reader given back", (void *)got);

    pl_store_pool_give(pool, got);
    pl_store_pool_give(pool, held[0]);
    pl_store_pool_give(pool, held[2]);
    //  All N are back: N takes succeed without blocking, and are distinct.
    for (int i = 0; i < N; i++) {
        held[i] = pl_store_pool_take(pool);
        for (int j = 0; j < i; j++)
            cr_assert_neq(held[i], held[j]);
    }
    for (int i = 0; i < N; i++)
        pl_store_pool_give(pool, held[i]);
    pthread_cond_destroy(&taker.changed);
    pthread_mutex_destroy(&taker.lock);
    pl_store_pool_destroy(&pool);
    pl_store_close(&writer);
}

//  Many threads borrowing and returning: no reader ever has two borrowers.
enum { STRESS_POOL = 2, STRESS_THREADS = 6, STRESS_ROUNDS = 2000 };

typedef struct {
    pl_store_pool_t *pool;
    pl_store_t *readers[STRESS_POOL];
    atomic_int borrowers[STRESS_POOL];
    atomic_int overlaps, strangers;
    int64_t user_id;
} stress_t;

static void *s_borrower(void *arg)
{
    stress_t *stress = arg;
    for (int round = 0; round < STRESS_ROUNDS; round++) {
        pl_store_t *store = pl_store_pool_take(stress->pool);
        int slot = -1;
        for (int i = 0; i < STRESS_POOL; i++)
            if (stress->readers[i] == store)
                slot = i;
        if (slot < 0) {
            atomic_fetch_add(&stress->strangers, 1);
            continue;
        }
        if (atomic_fetch_add(&stress->borrowers[slot], 1) != 0)
            atomic_fetch_add(&stress->overlaps, 1);
        if (round % 100 == 0) { //  use it now and then, as a borrower would
            pl_user_t user;
            if (store->ops->user_get(store, stress->user_id, &user) != PL_STATUS_OK)
                atomic_fetch_add(&stress->strangers, 1);
        }
        atomic_fetch_sub(&stress->borrowers[slot], 1);
        pl_store_pool_give(stress->pool, store);
    }
    return NULL;
}

STORE_TEST(pool_under_contention)
{
    pl_store_t *writer = s_open(true);
    static stress_t stress;
    stress.user_id = s_insert(writer, "nina", "Nina", 1);
    stress.pool = s_pool(STRESS_POOL);
    //  Learn the pool's readers by borrowing them all once.
    for (int i = 0; i < STRESS_POOL; i++)
        stress.readers[i] = pl_store_pool_take(stress.pool);
    for (int i = 0; i < STRESS_POOL; i++)
        pl_store_pool_give(stress.pool, stress.readers[i]);

    pthread_t threads[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_borrower, &stress), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    cr_assert_eq(atomic_load(&stress.overlaps), 0, "a reader had two borrowers at once");
    cr_assert_eq(atomic_load(&stress.strangers), 0, "the pool lent an unknown or broken reader");
    pl_store_pool_destroy(&stress.pool);
    pl_store_close(&writer);
}

//  --------------------------------------------------------------------------------
//  PostgreSQL: connection failures and the password

Test(store_postgres, an_unreachable_server_is_refused_naming_it_without_the_password)
{
    //  Port 1 on loopback: nothing listens there.
    pl_store_config_t where = {
        "postgres", pl_store_suite_dir(),
        "postgresql://parley:s3cret-pw@127.0.0.1:1/parley?connect_timeout=2"};
    char err[512] = "";
    cr_assert_null(pl_store_open(&where, true, err, sizeof err));
    cr_assert(strstr(err, "postgresql://parley:***@127.0.0.1:1/parley"), "err '%s'", err);
    cr_assert_null(strstr(err, "s3cret"), "the password leaked: '%s'", err);
}

Test(store_url, urls_are_shown_without_their_password)
{
    static const char *const cases[][2] = {
        {"postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"},
        {"postgresql://u@h/db", "postgresql://u@h/db"},
        {"postgres://u:p@ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require"},
        {"postgresql://h/db?user=u&password=pw&x=1", "postgresql://h/db?user=u&password=***&x=1"},
        {"host=h user=u password=pw dbname=d", "host=h user=u password=*** dbname=d"},
        {"password=pw", "password=***"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char shown[128];
        pl_store_url_redact(cases[i][0], shown, sizeof shown);
        cr_assert_str_eq(shown, cases[i][1]);
    }
    char tiny[8];
    pl_store_url_redact("postgresql://u:pw@h/db", tiny, sizeof tiny);
    cr_assert_lt(strlen(tiny), sizeof tiny);
    cr_assert_null(strstr(tiny, "pw"));
}

//  --------------------------------------------------------------------------------
//  Messages in a batch (the persister's transaction)

//  A room of a new content with one member; returns the room, the member in *user.
static int64_t s_room_with_member(pl_store_t *store, int64_t *user)
{
    *user = s_insert(store, "mia", "Mia", 1);
    int64_t content = s_content(store, "movie", "Batch", 2001);
    int64_t room = 0;
    bool created = false, added = false;
    cr_assert_eq(store->ops->room_ensure_group(store, content, 1, &room, &created), PL_STATUS_OK);
    cr_assert(created);
    cr_assert_eq(store->ops->member_add(store, room, *user, 1, &added), PL_STATUS_OK);
    cr_assert(added);
    return room;
}

//  Stores messages first..last of room in the open transaction.
static void s_store_messages(pl_store_t *store, int64_t room, int64_t user, int first, int last)
{
    for (int seq = first; seq <= last; seq++) {
        char body[32];
        snprintf(body, sizeof body, "message %d", seq);
        pl_message_row_t row = {
            room,     seq, user, 1000 + seq, pl_str_of("c"), pl_str_of("text"), pl_str_of(body),
            {NULL, 0}};
        cr_assert_eq(store->ops->message_insert(store, &row), PL_STATUS_OK);
    }
}

STORE_TEST(a_batch_of_messages_commits_whole_and_reads_back_in_order)
{
    pl_store_t *store = s_open(true);
    int64_t user;
    int64_t room = s_room_with_member(store, &user);
    //  More than one multi-row insert's worth, and not a multiple of it.
    enum { COUNT = 150 };
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_store_messages(store, room, user, 1, COUNT);
    s_store_messages(store, room, user, 5, 5); //  a second store changes nothing
    cr_assert_eq(store->ops->room_advance(store, room, COUNT, 1000 + COUNT), PL_STATUS_OK);
    cr_assert_eq(store->ops->read_advance(store, room, user, COUNT), PL_STATUS_OK);
    //  Pointers never move back, even within one transaction.
    cr_assert_eq(store->ops->room_advance(store, room, 3, 3), PL_STATUS_OK);
    cr_assert_eq(store->ops->read_advance(store, room, user, 3), PL_STATUS_OK);
    cr_assert_eq(store->ops->commit(store), PL_STATUS_OK);

    pl_store_t *reader = s_open(false);
    json_t *page = NULL;
    bool more = true;
    cr_assert_eq(reader->ops->messages_page(reader, room, 0, INT64_MAX, 200, true, &page, &more),
                 PL_STATUS_OK);
    cr_assert_not(more);
    cr_assert_eq(json_array_size(page), COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        json_t *message = json_array_get(page, i);
        char body[32];
        snprintf(body, sizeof body, "message %zu", i + 1);
        cr_assert_eq(json_integer_value(json_object_get(message, "seq")), (json_int_t)i + 1);
        cr_assert_str_eq(json_string_value(json_object_get(message, "body")), body);
    }
    json_decref(page);
    json_t *got = NULL;
    cr_assert_eq(reader->ops->room_get(reader, room, user, &got), PL_STATUS_OK);
    cr_assert_eq(json_integer_value(json_object_get(got, "last_seq")), COUNT);
    cr_assert_eq(json_integer_value(json_object_get(got, "unread")), 0);
    cr_assert_eq(pl_store_suite_sql_int("SELECT last_activity FROM rooms"), 1000 + COUNT);
    json_decref(got);
    pl_store_close(&reader);
    pl_store_close(&store);
}

STORE_TEST(a_rolled_back_batch_of_messages_leaves_nothing)
{
    pl_store_t *store = s_open(true);
    int64_t user;
    int64_t room = s_room_with_member(store, &user);
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_store_messages(store, room, user, 1, 70);
    cr_assert_eq(store->ops->rollback(store), PL_STATUS_OK);
    cr_assert_eq(pl_store_suite_sql_int("SELECT count(*) FROM messages"), 0);
    //  And the connection goes on: the same seqs store in the next transaction.
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_store_messages(store, room, user, 1, 3);
    cr_assert_eq(store->ops->commit(store), PL_STATUS_OK);
    cr_assert_eq(pl_store_suite_sql_int("SELECT count(*) FROM messages"), 3);
    pl_store_close(&store);
}

//  What the persister does when a batch fails: commit, rollback, and the batch again in
//  a new transaction. A statement that fails inside a transaction (here a message for a
//  room that does not exist; on a cluster, a deadlock with another node) must not leave
//  the connection unable to commit anything after.
STORE_TEST(a_transaction_a_failed_statement_spoiled_leaves_the_connection_usable)
{
    pl_store_t *store = s_open(true);
    int64_t user;
    int64_t room = s_room_with_member(store, &user);
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_store_messages(store, room, user, 1, 2);
    pl_message_row_t orphan = {
        room + 1000,          1,        user, 1000, pl_str_of("c"), pl_str_of("text"),
        pl_str_of("nowhere"), {NULL, 0}};
    bool refused = store->ops->message_insert(store, &orphan) != PL_STATUS_OK;
    if (store->ops->commit(store) != PL_STATUS_OK) {
        refused = true;
        store->ops->rollback(store);
    }
    cr_assert(refused, "a message for a room that does not exist was stored");
    char others[96];
    snprintf(others, sizeof others, "SELECT count(*) FROM messages WHERE room_id <> %lld",
             (long long)room);
    cr_assert_eq(pl_store_suite_sql_int(others), 0);
    cr_assert_eq(store->ops->begin(store), PL_STATUS_OK);
    s_store_messages(store, room, user, 3, 5);
    cr_assert_eq(store->ops->commit(store), PL_STATUS_OK);
    cr_assert_eq(pl_store_suite_sql_int("SELECT count(*) FROM messages WHERE seq >= 3"), 3);
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  Uploads

Test(store_postgres, uploads_are_kept_by_name_for_every_node)
{
    pl_store_t *writer = s_open(true);
    static const char bytes[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR with a NUL inside";
    pl_str_t name =
        pl_str_of("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.png");
    pl_str_t body = {bytes, sizeof bytes};
    cr_assert_eq(writer->ops->upload_put(writer, name, pl_str_of("image/png"), body), PL_STATUS_OK);
    //  The same name again changes nothing.
    cr_assert_eq(writer->ops->upload_put(writer, name, pl_str_of("image/png"), pl_str_of("other")),
                 PL_STATUS_OK);
    pl_store_t *reader = s_open(false);
    char *got = NULL;
    size_t len = 0;
    cr_assert_eq(reader->ops->upload_get(reader, name, &got, &len), PL_STATUS_OK);
    cr_assert_eq(len, sizeof bytes);
    cr_assert_eq(memcmp(got, bytes, len), 0);
    free(got);
    cr_assert_eq(reader->ops->upload_get(reader, name, NULL, NULL), PL_STATUS_OK);
    cr_assert_eq(reader->ops->upload_get(reader, pl_str_of("missing.png"), NULL, NULL),
                 PL_STATUS_NOT_FOUND);
    cr_assert_eq(reader->ops->upload_get(reader, pl_str_of("missing.png"), &got, &len),
                 PL_STATUS_NOT_FOUND);
    pl_store_close(&reader);
    pl_store_close(&writer);
}

Test(store_sqlite, uploads_are_left_to_the_files_of_the_node)
{
    pl_store_t *writer = s_open(true);
    pl_str_t name = pl_str_of("upload.png");
    cr_assert_eq(writer->ops->upload_put(writer, name, pl_str_of("image/png"), pl_str_of("x")),
                 PL_STATUS_OK);
    char *got = NULL;
    size_t len = 0;
    cr_assert_eq(writer->ops->upload_get(writer, name, &got, &len), PL_STATUS_NOT_FOUND);
    cr_assert_null(got);
    pl_store_close(&writer);
}

//  --------------------------------------------------------------------------------
//  The notification counter

STORE_TEST(next_id_grows_and_goes_on_past_what_was_stored_after_a_restart)
{
    pl_store_t *writer = s_open(true);
    int64_t user = s_insert(writer, "nina", "Nina", 1);
    pl_store_t *reader = s_open(false);
    int64_t first = 0, second = 0, third = 0;
    cr_assert_eq(reader->ops->next_id(reader, &first), PL_STATUS_OK);
    cr_assert_eq(reader->ops->next_id(reader, &second), PL_STATUS_OK);
    cr_assert_gt(first, 0);
    cr_assert_gt(second, first);
    //  A notification stored under them, as the notifier does: id, then a version.
    pl_notification_row_t row = {
        first, second, user, 0, 1, 5, pl_str_of("follow"), pl_str_of("{\"kind\":\"follow\"}")};
    cr_assert_eq(writer->ops->notification_put(writer, &row), PL_STATUS_OK);
    pl_store_close(&reader);
    //  A new connection (a restarted node) goes on past both.
    reader = s_open(false);
    cr_assert_eq(reader->ops->next_id(reader, &third), PL_STATUS_OK);
    cr_assert_gt(third, second);
    pl_store_close(&reader);
    pl_store_close(&writer);
}
