/*  The server of an end-to-end suite: one real parley per test (Criterion runs each
    test in its own process), started by the suite's .init and stopped by its .fini,
    which also fails the test if the server did not exit cleanly (a sanitizer build
    exits non-zero on a report); the report hooks below make that failure count.
    With PL_TEST_STORE=postgres (ctest's <suite>_postgres entries) the same tests
    run against PostgreSQL: pg_suite.h starts the suite's server, and each parley
    gets a database of its own (server_proc.h).
    Include once, in the suite's file:

        TestSuite(name, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120); */
#ifndef PARLEY_TEST_E2E_SUITE_H
#define PARLEY_TEST_E2E_SUITE_H

#include "api.h"
#include "pg_suite.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <string.h>

static pl_server_t s_srv;

//  Criterion (2.4) prints an assertion that fails in a .fini but still counts the
//  test as passed and exits 0. These hooks run in the runner process and count such
//  a test as failed, so that a server that did not exit cleanly fails the run.
static size_t pl_e2e_fini_failures;

ReportHook(POST_FINI)(struct criterion_test_stats *stats)
{
    if (stats->failed_asserts > 0 && stats->test_status == CR_STATUS_PASSED) {
        stats->test_status = CR_STATUS_FAILED;
        pl_e2e_fini_failures++;
        fprintf(stderr, "[FAIL] %s::%s: failed in its teardown (see above)\n",
                stats->test->category, stats->test->name);
    }
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    stats->tests_failed += pl_e2e_fini_failures;
    stats->tests_passed -= pl_e2e_fini_failures;
}

//  Starts the suite's server with extra flags (NULL: none); in the data dir of the
//  server it had before (a restart after pl_server_kill9 or pl_server_stop), or in
//  a fresh one after pl_e2e_setup. The api.h helpers talk to it from then on.
static inline void pl_e2e_start(const char *const *args)
{
    if (pl_server_start(&s_srv, args) != 0) {
        pl_server_dump_log(&s_srv);
        cr_assert_fail("parley did not start");
    }
    pl_api_use_port(s_srv.port);
}

static inline void pl_e2e_setup(void)
{
    if (pl_pg_suite_wanted())
        pl_pg_suite_url();
    memset(&s_srv, 0, sizeof s_srv);
    pl_e2e_start(NULL);
}

static inline void pl_e2e_teardown(void)
{
    if (s_srv.pid)
        cr_expect_eq(pl_server_stop(&s_srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&s_srv);
}

//  Replaces the test's server by one started with extra flags, on a fresh data dir.
static inline void pl_e2e_restart_with(const char *const *args)
{
    pl_e2e_teardown();
    memset(&s_srv, 0, sizeof s_srv);
    pl_e2e_start(args);
}

#endif
