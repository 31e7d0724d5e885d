/*  End to end: GET /api/openapi.json from the real parley binary. It needs no token,
    is JSON that jansson parses, and is byte for byte the document the build embedded
    (tests/test_openapi.c checks that document against the routes). And the real
    answers of a walk through the API, successes and errors, match what the document
    says each operation answers with that status (openapi_check.h). */
#include "e2e_suite.h"
#include "fixtures.h"
#include "openapi_check.h"
#include "parley/assets.h"

#include <stdlib.h>
#include <unistd.h>

TestSuite(e2e_openapi, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 30);

//  Checks an answer against the document's description of (method, doc_path,
//  status), and when the server took the request (2xx), its JSON body (request;
//  NULL for none) against the operation's requestBody, naming the request when
//  either does not match.
static void s_check(const char *method, const char *doc_path, const char *path, const char *request,
                    const pl_http_response_t *r)
{
    json_error_t error;
    json_t *doc =
        json_loadb((const char *)pl_asset_openapi_json, pl_asset_openapi_json_size, 0, &error);
    cr_assert_not_null(doc, "openapi.json: %s", error.text);
    char lower[8], err[512];
    size_t i = 0;
    for (; method[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(method[i] - 'A' + 'a');
    lower[i] = '\0';
    const char *problem =
        pl_openapi_check(doc, lower, doc_path, r->status, r->json, err, sizeof err);
    cr_assert_null(problem, "%s %s answered what openapi.json does not say: %s\nthe answer: %s",
                   method, path, problem, r->body);
    if (r->status < 300) {
        json_t *body = request ? json_loads(request, 0, NULL) : NULL;
        problem = pl_openapi_check_request(doc, lower, doc_path, body, err, sizeof err);
        cr_assert_null(problem, "%s %s took a body openapi.json refuses: %s\nthe body: %s", method,
                       path, problem, request);
        json_decref(body);
    }
    json_decref(doc);
}

//  Sends a JSON request (pl_api_call: the status is asserted), checks the answer
//  and the request against the document, and returns the answer's JSON (caller
//  decrefs; NULL for none).
static json_t *s_call(const char *method, const char *doc_path, const char *path, const char *token,
                      const char *body, int status)
{
    pl_http_response_t r = pl_api_call(method, path, token, body, status, NULL);
    s_check(method, doc_path, path, body, &r);
    json_t *json = json_incref(r.json);
    pl_http_response_free(&r);
    return json;
}

//  Sends a request with its own head lines and body (any bytes), asserts the
//  status and checks the answer against the document; the caller frees *r.
static void s_raw(const char *method, const char *doc_path, const char *path, const char *head,
                  const void *body, size_t len, int status, pl_http_response_t *r)
{
    cr_assert_eq(pl_http_request(s_srv.port, method, path, head, body, len, r), 0,
                 "%s %s: no answer", method, path);
    cr_assert_eq(r->status, status, "%s %s: %d %s", method, path, r->status, r->body);
    s_check(method, doc_path, path, NULL, r);
}

//  True when the notifications page holds one of this kind.
static bool s_holds_kind(const json_t *page, const char *kind)
{
    size_t i;
    json_t *one;
    json_array_foreach(json_object_get(page, "notifications"), i, one)
    {
        if (strcmp(json_string_value(json_object_get(one, "kind")), kind) == 0)
            return true;
    }
    return false;
}

//  Waits until token's notifications hold one of every kind (they are written after
//  the answers that cause them), checking each answer against the document.
static void s_await_every_notification_kind(const char *token)
{
    static const char *const kinds[] = {"follow", "room_created", "dm", "group_message"};
    for (int tries = 0; tries < 100; tries++) {
        json_t *page =
            s_call("GET", "/api/notifications", "/api/notifications?limit=100", token, NULL, 200);
        size_t held = 0;
        while (held < sizeof kinds / sizeof kinds[0] && s_holds_kind(page, kinds[held]))
            held++;
        json_decref(page);
        if (held == sizeof kinds / sizeof kinds[0])
            return;
        usleep(50 * 1000);
    }
    cr_assert_fail("the notifications never held one of every kind");
}

Test(e2e_openapi, serves_the_embedded_document_without_a_token)
{
    pl_http_response_t r;
    s_raw("GET", "/api/openapi.json", "/api/openapi.json", NULL, NULL, 0, 200, &r);
    cr_expect_str_eq(pl_http_header(&r, "Content-Type"), "application/json");
    cr_expect_str_eq(pl_http_header(&r, "Cache-Control"), "no-cache");
    cr_expect_not_null(pl_http_header(&r, "X-Request-Id"));
    cr_assert_not_null(r.json, "the body is not JSON");
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    cr_expect_not_null(json_object_get(json_object_get(r.json, "paths"), "/api/openapi.json"));
    cr_expect(r.body_len == pl_asset_openapi_json_size &&
                  memcmp(r.body, pl_asset_openapi_json, r.body_len) == 0,
              "the body is not the embedded src/assets/openapi.json");
    pl_http_response_free(&r);
}

Test(e2e_openapi, takes_only_get)
{
    pl_api_expect("POST", "/api/openapi.json", NULL, "{}", 405, "method_not_allowed");
}

Test(e2e_openapi, answers_match_the_documented_schemas)
{
    json_decref(s_call("POST", "/api/auth/signup", "/api/auth/signup", NULL,
                       "{\"username\":\"alice\",\"password\":\"correct horse\","
                       "\"display_name\":\"Alice\"}",
                       201));
    json_t *session = s_call("POST", "/api/auth/login", "/api/auth/login", NULL,
                             "{\"username\":\"alice\",\"password\":\"correct horse\"}", 200);
    char *alice = strdup(pl_api_str(session, "token"));
    json_decref(session);
    pl_api_user_t bob = pl_api_signup("Bob");
    json_decref(s_call("GET", "/api/me", "/api/me", alice, NULL, 200));
    json_decref(s_call("PATCH", "/api/me", "/api/me", alice,
                       "{\"display_name\":\"Alice A.\",\"avatar_url\":\"/a.png\"}", 200));
    const char *bob_path = pl_api_fmt("/api/users/%lld", (long long)bob.id);
    json_decref(s_call("GET", "/api/users/{user_id}", bob_path, alice, NULL, 200));
    json_decref(s_call("POST", "/api/users/{user_id}/follow", pl_api_fmt("%s/follow", bob_path),
                       alice, NULL, 204));
    json_t *dm =
        s_call("POST", "/api/users/{user_id}/dm", pl_api_fmt("%s/dm", bob_path), alice, NULL, 201);
    json_decref(s_call("POST", "/api/rooms/{room_id}/messages",
                       pl_api_fmt("/api/rooms/%lld/messages", (long long)pl_api_int(dm, "id")),
                       alice, "{\"body\":\"hi Bob\"}", 201));
    json_decref(dm);

    json_t *content = s_call("POST", "/api/contents", "/api/contents", alice,
                             "{\"kind\":\"movie\",\"title\":\"Alien\",\"year\":1979}", 201);
    const char *content_path =
        pl_api_fmt("/api/contents/%lld", (long long)pl_api_int(content, "id"));
    json_decref(content);
    json_decref(
        s_call("GET", "/api/contents", "/api/contents?q=ali&kind=movie&limit=5", alice, NULL, 200));
    json_decref(s_call("GET", "/api/contents/{content_id}", content_path, alice, NULL, 200));
    json_decref(s_call("POST", "/api/contents/{content_id}/like",
                       pl_api_fmt("%s/like", content_path), bob.token, NULL, 204));
    json_t *room = s_call("POST", "/api/contents/{content_id}/room",
                          pl_api_fmt("%s/room", content_path), alice, NULL, 201);
    const char *room_path = pl_api_fmt("/api/rooms/%lld", (long long)pl_api_int(room, "id"));
    json_decref(room);
    json_decref(s_call("POST", "/api/rooms/{room_id}/join", pl_api_fmt("%s/join", room_path),
                       bob.token, NULL, 204));

    pl_http_response_t r;
    const char *upload_head =
        pl_api_fmt("Content-Type: image/png\r\nAuthorization: Bearer %s\r\n", alice);
    s_raw("POST", "/api/uploads", "/api/uploads", upload_head, pl_fx_png, pl_fx_png_len, 201, &r);
    char *url = strdup(pl_api_str(r.json, "url"));
    pl_http_response_free(&r);
    s_raw("GET", "/uploads/{name}", url, NULL, NULL, 0, 200, &r);
    pl_http_response_free(&r);

    const char *messages = pl_api_fmt("%s/messages", room_path);
    json_decref(s_call("POST", "/api/rooms/{room_id}/messages", messages, alice,
                       "{\"client_id\":\"c-1\",\"body\":\"hello\"}", 201));
    json_decref(s_call("POST", "/api/rooms/{room_id}/messages", messages, alice,
                       pl_api_fmt("{\"kind\":\"image\",\"url\":\"%s\"}", url), 201));
    json_decref(s_call("GET", "/api/rooms/{room_id}/messages",
                       pl_api_fmt("%s?after=0&limit=10", messages), bob.token, NULL, 200));
    json_decref(s_call("POST", "/api/rooms/{room_id}/read", pl_api_fmt("%s/read", room_path),
                       bob.token, "{\"seq\":1}", 204));
    json_decref(s_call("GET", "/api/rooms", "/api/rooms", alice, NULL, 200));
    json_decref(s_call("GET", "/api/rooms/{room_id}", room_path, bob.token, NULL, 200));
    s_await_every_notification_kind(bob.token);
    json_decref(s_call("POST", "/api/notifications/read", "/api/notifications/read", bob.token,
                       "{\"all\":true}", 204));

    json_decref(s_call("GET", "/api/rooms/{room_id}", "/api/rooms/99999", alice, NULL, 404));
    json_decref(s_call("GET", "/api/contents", "/api/contents?limit=0", alice, NULL, 400));
    json_decref(s_call("GET", "/api/me", "/api/me", NULL, NULL, 401));
    json_decref(s_call("GET", "/healthz", "/healthz", NULL, NULL, 200));
    free(url);
    free(alice);
    pl_api_user_free(&bob);
}

Test(e2e_openapi, refusals_are_documented)
{
    pl_api_user_t alice = pl_api_signup("Alice");
    pl_api_user_t bob = pl_api_signup("Bob");
    int64_t room = pl_api_new_room(alice.token);
    const char *carol =
        "{\"username\":\"carol\",\"password\":\"long enough\",\"display_name\":\"Carol\"}";
    json_decref(s_call("POST", "/api/auth/signup", "/api/auth/signup", NULL, carol, 201));
    json_decref(s_call("POST", "/api/auth/signup", "/api/auth/signup", NULL, carol, 409));
    json_decref(s_call("POST", "/api/auth/login", "/api/auth/login", NULL,
                       "{\"username\":\"nobody\",\"password\":\"wrong password\"}", 401));
    const char *follow = pl_api_fmt("/api/users/%lld/follow", (long long)bob.id);
    json_decref(s_call("POST", "/api/users/{user_id}/follow", follow, alice.token, NULL, 204));
    json_decref(s_call("POST", "/api/users/{user_id}/follow", follow, alice.token, NULL, 409));
    json_decref(s_call("DELETE", "/api/users/{user_id}/follow",
                       pl_api_fmt("/api/users/%lld/follow", (long long)alice.id), alice.token, NULL,
                       400));
    json_decref(s_call("GET", "/api/rooms/{room_id}",
                       pl_api_fmt("/api/rooms/%lld", (long long)room), bob.token, NULL, 403));
    json_decref(s_call("POST", "/api/contents/{content_id}/like", "/api/contents/99999/like",
                       alice.token, NULL, 404));
    json_decref(s_call("POST", "/api/rooms/{room_id}/messages",
                       pl_api_fmt("/api/rooms/%lld/messages", (long long)room), alice.token,
                       "{\"body\":\"\"}", 400));
    json_decref(
        s_call("GET", "/api/events", "/api/events?last_event_id=x", alice.token, NULL, 400));

    pl_http_response_t r;
    const char *head =
        pl_api_fmt("Content-Type: text/plain\r\nAuthorization: Bearer %s\r\n", alice.token);
    s_raw("POST", "/api/contents", "/api/contents", head, "{}", 2, 415, &r);
    pl_http_response_free(&r);
    s_raw("POST", "/api/uploads", "/api/uploads", head, "hello", 5, 415, &r);
    pl_http_response_free(&r);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
}
