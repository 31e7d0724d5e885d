/*  The cluster view in isolation (src/cluster/view.c): rendezvous ownership, the
    tags that carry a node in ids and waiter addresses, and redis_url parsing
    (src/cluster/redis_link.c). */
#include "parley/cluster.h"
#include "parley/redis_link.h"

#include <criterion/criterion.h>
#include <string.h>

#define KEYS 20000

Test(cluster_view, without_a_cluster_everything_is_local)
{
    pl_cluster_init(0);
    cr_assert(pl_cluster_owns(42));
    cr_assert_eq(pl_cluster_tag(77), 77);
    cr_assert(!pl_cluster_is_remote(77));
}

Test(cluster_view, rooms_spread_evenly_and_only_a_joiners_share_moves)
{
    const uint16_t two[] = {1, 2}, three[] = {1, 2, 3};
    int owned[4] = {0}, moved = 0;
    for (int64_t key = 1; key <= KEYS; key++) {
        int before = pl_cluster_owner_among(key, two, 2);
        int after = pl_cluster_owner_among(key, three, 3);
        owned[after]++;
        if (before != after) {
            cr_assert_eq(after, 3, "room %lld moved from %d to %d, not to the new node",
                         (long long)key, before, after);
            moved++;
        }
    }
    for (int node = 1; node <= 3; node++)
        cr_assert(owned[node] > KEYS / 3 * 9 / 10 && owned[node] < KEYS / 3 * 11 / 10,
                  "node %d owns %d of %d rooms", node, owned[node], KEYS);
    cr_assert_eq(moved, owned[3]);
}

Test(cluster_view, the_owner_does_not_depend_on_the_order_of_the_nodes)
{
    const uint16_t a[] = {3, 1, 2}, b[] = {2, 3, 1};
    for (int64_t key = 1; key <= 1000; key++)
        cr_assert_eq(pl_cluster_owner_among(key, a, 3), pl_cluster_owner_among(key, b, 3));
    cr_assert_eq(pl_cluster_owner_among(5, a, 0), 0);
}

Test(cluster_view, the_live_set_decides_ownership_and_tags_name_their_node)
{
    pl_cluster_init(2);
    cr_assert(pl_cluster_owns(9), "with no view yet a node serves what it is asked");
    const uint16_t live[] = {1, 2};
    pl_cluster_set_live(live, 2);
    uint16_t copy[PL_CLUSTER_MAX_NODES];
    cr_assert_eq(pl_cluster_live(copy), 2);
    for (int64_t key = 1; key <= 100; key++)
        cr_assert_eq(pl_cluster_owns(key), pl_cluster_owner_among(key, live, 2) == 2);
    uint64_t id = pl_cluster_tag(12345);
    cr_assert_eq(pl_cluster_node_of(id), 2);
    cr_assert_eq(id & PL_CLUSTER_LOCAL_MASK, 12345);
    cr_assert(!pl_cluster_is_remote(id));
    cr_assert(pl_cluster_is_remote((uint64_t)1 << PL_CLUSTER_NODE_SHIFT | 5));
}

Test(cluster_view, redis_urls)
{
    pl_redis_addr_t addr;
    char err[256];
    cr_assert_eq(pl_redis_parse_url("redis://127.0.0.1", &addr, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(addr.host, "127.0.0.1");
    cr_assert_eq(addr.port, 6379);
    cr_assert_str_eq(addr.password, "");
    cr_assert_eq(addr.db, 0);
    cr_assert_eq(pl_redis_parse_url("redis://:s3cret@cache.local:7000/3", &addr, err, sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(addr.host, "cache.local");
    cr_assert_eq(addr.port, 7000);
    cr_assert_str_eq(addr.password, "s3cret");
    cr_assert_eq(addr.db, 3);
    cr_assert_eq(pl_redis_parse_url("redis://user:pw@h:1/", &addr, err, sizeof err), 0);
    cr_assert_str_eq(addr.password, "pw");
    const char *bad[] = {"http://h",        "redis://",      "redis://:pw@", "redis://h:0",
                         "redis://h:99999", "redis://h:12x", "redis://h/x",  "redis://h:1/2/3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(pl_redis_parse_url(bad[i], &addr, err, sizeof err), -1, "%s was taken",
                     bad[i]);
        cr_assert(!strstr(err, "pw"), "an error shows the password: %s", err);
    }
}
