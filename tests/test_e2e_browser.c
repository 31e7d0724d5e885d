/*  End to end: PROTOCOL.md "Browser security" against the real parley binary. The
    login cookie is an ambient credential: a page of any site can make the browser
    send it. So a WebSocket upgrade, an SSE stream or a state-changing request that
    uses it must come from an allowed origin (403 forbidden otherwise), while a token
    in the Authorization header or ?token= is not subject to the check. And logins
    and sign-ups are throttled per username and per client address. */
#include "e2e_suite.h"
#include "fixtures.h"
#include "sse_client.h"

#include <stdlib.h>
#include <unistd.h>

TestSuite(e2e_browser, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 60);

#define FOREIGN "http://evil.example"

//  Request headers: the cookie of user, with origin when not NULL.
static const char *s_cookie(const pl_api_user_t *user, const char *origin)
{
    static char headers[1024];
    snprintf(headers, sizeof headers, "Cookie: theme=dark; parley_token=%s\r\n%s%s%s", user->token,
             origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "");
    return headers;
}

//  The server's own origin, as a browser on the page it serves would send it.
static const char *s_own(void)
{
    return pl_api_fmt("http://127.0.0.1:%d", s_srv.port);
}

static const char *s_bearer(const pl_api_user_t *user, const char *origin)
{
    return pl_api_fmt("Authorization: Bearer %.200s\r\nOrigin: %s\r\n", user->token, origin);
}

//  Opens /ws with headers and returns the status the upgrade got.
static int s_ws_status(const char *path, const char *headers)
{
    int status = 0;
    pl_ws_t *ws = pl_ws_connect(s_srv.port, path, headers, &status);
    if (ws) {
        //  The connection works: it answers a ping.
        json_t *ping = json_pack("{s:s}", "type", "ping");
        cr_assert_eq(pl_ws_send_json(ws, ping), 0);
        json_decref(ping);
        json_t *pong = pl_ws_recv_type(ws, "pong", 5000);
        cr_assert_not_null(pong, "an accepted WebSocket did not answer a ping");
        json_decref(pong);
        pl_ws_close(&ws);
    }
    return status;
}

//  Sends a request with raw headers and an optional JSON body; returns the answer.
static pl_http_response_t s_request(const char *method, const char *path, const char *headers,
                                    const char *body)
{
    char all[2048];
    snprintf(all, sizeof all, "%s%s", headers, body ? "Content-Type: application/json\r\n" : "");
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, method, path, all, body, body ? strlen(body) : 0, &r),
                 0, "%s %s: no answer", method, path);
    return r;
}

static void s_expect_status(const char *method, const char *path, const char *headers,
                            const char *body, int status)
{
    pl_http_response_t r = s_request(method, path, headers, body);
    cr_assert_eq(r.status, status, "%s %s with %s: %d %s", method, path, headers, r.status, r.body);
    if (status == 403) {
        json_t *error = json_object_get(r.json, "error");
        cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "forbidden", "%s",
                         r.body);
    }
    pl_http_response_free(&r);
}

//  Opens /api/events with headers and returns the status it got (200: streaming).
static int s_sse_status(const char *headers)
{
    pl_http_response_t refused = {0};
    pl_sse_t *sse = pl_sse_connect(s_srv.port, "/api/events", headers, &refused);
    if (sse) {
        pl_sse_close(&sse);
        return 200;
    }
    int status = refused.status;
    if (status == 403)
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(refused.json, "error"), "code")),
            "forbidden", "%s", refused.body);
    pl_http_response_free(&refused);
    return status;
}

Test(e2e_browser, a_websocket_with_the_cookie_needs_an_allowed_origin)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, s_own())), 101);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, FOREIGN)), 403);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, "null")), 403);
    //  Browsers always send Origin with an upgrade: one without is not from a page
    //  that may use the cookie.
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, NULL)), 403);
    //  A host that only starts like ours is another origin.
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, pl_api_fmt("%s.evil.example", s_own()))), 403);
    pl_api_user_free(&alice);
}

