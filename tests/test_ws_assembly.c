/*  Tests for ws_assembly.c: WebSocket messages from their data frames (RFC 6455
    section 5.4). tests/fuzz/targets/ws_assembly.c holds the same function against
    the RFC as a model on any sequence of frames; these are the cases by name. */
#include "parley/ws_assembly.h"

#include <civetweb.h>
#include <criterion/criterion.h>
#include <string.h>

TestSuite(ws_assembly, .timeout = 10);

#define TEXT  MG_WEBSOCKET_OPCODE_TEXT
#define CONT  MG_WEBSOCKET_OPCODE_CONTINUATION
#define LIMIT 16

static pl_ws_assembly_t s_assembly = {NULL, 0, CONT};

static void s_teardown_assembly(void)
{
    pl_ws_assembly_free(&s_assembly);
}

static pl_ws_assembly_status_t s_add(int opcode, bool fin, const char *text, pl_ws_message_t *out)
{
    return pl_ws_assembly_add(&s_assembly, opcode, fin, text, strlen(text), LIMIT, out);
}

static void s_expect_message(pl_ws_message_t *m, int opcode, const char *text)
{
    cr_assert_eq(m->opcode, opcode);
    cr_assert_eq(m->len, strlen(text));
    cr_assert_eq(memcmp(m->data, text, m->len), 0);
}

Test(ws_assembly, a_final_frame_is_a_message_by_itself, .fini = s_teardown_assembly)
{
    pl_ws_message_t m;
    cr_assert_eq(s_add(TEXT, true, "{}", &m), PL_WS_MESSAGE_READY);
    s_expect_message(&m, TEXT, "{}");
    cr_assert_eq(s_add(MG_WEBSOCKET_OPCODE_BINARY, true, "", &m), PL_WS_MESSAGE_READY);
    s_expect_message(&m, MG_WEBSOCKET_OPCODE_BINARY, "");
}

Test(ws_assembly, fragments_join_in_order_whatever_their_size, .fini = s_teardown_assembly)
{
    pl_ws_message_t m;
    cr_assert_eq(s_add(TEXT, false, "", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, false, "", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, false, "ab", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, true, "c", &m), PL_WS_MESSAGE_READY);
    s_expect_message(&m, TEXT, "abc");
    //  And the next message starts afresh.
    cr_assert_eq(s_add(TEXT, false, "x", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, true, "", &m), PL_WS_MESSAGE_READY);
    s_expect_message(&m, TEXT, "x");
}

Test(ws_assembly, frames_out_of_order_are_refused, .fini = s_teardown_assembly)
{
    pl_ws_message_t m;
    cr_assert_eq(s_add(CONT, true, "x", &m), PL_WS_FRAME_OUT_OF_ORDER);
    cr_assert_eq(s_add(TEXT, false, "", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(TEXT, true, "y", &m), PL_WS_FRAME_OUT_OF_ORDER,
                 "a new message inside one, after an empty first fragment");
}

Test(ws_assembly, a_message_past_the_limit_is_refused, .fini = s_teardown_assembly)
{
    pl_ws_message_t m;
    cr_assert_eq(s_add(TEXT, true, "0123456789abcdefX", &m), PL_WS_MESSAGE_TOO_BIG);
    cr_assert_eq(s_add(TEXT, false, "0123456789", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, false, "abcdef", &m), PL_WS_FRAGMENT_KEPT);
    cr_assert_eq(s_add(CONT, true, "X", &m), PL_WS_MESSAGE_TOO_BIG);
    //  Refused, the message is forgotten: a continuation now has nothing to continue.
    cr_assert_eq(s_add(CONT, true, "", &m), PL_WS_FRAME_OUT_OF_ORDER);
}
