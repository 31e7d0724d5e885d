/*  tests/support/pg_suite.h

    The PostgreSQL server of a test executable: include once, in a suite's file. The
    runner starts one server (pg_server.h) before the first test when the executable
    runs against PostgreSQL (PL_TEST_STORE=postgres, or PL_PG_SUITE_ALWAYS
    defined before the include: the store suite runs both backends), and stops it
    after the last. When it cannot start, the runner prints "SKIPPED: <reason>" and
    every test that asks for it with pl_pg_suite_url is skipped, saying why (ctest
    reports such an executable as skipped, never as passed). */
#ifndef PARLEY_TEST_PG_SUITE_H
#define PARLEY_TEST_PG_SUITE_H

#include "pg_server.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  True when this run is against the postgres store.
static inline bool pl_pg_suite_wanted(void)
{
#ifdef PL_PG_SUITE_ALWAYS
    return true;
#else
    const char *store = getenv("PL_TEST_STORE");
    return store && strcmp(store, "postgres") == 0;
#endif
}

static pl_pg_server_t pl_pg_suite_server;

ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    if (!pl_pg_suite_wanted())
        return;
    char why[512];
    if (pl_pg_server_start(&pl_pg_suite_server, why, sizeof why) == 0) {
        setenv(PL_PG_SERVER_ENV, pl_pg_suite_server.url, 1);
        return;
    }
    printf("SKIPPED: PostgreSQL tests: %s\n", why);
    fflush(stdout);
    setenv(PL_PG_SKIPPED_ENV, why, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    pl_pg_server_stop(&pl_pg_suite_server);
}

//  The running server's base URL; skips the calling test when there is none.
static inline const char *pl_pg_suite_url(void)
{
    const char *url = getenv(PL_PG_SERVER_ENV);
    if (!url) {
        const char *why = getenv(PL_PG_SKIPPED_ENV);
        cr_skip_test("SKIPPED: PostgreSQL tests: %s", why ? why : "no server was started");
    }
    return url;
}

#endif
