/*  End to end: accounts over HTTP against the real parley binary, as a client sees
    them (PROTOCOL.md "Errors", "Auth", "Users"). Each test starts its own server on a
    free port with a fresh data directory. */
#include "fixtures.h"
#include "http_client.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static pl_server_t s_srv;

static void setup(void)
{
    memset(&s_srv, 0, sizeof s_srv);
    cr_assert_eq(pl_server_start(&s_srv, NULL), 0, "parley did not start");
}

static void teardown(void)
{
    if (s_srv.pid)
        cr_expect_eq(pl_server_stop(&s_srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&s_srv);
}

TestSuite(e2e_auth, .init = setup, .fini = teardown, .timeout = 60);

//  Sends a request and asserts the status and, for errors, the error code.
static pl_http_response_t s_call(const char *method, const char *path, const char *token,
                                 const char *body, int status, const char *error_code)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, method, path, token, body, &r), 0, "%s %s: no answer",
                 method, path);
    cr_assert_eq(r.status, status, "%s %s: status %d, body %s", method, path, r.status, r.body);
    if (error_code) {
        json_t *error = json_object_get(r.json, "error");
        cr_assert(json_is_object(error), "no error object in %s", r.body);
        cr_assert_str_eq(json_string_value(json_object_get(error, "code")), error_code);
        cr_assert(json_is_string(json_object_get(error, "message")));
    }
    return r;
}

static void s_expect(const char *method, const char *path, const char *token, const char *body,
                     int status, const char *error_code)
{
    pl_http_response_t r = s_call(method, path, token, body, status, error_code);
    pl_http_response_free(&r);
}

//  Asserts the error message mentions field.
static void s_expect_field_error(const char *path, const char *body, const char *field)
{
    pl_http_response_t r = s_call("POST", path, NULL, body, 400, "bad_request");
    const char *message =
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    cr_assert(strstr(message, field), "message '%s' does not name %s", message, field);
    pl_http_response_free(&r);
}

static int64_t s_signup(const char *username, char **token)
{
    int64_t id = 0;
    cr_assert_eq(pl_fx_signup(s_srv.port, username, "password1", "Display Name", token, &id), 201);
    return id;
}

Test(e2e_auth, signup_returns_the_user_a_token_and_a_cookie)
{
    pl_http_response_t r = s_call(
        "POST", "/api/auth/signup", NULL,
        "{\"username\":\"alice_1\",\"password\":\"correct horse\",\"display_name\":\"앨리스\"}",
        201, NULL);
    json_t *user = json_object_get(r.json, "user");
    cr_assert_gt(json_integer_value(json_object_get(user, "id")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(user, "username")), "alice_1");
    cr_assert_str_eq(json_string_value(json_object_get(user, "display_name")), "앨리스");
    cr_assert(json_is_null(json_object_get(user, "avatar_url")));
    cr_assert_gt(json_integer_value(json_object_get(user, "created_at")), 1700000000000LL);
    cr_assert_null(json_object_get(user, "password_hash"));
    cr_assert(strstr(r.body, "correct horse") == NULL);
    const char *token = json_string_value(json_object_get(r.json, "token"));
    cr_assert(token && strlen(token) > 20);
    const char *cookie = pl_http_header(&r, "Set-Cookie");
    cr_assert(cookie, "no Set-Cookie");
    cr_assert(strncmp(cookie, "parley_token=", 13) == 0);
    cr_assert(strstr(cookie, "HttpOnly") && strstr(cookie, "SameSite=Lax"));
    pl_http_response_free(&r);
}

