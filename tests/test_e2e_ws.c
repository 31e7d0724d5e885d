/*  End to end: the WebSocket endpoint /ws of the real parley binary, spoken to by a
    real WebSocket client (PROTOCOL.md "WebSocket", "Limits"). */
#include "fixtures.h"
#include "http_client.h"
#include "server_proc.h"
#include "ws_client.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static pl_server_t s_srv;
static char *s_token;

static void s_start(const char *const *args)
{
    memset(&s_srv, 0, sizeof s_srv);
    cr_assert_eq(pl_server_start(&s_srv, args), 0, "parley did not start");
    int64_t id;
    cr_assert_eq(pl_fx_signup(s_srv.port, "wsuser", "password1", "WS User", &s_token, &id), 201);
}

static void setup(void)
{
    s_start(NULL);
}

static void teardown(void)
{
    free(s_token);
    s_token = NULL;
    if (s_srv.pid)
        cr_expect_eq(pl_server_stop(&s_srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&s_srv);
}

TestSuite(e2e_ws, .init = setup, .fini = teardown, .timeout = 60);

static pl_ws_t *s_connect(void)
{
    int status = 0;
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, s_token, &status);
    cr_assert(ws, "upgrade failed with HTTP %d", status);
    return ws;
}

//  Sends text and expects an error frame with code; returns nothing, frees all.
static void s_expect_error(pl_ws_t *ws, const char *text, const char *code, const char *ref)
{
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
    json_t *frame = pl_ws_recv_json(ws, 5000);
    cr_assert(frame, "no answer to %s", text);
    cr_assert_str_eq(json_string_value(json_object_get(frame, "type")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(frame, "code")), code);
    cr_assert(json_is_string(json_object_get(frame, "message")));
    if (ref)
        cr_assert_str_eq(json_string_value(json_object_get(frame, "ref")), ref);
    json_decref(frame);
}

static void s_expect_pong(pl_ws_t *ws)
{
    const char *ping = "{\"type\":\"ping\",\"ref\":\"p1\"}";
    cr_assert_eq(pl_ws_send_text(ws, ping, strlen(ping)), 0);
    json_t *frame = pl_ws_recv_json(ws, 5000);
    cr_assert(frame, "no pong");
    cr_assert_str_eq(json_string_value(json_object_get(frame, "type")), "pong");
    cr_assert_str_eq(json_string_value(json_object_get(frame, "ref")), "p1");
    json_decref(frame);
}

//  Expects the server to close the connection with code.
static void s_expect_close(pl_ws_t *ws, int code)
{
    char *data = NULL;
    size_t len;
    int close_code = 0, opcode;
    while ((opcode = pl_ws_recv(ws, 5000, &data, &len, &close_code)) == PL_WS_TEXT)
        free(data);
    free(data);
    cr_assert_eq(opcode, PL_WS_CLOSE, "expected a close frame, got %d", opcode);
    cr_assert_eq(close_code, code);
}

Test(e2e_ws, upgrade_needs_a_valid_token)
{
    int status = 0;
    cr_assert_null(pl_ws_connect(s_srv.port, "/ws", NULL, &status));
    cr_assert_eq(status, 401);
    cr_assert_null(pl_ws_connect(s_srv.port, "/ws?token=forged.token.value", NULL, &status));
    cr_assert_eq(status, 401);
    //  The token as a cookie, as a browser that logged in sends it from parley's page.
    char cookie[1024];
    snprintf(cookie, sizeof cookie, "Cookie: parley_token=%s\r\nOrigin: http://127.0.0.1:%d\r\n",
             s_token, s_srv.port);
    pl_ws_t *ws = pl_ws_connect(s_srv.port, "/ws", cookie, &status);
    cr_assert(ws, "cookie upgrade got %d", status);
    s_expect_pong(ws);
    pl_ws_close(&ws);
    //  And as a bearer header, for programs.
    char bearer[1024];
    snprintf(bearer, sizeof bearer, "Authorization: Bearer %s\r\n", s_token);
    ws = pl_ws_connect(s_srv.port, "/ws", bearer, &status);
    cr_assert(ws, "bearer upgrade got %d", status);
    pl_ws_close(&ws);
}

Test(e2e_ws, ping_gets_pong)
{
    pl_ws_t *ws = s_connect();
    s_expect_pong(ws);
    s_expect_pong(ws);
    pl_ws_close(&ws);
}

Test(e2e_ws, bad_requests_get_error_frames_and_the_connection_stays_usable)
{
    pl_ws_t *ws = s_connect();
    s_expect_error(ws, "{not json", "bad_request", NULL);
    s_expect_error(ws, "[1,2,3]", "bad_request", NULL);
    s_expect_error(ws, "{\"ref\":\"r1\"}", "bad_request", "r1");
    s_expect_error(ws, "{\"type\":42,\"ref\":\"r2\"}", "bad_request", "r2");
    s_expect_error(ws, "{\"type\":\"launch_rockets\",\"ref\":\"r3\"}", "bad_request", "r3");
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_BINARY, "\x01\x02", 2, true), 0);
    json_t *frame = pl_ws_recv_type(ws, "error", 5000);
    cr_assert(frame, "no error for a binary frame");
    json_decref(frame);
    s_expect_pong(ws);
    pl_ws_close(&ws);
}

