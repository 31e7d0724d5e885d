/*  Target ws_request: a WebSocket text frame as ws_session.c's dispatcher reads it before
    anything reaches an actor (src/ws_request.c: the send scanner, else jansson, then
    each request type's fields and checks). Whatever the bytes, the answer is either
    a request that keeps its type's rules (a room of at least 1, since -1 or more, a
    seq of at least 0, a send whose client_id and message pass validate.h) or a
    refusal with a code and a message, and every string it hands on can be read
    whole: inside the frame, or inside the parsed tree. */
#include "fuzz.h"

#include "parley/validate.h"
#include "parley/ws_request.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE_CHARS 40

//  Reads every byte of s, so that a view past its storage shows up under ASan; a
//  view of the frame must lie inside it.
static void s_touch(pl_str_t s, const pl_ws_request_t *request, const char *frame, size_t size)
{
    if (!s.ptr)
        return;
    if (!request->tree)
        PL_FUZZ_CHECK(s.ptr >= frame && s.ptr + s.len <= frame + size);
    pl_fuzz_touch(s.ptr, s.len);
}

static void s_check_request(const pl_ws_request_t *r)
{
    PL_FUZZ_CHECK(r->type < PL_WS__COUNT);
    PL_FUZZ_CHECK(r->type == PL_WS_PING || r->room >= 1);
    PL_FUZZ_CHECK(r->since >= -1 && r->seq >= 0);
    if (r->type != PL_WS_SEND)
        return;
    const pl_send_request_t *f = &r->send;
    const char *field;
    PL_FUZZ_CHECK(f->room == r->room && f->ref.ptr == r->ref.ptr && f->ref.len == r->ref.len);
    PL_FUZZ_CHECK(!f->client_id.ptr || !pl_check_client_id(f->client_id.ptr, f->client_id.len));
    PL_FUZZ_CHECK(!pl_check_message(f->kind.ptr, f->kind.len, f->body.ptr, f->body.len, f->url.ptr,
                                    f->url.len, MAX_MESSAGE_CHARS, &field));
}

int pl_fuzz_ws_request(const uint8_t *data, size_t size)
{
    char *frame = pl_fuzz_copy(data, size);
    pl_ws_request_t request;
    if (pl_ws_request_parse(&request, frame, size, MAX_MESSAGE_CHARS) == 0)
        s_check_request(&request);
    else
        PL_FUZZ_CHECK(request.code && request.message[0] &&
                      strlen(request.message) < sizeof request.message);
    pl_str_t views[] = {request.error_ref, request.ref,       request.send.client_id,
                        request.send.kind, request.send.body, request.send.url,
                        request.send.ref};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        s_touch(views[i], &request, frame, size);
    pl_ws_request_release(&request);
    free(frame);
    return 0;
}
