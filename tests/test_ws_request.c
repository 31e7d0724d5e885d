/*  Tests for ws_request.c: what a WebSocket text frame reads as before ws.c acts on
    it. Frames are parsed from exact-size heap copies, so a read past the end shows
    up under ASAN; tests/fuzz/targets/ws_request.c drives the same function with any
    bytes. */
#include "parley/ws_request.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(ws_request, .timeout = 10);

#define MAX_CHARS 10

//  The frame text, copied to the exact size; freed by s_done.
static char *s_frame;

static int s_parse(pl_ws_request_t *r, const char *text)
{
    size_t len = strlen(text);
    s_frame = malloc(len ? len : 1);
    cr_assert_not_null(s_frame);
    memcpy(s_frame, text, len);
    return pl_ws_request_parse(r, s_frame, len, MAX_CHARS);
}

static void s_done(pl_ws_request_t *r)
{
    pl_ws_request_release(r);
    free(s_frame);
}

static bool s_is(pl_str_t got, const char *want)
{
    return want ? got.ptr && got.len == strlen(want) && memcmp(got.ptr, want, got.len) == 0
                : got.ptr == NULL;
}

Test(ws_request, each_type_reads_its_fields)
{
    pl_ws_request_t r;
    cr_assert_eq(s_parse(&r, "{\"type\":\"subscribe\",\"room\":12,\"since\":40,\"ref\":\"s\"}"), 0);
    cr_assert(r.type == PL_WS_SUBSCRIBE && r.room == 12 && r.since == 40 && s_is(r.ref, "s"));
    s_done(&r);
    cr_assert_eq(s_parse(&r, "{\"type\":\"subscribe\",\"room\":12}"), 0);
    cr_assert(r.since == -1 && s_is(r.ref, NULL));
    s_done(&r);
    cr_assert_eq(s_parse(&r, "{\"type\":\"read\",\"room\":3,\"seq\":0,\"client_id\":\"c\"}"), 0);
    cr_assert(r.type == PL_WS_READ && r.room == 3 && r.seq == 0 && s_is(r.error_ref, "c"));
    s_done(&r);
    cr_assert_eq(s_parse(&r, "{\"type\":\"typing\",\"room\":3}"), 0);
    cr_assert(r.type == PL_WS_TYPING && r.room == 3);
    s_done(&r);
    cr_assert_eq(s_parse(&r, "{\"type\":\"ping\",\"ref\":\"p\",\"room\":\"ignored\"}"), 0);
    cr_assert(r.type == PL_WS_PING && s_is(r.error_ref, "p"));
    s_done(&r);
}

Test(ws_request, a_send_reads_the_same_by_either_path)
{
    //  The first is taken by the send scanner, the second (an escape) by jansson.
    const char *frames[] = {
        "{\"type\":\"send\",\"room\":7,\"client_id\":\"c-1\",\"body\":\"hi\"}",
        "{\"type\":\"send\",\"room\":7,\"client_id\":\"c-1\",\"body\":\"h\\u0069\"}"};
    for (size_t i = 0; i < 2; i++) {
        pl_ws_request_t r;
        cr_assert_eq(s_parse(&r, frames[i]), 0, "%s", frames[i]);
        cr_assert_eq(r.tree == NULL, i == 0);
        cr_assert(r.type == PL_WS_SEND && r.room == 7 && r.send.room == 7);
        cr_assert(s_is(r.send.client_id, "c-1") && s_is(r.send.body, "hi"));
        cr_assert(s_is(r.error_ref, "c-1") && s_is(r.ref, NULL));
        s_done(&r);
    }
}

Test(ws_request, refusals_say_why_and_carry_the_ref)
{
    static const struct {
        const char *frame, *message, *ref;
    } cases[] = {
        {"{", "malformed JSON", NULL},
        {"[1]", "a request must be a JSON object", NULL},
        {"{\"ref\":\"r\"}", "type: is required and must be a string", "r"},
        {"{\"type\":\"pong\",\"client_id\":\"c\"}", "type: unknown request type 'pong'", "c"},
        {"{\"type\":\"subscribe\",\"room\":0,\"ref\":\"r\"}",
         "room: must be an integer of at least 1", "r"},
        {"{\"type\":\"subscribe\",\"room\":1,\"since\":null}",
         "since: must be an integer of at least 0", NULL},
        {"{\"type\":\"read\",\"room\":1,\"seq\":-1}", "seq: must be an integer of at least 0",
         NULL},
        {"{\"type\":\"typing\",\"room\":1,\"ref\":5}", "ref: must be a string", NULL},
        {"{\"type\":\"send\",\"room\":1,\"client_id\":\"c d\",\"body\":\"x\"}",
         "client_id: must be printable ASCII without spaces", "c d"},
        {"{\"type\":\"send\",\"room\":1,\"body\":\"far more than ten\"}", "body: is too long",
         NULL},
        {"{\"type\":\"send\",\"room\":1,\"kind\":\"image\",\"ref\":\"i\"}",
         "url: is required for an image message", "i"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_ws_request_t r;
        cr_assert_eq(s_parse(&r, cases[i].frame), -1, "%s", cases[i].frame);
        cr_assert_str_eq(r.code, "bad_request");
        cr_assert_str_eq(r.message, cases[i].message, "%s", cases[i].frame);
        cr_assert(s_is(r.error_ref, cases[i].ref), "%s", cases[i].frame);
        s_done(&r);
    }
}
