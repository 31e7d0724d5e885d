/*  End to end: how the connection actors read WebSockets (conn.h), through the real
    binary: requests cut anywhere, many in one write, a close among them, a client
    that vanishes mid-frame, a frame announced over the limit, and a connection cut by
    its writer while its reader holds half a frame. Requests are pings with refs, so
    every answer says which request it answers. */
#include "e2e_suite.h"
#include "fixtures.h"
#include "net.h"
#include "ws_client.h"

#include <unistd.h>

#include <stdlib.h>
#include <time.h>

TestSuite(e2e_ws_reader, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 60);

static char *s_token;

static pl_ws_t *s_connect(void)
{
    if (!s_token) {
        int64_t id;
        cr_assert_eq(pl_fx_signup(s_srv.port, "reader", "password1", "Reader", &s_token, &id), 201);
    }
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, s_token, &status);
    cr_assert(ws, "upgrade failed with HTTP %d", status);
    return ws;
}

//  Appends a ping request with ref r<n> to out; returns its length.
static size_t s_ping_frame(uint8_t *out, int n)
{
    char text[64];
    int len = snprintf(text, sizeof text, "{\"type\":\"ping\",\"ref\":\"r%d\"}", n);
    return pl_ws_frame_encode(out, PL_WS_TEXT, text, (size_t)len, true);
}

static void s_expect_pong(pl_ws_t *ws, int n)
{
    json_t *frame = pl_ws_recv_json(ws, 5000);
    cr_assert(frame, "no pong r%d", n);
    char ref[16];
    snprintf(ref, sizeof ref, "r%d", n);
    cr_assert_str_eq(json_string_value(json_object_get(frame, "type")), "pong");
    cr_assert_str_eq(json_string_value(json_object_get(frame, "ref")), ref);
    json_decref(frame);
}

//  Expects a close frame with code as the next thing the server sends.
static void s_expect_close(pl_ws_t *ws, int code)
{
    int close_code = 0;
    int opcode = pl_ws_recv(ws, 5000, NULL, NULL, &close_code);
    cr_assert_eq(opcode, PL_WS_CLOSE, "expected a close frame, got %d", opcode);
    cr_assert_eq(close_code, code);
}

static void s_sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

//  With one slot, waits until a new connection gets it: the old one was finished.
static void s_expect_slot_back(void)
{
    int status = 0;
    pl_ws_t *next = pl_fx_ws_connect_when_free(s_srv.port, s_token, 10000, &status);
    cr_assert(next, "the slot never came back (status %d)", status);
    uint8_t frame[64];
    pl_ws_send_raw(next, frame, s_ping_frame(frame, 9));
    s_expect_pong(next, 9);
    pl_ws_close(&next);
}

Test(e2e_ws_reader, a_request_sent_byte_by_byte_is_answered_once)
{
    pl_ws_t *ws = s_connect();
    uint8_t frame[64];
    size_t len = s_ping_frame(frame, 1);
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(pl_ws_send_raw(ws, frame + i, 1), 0);
        s_sleep_ms(2);
    }
    s_expect_pong(ws, 1);
    cr_assert_eq(pl_ws_recv(ws, 200, NULL, NULL, NULL), 0, "answered twice");
    pl_ws_close(&ws);
}

Test(e2e_ws_reader, many_requests_in_one_write_are_answered_in_order)
{
    pl_ws_t *ws = s_connect();
    enum { COUNT = 2000 };
    uint8_t *bytes = malloc(COUNT * 64);
    size_t len = 0;
    for (int n = 0; n < COUNT; n++)
        len += s_ping_frame(bytes + len, n);
    //  Cut at an odd place too: the second write starts inside a frame.
    cr_assert_eq(pl_ws_send_raw(ws, bytes, len / 2 + 3), 0);
    cr_assert_eq(pl_ws_send_raw(ws, bytes + len / 2 + 3, len - len / 2 - 3), 0);
    free(bytes);
    for (int n = 0; n < COUNT; n++)
        s_expect_pong(ws, n);
    pl_ws_close(&ws);
}

