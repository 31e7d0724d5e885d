/*  Target send_scan: the WebSocket `send` fast path (src/send_scan.c) on raw frame
    bytes. The scanner may decline anything, but a frame it takes must read exactly
    as jansson reads it: then pl_ws_request_parse (which takes the fast path) and
    pl_ws_request_parse_json (jansson alone) must give the same request field for
    field, or the same refusal, and the scanner's views must lie inside the frame. */
#include "fuzz.h"

#include "parley/ws_request.h"

#include <stdlib.h>
#include <string.h>

//  Small, so that "is too long" is reached by short frames too.
#define MAX_MESSAGE_CHARS 40

static bool s_inside(pl_str_t s, const char *frame, size_t size)
{
    return !s.ptr || (s.ptr >= frame && s.ptr + s.len <= frame + size);
}

static bool s_same(pl_str_t a, pl_str_t b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) && pl_fuzz_same(a.ptr, a.len, b.ptr, b.len);
}

//  The fast and the jansson reading of a frame the scanner took agree.
static void s_check_same(const pl_ws_request_t *fast, int fast_rc, const pl_ws_request_t *slow,
                         int slow_rc)
{
    PL_FUZZ_CHECK(fast_rc == slow_rc);
    PL_FUZZ_CHECK(fast->tree == NULL && fast->type == PL_WS_SEND && slow->type == PL_WS_SEND);
    PL_FUZZ_CHECK(fast->room == slow->room && fast->send.room == slow->send.room);
    PL_FUZZ_CHECK(s_same(fast->error_ref, slow->error_ref) && s_same(fast->ref, slow->ref));
    const pl_send_request_t *a = &fast->send, *b = &slow->send;
    if (fast_rc == 0) {
        PL_FUZZ_CHECK(s_same(a->client_id, b->client_id) && s_same(a->kind, b->kind));
        PL_FUZZ_CHECK(s_same(a->body, b->body) && s_same(a->url, b->url));
        PL_FUZZ_CHECK(s_same(a->ref, b->ref));
    } else
        PL_FUZZ_CHECK(strcmp(fast->code, slow->code) == 0 &&
                      strcmp(fast->message, slow->message) == 0);
}

int pl_fuzz_send_scan(const uint8_t *data, size_t size)
{
    char *frame = pl_fuzz_copy(data, size);
    pl_send_request_t scanned;
    if (pl_send_scan(frame, size, &scanned)) {
        PL_FUZZ_CHECK(scanned.room >= 1);
        PL_FUZZ_CHECK(s_inside(scanned.client_id, frame, size) &&
                      s_inside(scanned.kind, frame, size) && s_inside(scanned.body, frame, size) &&
                      s_inside(scanned.url, frame, size) && s_inside(scanned.ref, frame, size));
        pl_ws_request_t fast, slow;
        int fast_rc = pl_ws_request_parse(&fast, frame, size, MAX_MESSAGE_CHARS);
        int slow_rc = pl_ws_request_parse_json(&slow, frame, size, MAX_MESSAGE_CHARS);
        s_check_same(&fast, fast_rc, &slow, slow_rc);
        pl_ws_request_release(&fast);
        pl_ws_request_release(&slow);
    }
    free(frame);
    return 0;
}
