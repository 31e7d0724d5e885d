/*  Tests for ws_reader.c: client frames read in place, as the connection actor feeds
    them, one socket read at a time (restore the held bytes, append the read, take
    events until more is needed, hold the rest). */
#include "parley/ws_reader.h"

#include "ws_client.h"

#include <civetweb.h>
#include <criterion/criterion.h>
#include <string.h>

TestSuite(ws_reader, .timeout = 10);

#define LIMIT 300
#define TEXT  MG_WEBSOCKET_OPCODE_TEXT
#define CONT  MG_WEBSOCKET_OPCODE_CONTINUATION

static pl_ws_reader_t s_reader;
//  The actor's scratch buffer: held bytes, then one read.
static uint8_t s_scratch[PL_WS_HELD_MAX(LIMIT) + 4096];
//  Events of the last feed, their payloads copied out.
static pl_ws_event_t s_events[32];
static char s_payloads[32][LIMIT + 1];
static size_t s_count;

static void s_teardown(void)
{
    pl_ws_reader_free(&s_reader);
}

//  Writes a masked client frame into out; returns its length.
static size_t s_frame(uint8_t *out, int opcode, bool fin, const void *payload, size_t len)
{
    return pl_ws_frame_encode(out, opcode, payload, len, fin);
}

static size_t s_text(uint8_t *out, const char *text)
{
    return s_frame(out, TEXT, true, text, strlen(text));
}

//  One read of len bytes: the events it completes, up to a close or a failure, as
//  the actor takes them. Returns how many bytes the reader holds afterwards.
static size_t s_feed(const uint8_t *bytes, size_t len)
{
    size_t held = pl_ws_reader_restore(&s_reader, s_scratch);
    memcpy(s_scratch + held, bytes, len);
    size_t total = held + len, pos = 0;
    s_count = 0;
    for (;;) {
        pl_ws_event_t event;
        pl_ws_event_type_t type =
            pl_ws_reader_next(&s_reader, s_scratch, total, &pos, LIMIT, &event);
        if (type == PL_WS_EVENT_NEED_MORE) {
            cr_assert_eq(pl_ws_reader_hold(&s_reader, s_scratch + pos, total - pos), 0);
            return total - pos;
        }
        cr_assert_lt(s_count, 32);
        if (event.data)
            memcpy(s_payloads[s_count], event.data, event.len);
        s_payloads[s_count][event.data ? event.len : 0] = '\0';
        s_events[s_count++] = event;
        if (type == PL_WS_EVENT_CLOSE || type == PL_WS_EVENT_FAIL)
            return 0;
    }
}

static void s_expect_text(size_t i, const char *text)
{
    cr_assert_eq(s_events[i].type, PL_WS_EVENT_MESSAGE);
    cr_assert_eq(s_events[i].opcode, TEXT);
    cr_assert_eq(s_events[i].len, strlen(text));
    cr_assert_str_eq(s_payloads[i], text);
}

Test(ws_reader, many_frames_in_one_read_are_each_a_message, .fini = s_teardown)
{
    uint8_t bytes[512];
    size_t len = 0;
    const char *texts[] = {"{\"a\":1}", "", "{\"type\":\"ping\"}", "x"};
    for (int i = 0; i < 4; i++)
        len += s_text(bytes + len, texts[i]);
    cr_assert_eq(s_feed(bytes, len), 0);
    cr_assert_eq(s_count, 4);
    for (int i = 0; i < 4; i++)
        s_expect_text((size_t)i, texts[i]);
}

Test(ws_reader, a_frame_split_across_reads_at_every_byte_is_whole_once, .fini = s_teardown)
{
    uint8_t bytes[512];
    const char *text = "{\"type\":\"send\",\"room\":1,\"body\":\"split\"}";
    size_t len = s_text(bytes, text);
    //  Every cut, including inside the header and the mask.
    for (size_t cut = 1; cut < len; cut++) {
        cr_assert_eq(s_feed(bytes, cut), cut);
        cr_assert_eq(s_count, 0);
        cr_assert_eq(s_feed(bytes + cut, len - cut), 0);
        cr_assert_eq(s_count, 1);
        s_expect_text(0, text);
    }
}

Test(ws_reader, a_16_bit_length_frame_split_in_three_reads, .fini = s_teardown)
{
    char text[LIMIT];
    memset(text, 'y', sizeof text);
    uint8_t bytes[1024];
    size_t len = s_frame(bytes, TEXT, true, text, sizeof text);
    cr_assert_eq(bytes[1] & 0x7f, 126);
    s_feed(bytes, 3);
    s_feed(bytes + 3, 30);
    cr_assert_eq(s_count, 0);
    s_feed(bytes + 33, len - 33);
    cr_assert_eq(s_count, 1);
    cr_assert_eq(s_events[0].len, sizeof text);
    cr_assert_eq(memcmp(s_payloads[0], text, sizeof text), 0);
}

Test(ws_reader, a_message_and_the_start_of_the_next_in_one_read, .fini = s_teardown)
{
    uint8_t bytes[512];
    size_t first = s_text(bytes, "one");
    size_t len = first + s_text(bytes + first, "two");
    cr_assert_eq(s_feed(bytes, first + 4), 4);
    cr_assert_eq(s_count, 1);
    s_expect_text(0, "one");
    cr_assert_eq(s_feed(bytes + first + 4, len - first - 4), 0);
    s_expect_text(0, "two");
}

