/*  Reassembling a WebSocket message from its data frames (RFC 6455 section 5.4), as
    the frame reader (ws_reader.h) takes them one frame at a time: a message is one
    final text or binary frame, or a non-final one followed by continuations up to a
    final one, and any fragment may be empty. Control frames never come here (the
    reader hands them over itself). A message is bounded by a limit (max_frame_bytes).
    No connection and no server: the state is this struct, kept per WebSocket in its
    reader, so the fuzzer (tests/fuzz/) drives it with any sequence of frames. */
#ifndef PARLEY_WS_ASSEMBLY_H
#define PARLEY_WS_ASSEMBLY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *bytes; //  owned: limit bytes, made for the first fragmented message
    size_t len;  //  bytes of the message being reassembled
    int opcode;  //  its first frame's opcode; 0 (continuation) when there is none
} pl_ws_assembly_t;

typedef enum {
    PL_WS_FRAGMENT_KEPT,      //  a fragment is kept; the message goes on
    PL_WS_MESSAGE_READY,      //  a whole message, in *message
    PL_WS_FRAME_OUT_OF_ORDER, //  a continuation outside a message, or a new message
                              //  inside one: close with 1002
    PL_WS_MESSAGE_TOO_BIG,    //  the message passes the limit: close with 1009
    PL_WS_OUT_OF_MEMORY,      //  no buffer for a fragmented message: close with 1009
} pl_ws_assembly_status_t;

//  A whole message: its opcode (text or binary) and its bytes.
typedef struct {
    int opcode;
    const char *data;
    size_t len;
} pl_ws_message_t;

//  Takes one data frame: opcode (civetweb's MG_WEBSOCKET_OPCODE_TEXT, _BINARY or
//  _CONTINUATION), its FIN bit and its len bytes at data. limit must be the same on
//  every call. For PL_WS_MESSAGE_READY, *message views data or self's buffer, valid
//  until the next call. After a refusal the message in progress is forgotten.
pl_ws_assembly_status_t pl_ws_assembly_add(pl_ws_assembly_t *self, int opcode, bool fin,
                                           const char *data, size_t len, size_t limit,
                                           pl_ws_message_t *message);

//  Forgets the message in progress (a new connection); keeps the buffer.
void pl_ws_assembly_reset(pl_ws_assembly_t *self);

//  Frees the buffer and forgets everything.
void pl_ws_assembly_free(pl_ws_assembly_t *self);

#endif