Test(e2e_auth, login_me_and_users)
{
    char *token = NULL;
    int64_t id = s_signup("bob_2", &token);
    free(token);
    int64_t login_id = 0;
    cr_assert_eq(pl_fx_login(s_srv.port, "bob_2", "password1", &token, &login_id), 200);
    cr_assert_eq(login_id, id);

    pl_http_response_t me = s_call("GET", "/api/me", token, NULL, 200, NULL);
    cr_assert_eq(json_integer_value(json_object_get(me.json, "id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(me.json, "username")), "bob_2");
    pl_http_response_free(&me);

    char path[64];
    snprintf(path, sizeof path, "/api/users/%lld", (long long)id);
    pl_http_response_t user = s_call("GET", path, token, NULL, 200, NULL);
    cr_assert_eq(json_integer_value(json_object_get(user.json, "followers")), 0);
    cr_assert_eq(json_integer_value(json_object_get(user.json, "following")), 0);
    cr_assert(json_is_false(json_object_get(user.json, "followed_by_me")));
    pl_http_response_free(&user);
    s_expect("GET", "/api/users/987654", token, NULL, 404, "user_not_found");
    free(token);
}

Test(e2e_auth, patch_me_changes_only_what_is_sent)
{
    char *token = NULL;
    s_signup("carol_3", &token);
    pl_http_response_t r = s_call("PATCH", "/api/me", token,
                                  "{\"avatar_url\":\"https://img.example/c.png\"}", 200, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "avatar_url")),
                     "https://img.example/c.png");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "display_name")), "Display Name");
    pl_http_response_free(&r);
    r = s_call("PATCH", "/api/me", token, "{\"display_name\":\"Carol C\",\"avatar_url\":null}", 200,
               NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "display_name")), "Carol C");
    cr_assert(json_is_null(json_object_get(r.json, "avatar_url")));
    pl_http_response_free(&r);
    s_expect("PATCH", "/api/me", token, "{}", 400, "bad_request");
    s_expect("PATCH", "/api/me", token, "{\"display_name\":\"\"}", 400, "bad_request");
    s_expect("PATCH", "/api/me", token, "{\"avatar_url\":\"javascript:alert(1)\"}", 400,
             "bad_request");
    s_expect("PATCH", "/api/me", token, "{\"display_name\":5}", 400, "bad_request");
    //  Nothing the bad requests carried was stored.
    r = s_call("GET", "/api/me", token, NULL, 200, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "display_name")), "Carol C");
    pl_http_response_free(&r);
    free(token);
}

Test(e2e_auth, duplicate_username_is_409_and_keeps_the_first_account)
{
    char *token = NULL;
    s_signup("dave_4", &token);
    free(token);
    s_expect("POST", "/api/auth/signup", NULL,
             "{\"username\":\"dave_4\",\"password\":\"other password\",\"display_name\":\"X\"}",
             409, "username_taken");
    int64_t id = 0;
    cr_assert_eq(pl_fx_login(s_srv.port, "dave_4", "password1", &token, &id), 200);
    free(token);
    cr_assert_eq(pl_fx_login(s_srv.port, "dave_4", "other password", &token, &id), 401);
}

Test(e2e_auth, wrong_password_and_unknown_user_get_the_same_401)
{
    char *token = NULL;
    s_signup("erin_5", &token);
    free(token);
    pl_http_response_t wrong =
        s_call("POST", "/api/auth/login", NULL,
               "{\"username\":\"erin_5\",\"password\":\"not the password\"}", 401, "unauthorized");
    pl_http_response_t unknown = s_call(
        "POST", "/api/auth/login", NULL,
        "{\"username\":\"nobody_here\",\"password\":\"not the password\"}", 401, "unauthorized");
    cr_assert_str_eq(wrong.body, unknown.body);
    pl_http_response_free(&wrong);
    pl_http_response_free(&unknown);
}

Test(e2e_auth, endpoints_need_a_valid_token)
{
    char *token = NULL;
    s_signup("frank_6", &token);
    s_expect("GET", "/api/me", NULL, NULL, 401, "unauthorized");
    s_expect("GET", "/api/users/1", NULL, NULL, 401, "unauthorized");
    s_expect("GET", "/api/me", "not.a.token", NULL, 401, "unauthorized");
    //  One character of the signature changed.
    char *tampered = strdup(token);
    char *last = tampered + strlen(tampered) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    s_expect("GET", "/api/me", tampered, NULL, 401, "unauthorized");
    free(tampered);

    //  The same token works as ?token= and as the cookie.
    char path[1024];
    snprintf(path, sizeof path, "/api/me?token=%s", token);
    s_expect("GET", path, NULL, NULL, 200, NULL);
    char cookie[1024];
    snprintf(cookie, sizeof cookie, "Cookie: theme=dark; parley_token=%s\r\n", token);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/api/me", cookie, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "cookie auth: %d %s", r.status, r.body);
    pl_http_response_free(&r);
    free(token);
}

Test(e2e_auth, token_signed_with_another_key_is_refused_after_restart_with_a_new_secret)
{
    char *token = NULL;
    s_signup("gina_7", &token);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    const char *args[] = {"--jwt-secret", "0123456789abcdef0123456789abcdef-another", NULL};
    cr_assert_eq(pl_server_start(&s_srv, args), 0);
    s_expect("GET", "/api/me", token, NULL, 401, "unauthorized");
    free(token);
}

