/*  The server of an end-to-end suite: one real parley per test (Criterion runs each
    test in its own process), started by the suite's .init and stopped by its .fini,
    which also fails the test if the server did not exit cleanly (a sanitizer build
    exits non-zero on a report); the report hooks below make that failure count.
    With PL_TEST_STORE=postgres (ctest's <suite>_postgres entries) the same tests
    run against PostgreSQL: pg_suite.h starts the suite's server, and each parley
    gets a database of its own (server_proc.h).
    With PL_TEST_CLUSTER=1 as well (ctest's <suite>_cluster entries) every server is
    node 1 of a cluster: a second node (the shadow) shares its database, a Redis of
    the test's own joins them, and every other WebSocket or SSE stream the test opens
    goes to the shadow (net.h pl_net_spread), so each chat scenario runs across two
    nodes. HTTP requests go to node 1.
    Include once, in the suite's file:

        TestSuite(name, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120); */
#ifndef PARLEY_TEST_E2E_SUITE_H
#define PARLEY_TEST_E2E_SUITE_H

#include "api.h"
#include "net.h"
#include "pg_suite.h"
#include "redis_server.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <string.h>

static pl_server_t s_srv;
static pl_server_t s_shadow;      //  node 2 with PL_TEST_CLUSTER
static pl_redis_server_t s_redis; //  with PL_TEST_CLUSTER
#define PL_E2E_CLUSTER_SECRET "parley-e2e-cluster-suite-secret-0123456789"

static inline bool pl_e2e_clustered(void)
{
    const char *cluster = getenv("PL_TEST_CLUSTER");
    return cluster && strcmp(cluster, "1") == 0;
}

//  Names the node the next pl_server_start makes, through the environment the
//  child inherits (flags given by a test still win).
static inline void pl_e2e_as_node(int node_id)
{
    char id[12];
    snprintf(id, sizeof id, "%d", node_id);
    setenv("PARLEY_NODE_ID", id, 1);
    setenv("PARLEY_REDIS_URL", s_redis.url, 1);
    setenv("PARLEY_JWT_SECRET", PL_E2E_CLUSTER_SECRET, 1);
    setenv("PARLEY_CLUSTER_HEARTBEAT_MS", "50", 1);
    setenv("PARLEY_CLUSTER_NODE_TTL_MS", "600", 1);
    setenv("PARLEY_CLUSTER_LEASE_MS", "900", 1);
}

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
    if (pl_e2e_clustered())
        pl_e2e_as_node(1);
    if (pl_server_start(&s_srv, args) != 0) {
        pl_server_dump_log(&s_srv);
        cr_assert_fail("parley did not start");
    }
    pl_api_use_port(s_srv.port);
    if (!pl_e2e_clustered())
        return;
    //  The shadow outlives a restart of node 1 (kill -9 tests): it is started once per
    //  server, with the same flags.
    if (!s_shadow.pid) {
        snprintf(s_shadow.postgres_url, sizeof s_shadow.postgres_url, "%s", s_srv.postgres_url);
        pl_e2e_as_node(2);
        if (pl_server_start(&s_shadow, args) != 0) {
            pl_server_dump_log(&s_shadow);
            cr_assert_fail("the second node did not start");
        }
    }
    pl_net_spread(s_srv.port, s_shadow.port);
    //  Not before both nodes see both: a stream opened while its user's notifier is
    //  about to move would be ended by the join (a client comes back; a test fails).
    pl_api_live_nodes_until(s_srv.port, 2);
    pl_api_live_nodes_until(s_shadow.port, 2);
}

//  Stops the shadow node and Redis (PL_TEST_CLUSTER).
static inline void pl_e2e_stop_shadow(void)
{
    pl_net_spread(0, 0);
    if (s_shadow.pid)
        cr_expect_eq(pl_server_stop(&s_shadow), 0, "the second node did not exit cleanly");
    s_shadow.postgres_url[0] = '\0'; //  node 1's database: dropped with node 1
    pl_server_cleanup(&s_shadow);
    memset(&s_shadow, 0, sizeof s_shadow);
}

static inline void pl_e2e_setup(void)
{
    if (pl_pg_suite_wanted())
        pl_pg_suite_url();
    memset(&s_srv, 0, sizeof s_srv);
    if (pl_e2e_clustered()) {
        char why[256];
        memset(&s_redis, 0, sizeof s_redis);
        memset(&s_shadow, 0, sizeof s_shadow);
        if (pl_redis_server_start(&s_redis, why, sizeof why) != 0)
            cr_skip_test("SKIPPED: cluster runs: %s", why);
    }
    pl_e2e_start(NULL);
}

static inline void pl_e2e_teardown(void)
{
    if (pl_e2e_clustered())
        pl_e2e_stop_shadow();
    if (s_srv.pid)
        cr_expect_eq(pl_server_stop(&s_srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&s_srv);
    if (pl_e2e_clustered())
        pl_redis_server_cleanup(&s_redis);
}

//  Replaces the test's server by one started with extra flags, on a fresh data dir.
static inline void pl_e2e_restart_with(const char *const *args)
{
    if (pl_e2e_clustered())
        pl_e2e_stop_shadow();
    if (s_srv.pid)
        cr_expect_eq(pl_server_stop(&s_srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&s_srv);
    memset(&s_srv, 0, sizeof s_srv);
    pl_e2e_start(args);
}

#endif