Test(e2e_browser, a_websocket_with_a_token_is_not_checked)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    cr_assert_eq(
        s_ws_status(pl_api_fmt("/ws?token=%.200s", alice.token), "Origin: " FOREIGN "\r\n"), 101);
    cr_assert_eq(s_ws_status("/ws", s_bearer(&alice, FOREIGN)), 101);
    //  A foreign page that has no token is still refused as before.
    cr_assert_eq(s_ws_status("/ws", "Origin: " FOREIGN "\r\n"), 401);
    pl_api_user_free(&alice);
}

Test(e2e_browser, an_event_stream_with_the_cookie_needs_an_allowed_origin)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    cr_assert_eq(s_sse_status(s_cookie(&alice, s_own())), 200);
    cr_assert_eq(s_sse_status(s_cookie(&alice, FOREIGN)), 403);
    //  A same-origin EventSource sends no Origin (a GET): the cookie is enough.
    cr_assert_eq(s_sse_status(s_cookie(&alice, NULL)), 200);
    cr_assert_eq(s_sse_status(s_bearer(&alice, FOREIGN)), 200);
    pl_api_user_free(&alice);
}

Test(e2e_browser, a_state_change_with_the_cookie_needs_an_allowed_origin)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    const char *body = "{\"kind\":\"movie\",\"title\":\"Forged\"}";
    s_expect_status("POST", "/api/contents", s_cookie(&alice, FOREIGN), body, 403);
    s_expect_status("POST", "/api/contents", s_cookie(&alice, NULL), body, 403);
    s_expect_status("PATCH", "/api/me", s_cookie(&alice, FOREIGN), "{\"display_name\":\"Owned\"}",
                    403);
    //  Nothing the refused requests asked for happened.
    json_t *found = pl_api_json("GET", "/api/contents?q=forged", alice.token, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(found, "contents")), 0, "%s", pl_api_show(found));
    json_decref(found);
    json_t *me = pl_api_json("GET", "/api/me", alice.token, NULL, 200);
    cr_assert_str_eq(pl_api_str(me, "display_name"), "Alice");
    json_decref(me);

    s_expect_status("POST", "/api/contents", s_cookie(&alice, s_own()), body, 201);
    s_expect_status("POST", "/api/contents", s_bearer(&alice, FOREIGN), body, 201);
    //  Reads with the cookie are fine without Origin, but not from a foreign page.
    s_expect_status("GET", "/api/me", s_cookie(&alice, NULL), NULL, 200);
    s_expect_status("GET", "/api/me", s_cookie(&alice, FOREIGN), NULL, 403);
    pl_api_user_free(&alice);
}

Test(e2e_browser, allowed_origins_and_public_url_decide_what_is_own)
{
    pl_e2e_restart_with((const char *const[]){"--allowed-origins",
                                              "https://app.example, http://localhost:3000", NULL});
    pl_api_user_t alice = pl_api_signup("Alice");
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, "https://app.example")), 101);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, "http://localhost:3000")), 101);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, s_own())), 101);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&alice, "http://app.example")), 403);
    pl_api_user_free(&alice);

    //  With a public URL, the Host a request names no longer makes an origin its own.
    pl_e2e_restart_with((const char *const[]){"--public-url", "https://chat.example/", NULL});
    pl_api_user_t bob = pl_api_signup("Bob");
    cr_assert_eq(s_ws_status("/ws", s_cookie(&bob, "https://chat.example")), 101);
    cr_assert_eq(s_ws_status("/ws", s_cookie(&bob, s_own())), 403);
    pl_api_user_free(&bob);
}

