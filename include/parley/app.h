/*  What the HTTP and WebSocket handlers share: the configuration, the keys, the
    reader pool, and the ingress sockets into the actors. Built by the server before
    civetweb starts and torn down after civetweb has stopped, so handlers may use it
    without locks; the few fields that change at run time are atomics. */
#ifndef PARLEY_APP_H
#define PARLEY_APP_H

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/config.h"
#include "parley/password.h"
#include "parley/room.h"
#include "parley/store.h"
#include "parley/throttle.h"
#include "parley/waiter.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>

#define PL_JWT_KEY_MAX 256

typedef struct {
    const pl_config_t *config;
    uint8_t jwt_key[PL_JWT_KEY_MAX];
    size_t jwt_key_len;
    pl_password_cost_t password_cost;
    //  A hash of a random password, verified against when a login names an unknown
    //  user, so the answer takes as long as for a known one.
    char dummy_hash[PL_PASSWORD_HASH_MAX];
    //  Bounds how many password hashes run at once: each takes password_hash_mem_kib
    //  of memory and a core, and a burst of logins must not exhaust either.
    sem_t hash_slots;
    //  Login and sign-up limits (PROTOCOL.md "Browser security"): failed logins per
    //  username and per client address, sign-up attempts per address.
    pl_throttle_t *login_fails_by_user, *login_fails_by_addr, *signups_by_addr;
    pl_store_pool_t *readers;
    pl_waiters_t *waiters;
    pl_ingress_t *persister;
    pl_ingress_t **writers; //  one per connection-writer shard
    int writer_count;
    pl_ingress_t **rooms; //  one per room shard
    int room_count;
    pl_ingress_t *bridge; //  in a cluster: to the bridge actor (rooms of other nodes); else NULL
    pl_ingress_t *creator;
    pl_ingress_t *notifier;
    atomic_int open_streams;         //  WebSockets and SSE streams held now
    _Atomic uint64_t last_stream_id; //  ids of WebSockets and SSE streams (writer keys)
    atomic_bool draining;            //  true once a graceful stop has begun
} pl_app_t;

//  Where a request for a room goes: its room shard here, or the bridge when another
//  node of the cluster owns it.
static inline pl_ingress_t *pl_app_room_ingress(const pl_app_t *app, int64_t room_id)
{
    if (app->bridge && !pl_cluster_owns(room_id))
        return app->bridge;
    return app->rooms[pl_room_shard(room_id, app->room_count)];
}

//  Where a notifier request about a user goes: in a cluster, one node's notifier
//  writes all of a user's notifications and feeds all of their streams, so that
//  their versions grow on every stream and replays meet live pushes in one place.
static inline pl_ingress_t *pl_app_notifier_ingress(const pl_app_t *app, int64_t user_id)
{
    if (app->bridge && !pl_cluster_owns(user_id))
        return app->bridge;
    return app->notifier;
}

//  The connection actor (writer shard) of a connection of this node.
static inline pl_ingress_t *pl_app_writer_ingress(const pl_app_t *app, uint64_t conn_id)
{
    return app->writers[conn_id % (uint64_t)app->writer_count];
}

#endif
