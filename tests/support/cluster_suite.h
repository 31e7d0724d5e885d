/*  The cluster of an end-to-end suite: a private Redis (redis_server.h), the suite's
    PostgreSQL (pg_suite.h, one database per test that every node shares) and up to
    PL_CLUSTER_NODES real parley processes, each with its own node_id and data dir
    and the same JWT secret, so a token from one node is good on every node.
    Include once, in the suite's file:

        TestSuite(name, .init = pl_cluster_setup, .fini = pl_cluster_teardown, ...);

    pl_cluster_setup starts Redis and two nodes; pl_cluster_teardown stops them and
    fails the test if a node did not exit cleanly. */
#ifndef PARLEY_TEST_CLUSTER_SUITE_H
#define PARLEY_TEST_CLUSTER_SUITE_H

#include "api.h"
#include "pg_suite.h"
#include "redis_server.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define PL_CLUSTER_NODES 3

typedef struct {
    pl_redis_server_t redis;
    pl_server_t nodes[PL_CLUSTER_NODES];
    char node_ids[PL_CLUSTER_NODES][12];
} pl_test_cluster_t;

static pl_test_cluster_t s_cluster;

//  Short heartbeats and leases, so that failures are noticed within a test's time.
static const char *const s_cluster_timing[] = {
    "--cluster-heartbeat-ms", "50", "--cluster-node-ttl-ms", "600", "--cluster-lease-ms", "900",
};

//  Starts node i (0-based; node_id i+1) with extra flags (NULL: none), again in its
//  old data dir after a stop or kill. Every node shares node 0's database.
static inline void pl_cluster_start_node(int i, const char *const *extra)
{
    pl_server_t *node = &s_cluster.nodes[i];
    if (i > 0 && !node->postgres_url[0])
        snprintf(node->postgres_url, sizeof node->postgres_url, "%s",
                 s_cluster.nodes[0].postgres_url);
    snprintf(s_cluster.node_ids[i], sizeof s_cluster.node_ids[i], "%d", i + 1);
    const char *args[48] = {"--node-id",          s_cluster.node_ids[i],
                            "--redis-url",        s_cluster.redis.url,
                            "--jwt-secret",       "parley-cluster-suite-secret-0123456789abcdef",
                            "--rate-limit-per-s", "100000",
                            "--rate-limit-burst", "100000"};
    size_t n = 10;
    for (size_t k = 0; k < sizeof s_cluster_timing / sizeof *s_cluster_timing; k++)
        args[n++] = s_cluster_timing[k];
    for (size_t k = 0; extra && extra[k] && n < 47; k++)
        args[n++] = extra[k];
    args[n] = NULL;
    if (pl_server_start(node, args) != 0) {
        pl_server_dump_log(node);
        cr_assert_fail("node %d did not start", i + 1);
    }
}

static inline int pl_cluster_port(int i)
{
    return s_cluster.nodes[i].port;
}

static inline void pl_cluster_setup(void)
{
    pl_pg_suite_url();
    memset(&s_cluster, 0, sizeof s_cluster);
    char why[256];
    if (pl_redis_server_start(&s_cluster.redis, why, sizeof why) != 0)
        cr_skip_test("SKIPPED: cluster tests: %s", why);
    pl_cluster_start_node(0, NULL);
    pl_cluster_start_node(1, NULL);
    pl_api_use_port(pl_cluster_port(0));
}

static inline void pl_cluster_teardown(void)
{
    for (int i = PL_CLUSTER_NODES - 1; i >= 0; i--) {
        pl_server_t *node = &s_cluster.nodes[i];
        if (node->pid)
            cr_expect_eq(pl_server_stop(node), 0, "node %d did not exit cleanly", i + 1);
        //  Only node 0 drops the shared database.
        if (i > 0)
            node->postgres_url[0] = '\0';
        pl_server_cleanup(node);
    }
    pl_redis_server_cleanup(&s_cluster.redis);
}

#endif