Test(e2e_browser, a_malformed_origin_option_stops_start_up)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = {"--allowed-origins", "https://ok.example, not an origin",
                                "--data-dir", pl_api_fmt("%s/other", s_srv.data_dir), NULL};
    cr_assert_neq(pl_parley_run(args, 10000, &out, &err), 0);
    cr_assert(strstr(err, "allowed_origins") && strstr(err, "'not an origin'"), "%s", err);
    free(out);
    free(err);
}

//  --------------------------------------------------------------------------------
//  Throttling

//  POSTs {"username", "password"(, "display_name")} to path with extra headers (NULL:
//  none); returns the status, and the Retry-After seconds of a 429 in *retry_after.
static int s_auth(const char *path, const char *username, const char *password, const char *headers,
                  int *retry_after)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"%s\",\"display_name\":\"Someone\"}", username,
             password);
    pl_http_response_t r = s_request("POST", path, headers ? headers : "", body);
    int status = r.status;
    if (status == 429) {
        json_t *error = json_object_get(r.json, "error");
        cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "rate_limited", "%s",
                         r.body);
        const char *value = pl_http_header(&r, "Retry-After");
        cr_assert_not_null(value, "a 429 without Retry-After");
        *retry_after = atoi(value);
        cr_assert(*retry_after >= 1 && *retry_after <= 2, "Retry-After: %s", value);
    }
    pl_http_response_free(&r);
    return status;
}

static int s_login(const char *username, const char *password, const char *headers,
                   int *retry_after)
{
    return s_auth("/api/auth/login", username, password, headers, retry_after);
}

Test(e2e_browser, failed_logins_for_a_username_are_throttled)
{
    pl_e2e_restart_with((const char *const[]){"--login-fail-limit-user", "3",
                                              "--auth-throttle-window-s", "1", NULL});
    int retry_after = 0;
    cr_assert_eq(s_auth("/api/auth/signup", "alice", "right password", NULL, &retry_after), 201);
    cr_assert_eq(s_auth("/api/auth/signup", "bob", "right password", NULL, &retry_after), 201);
    //  A success clears the count: two failures, a success, two failures are fine.
    for (int i = 0; i < 2; i++)
        cr_assert_eq(s_login("alice", "wrong password", NULL, &retry_after), 401);
    cr_assert_eq(s_login("alice", "right password", NULL, &retry_after), 200);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s_login("alice", "wrong password", NULL, &retry_after), 401);
    //  Limited now, whatever the password, and for an unknown name the same way.
    cr_assert_eq(s_login("alice", "wrong password", NULL, &retry_after), 429);
    cr_assert_eq(s_login("alice", "right password", NULL, &retry_after), 429);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s_login("nobody", "wrong password", NULL, &retry_after), 401);
    cr_assert_eq(s_login("nobody", "wrong password", NULL, &retry_after), 429);
    //  Another username from the same address is not limited.
    cr_assert_eq(s_login("bob", "right password", NULL, &retry_after), 200);
    //  Once the window has passed (the server said how long), the right password works.
    cr_assert_eq(s_login("alice", "right password", NULL, &retry_after), 429);
    sleep((unsigned)retry_after);
    cr_assert_eq(s_login("alice", "right password", NULL, &retry_after), 200);
}

Test(e2e_browser, failed_logins_from_an_address_are_throttled)
{
    pl_e2e_restart_with((const char *const[]){"--login-fail-limit-addr", "4",
                                              "--auth-throttle-window-s", "1", NULL});
    int retry_after = 0;
    cr_assert_eq(s_auth("/api/auth/signup", "alice", "right password", NULL, &retry_after), 201);
    //  Cycling usernames does not help: the address runs out.
    const char *names[] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(s_login(names[i], "wrong password", NULL, &retry_after), 401);
    cr_assert_eq(s_login("alice", "right password", NULL, &retry_after), 429);
    //  X-Forwarded-For is anyone's to write: from an untrusted peer it changes nothing.
    cr_assert_eq(
        s_login("alice", "right password", "X-Forwarded-For: 198.51.100.1\r\n", &retry_after), 429);
}