Test(e2e_ws_reader, a_close_among_requests_ends_them_there)
{
    pl_ws_t *ws = s_connect();
    uint8_t bytes[256];
    size_t len = s_ping_frame(bytes, 1);
    const uint8_t going[2] = {0x03, 0xe9};
    len += pl_ws_frame_encode(bytes + len, PL_WS_CLOSE, going, 2, true);
    len += s_ping_frame(bytes + len, 2);
    cr_assert_eq(pl_ws_send_raw(ws, bytes, len), 0);
    s_expect_pong(ws, 1);
    //  The close is answered with its own code, and nothing after it is.
    s_expect_close(ws, 1001);
    pl_ws_close(&ws);
}

Test(e2e_ws_reader, a_client_that_vanishes_mid_frame_frees_its_slot)
{
    const char *args[] = {"--max-connections", "1", NULL};
    pl_e2e_restart_with(args);
    pl_ws_t *ws = s_connect();
    uint8_t frame[64];
    size_t len = s_ping_frame(frame, 1);
    cr_assert_eq(pl_ws_send_raw(ws, frame, len - 5), 0);
    s_sleep_ms(50);
    pl_ws_abort(&ws);
    s_expect_slot_back();
}

Test(e2e_ws_reader, a_frame_announced_over_the_limit_closes_with_1009_before_its_payload)
{
    pl_ws_t *ws = s_connect();
    //  The header of a 1 MiB text frame, and no payload at all.
    const uint8_t header[] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
    cr_assert_eq(pl_ws_send_raw(ws, header, sizeof header), 0);
    s_expect_close(ws, 1009);
    pl_ws_close(&ws);
}

Test(e2e_ws_reader, an_unmasked_frame_closes_with_1002)
{
    pl_ws_t *ws = s_connect();
    const uint8_t frame[] = {0x81, 0x02, '{', '}'};
    cr_assert_eq(pl_ws_send_raw(ws, frame, sizeof frame), 0);
    s_expect_close(ws, 1002);
    pl_ws_close(&ws);
}

Test(e2e_ws_reader, a_connection_cut_by_its_writer_while_its_reader_holds_data)
{
    //  One write of requests whose answers pass the outbound queue's limit before a
    //  single byte is sent, ending in half a frame: the writer cuts the connection in
    //  the middle of the read, with the rest of it unread and the half frame held.
    const char *args[] = {"--max-connections", "1", "--outbound-queue-bytes", "4096", NULL};
    pl_e2e_restart_with(args);
    pl_ws_t *ws = s_connect();
    enum { COUNT = 400 };
    uint8_t *bytes = malloc(COUNT * 64 + 64);
    size_t len = 0;
    for (int n = 0; n < COUNT; n++)
        len += s_ping_frame(bytes + len, n);
    len += s_ping_frame(bytes + len, COUNT) - 5;
    cr_assert_eq(pl_ws_send_raw(ws, bytes, len), 0);
    free(bytes);
    //  Cut, not closed: no close frame and none of the answers, just the end.
    cr_assert_eq(pl_ws_recv(ws, 5000, NULL, NULL, NULL), -1);
    pl_ws_abort(&ws);
    s_expect_slot_back();
}

Test(e2e_ws_reader, a_frame_sent_with_the_upgrade_request_closes_with_1002)
{
    //  RFC 6455 4.1: a client waits for the 101 before it sends frames. One sent in
    //  the same write as the request reaches civetweb's buffer, not the actor's.
    s_connect();
    char request[1024];
    int len = snprintf(request, sizeof request,
                       "GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       s_token);
    size_t total = (size_t)len + s_ping_frame((uint8_t *)request + len, 1);
    int fd = pl_net_connect(s_srv.port, pl_net_now_ms() + 5000);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pl_net_write_all(fd, request, total, pl_net_now_ms() + 5000), 0);
    char answer[4096];
    size_t got = 0;
    ssize_t n;
    int64_t deadline = pl_net_now_ms() + 5000;
    while (got < sizeof answer &&
           (n = pl_net_read_some(fd, answer + got, sizeof answer - got, deadline)) > 0)
        got += (size_t)n;
    close(fd);
    cr_assert(got > 12 && memcmp(answer, "HTTP/1.1 101", 12) == 0, "no 101");
    char *head_end = memmem(answer, got, "\r\n\r\n", 4);
    cr_assert(head_end);
    const uint8_t *frame = (const uint8_t *)head_end + 4;
    //  The close frame, and nothing before it: the early ping was not answered.
    cr_assert_geq(answer + got - (const char *)frame, 4);
    cr_assert_eq(frame[0], 0x88);
    cr_assert_eq(frame[2] << 8 | frame[3], 1002);
}
