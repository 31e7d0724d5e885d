/*  Loader actor: reads a room's state from the store for the room actors, so that a
    room actor never waits on the disk. A room actor that meets a room it does not
    hold sends ROOM_LOAD and goes on serving its other rooms; the loader answers with
    ROOM_LOADED (the state as JSON, see pl_room_state_t) to that shard's inbox. One
    thread with its own reader connection; loads are served in arrival order. */
#ifndef PARLEY_LOADER_H
#define PARLEY_LOADER_H

#include "parley/store.h"

#include <czmq.h>
#include <stdatomic.h>

#define PL_LOADER_INBOX "loader"

typedef struct {
    pl_store_config_t store;
    int room_shards;
    int64_t window; //  recent messages per room (recovery_window)
    atomic_bool failed;
} pl_loader_args_t;

void pl_loader_actor(zsock_t *pipe, void *args);

#endif
