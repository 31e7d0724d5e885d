/*  tests/support/sse_client.h
 *
 *  A Server-Sent Events client for parley's end-to-end tests (GET /api/events):
 *  one GET on a fresh loopback connection, then the stream read block by block
 *  as the HTML "event stream" format defines it (lines ending in LF, CRLF or
 *  CR; a blank line ends a block; "field: value" with one optional space;
 *  lines starting with ':' are comments). Every read takes a timeout, so a test
 *  can never hang; every call returns an error instead of aborting. A pl_sse_t
 *  is used by one thread at a time.
 */
#ifndef PARLEY_TEST_SSE_CLIENT_H
#define PARLEY_TEST_SSE_CLIENT_H

#include "http_client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  How long pl_sse_connect waits for the answer (and a refusal's body).
#define PL_SSE_CONNECT_TIMEOUT_MS 5000

//  Largest block accepted; a larger one is an error.
#define PL_SSE_MAX_BLOCK (16 * 1024 * 1024)

typedef struct pl_sse pl_sse_t;

//  One block of the stream, up to its blank line. Every string is malloc'd and
//  NUL-terminated (pl_sse_block_free frees them), or NULL when the block had no
//  such line.
typedef struct {
    char *event;       //  the last "event:" value
    char *id;          //  the last "id:" value
    char *data;        //  every "data:" value, joined by "\n"
    char *comment;     //  every comment's text (after ':' and one space), joined by "\n"
    long long retry;   //  the last "retry:" value made of digits only, or -1
    bool comment_only; //  only comment lines: a heartbeat such as ": ping"
} pl_sse_block_t;

//  Connects to 127.0.0.1:port and sends "GET path" (with any query) with
//  Accept: text/event-stream and extra_headers (NULL or lines
//  "Name: value\r\n...", e.g. an Authorization or Last-Event-ID), waiting at
//  most PL_SSE_CONNECT_TIMEOUT_MS for the response head. Returns the stream
//  when the server answered 200 without a chunked or length-framed body (the
//  caller closes it with pl_sse_close); pl_sse_response shows its head.
//  Otherwise returns NULL and, when refused is set, fills it as
//  pl_http_request would: status, headers, the body read by Content-Length or
//  until the server closes (chunked bodies are kept as they came) and its JSON;
//  the caller frees it with pl_http_response_free. refused->status is 0 when
//  no usable answer came (refused connection, timeout, malformed head), and
//  200 for a 200 framed as a plain body.
pl_sse_t *pl_sse_connect(int port, const char *path, const char *extra_headers,
                         pl_http_response_t *refused);

//  The head of the 200 response: status and headers (no body). Owned by the
//  stream.
const pl_http_response_t *pl_sse_response(const pl_sse_t *sse);

//  Reads the next block, waiting at most timeout_ms (< 0 counts as 0: only
//  what has already arrived). Returns 1 with *block filled (the caller frees it
//  with pl_sse_block_free), 0 on timeout (a partly received block is kept for
//  the next call), or -1 when the stream ended (EOF, error, or a block over
//  PL_SSE_MAX_BLOCK); a block cut off by the end is dropped, as a browser
//  drops it. *block is zeroed (retry -1) whenever 1 is not returned.
int pl_sse_next(pl_sse_t *sse, int timeout_ms, pl_sse_block_t *block);

//  Like pl_sse_next, but skips the blocks without data (comments such as
//  ": ping", a lone "retry:" or "id:"), all within timeout_ms in total.
int pl_sse_next_data(pl_sse_t *sse, int timeout_ms, pl_sse_block_t *block);

//  Waits at most timeout_ms in total for the next block with data, and returns
//  it parsed when it is a parley notification: "event: notification", data a
//  JSON object, and an integer "id:" (the write's version) not below that
//  object's "id" (equal for a new notification, above for a coalesced update). Returns
//  NULL on timeout, end of stream or any other block, with the reason written
//  into why (why_size bytes; why may be NULL). Caller json_decref()s.
json_t *pl_sse_next_notification(pl_sse_t *sse, int timeout_ms, char *why, size_t why_size);

//  The last "id:" the stream carried ("" before any), which a browser sends as
//  Last-Event-ID when it reconnects. Owned by the stream.
const char *pl_sse_last_event_id(const pl_sse_t *sse);

//  True once the stream ended (EOF or error seen by a read).
bool pl_sse_is_closed(const pl_sse_t *sse);

//  Frees everything a block owns and zeroes it (retry -1). Safe twice.
void pl_sse_block_free(pl_sse_block_t *block);

//  Closes the connection, frees, and sets *sse_p to NULL. Safe with NULL.
void pl_sse_close(pl_sse_t **sse_p);

#endif