Test(e2e_ws, fragmented_messages_are_reassembled)
{
    pl_ws_t *ws = s_connect();
    const char *a = "{\"type\":", *b = "\"ping\",", *c = "\"ref\":\"p1\"}";
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_TEXT, a, strlen(a), false), 0);
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_CONTINUATION, b, strlen(b), false), 0);
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_CONTINUATION, c, strlen(c), true), 0);
    json_t *frame = pl_ws_recv_json(ws, 5000);
    cr_assert(frame);
    cr_assert_str_eq(json_string_value(json_object_get(frame, "type")), "pong");
    json_decref(frame);
    pl_ws_close(&ws);
}

//  RFC 6455 lets any fragment be empty, the first included (Autobahn's case 6.1.2
//  sends a message as three empty fragments).
Test(e2e_ws, a_message_whose_first_fragment_is_empty_is_reassembled)
{
    pl_ws_t *ws = s_connect();
    const char *ping = "{\"type\":\"ping\",\"ref\":\"p2\"}";
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_TEXT, "", 0, false), 0);
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_CONTINUATION, "", 0, false), 0);
    cr_assert_eq(pl_ws_send_frame(ws, PL_WS_CONTINUATION, ping, strlen(ping), true), 0);
    json_t *frame = pl_ws_recv_json(ws, 5000);
    cr_assert(frame, "no answer to a message whose first fragment was empty");
    cr_assert_str_eq(json_string_value(json_object_get(frame, "ref")), "p2");
    json_decref(frame);
    pl_ws_close(&ws);
}

Test(e2e_ws, a_message_over_64_kib_closes_with_1009)
{
    pl_ws_t *ws = s_connect();
    size_t size = 64 * 1024 + 1;
    char *big = malloc(size);
    memset(big, ' ', size);
    big[0] = '{';
    big[size - 1] = '}';
    pl_ws_send_text(ws, big, size);
    free(big);
    s_expect_close(ws, 1009);
    pl_ws_close(&ws);
    //  Only that connection was closed: the server serves the next one.
    ws = s_connect();
    s_expect_pong(ws);
    pl_ws_close(&ws);
}

Test(e2e_ws, fragments_adding_up_past_the_limit_close_with_1009)
{
    pl_ws_t *ws = s_connect();
    char chunk[40000];
    memset(chunk, ' ', sizeof chunk);
    pl_ws_send_frame(ws, PL_WS_TEXT, chunk, sizeof chunk, false);
    pl_ws_send_frame(ws, PL_WS_CONTINUATION, chunk, sizeof chunk, true);
    s_expect_close(ws, 1009);
    pl_ws_close(&ws);
}

Test(e2e_ws, a_continuation_without_a_start_closes_with_1002)
{
    pl_ws_t *ws = s_connect();
    pl_ws_send_frame(ws, PL_WS_CONTINUATION, "x", 1, true);
    s_expect_close(ws, 1002);
    pl_ws_close(&ws);
}

Test(e2e_ws, upgrades_past_max_connections_get_503_and_slots_come_back)
{
    teardown();
    const char *args[] = {"--max-connections", "2", NULL};
    s_start(args);
    pl_ws_t *first = s_connect(), *second = s_connect();
    int status = 0;
    cr_assert_null(pl_fx_ws_connect(s_srv.port, s_token, &status));
    cr_assert_eq(status, 503);
    //  Plain HTTP is still served while every connection slot is taken.
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, "GET", "/api/me", s_token, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    pl_http_response_free(&r);
    //  A closed connection frees its slot.
    pl_ws_close(&first);
    pl_ws_t *third = s_connect();
    s_expect_pong(third);
    pl_ws_close(&third);
    pl_ws_close(&second);
}

Test(e2e_ws, a_vanished_client_frees_its_slot)
{
    teardown();
    const char *args[] = {"--max-connections", "1", NULL};
    s_start(args);
    pl_ws_t *ws = s_connect();
    pl_ws_abort(&ws);
    //  The server notices the dead socket; the slot is free again soon after. The
    //  client cannot observe that moment, so it retries for up to 10 s: generous
    //  for a loaded machine or a sanitizer build, never a wait when all is well.
    int status = 0;
    pl_ws_t *next = pl_fx_ws_connect_when_free(s_srv.port, s_token, 10000, &status);
    cr_assert(next, "the slot of the aborted connection never came back (status %d)", status);
    pl_ws_close(&next);
}

Test(e2e_ws, graceful_stop_closes_websockets_with_1001_and_exits_0)
{
    pl_ws_t *a = s_connect(), *b = s_connect();
    s_expect_pong(a);
    cr_assert_eq(kill(s_srv.pid, SIGTERM), 0);
    s_expect_close(a, 1001);
    s_expect_close(b, 1001);
    pl_ws_close(&a);
    pl_ws_close(&b);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
}
