/*  Persister actor: owns the store's only write connection. Its inbox is
    inproc://persister. It commits writes in batches: it waits for one request, takes
    every further request already queued (up to batch_max), applies them all in one
    transaction, commits, and only then replies to each. So a reply means the write is
    on disk, and the cost of the commit is shared by the whole batch.
    On $TERM it commits what is already queued before it exits. */
#ifndef PARLEY_PERSISTER_H
#define PARLEY_PERSISTER_H

#include "parley/store.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>

#define PL_PERSISTER_INBOX "persister"

typedef struct {
    pl_store_config_t store;
    int batch_max;
    int room_shards; //  room actors it reports committed messages and members to
    //  Set by the actor before it signals ready: true when the store could not open.
    atomic_bool failed;
    char error[256];
} pl_persister_args_t;

//  zactor function; args is a pl_persister_args_t that outlives the actor.
void pl_persister_actor(zsock_t *pipe, void *args);

#endif
