/*  Reading a client's WebSocket frames where they lie (RFC 6455 section 5). The
    connection actor reads a socket into its scratch buffer, behind the bytes this
    connection held back after its last read (pl_ws_reader_restore), and takes events
    from it one at a time with pl_ws_reader_next: a whole data message (fragments are
    reassembled through ws_assembly.h), a ping, a pong, a close, or a failure naming
    the close code to answer with. Payloads are unmasked in place, so a message that
    arrived whole in one read is never copied. A frame cut by the end of the read is
    held (pl_ws_reader_hold) until the next one. A frame whose header announces more
    than the limit fails at once (1009), before its payload is read.

    No socket and no thread: the state is this struct, one per connection, and the
    tests and the fuzzer feed it bytes. */
#ifndef PARLEY_WS_READER_H
#define PARLEY_WS_READER_H

#include "parley/ws_assembly.h"

#include <stddef.h>
#include <stdint.h>

//  The longest frame header: 2 bytes, a 64-bit length and a mask.
#define PL_WS_HEADER_MAX 14

typedef enum {
    PL_WS_EVENT_NEED_MORE, //  nothing whole is left: hold the rest and read again
    PL_WS_EVENT_MESSAGE,   //  a data message: opcode (text or binary), data, len
    PL_WS_EVENT_PING,      //  a ping: data and len are the payload its pong carries
    PL_WS_EVENT_PONG,      //  a pong
    PL_WS_EVENT_CLOSE,     //  the client closes: code (1005 when it gave none)
    PL_WS_EVENT_FAIL,      //  the client broke the protocol or the limit: close with code and
                           //  reason, and read nothing more
} pl_ws_event_type_t;

typedef struct {
    pl_ws_event_type_t type;
    int opcode;       //  PL_WS_EVENT_MESSAGE: MG_WEBSOCKET_OPCODE_TEXT or _BINARY
    const char *data; //  PL_WS_EVENT_MESSAGE, PL_WS_EVENT_PING: views the buffer (or the assembly)
    size_t len;
    int code;           //  PL_WS_EVENT_CLOSE, PL_WS_EVENT_FAIL
    const char *reason; //  PL_WS_EVENT_FAIL: a short static text for the close frame
} pl_ws_event_t;

typedef struct {
    pl_ws_assembly_t partial; //  a fragmented message being reassembled
    uint8_t *held;            //  owned: the start of a frame the last read cut
    size_t held_len, held_capacity;
} pl_ws_reader_t;

//  The room a read buffer needs in front of the new bytes: what a reader may hold.
#define PL_WS_HELD_MAX(limit) ((limit) + PL_WS_HEADER_MAX)

//  Copies the bytes held from the last read to the start of buf (which has room for
//  PL_WS_HELD_MAX(limit)) and returns how many; the next read goes after them.
size_t pl_ws_reader_restore(pl_ws_reader_t *self, uint8_t *buf);

//  Takes the next event from buf[*pos, len), advancing *pos past the frames it used
//  and unmasking their payloads in place. limit (the same on every call) bounds a
//  message. After PL_WS_EVENT_NEED_MORE, hold buf[*pos, len); after PL_WS_EVENT_FAIL the reader
//  must not be used again but to be freed.
pl_ws_event_type_t pl_ws_reader_next(pl_ws_reader_t *self, uint8_t *buf, size_t len, size_t *pos,
                                     size_t limit, pl_ws_event_t *event);

//  Keeps len bytes (less than PL_WS_HELD_MAX of the limit) for the next read.
//  Returns 0, or -1 when memory ran out.
int pl_ws_reader_hold(pl_ws_reader_t *self, const uint8_t *rest, size_t len);

//  Frees what the reader holds.
void pl_ws_reader_free(pl_ws_reader_t *self);

#endif
