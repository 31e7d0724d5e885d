/*  Tests for the full-text search of contents, part of the store contract suite:
    each runs against both backends (tests/support/store_suite.h), as
    search_sqlite::<name> (src/store/sqlite_search.c, FTS5) and search_postgres::<name>
    (src/store/postgres_social.c, tsvector): ranking, prefixes, folding, the kind
    filter, listing without words, that any text is a valid query, that the index
    follows every change to contents, and that two writers (a server and an import,
    or two nodes) may open the same new store at once. What only SQLite has, a
    database made before search existed, is search_sqlite only. */
#define PL_PG_SUITE_ALWAYS
#include "parley/store.h"

#include "fixtures.h"
#include "hostile_queries.h"
#include "pg_suite.h"
#include "store_suite.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(search_sqlite, .init = pl_store_suite_sqlite, .fini = pl_store_suite_teardown,
          .timeout = 30);
TestSuite(search_postgres, .init = pl_store_suite_postgres, .fini = pl_store_suite_teardown,
          .timeout = 30);

#define SEARCH_TEST(name) PL_STORE_TEST(search, name)

//  --------------------------------------------------------------------------------
//  Helpers

static int64_t s_add(pl_store_t *store, const char *kind, const char *title,
                     const char *description)
{
    int64_t id = 0;
    cr_assert_eq(store->ops->content_insert(store, pl_str_of(kind), pl_str_of(title),
                                            pl_str_of(description), 2000, 1000, &id),
                 PL_STATUS_OK, "inserting %s", title);
    return id;
}

//  Searches with a query of exactly len bytes (it may hold NULs or invalid UTF-8)
//  and returns the array, asserting the search succeeded. Caller decrefs.
static json_t *s_search_bytes(pl_store_t *store, const char *query, size_t len, const char *kind,
                              int64_t limit)
{
    json_t *found = NULL;
    pl_str_t q = {query, (uint32_t)len};
    pl_status_t status = store->ops->content_search(store, q, pl_str_of(kind), limit, &found);
    cr_assert_eq(status, PL_STATUS_OK, "searching \"%.*s\": status %d", (int)(len > 60 ? 60 : len),
                 query ? query : "", (int)status);
    cr_assert(json_is_array(found), "searching \"%.*s\": no array", (int)(len > 60 ? 60 : len),
              query ? query : "");
    return found;
}

static json_t *s_search(pl_store_t *store, const char *query, const char *kind)
{
    return s_search_bytes(store, query, query ? strlen(query) : 0, kind, 100);
}

//  Asserts a search returns exactly the titles given (NULL-terminated), in order.
static void s_expect_titles(pl_store_t *store, const char *query, const char *kind, ...)
{
    json_t *found = s_search(store, query, kind);
    char why[512];
    va_list titles;
    va_start(titles, kind);
    bool same = pl_fx_titles_are(found, titles, why, sizeof why);
    va_end(titles);
    cr_assert(same, "\"%s\": %s", query ? query : "", why);
    json_decref(found);
}

//  --------------------------------------------------------------------------------
//  Matching and ranking

SEARCH_TEST(a_title_match_ranks_above_a_description_match)
{
    pl_store_t *store = pl_store_suite_open(true);
    //  The description-only match is newer and says the word twice: only the rank
    //  can put the title first.
    s_add(store, "book", "Gardens", "A quiet book.");
    s_add(store, "book", "Other things", "About gardens, and more gardens.");
    s_add(store, "movie", "Unrelated", "Nothing to see.");
    s_expect_titles(store, "gardens", NULL, "Gardens", "Other things", NULL);
    pl_store_close(&store);
}

SEARCH_TEST(every_word_must_match_and_the_last_is_a_prefix)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "movie", "The Matrix", "A hacker learns the truth.");
    //  bm25 prefers the shorter row when both match alike: The Matrix comes first.
    s_add(store, "movie", "The Matrix Reloaded", "The hacker returns with his friends.");
    s_expect_titles(store, "matr", NULL, "The Matrix", "The Matrix Reloaded", NULL);
    s_expect_titles(store, "matrix rel", NULL, "The Matrix Reloaded", NULL);
    s_expect_titles(store, "the matrix hacker truth", NULL, "The Matrix", NULL);
    //  Only the last word is a prefix.
    s_expect_titles(store, "matr reloaded", NULL, NULL);
    s_expect_titles(store, "matrix unknownword", NULL, NULL);
    pl_store_close(&store);
}