Test(e2e_browser, a_trusted_proxy_names_the_client)
{
    pl_e2e_restart_with((const char *const[]){"--login-fail-limit-addr", "2", "--trusted-proxies",
                                              "127.0.0.0/8", "--auth-throttle-window-s", "1",
                                              NULL});
    int retry_after = 0;
    cr_assert_eq(s_auth("/api/auth/signup", "alice", "right password", NULL, &retry_after), 201);
    const char *first = "X-Forwarded-For: 203.0.113.5, 198.51.100.1\r\n";
    const char *second = "X-Forwarded-For: 198.51.100.2\r\n";
    for (int i = 0; i < 2; i++)
        cr_assert_eq(s_login("alice", "wrong password", first, &retry_after), 401);
    cr_assert_eq(s_login("alice", "right password", first, &retry_after), 429);
    //  The client the proxy saw is 198.51.100.1: the forged 203.0.113.5 is no one.
    cr_assert_eq(
        s_login("alice", "right password", "X-Forwarded-For: 198.51.100.1\r\n", &retry_after), 429);
    //  Nor is a forged line before the one a proxy added of its own.
    cr_assert_eq(s_login("alice", "right password",
                         "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\n",
                         &retry_after),
                 429);
    cr_assert_eq(s_login("alice", "right password", second, &retry_after), 200);
}

Test(e2e_browser, sign_ups_from_an_address_are_throttled)
{
    pl_e2e_restart_with(
        (const char *const[]){"--signup-limit-addr", "3", "--auth-throttle-window-s", "1", NULL});
    int retry_after = 0;
    cr_assert_eq(s_auth("/api/auth/signup", "user_1", "right password", NULL, &retry_after), 201);
    cr_assert_eq(s_auth("/api/auth/signup", "user_2", "right password", NULL, &retry_after), 201);
    cr_assert_eq(s_auth("/api/auth/signup", "user_1", "right password", NULL, &retry_after), 409);
    cr_assert_eq(s_auth("/api/auth/signup", "user_3", "right password", NULL, &retry_after), 429);
    //  The refused sign-up stored nothing: once the window passes, the name is free.
    sleep((unsigned)retry_after);
    cr_assert_eq(s_auth("/api/auth/signup", "user_3", "right password", NULL, &retry_after), 201);
    cr_assert_eq(s_login("user_3", "right password", NULL, &retry_after), 200);
}

//  --------------------------------------------------------------------------------
//  Cross-origin reads (CORS) for allowed_origins

