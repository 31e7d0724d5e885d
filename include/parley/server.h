/*  The server: starts parley's parts in dependency order and stops them in reverse.

    Start: raise the fd limit, start the persister (which opens the store and
    migrates it), the room actors, the creation-queue worker and the connection
    writers, load or create the JWT key, open the reader pool, then civetweb. Nothing accepts a
   request before everything it could need is running.

    Stop (graceful): mark the node draining (/healthz answers 503, upgrades are
    refused), send every WebSocket a close frame with 1001, stop civetweb (which waits
    for requests in flight), stop the rooms, the creator and the writers, and last
    the persister, which commits everything already queued before it exits. */
#ifndef PARLEY_SERVER_H
#define PARLEY_SERVER_H

#include "parley/config.h"

typedef struct pl_server pl_server_t;

//  Starts a server with cfg (which must outlive it). Returns NULL with a reason in err.
pl_server_t *pl_server_start(const pl_config_t *cfg, char *err, size_t err_len);

//  Stops gracefully (see above) and frees everything.
void pl_server_stop(pl_server_t **self_p);

#endif