SEARCH_TEST(case_and_accents_are_folded)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "movie", "Amélie", "Une serveuse à Montmartre.");
    s_add(store, "book", "Преступление и наказание", "Раскольников.");
    s_add(store, "movie", "千と千尋の神隠し", "Spirited Away.");
    s_expect_titles(store, "AMELIE", NULL, "Amélie", NULL);
    s_expect_titles(store, "amél", NULL, "Amélie", NULL);
    s_expect_titles(store, "montmartre serveuse", NULL, "Amélie", NULL);
    s_expect_titles(store, "преступление", NULL, "Преступление и наказание", NULL);
    s_expect_titles(store, "ПРЕСТУП", NULL, "Преступление и наказание", NULL);
    s_expect_titles(store, "千と千尋の神隠し", NULL, "千と千尋の神隠し", NULL);
    s_expect_titles(store, "spirited", NULL, "千と千尋の神隠し", NULL);
    pl_store_close(&store);
}

SEARCH_TEST(kind_filters_searches_and_listings)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "movie", "Dune", "Desert planet, the film.");
    s_add(store, "book", "Dune", "Desert planet, the novel.");
    s_add(store, "book", "Emma", "A matchmaker.");
    s_expect_titles(store, "dune", "book", "Dune", NULL);
    json_t *found = s_search(store, "desert", "movie");
    cr_assert_eq(json_array_size(found), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(found, 0), "kind")), "movie");
    json_decref(found);
    s_expect_titles(store, NULL, "book", "Emma", "Dune", NULL);
    s_expect_titles(store, NULL, "movie", "Dune", NULL);
    pl_store_close(&store);
}

SEARCH_TEST(without_words_the_newest_are_listed)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "movie", "First", "");
    s_add(store, "book", "Second", "");
    s_add(store, "movie", "Third", "");
    const char *no_words[] = {NULL, "", "   ", "!!!", "\"\"", "* ( ) : ^ -"};
    for (size_t i = 0; i < sizeof no_words / sizeof no_words[0]; i++)
        s_expect_titles(store, no_words[i], NULL, "Third", "Second", "First", NULL);
    json_t *found = s_search_bytes(store, NULL, 0, NULL, 2);
    cr_assert_eq(json_array_size(found), 2, "the limit is not applied to a listing");
    json_decref(found);
    pl_store_close(&store);
}