Test(ws_reader, fragments_across_reads_with_a_ping_between, .fini = s_teardown)
{
    uint8_t bytes[512];
    size_t len = s_frame(bytes, TEXT, false, "ab", 2);
    len += s_frame(bytes + len, MG_WEBSOCKET_OPCODE_PING, true, "hi", 2);
    size_t cut = len;
    len += s_frame(bytes + len, CONT, true, "cd", 2);
    s_feed(bytes, cut);
    cr_assert_eq(s_count, 1);
    cr_assert_eq(s_events[0].type, PL_WS_EVENT_PING);
    cr_assert_str_eq(s_payloads[0], "hi");
    s_feed(bytes + cut, len - cut);
    cr_assert_eq(s_count, 1);
    s_expect_text(0, "abcd");
}

Test(ws_reader, a_close_in_the_middle_of_a_read_ends_it, .fini = s_teardown)
{
    uint8_t bytes[512];
    size_t len = s_text(bytes, "before");
    uint8_t code[2] = {0x03, 0xe8};
    len += s_frame(bytes + len, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, true, code, 2);
    len += s_text(bytes + len, "after");
    s_feed(bytes, len);
    cr_assert_eq(s_count, 2);
    s_expect_text(0, "before");
    cr_assert_eq(s_events[1].type, PL_WS_EVENT_CLOSE);
    cr_assert_eq(s_events[1].code, 1000);
}

Test(ws_reader, a_close_without_a_code_reads_1005, .fini = s_teardown)
{
    uint8_t bytes[16];
    size_t len = s_frame(bytes, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, true, "", 0);
    s_feed(bytes, len);
    cr_assert_eq(s_events[0].type, PL_WS_EVENT_CLOSE);
    cr_assert_eq(s_events[0].code, 1005);
}

Test(ws_reader, a_frame_over_the_limit_fails_from_its_header_alone, .fini = s_teardown)
{
    //  Only the header of a 1 MiB frame: refused before any payload is there.
    uint8_t bytes[16] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
    s_feed(bytes, 14);
    cr_assert_eq(s_count, 1);
    cr_assert_eq(s_events[0].type, PL_WS_EVENT_FAIL);
    cr_assert_eq(s_events[0].code, 1009);
}

Test(ws_reader, a_frame_at_the_limit_is_taken, .fini = s_teardown)
{
    char text[LIMIT];
    memset(text, 'z', sizeof text);
    uint8_t bytes[1024];
    s_feed(bytes, s_frame(bytes, TEXT, true, text, sizeof text));
    cr_assert_eq(s_events[0].type, PL_WS_EVENT_MESSAGE);
    cr_assert_eq(s_events[0].len, LIMIT);
}

Test(ws_reader, fragments_past_the_limit_fail_with_1009, .fini = s_teardown)
{
    char half[LIMIT / 2 + 1];
    memset(half, 'h', sizeof half);
    uint8_t bytes[1024];
    size_t len = s_frame(bytes, TEXT, false, half, sizeof half);
    len += s_frame(bytes + len, CONT, true, half, sizeof half);
    s_feed(bytes, len);
    cr_assert_eq(s_events[0].type, PL_WS_EVENT_FAIL);
    cr_assert_eq(s_events[0].code, 1009);
}

Test(ws_reader, protocol_errors_fail_with_1002, .fini = s_teardown)
{
    uint8_t unmasked[] = {0x81, 0x01, 'x'};
    uint8_t reserved[] = {0xc1, 0x80, 0, 0, 0, 0};
    uint8_t opcode[] = {0x83, 0x80, 0, 0, 0, 0};
    uint8_t long_ping[16] = {0x89, 0x80 | 126, 0, 126};
    uint8_t fragmented_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    uint8_t lone_continuation[] = {0x80, 0x80, 0, 0, 0, 0};
    uint8_t one_byte_close[] = {0x88, 0x81, 0, 0, 0, 0, 3};
    struct {
        const uint8_t *bytes;
        size_t len;
    } cases[] = {{unmasked, sizeof unmasked},
                 {reserved, sizeof reserved},
                 {opcode, sizeof opcode},
                 {long_ping, sizeof long_ping},
                 {fragmented_ping, sizeof fragmented_ping},
                 {lone_continuation, sizeof lone_continuation},
                 {one_byte_close, sizeof one_byte_close}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_ws_reader_free(&s_reader);
        s_feed(cases[i].bytes, cases[i].len);
        cr_assert_eq(s_count, 1, "case %zu", i);
        cr_assert_eq(s_events[0].type, PL_WS_EVENT_FAIL, "case %zu", i);
        cr_assert_eq(s_events[0].code, 1002, "case %zu", i);
    }
}

Test(ws_reader, a_partial_frame_is_held_until_the_reader_is_freed, .fini = s_teardown)
{
    //  A connection closed (by a writer, or its peer) while its reader holds the
    //  start of a frame: freeing it releases what it held, and a new one starts
    //  clean.
    uint8_t bytes[64];
    size_t len = s_text(bytes, "held back");
    cr_assert_eq(s_feed(bytes, len - 2), len - 2);
    pl_ws_reader_free(&s_reader);
    cr_assert_eq(s_reader.held_len, 0);
    cr_assert_eq(s_feed(bytes, len), 0);
    s_expect_text(0, "held back");
}