Test(e2e_auth, malformed_and_invalid_bodies_get_400_naming_the_field)
{
    s_expect("POST", "/api/auth/signup", NULL, "{\"username\":", 400, "bad_request");
    s_expect("POST", "/api/auth/signup", NULL, "[1,2]", 400, "bad_request");
    s_expect("POST", "/api/auth/signup", NULL, "", 400, "bad_request");
    s_expect("POST", "/api/auth/signup", NULL,
             "{\"username\":\"a\",\"username\":\"b\",\"password\":\"password1\"}", 400,
             "bad_request");
    s_expect_field_error("/api/auth/signup", "{\"password\":\"password1\",\"display_name\":\"X\"}",
                         "username");
    s_expect_field_error(
        "/api/auth/signup",
        "{\"username\":\"Upper\",\"password\":\"password1\",\"display_name\":\"X\"}", "username");
    s_expect_field_error("/api/auth/signup",
                         "{\"username\":\"okname\",\"password\":\"short\",\"display_name\":\"X\"}",
                         "password");
    s_expect_field_error("/api/auth/signup",
                         "{\"username\":\"okname\",\"password\":12345678,\"display_name\":\"X\"}",
                         "password");
    s_expect_field_error(
        "/api/auth/signup",
        "{\"username\":\"okname\",\"password\":\"password1\",\"display_name\":\"\"}",
        "display_name");
    s_expect_field_error("/api/auth/login", "{\"username\":\"okname\"}", "password");
    //  None of that created an account.
    int64_t id;
    char *token = NULL;
    cr_assert_eq(pl_fx_login(s_srv.port, "okname", "password1", &token, &id), 401);
}

Test(e2e_auth, oversize_and_non_json_bodies)
{
    size_t size = 70000;
    char *big = malloc(size + 1);
    memset(big, 'a', size);
    big[size] = '\0';
    memcpy(big, "{\"username\":\"", 13);
    s_expect("POST", "/api/auth/signup", NULL, big, 413, "payload_too_large");
    free(big);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "POST", "/api/auth/login",
                                 "Content-Type: text/plain\r\n", "hello", 5, &r),
                 0);
    cr_assert_eq(r.status, 415);
    cr_assert(strstr(r.body, "unsupported_media_type"));
    pl_http_response_free(&r);
    //  The server is still healthy after both.
    s_expect("GET", "/healthz", NULL, NULL, 200, NULL);
}

Test(e2e_auth, unknown_routes_and_methods)
{
    s_expect("GET", "/api/nothing", NULL, NULL, 404, "not_found");
    s_expect("GET", "/api/users/abc", NULL, NULL, 404, "not_found");
    s_expect("GET", "/api/users/0", NULL, NULL, 404, "not_found");
    s_expect("DELETE", "/api/me", NULL, NULL, 405, "method_not_allowed");
}

Test(e2e_auth, accounts_and_tokens_survive_a_restart_and_a_kill_9)
{
    char *token = NULL;
    int64_t id = s_signup("henry_8", &token);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    cr_assert_eq(pl_server_start(&s_srv, NULL), 0);
    //  The generated JWT key was kept in the data dir: the old token still works.
    pl_http_response_t me = s_call("GET", "/api/me", token, NULL, 200, NULL);
    cr_assert_eq(json_integer_value(json_object_get(me.json, "id")), id);
    pl_http_response_free(&me);
    free(token);

    //  Acknowledged means on disk: a signup answered 201 survives SIGKILL right after.
    int64_t second = s_signup("iris_9", &token);
    free(token);
    pl_server_kill9(&s_srv);
    cr_assert_eq(pl_server_start(&s_srv, NULL), 0);
    int64_t login_id = 0;
    cr_assert_eq(pl_fx_login(s_srv.port, "iris_9", "password1", &token, &login_id), 200);
    cr_assert_eq(login_id, second);
    free(token);
}

Test(e2e_auth, healthz)
{
    pl_http_response_t r = s_call("GET", "/healthz", NULL, NULL, 200, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    pl_http_response_free(&r);
}

enum { RACERS = 16 };
static atomic_int s_created, s_taken, s_other;

static void *s_race_signup(void *arg)
{
    char *token = NULL;
    int64_t id;
    int status = pl_fx_signup(s_srv.port, "same_name", "password1", "Racer", &token, &id);
    free(token);
    atomic_fetch_add(status == 201 ? &s_created : status == 409 ? &s_taken : &s_other, 1);
    return NULL;
}

Test(e2e_auth, racing_signups_for_one_name_create_exactly_one_account)
{
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, s_race_signup, NULL), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&s_created), 1);
    cr_assert_eq(atomic_load(&s_taken), RACERS - 1);
    cr_assert_eq(atomic_load(&s_other), 0);
}