SEARCH_TEST(results_are_contents_with_likes_and_limited)
{
    pl_store_t *store = pl_store_suite_open(true);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = s_add(store, "movie", "Same words", "repeated");
    int64_t user = 0;
    cr_assert_eq(store->ops->user_insert(store, pl_str_of("fan"), pl_str_of("h"), pl_str_of("Fan"),
                                         1, &user),
                 PL_STATUS_OK);
    cr_assert_eq(store->ops->like_add(store, ids[4], user, 5), PL_STATUS_OK);
    json_t *found = s_search_bytes(store, "same", 4, NULL, 3);
    cr_assert_eq(json_array_size(found), 3, "the limit is not applied to a search");
    //  Equal ranks: the newest first.
    json_t *first = json_array_get(found, 0);
    cr_assert_eq(json_integer_value(json_object_get(first, "id")), ids[4]);
    cr_assert_eq(json_integer_value(json_object_get(first, "likes")), 1);
    json_t *expected = NULL;
    cr_assert_eq(store->ops->content_get(store, ids[4], &expected), PL_STATUS_OK);
    cr_assert(json_equal(first, expected), "a search result is not the Content GET shows");
    json_decref(expected);
    json_decref(found);
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  Any input is a valid query

SEARCH_TEST(hostile_queries_return_ok)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "book", "Dune", "The spice must flow AND NOT stop.");
    s_add(store, "movie", "Title: the movie", "NEAR the end (of it) ^ - * \"quoted\" 'single'");
    for (size_t i = 0; i < PL_HOSTILE_QUERY_COUNT; i++) {
        json_decref(s_search(store, pl_hostile_queries[i], NULL));
        json_decref(s_search(store, pl_hostile_queries[i], "book"));
    }

    //  NULs, which a query string can carry (%00) and C strings cannot.
    static const struct {
        const char *bytes;
        size_t len;
    } raw[] = {{"\0", 1}, {"dune\0x", 6}, {"\"\0\"", 3}, {"\0\xff", 2}};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        json_decref(s_search_bytes(store, raw[i].bytes, raw[i].len, NULL, 20));

    //  Operators are words like any other, and punctuation only separates them.
    s_expect_titles(store, "\"dune\"", NULL, "Dune", NULL);
    s_expect_titles(store, "(dune", NULL, "Dune", NULL);
    s_expect_titles(store, "-dune^", NULL, "Dune", NULL);
    s_expect_titles(store, "dune AND", NULL, "Dune", NULL);
    s_expect_titles(store, "title:movie", NULL, "Title: the movie", NULL);
    s_expect_titles(store, "NEAR(end", NULL, "Title: the movie", NULL);
    s_expect_titles(store, "dune OR movie", NULL, NULL);
    pl_store_close(&store);
}

SEARCH_TEST(huge_queries_return_ok)
{
    pl_store_t *store = pl_store_suite_open(true);
    s_add(store, "book", "Dune", "Desert.");
    size_t len = 10 * 1024;
    char *text = malloc(len);
    cr_assert_not_null(text);
    //  10 KB of words, of one endless word, of operators, of multi-byte characters.
    static const char *const fillers[] = {"dune ", "a", "AND (", "é", "\"*", "😀"};
    for (size_t f = 0; f < sizeof fillers / sizeof fillers[0]; f++) {
        size_t unit = strlen(fillers[f]);
        for (size_t i = 0; i < len; i++)
            text[i] = fillers[f][i % unit];
        json_decref(s_search_bytes(store, text, len - len % unit, NULL, 20));
    }
    //  Thousands of matching words: only the first few are searched, and they match.
    for (size_t i = 0; i < len; i++)
        text[i] = "dune "[i % 5];
    json_t *found = s_search_bytes(store, text, len, NULL, 20);
    cr_assert_eq(json_array_size(found), 1);
    json_decref(found);
    free(text);
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  The index follows the table

SEARCH_TEST(the_index_follows_updates_and_deletes)
{
    pl_store_t *store = pl_store_suite_open(true);
    int64_t id = s_add(store, "movie", "Before", "old words");
    s_add(store, "movie", "Kept", "stays");
    //  parley never edits or deletes a content yet; the index (SQLite's triggers,
    //  PostgreSQL's generated column) must still follow when something does.
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE contents SET title = 'After', description = 'new words' WHERE id = %lld",
             (long long)id);
    pl_store_suite_sql(sql);
    s_expect_titles(store, "before", NULL, NULL);
    s_expect_titles(store, "old", NULL, NULL);
    s_expect_titles(store, "after new", NULL, "After", NULL);
    snprintf(sql, sizeof sql, "DELETE FROM contents WHERE id = %lld", (long long)id);
    pl_store_suite_sql(sql);
    s_expect_titles(store, "after", NULL, NULL);
    s_expect_titles(store, "stays", NULL, "Kept", NULL);
    pl_store_close(&store);
}

Test(search_sqlite, the_fts_index_matches_the_table)
{
    pl_store_t *store = pl_store_suite_open(true);
    int64_t id = s_add(store, "movie", "Before", "old words");
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE contents SET title = 'After' WHERE id = %lld", (long long)id);
    pl_store_suite_sql(sql);
    //  FTS5's own check: the index matches the table row for row.
    pl_store_suite_sql("INSERT INTO contents_fts (contents_fts) VALUES ('integrity-check')");
    pl_store_close(&store);
}

