/*  The cluster view (see cluster.h). The live set is written by the bridge alone and
    read by every thread: a seqlock whose slots are relaxed atomics, so a reader that
    races a write retries instead of seeing half of each, and ThreadSanitizer sees no
    plain access. */
#include "parley/cluster.h"

#include <stdatomic.h>

static int s_self;
static _Atomic uint64_t s_version; //  odd while a write is under way
static _Atomic int s_count;
static _Atomic uint16_t s_nodes[PL_CLUSTER_MAX_NODES];
static pl_ingress_t *_Atomic s_bridge;

void pl_cluster_init(int self_node)
{
    s_self = self_node;
    atomic_store(&s_count, 0);
}

int pl_cluster_self(void)
{
    return s_self;
}

bool pl_cluster_is_remote(uint64_t tagged)
{
    int node = pl_cluster_node_of(tagged);
    return node != 0 && node != s_self;
}

uint64_t pl_cluster_tag(uint64_t value)
{
    return (value & PL_CLUSTER_LOCAL_MASK) | ((uint64_t)s_self << PL_CLUSTER_NODE_SHIFT);
}

void pl_cluster_set_live(const uint16_t *nodes, int count)
{
    if (count > PL_CLUSTER_MAX_NODES)
        count = PL_CLUSTER_MAX_NODES;
    atomic_fetch_add_explicit(&s_version, 1, memory_order_acq_rel);
    for (int i = 0; i < count; i++)
        atomic_store_explicit(&s_nodes[i], nodes[i], memory_order_relaxed);
    atomic_store_explicit(&s_count, count, memory_order_relaxed);
    atomic_fetch_add_explicit(&s_version, 1, memory_order_acq_rel);
}

int pl_cluster_live(uint16_t *out)
{
    for (;;) {
        uint64_t before = atomic_load_explicit(&s_version, memory_order_acquire);
        if (before & 1)
            continue;
        int count = atomic_load_explicit(&s_count, memory_order_relaxed);
        for (int i = 0; i < count; i++)
            out[i] = atomic_load_explicit(&s_nodes[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s_version, memory_order_relaxed) == before)
            return count;
    }
}

//  splitmix64's finaliser: every input bit moves every output bit.
static uint64_t s_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

int pl_cluster_owner_among(int64_t key, const uint16_t *nodes, int count)
{
    int best = 0;
    uint64_t best_score = 0;
    for (int i = 0; i < count; i++) {
        uint64_t score = s_mix((uint64_t)key * UINT64_C(0x9e3779b97f4a7c15) ^ s_mix(nodes[i]));
        if (!best || score > best_score || (score == best_score && nodes[i] > best)) {
            best = nodes[i];
            best_score = score;
        }
    }
    return best;
}

int pl_cluster_owner(int64_t key)
{
    if (!s_self)
        return 0;
    uint16_t nodes[PL_CLUSTER_MAX_NODES];
    int count = pl_cluster_live(nodes);
    int owner = pl_cluster_owner_among(key, nodes, count);
    return owner ? owner : s_self;
}

bool pl_cluster_owns(int64_t key)
{
    return !s_self || pl_cluster_owner(key) == s_self;
}

void pl_cluster_set_bridge(pl_ingress_t *bridge)
{
    atomic_store(&s_bridge, bridge);
}

int pl_cluster_reply(uint64_t waiter, const pl_msg_t *reply)
{
    pl_ingress_t *bridge = atomic_load(&s_bridge);
    if (!bridge)
        return -1;
    const pl_msg_reply_t *r = &reply->as.reply;
    pl_msg_t msg = {.type = PL_MSG_NODE_REPLY,
                    .as.node_reply = {waiter, r->req_id, r->status, r->id, r->created, r->body}};
    return pl_ingress_send(bridge, &msg);
}
