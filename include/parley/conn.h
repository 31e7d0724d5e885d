/*  Connection actors: after the handshake, the only threads that read or write
    WebSockets. Connections are sharded over writer_threads of them by connection id;
    the inbox of shard N is inproc://conn-N. Each owns both directions of its
    connections: one epoll set holds their sockets, for readability always and for
    writability while bytes wait.

    Reading: a readable socket is read once per wake (so every connection gets its
    turn) into the actor's scratch buffer; its frames are parsed in place
    (ws_reader.h), and each whole message is handled at once (ws_session.h): requests
    go to the room actors, pongs and errors to the connection's own queue. Pings are
    answered, a close frame is answered with a close frame, and a frame breaking the
    protocol or over max_frame_bytes gets one (1002, 1009); after a close frame
    nothing more of the client's is handled, and once the frame is written the
    socket is shut for writing and read to its end (at most CLOSE_LINGER_MS), so the
    client reads the close before the connection goes.

    Writing: a writer keeps, per connection, the frames queued for it. It takes every
    message already in its inbox, then writes each connection's queued frames with
    one system call: a burst to one client costs one send, not one per frame. Writes
    never block: what the kernel does not take stays queued, and the actor waits for
    that socket to become writable. A client whose queue grows past
    outbound_queue_bytes, or that takes nothing for stall_ms, is cut off (its socket
    shut down and closed) instead of holding anyone else back.

    Liveness: a client silent for half of silence_ms (the presence TTL) is pinged;
    one silent for all of it, not even answering the ping, is dropped, and its
    users' presence goes offline as its connection closes.

    SSE streams (GET /api/events) live here too, flagged at CONN_OPEN: they take raw
    event bytes instead of WebSocket frames, get a ": ping" comment every
    heartbeat_ms, and receive their user's events (CONN_USER_EVENT) only once the
    notifier has sent their replay (CONN_SSE_LIVE), see notifier.h. Their clients
    send nothing after the request: what they send is read only to see the end.

    Lifetime: a connection's socket and its connection slot come with CONN_OPEN (ws.c,
    sse.c) and are the actor's alone from then on; civetweb's worker has gone back to
    its pool. An SSE stream's CONN_OPEN carries its response head and Last-Event-ID,
    which the actor passes to the user's notifier (STREAM_OPEN) once the stream is
    registered, so every event the notifier sends for it finds it. When a connection
    ends, the actor tells the rooms it subscribed to (a stream: its notifier,
    STREAM_CLOSE), closes the socket and gives the slot back. */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include "parley/app.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int shard;
    pl_app_t *app;        //  configuration, connection slots, rooms (borrowed)
    int64_t queue_limit;  //  bytes queued for one connection before it is dropped
    int64_t stall_ms;     //  how long a connection may accept no bytes before it is dropped
    int64_t silence_ms;   //  how long a client may send nothing (not even a pong)
    int64_t heartbeat_ms; //  how often an SSE stream gets a ": ping" comment
    atomic_bool failed;   //  set before the ready signal when the actor cannot start
} pl_conn_args_t;

//  Writes the inbox name of a writer shard ("conn-3") into name.
void pl_conn_inbox_name(int shard, char *name, size_t size);

void pl_conn_actor(zsock_t *pipe, void *args);

//  Marks let a room tell cheaply that no member has a WebSocket the room would have to
//  tell about a new message (one not subscribed to it): the writers keep, per user
//  bucket (user id modulo a fixed count), the sum of the marks of the WebSockets they
//  hold, and a room sums the marks of each member's subscribed connections. When the
//  two sums are equal, every connection the member has is subscribed (two different
//  sets of connections sum alike only by a 64-bit accident); when users share a
//  bucket or a subscription outlives its connection, the sums differ and the room
//  just tells as it always did.

//  A connection's mark: its id, mixed so that sums of different sets differ.
uint64_t pl_conn_mark(uint64_t conn_id);

//  The sum of the marks of the WebSockets held by the writers for the users of
//  user_id's bucket. Any thread may call it.
uint64_t pl_conn_user_marks(int64_t user_id);

//  Writes the header of an unmasked server frame (FIN set) carrying payload_len bytes
//  with the given opcode into out; returns its length: 2, 4 or 10 bytes.
size_t pl_ws_frame_header(uint8_t out[10], int opcode, uint64_t payload_len);

#endif
