/*  tests/support/store_suite.c

    The backend of a store contract test (see store_suite.h). Each Criterion test
    runs in a process of its own, so the state here is the one test's. */
#include "store_suite.h"

#include "pg_server.h"
#include "tmp_dir.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Most stores one test makes besides its own.
#define OTHERS_MAX 32

static char s_dir[64];
static char s_db_path[128];
static pl_store_config_t s_where;
static char s_urls[1 + OTHERS_MAX][256]; //  the test's databases; [0] is its own
static int s_url_count;
static char s_other_dirs[OTHERS_MAX][128];
static int s_other_count;

static void s_setup(const char *backend)
{
    cr_assert_eq(pl_tmp_dir_make(s_dir, sizeof s_dir, "parley-store-"), 0);
    snprintf(s_db_path, sizeof s_db_path, "%s/parley.db", s_dir);
    s_where = (pl_store_config_t){backend, s_dir, NULL};
}

//  A fresh database in the suite's server, its URL kept to drop it at the end.
static const char *s_new_database(void)
{
    const char *server = getenv(PL_PG_SERVER_ENV);
    cr_assert_not_null(server, "no PostgreSQL server");
    cr_assert_lt(s_url_count, 1 + OTHERS_MAX, "too many databases in one test");
    char *url = s_urls[s_url_count];
    cr_assert_eq(pl_pg_database_new(server, url, sizeof s_urls[0]), 0);
    s_url_count++;
    return url;
}

void pl_store_suite_sqlite(void)
{
    s_setup("sqlite");
}

void pl_store_suite_postgres(void)
{
    if (!getenv(PL_PG_SERVER_ENV)) {
        const char *why = getenv(PL_PG_SKIPPED_ENV);
        cr_skip_test("SKIPPED: PostgreSQL tests: %s", why ? why : "no server was started");
    }
    s_setup("postgres");
    s_where.postgres_url = s_new_database();
}

void pl_store_suite_teardown(void)
{
    cr_assert_eq(pl_tmp_dir_remove(s_dir), 0);
    const char *server = getenv(PL_PG_SERVER_ENV);
    for (int i = 0; server && i < s_url_count; i++)
        pl_pg_database_drop(server, s_urls[i]);
    s_url_count = 0;
}

const pl_store_config_t *pl_store_suite_where(void)
{
    return &s_where;
}

const char *pl_store_suite_dir(void)
{
    return s_dir;
}

bool pl_store_suite_is_postgres(void)
{
    return strcmp(s_where.backend, "postgres") == 0;
}

void pl_store_suite_other(pl_store_config_t *where)
{
    *where = s_where;
    if (pl_store_suite_is_postgres()) {
        where->postgres_url = s_new_database();
        return;
    }
    cr_assert_lt(s_other_count, OTHERS_MAX, "too many data dirs in one test");
    char *dir = s_other_dirs[s_other_count++];
    snprintf(dir, sizeof s_other_dirs[0], "%s/other-%d", s_dir, s_other_count);
    where->data_dir = dir;
}

pl_store_t *pl_store_suite_open_at(const pl_store_config_t *where, bool writer)
{
    char err[512] = "";
    pl_store_t *store = pl_store_open(where, writer, err, sizeof err);
    cr_assert_not_null(store, "opening a %s: %s", writer ? "writer" : "reader", err);
    return store;
}

pl_store_t *pl_store_suite_open(bool writer)
{
    return pl_store_suite_open_at(&s_where, writer);
}

static int64_t s_sqlite_run(const char *sql, bool want_int)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(s_db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    int rc = sqlite3_step(stmt);
    cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    cr_assert(!want_int || rc == SQLITE_ROW, "%s: no row", sql);
    int64_t value = want_int ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

static int64_t s_postgres_run(const char *sql, bool want_int)
{
    PGconn *conn = PQconnectdb(s_where.postgres_url);
    cr_assert_eq(PQstatus(conn), CONNECTION_OK, "%s", PQerrorMessage(conn));
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    cr_assert(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql,
              PQresultErrorMessage(res));
    cr_assert(!want_int || PQntuples(res) == 1, "%s: not one row", sql);
    int64_t value = want_int ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    PQfinish(conn);
    return value;
}

void pl_store_suite_sql(const char *sql)
{
    if (pl_store_suite_is_postgres())
        s_postgres_run(sql, false);
    else
        s_sqlite_run(sql, false);
}

int64_t pl_store_suite_sql_int(const char *sql)
{
    return pl_store_suite_is_postgres() ? s_postgres_run(sql, true) : s_sqlite_run(sql, true);
}
