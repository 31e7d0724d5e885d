/*  Connection writer actors: the only threads that write to WebSockets after the
    handshake. Connections are sharded over writer_threads of them by connection id;
    the inbox of shard N is inproc://conn-N.

    A writer keeps, per connection, the frames queued for it. It takes every message
    already in its inbox, then writes each connection's queued frames with one
    mg_write under civetweb's connection lock: a burst to one client costs one
    system call, not one per frame. A connection whose queue grows past
    outbound_queue_bytes (a client that does not read) is closed with 1008 instead of
    holding everyone else back.

    Lifetime: the connection's civetweb thread sends CONN_OPEN when the WebSocket is
    ready and, from civetweb's close handler, CONN_CLOSE, waiting for the reply;
    after that reply no writer touches the connection again, so civetweb may free it. */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <czmq.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int shard;
    int64_t queue_limit; //  bytes queued for one connection before it is dropped
    atomic_bool failed;  //  set before the ready signal when the actor cannot start
} pl_conn_args_t;

//  Writes the inbox name of a writer shard ("conn-3") into name.
void pl_conn_inbox_name(int shard, char *name, size_t size);

void pl_conn_actor(zsock_t *pipe, void *args);

//  Writes the header of an unmasked server frame (FIN set) carrying payload_len bytes
//  with the given opcode into out; returns its length: 2, 4 or 10 bytes.
size_t pl_ws_frame_header(uint8_t out[10], int opcode, uint64_t payload_len);

#endif
