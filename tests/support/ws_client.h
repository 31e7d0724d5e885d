/*  tests/support/ws_client.h
 *
 *  An RFC 6455 WebSocket client for parley's end-to-end tests: handshake on a
 *  fresh loopback connection, masked client frames, server frames up to
 *  16 MiB with fragment reassembly and transparent ping/pong. Every receive
 *  takes a timeout, so a test can never hang; every call returns an error
 *  instead of aborting. A pl_ws_t is used by one thread at a time.
 */
#ifndef PARLEY_TEST_WS_CLIENT_H
#define PARLEY_TEST_WS_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Opcodes (RFC 6455 section 5.2).
#define PL_WS_CONTINUATION 0x0
#define PL_WS_TEXT         0x1
#define PL_WS_BINARY       0x2
#define PL_WS_CLOSE        0x8
#define PL_WS_PING         0x9
#define PL_WS_PONG         0xA

//  Largest server message accepted (a frame, or fragments reassembled).
#define PL_WS_MAX_MESSAGE (16 * 1024 * 1024)

typedef struct pl_ws pl_ws_t;

//  Connects to 127.0.0.1:port and upgrades GET path (e.g. "/ws?token=...")
//  within 5 s. extra_headers is NULL or lines "Name: value\r\n..." (e.g. a
//  Cookie). Returns the connection (caller destroys it with pl_ws_close) with
//  *http_status = 101. Returns NULL when the server answered another status
//  (*http_status = that status, e.g. 401), or with *http_status = 0 when
//  there was no usable answer: connection refused, timeout, malformed
//  response, or a 101 with a wrong Upgrade / Sec-WebSocket-Accept header.
//  http_status may be NULL.
pl_ws_t *pl_ws_connect(int port, const char *path, const char *extra_headers, int *http_status);

//  Sends text as one masked, final text frame. Returns 0 or -1.
int pl_ws_send_text(pl_ws_t *ws, const char *text, size_t len);

//  Serialises msg (compact) and sends it as a text frame. Returns 0 or -1.
int pl_ws_send_json(pl_ws_t *ws, const json_t *msg);

//  Sends one masked frame with any opcode (0-15, unchecked) and FIN bit as
//  given: for oversize, fragmented, binary or invalid-frame tests. Control
//  frames are not limited to 125 bytes here. Returns 0 or -1.
int pl_ws_send_frame(pl_ws_t *ws, int opcode, const void *data, size_t len, bool fin);

//  The longest header of a client frame: 2 bytes, a 64-bit length and the mask.
#define PL_WS_FRAME_HEAD_MAX 14

//  Writes one masked client frame (as pl_ws_send_frame sends it) into out, which has
//  room for PL_WS_FRAME_HEAD_MAX + len bytes; returns its length. For tests that send
//  several frames in one write, or one frame in pieces (pl_ws_send_raw).
size_t pl_ws_frame_encode(uint8_t *out, int opcode, const void *data, size_t len, bool fin);

//  Writes len raw bytes to the socket as they are (e.g. an unmasked frame).
//  Returns 0 or -1.
int pl_ws_send_raw(pl_ws_t *ws, const void *bytes, size_t len);

//  Receives the next data message, waiting at most timeout_ms (< 0 counts as
//  0: only what has already arrived). Fragments are reassembled, server pings
//  are answered with pongs and pongs are dropped, transparently. Returns:
//    1 or 2  a text or binary message; *data is a malloc'd, NUL-terminated
//            copy of the payload (caller frees) and *len its length;
//    8       the server sent a close frame; *close_code holds its code
//            (1005 if it carried none); the close is answered; afterwards
//            every call returns -1;
//    0       timeout (a partly received frame is kept for the next call);
//    -1      error: EOF without a close frame, protocol violation (masked
//            or reserved-bit server frame, bad fragment order, message over
//            PL_WS_MAX_MESSAGE), socket error.
//  data, len and close_code may each be NULL.
int pl_ws_recv(pl_ws_t *ws, int timeout_ms, char **data, size_t *len, int *close_code);

//  Receives the next message and parses it as JSON. Returns NULL on
//  timeout, close, error, a binary message, or text that is not JSON.
//  Caller json_decref()s.
json_t *pl_ws_recv_json(pl_ws_t *ws, int timeout_ms);

//  Receives messages until a JSON one with "type" equal to type arrives
//  (others, including non-JSON and binary ones, are discarded) and returns it
//  (caller json_decref()s); NULL if none arrives within timeout_ms in total,
//  or on close or error.
json_t *pl_ws_recv_type(pl_ws_t *ws, const char *type, int timeout_ms);

//  True once the server sent a close frame or the connection ended.
bool pl_ws_is_closed(const pl_ws_t *ws);

//  Closes cleanly: sends a close frame (1000) unless one was already
//  exchanged, waits up to 2 s for the server's close (discarding data
//  frames meanwhile), closes the socket, frees, and sets *ws_p to NULL. When
//  it returns after a clean exchange, the server has seen the close. Safe
//  with *ws_p == NULL.
void pl_ws_close(pl_ws_t **ws_p);

//  Drops the connection abruptly, without a close frame (a vanished client),
//  frees, and sets *ws_p to NULL. Safe with *ws_p == NULL.
void pl_ws_abort(pl_ws_t **ws_p);

#endif