//  --------------------------------------------------------------------------------
//  Upgrading a database made before search

//  Makes <dir>/parley.db from tests/fixtures/schema_v2.sql: schema version 2, with
//  the contents "Metropolis" and "Middlemarch".
static void s_make_v2_database(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/schema_v2.sql", PARLEY_SOURCE_DIR);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "cannot open %s", path);
    static char sql[16384];
    size_t len = fread(sql, 1, sizeof sql - 1, file);
    fclose(file);
    cr_assert(len > 0 && len < sizeof sql - 1, "%s: unexpected size", path);
    sql[len] = '\0';
    snprintf(path, sizeof path, "%s/parley.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *message = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &message), SQLITE_OK, "%s", message);
    //  As every parley database is.
    cr_assert_eq(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &message), SQLITE_OK,
                 "%s", message);
    sqlite3_close(db);
}

Test(search_sqlite, upgrading_indexes_the_contents_already_there)
{
    s_make_v2_database(pl_store_suite_dir());
    pl_store_t *store = pl_store_suite_open(true);
    s_expect_titles(store, "metropolis", NULL, "Metropolis", NULL);
    s_expect_titles(store, "provincial", NULL, "Middlemarch", NULL);
    s_expect_titles(store, "m", "book", "Middlemarch", NULL);
    //  And new ones are indexed beside them.
    s_add(store, "movie", "Modern Times", "A tramp and a factory.");
    s_expect_titles(store, "modern", NULL, "Modern Times", NULL);
    json_t *found = s_search(store, "m", "movie");
    cr_assert_eq(json_array_size(found), 2);
    json_decref(found);
    pl_store_close(&store);
}

static void *s_open_writer(void *where)
{
    char err[512] = "";
    pl_store_t *store = pl_store_open(where, true, err, sizeof err);
    bool opened = store != NULL;
    if (!opened)
        fprintf(stderr, "opening a writer: %s\n", err);
    pl_store_close(&store);
    return (void *)(intptr_t)opened;
}

//  Opens two writers of where at once and checks that both open and that the store
//  is then usable.
static void s_open_two_writers(const pl_store_config_t *where, const char *round)
{
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_open_writer, (void *)where), 0);
    for (int i = 0; i < 2; i++) {
        void *opened = NULL;
        pthread_join(threads[i], &opened);
        cr_assert(opened, "%s: a writer could not open", round);
    }
}

//  An import opening its writer while a server's opens, or two nodes starting at once:
//  both must open (SQLite's WAL switch and migrations take turns, PostgreSQL's
//  migrations hold an advisory lock), and whichever migrates, the other must see it
//  done rather than run the migration again.
SEARCH_TEST(writers_opening_at_once_on_a_new_store_both_open_and_migrate_once)
{
    for (int round = 0; round < 12; round++) {
        pl_store_config_t where;
        pl_store_suite_other(&where);
        char name[32];
        snprintf(name, sizeof name, "round %d", round);
        s_open_two_writers(&where, name);
        pl_store_t *store = pl_store_suite_open_at(&where, true);
        s_add(store, "movie", "Metropolis", "");
        json_t *found = s_search(store, "metropolis", NULL);
        cr_assert_eq(json_array_size(found), 1);
        json_decref(found);
        pl_store_close(&store);
    }
}

//  The same on an old SQLite database that both must upgrade.
Test(search_sqlite, writers_opening_at_once_on_an_old_database_both_open_and_upgrade_once)
{
    for (int round = 0; round < 12; round++) {
        pl_store_config_t where;
        pl_store_suite_other(&where);
        cr_assert_eq(mkdir(where.data_dir, 0700), 0);
        s_make_v2_database(where.data_dir);
        char name[32];
        snprintf(name, sizeof name, "round %d", round);
        s_open_two_writers(&where, name);
        pl_store_t *store = pl_store_suite_open_at(&where, true);
        json_t *found = s_search(store, "metropolis", NULL);
        cr_assert_eq(json_array_size(found), 1);
        json_decref(found);
        pl_store_close(&store);
    }
}
