/*  The cluster as every thread sees it: this node's id, the live nodes, and who owns
    what. In a single-node server (node_id 0) everything is local and none of this
    costs more than a branch.

    Ownership is rendezvous hashing over the live nodes: a room belongs to the node
    with the highest hash of (room, node), so when a node joins or leaves only the
    rooms that hash to it move. The bridge actor (bridge.h) learns the live nodes from
    Redis and publishes them here; any thread reads them without a lock (a seqlock),
    because every request a civetweb worker routes asks "whose room is this?".

    Identifiers that must find their way home carry their node in bits 48-57: the
    ids of WebSockets and SSE streams (writers and rooms route by them) and the
    addresses of waiters (a reply to an HTTP request served by another node). */
#ifndef PARLEY_CLUSTER_H
#define PARLEY_CLUSTER_H

#include "parley/actor.h"
#include "parley/msg.h"

#include <stdbool.h>
#include <stdint.h>

//  The bridge actor's inbox (bridge.h): where anything for another node goes.
#define PL_BRIDGE_INBOX "bridge"

#define PL_NODE_ID_MAX        1023
#define PL_CLUSTER_MAX_NODES  64
#define PL_CLUSTER_NODE_SHIFT 48
#define PL_CLUSTER_LOCAL_MASK ((UINT64_C(1) << PL_CLUSTER_NODE_SHIFT) - 1)

//  Sets this node's id (0: no cluster). Before any other thread starts.
void pl_cluster_init(int self_node);

//  This node's id; 0 when not clustered.
int pl_cluster_self(void);

//  The node an id or waiter address belongs to (0: untagged, i.e. this node).
static inline int pl_cluster_node_of(uint64_t tagged)
{
    return (int)((tagged >> PL_CLUSTER_NODE_SHIFT) & PL_NODE_ID_MAX);
}

//  True when a tagged id names another node.
bool pl_cluster_is_remote(uint64_t tagged);

//  value with this node's tag.
uint64_t pl_cluster_tag(uint64_t value);

//  Replaces the live nodes (bridge only). nodes need not be sorted.
void pl_cluster_set_live(const uint16_t *nodes, int count);

//  Copies the live nodes into out (PL_CLUSTER_MAX_NODES); returns how many.
int pl_cluster_live(uint16_t *out);

//  The owner of a key (a room id, a user id) among the live nodes; with no live view
//  yet, or no cluster, this node.
int pl_cluster_owner(int64_t key);

//  The owner among the given nodes; 0 when there are none.
int pl_cluster_owner_among(int64_t key, const uint16_t *nodes, int count);

//  True when key is owned here (always without a cluster).
bool pl_cluster_owns(int64_t key);

//  Where replies to waiters of other nodes go: the bridge's ingress, or NULL (they are
//  dropped). Set before the actors start, cleared after they stop.
void pl_cluster_set_bridge(pl_ingress_t *bridge);

//  Sends a REPLY for a remote waiter through the bridge as NODE_REPLY. 0 or -1.
int pl_cluster_reply(uint64_t waiter, const pl_msg_t *reply);

#endif