Test(e2e_browser, an_allowed_origin_may_read_answers_and_preflight)
{
    pl_e2e_restart_with((const char *const[]){"--allowed-origins", "https://app.example", NULL});
    pl_api_user_t alice = pl_api_signup("Alice");
    pl_http_response_t r =
        s_request("GET", "/api/me", s_cookie(&alice, "https://app.example"), NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(pl_http_header(&r, "Access-Control-Allow-Origin"), "https://app.example");
    cr_assert_str_eq(pl_http_header(&r, "Access-Control-Allow-Credentials"), "true");
    cr_assert_str_eq(pl_http_header(&r, "Vary"), "Origin");
    pl_http_response_free(&r);
    //  A preflight of a JSON POST with the cookie.
    const char *preflight = "Origin: https://app.example\r\n"
                            "Access-Control-Request-Method: POST\r\n"
                            "Access-Control-Request-Headers: content-type\r\n";
    r = s_request("OPTIONS", "/api/contents", preflight, NULL);
    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_str_eq(pl_http_header(&r, "Access-Control-Allow-Origin"), "https://app.example");
    cr_assert(strstr(pl_http_header(&r, "Access-Control-Allow-Methods"), "POST"));
    cr_assert(strstr(pl_http_header(&r, "Access-Control-Allow-Headers"), "Content-Type"));
    pl_http_response_free(&r);
    //  A credentialed EventSource gets its stream with the headers too.
    pl_sse_t *sse =
        pl_sse_connect(s_srv.port, "/api/events", s_cookie(&alice, "https://app.example"), NULL);
    cr_assert_not_null(sse);
    cr_assert_str_eq(pl_http_header(pl_sse_response(sse), "Access-Control-Allow-Origin"),
                     "https://app.example");
    pl_sse_close(&sse);
    pl_api_user_free(&alice);
}

Test(e2e_browser, another_origin_gets_no_cors_headers)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    //  Even with a token it may use, a foreign page gets nothing that lets it read.
    pl_http_response_t r = s_request("GET", "/api/me", s_bearer(&alice, FOREIGN), NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_null(pl_http_header(&r, "Access-Control-Allow-Origin"));
    pl_http_response_free(&r);
    r = s_request("OPTIONS", "/api/contents",
                  "Origin: " FOREIGN "\r\nAccess-Control-Request-Method: POST\r\n", NULL);
    cr_assert_eq(r.status, 403, "%d %s %s", r.status, r.headers, r.body);
    cr_assert_null(pl_http_header(&r, "Access-Control-Allow-Origin"));
    pl_http_response_free(&r);
    pl_api_user_free(&alice);
}

Test(e2e_browser, logout_expires_the_cookie_from_an_allowed_page_only)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    //  A foreign page cannot end the session (the cookie's rule for every POST).
    s_expect_status("POST", "/api/auth/logout", s_cookie(&alice, FOREIGN), NULL, 403);
    pl_http_response_t r = s_request("POST", "/api/auth/logout", s_cookie(&alice, s_own()), NULL);
    cr_assert_eq(r.status, 204, "%d %s", r.status, r.body);
    cr_assert_str_eq(pl_http_header(&r, "Set-Cookie"),
                     "parley_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    pl_http_response_free(&r);
    s_expect_status("POST", "/api/auth/logout", "", NULL, 401);
    pl_api_user_free(&alice);
}

Test(e2e_browser, the_client_page_and_its_assets_carry_the_security_headers)
{
    pl_http_response_t page = s_request("GET", "/", "", NULL);
    cr_assert_eq(page.status, 200);
    cr_assert_str_eq(pl_http_header(&page, "Cache-Control"), "no-cache");
    cr_assert_str_eq(pl_http_header(&page, "X-Content-Type-Options"), "nosniff");
    const char *csp = pl_http_header(&page, "Content-Security-Policy");
    cr_assert(csp && strstr(csp, "script-src 'self'") && strstr(csp, "connect-src 'self'") &&
                  !strstr(csp, "unsafe-inline"),
              "%s", csp ? csp : "no CSP");
    cr_assert_null(pl_http_header(&page, "Content-Encoding"), "gzip that was not asked for");
    //  The page names its script under the build's version.
    const char *src = strstr(page.body, "/assets/");
    cr_assert_not_null(src, "%s", page.body);
    char path[128];
    cr_assert_eq(sscanf(src, "%127[^\"]", path), 1);
    pl_http_response_free(&page);

    pl_http_response_t asset = s_request("GET", path, "Accept-Encoding: gzip, br\r\n", NULL);
    cr_assert_eq(asset.status, 200, "%s: %d", path, asset.status);
    cr_assert_str_eq(pl_http_header(&asset, "Cache-Control"),
                     "public, max-age=31536000, immutable");
    cr_assert_str_eq(pl_http_header(&asset, "Content-Encoding"), "gzip");
    cr_assert_eq((unsigned char)asset.body[0], 0x1f, "not a gzip stream");
    pl_http_response_free(&asset);

    s_expect_status("GET", "/assets/0123456789abcdef/app.js", "", NULL, 404);
    s_expect_status("GET", "/assets/nothing.js", "", NULL, 404);
}
