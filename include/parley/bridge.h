/*  The bridge actor: one per cluster node, the only thread that talks to Redis.

    Nodes. Every heartbeat the bridge renews this node's key ({prefix}node:<id>, whose
    value is a token of this process, so a second process with the same node_id is
    refused) and its entry in the sorted set {prefix}nodes (score: when it expires),
    and reads the live nodes back into the cluster view (cluster.h).

    Rooms. A room is served by the node that rendezvous hashing picks among the live
    nodes, and only while that node holds the room's lease ({prefix}room:<id>, with a
    TTL, renewed in one pipeline for every room held). A room actor that must load a
    room asks the bridge (ROOM_LOAD): the bridge takes the lease, waiting while the
    previous owner still holds it, and passes the load to the loader; or answers
    ROOM_LOADED "moved" when another node owns the room. When the view changes, rooms
    that now belong elsewhere are released (ROOM_RELEASE): their room actor stores
    what is pending, hands its subscribers to the new owner and says ROOM_RELEASED,
    and only then is the lease given up: two nodes never serve one room.

    Traffic. Anything for another node (a request for a room it owns, frames for its
    connections, a reply to one of its HTTP requests) is handed to the bridge, which
    publishes it on that node's channel {prefix}n:<id>, everything for one node from
    one turn of the loop in one PUBLISH, all PUBLISHes in one pipeline. Frames for a
    user's connections wherever they are go to {prefix}all. What arrives is passed to
    the local actors exactly as if a local actor had sent it.

    Failure. Redis unreachable: /healthz says so, requests that would cross nodes are
    refused with "unavailable" (never acked), leases that cannot be renewed are given
    up before they can expire, and the bridge reconnects with backoff. A node that
    vanishes without leaving: its connections' subscriptions are forgotten (NODE_GONE)
    and the local connections subscribed to its rooms are subscribed again, from the
    last seq they saw, at the rooms' new owners. */
#ifndef PARLEY_BRIDGE_H
#define PARLEY_BRIDGE_H

#include "parley/cluster.h"
#include "parley/redis_link.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
    int node_id;
    pl_redis_addr_t redis;
    const char *prefix;
    int heartbeat_ms;
    int node_ttl_ms;
    int lease_ms;
    int room_count;
    int writer_count;
    atomic_bool failed;
    char error[512];
} pl_bridge_args_t;

//  The bridge's state for /healthz and /metrics, readable from any thread.
bool pl_bridge_redis_up(void);
uint64_t pl_bridge_published(void); //  messages sent to other nodes
uint64_t pl_bridge_received(void);  //  messages received from other nodes

//  The actor. Its pipe also takes "DRAIN": the node leaves the live set, hands every
//  room it holds to the others, and signals the pipe once they are handed over (or
//  after the lease time).
void pl_bridge_actor(zsock_t *pipe, void *args);

#endif
