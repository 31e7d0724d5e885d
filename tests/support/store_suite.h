/*  tests/support/store_suite.h

    The store contract suites (test_store.c, test_search.c) run each behavioural test
    against both backends: PL_STORE_TEST(suite, name) registers one body as
    <suite>_sqlite::name and <suite>_postgres::name, whose .init is
    pl_store_suite_sqlite (a fresh data dir) or pl_store_suite_postgres (a fresh
    database in the server pg_suite.h starts, or the test is skipped saying why).
    The test then opens the store with pl_store_suite_open and looks at the database
    itself with pl_store_suite_sql, in SQL both backends take. Include pg_suite.h
    (with PL_PG_SUITE_ALWAYS) in the suite's file, once. */
#ifndef PARLEY_TEST_STORE_SUITE_H
#define PARLEY_TEST_STORE_SUITE_H

#include "parley/store.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#define PL_STORE_TEST(suite, name)                                                                 \
    static void name(void);                                                                        \
    Test(suite##_sqlite, name)                                                                     \
    {                                                                                              \
        name();                                                                                    \
    }                                                                                              \
    Test(suite##_postgres, name)                                                                   \
    {                                                                                              \
        name();                                                                                    \
    }                                                                                              \
    static void name(void)

//  Suite .init and .fini functions.
void pl_store_suite_sqlite(void);
void pl_store_suite_postgres(void);
void pl_store_suite_teardown(void);

//  The store the test runs against, and its scratch directory (which holds
//  parley.db with SQLite).
const pl_store_config_t *pl_store_suite_where(void);
const char *pl_store_suite_dir(void);
bool pl_store_suite_is_postgres(void);

//  A store of the test's backend configured like the test's but for SQLite's data
//  dir or PostgreSQL's database: a fresh one of each is made by pl_store_suite_other
//  (into where, whose strings live until the test ends).
void pl_store_suite_other(pl_store_config_t *where);

//  Opens the test's store (asserting it opens).
pl_store_t *pl_store_suite_open(bool writer);
pl_store_t *pl_store_suite_open_at(const pl_store_config_t *where, bool writer);

//  Runs sql through a connection of the test's own; _int returns the first column
//  of its one row.
void pl_store_suite_sql(const char *sql);
int64_t pl_store_suite_sql_int(const char *sql);

#endif
