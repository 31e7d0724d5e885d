/*  tests/support/chat.h
 *
 *  The WebSocket chat steps that end-to-end suites share: sending frames and
 *  taking the ones expected, each failing the calling test (Criterion asserts)
 *  with what came instead. Every wait is bounded by PL_CHAT_FRAME_MS.
 */
#ifndef PARLEY_TEST_CHAT_H
#define PARLEY_TEST_CHAT_H

#include "ws_client.h"

#include <jansson.h>
#include <stdint.h>

//  How long one expected frame may take.
#define PL_CHAT_FRAME_MS 8000

//  Sends a formatted text frame.
void pl_chat_sendf(pl_ws_t *ws, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  Sends a text message to room; its ack comes later.
void pl_chat_send(pl_ws_t *ws, int64_t room, const char *client_id, const char *body);

//  The next frame of type, other frames dropped (caller decrefs).
json_t *pl_chat_next(pl_ws_t *ws, const char *type);

//  Takes the message frames first..last of room, in order with none between them
//  (other frame types dropped).
void pl_chat_expect_messages(pl_ws_t *ws, int64_t room, int64_t first, int64_t last);

#endif
