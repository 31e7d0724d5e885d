/*  tests/support/api.c
 *
 *  Owns the asserting request helpers of the end-to-end suites (api.h): one
 *  request per call through the HTTP client, the status and error shape checked
 *  with Criterion, and the small set-up steps (users, contents, rooms,
 *  messages) that several suites repeat, and the waits on /healthz.
 */
#include "api.h"
#include "fixtures.h"
#include "net.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int s_port;

void pl_api_use_port(int port)
{
    atomic_store(&s_port, port);
}

int pl_api_port(void)
{
    return atomic_load(&s_port);
}

const char *pl_api_fmt(const char *fmt, ...)
{
    static _Thread_local char buffers[8][256];
    static _Thread_local unsigned next;
    char *buf = buffers[next++ % 8];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, sizeof buffers[0], fmt, args);
    va_end(args);
    return buf;
}

char *pl_api_dump(json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    cr_assert(text);
    return text;
}

const char *pl_api_show(const json_t *value)
{
    static _Thread_local char buffers[2][4096];
    static _Thread_local unsigned next;
    char *buf = buffers[next++ % 2];
    if (!value)
        return "(null)";
    size_t len = json_dumpb(value, buf, sizeof buffers[0] - 1, JSON_COMPACT | JSON_ENCODE_ANY);
    if (len >= sizeof buffers[0])
        len = 0;
    buf[len] = '\0';
    return len ? buf : "(over 4 KiB)";
}

pl_http_response_t pl_api_call(const char *method, const char *path, const char *token,
                               const char *body, int status, const char *error_code)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(pl_api_port(), method, path, token, body, &r), 0, "%s %s: no answer",
                 method, path);
    cr_assert_eq(r.status, status, "%s %s %s: status %d, body %s", method, path, body ? body : "",
                 r.status, r.body);
    if (error_code) {
        json_t *error = json_object_get(r.json, "error");
        cr_assert(json_is_object(error), "%s %s: no error object in %s", method, path, r.body);
        cr_assert_str_eq(json_string_value(json_object_get(error, "code")), error_code, "%s %s: %s",
                         method, path, r.body);
        cr_assert(json_is_string(json_object_get(error, "message")));
    }
    return r;
}

void pl_api_expect(const char *method, const char *path, const char *token, const char *body,
                   int status, const char *error_code)
{
    pl_http_response_t r = pl_api_call(method, path, token, body, status, error_code);
    pl_http_response_free(&r);
}

void pl_api_expect_bad(const char *method, const char *path, const char *token, const char *body,
                       const char *field)
{
    pl_http_response_t r = pl_api_call(method, path, token, body, 400, "bad_request");
    const char *message =
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    cr_assert(message && strstr(message, field), "%s %s %s: message '%s' does not name %s", method,
              path, body ? body : "", message, field);
    pl_http_response_free(&r);
}

json_t *pl_api_json(const char *method, const char *path, const char *token, const char *body,
                    int status)
{
    pl_http_response_t r = pl_api_call(method, path, token, body, status, NULL);
    json_t *json = json_incref(r.json);
    cr_assert(json, "%s %s: the answer is not JSON: %s", method, path, r.body);
    pl_http_response_free(&r);
    return json;
}

int64_t pl_api_int(const json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    cr_assert(json_is_integer(value), "no integer %s", key);
    return (int64_t)json_integer_value(value);
}

const char *pl_api_str(const json_t *object, const char *key)
{
    const char *value = json_string_value(json_object_get(object, key));
    cr_assert(value, "no string %s", key);
    return value;
}

char *pl_api_user(const char *display_name, int64_t *id)
{
    char *name = pl_fx_unique_name("user");
    char *token = NULL;
    cr_assert_eq(pl_fx_signup(pl_api_port(), name, "password1", display_name, &token, id), 201);
    free(name);
    return token;
}

pl_api_user_t pl_api_signup(const char *display_name)
{
    pl_api_user_t user = {0};
    snprintf(user.name, sizeof user.name, "%s", display_name);
    user.token = pl_api_user(display_name, &user.id);
    return user;
}

void pl_api_user_free(pl_api_user_t *user)
{
    free(user->token);
    user->token = NULL;
}

int64_t pl_api_content(const char *token, const char *title)
{
    char *body = pl_api_dump(json_pack("{s:s, s:s}", "kind", "movie", "title", title));
    json_t *content = pl_api_json("POST", "/api/contents", token, body, 201);
    free(body);
    int64_t id = pl_api_int(content, "id");
    json_decref(content);
    return id;
}

int64_t pl_api_content_room(const char *token, int64_t content_id, int status)
{
    json_t *room = pl_api_json("POST", pl_api_fmt("/api/contents/%lld/room", (long long)content_id),
                               token, NULL, status);
    int64_t id = pl_api_int(room, "id");
    json_decref(room);
    return id;
}

int64_t pl_api_new_room(const char *token)
{
    return pl_api_content_room(token, pl_api_content(token, "A film"), 201);
}

void pl_api_join(const char *token, int64_t room_id)
{
    pl_api_expect("POST", pl_api_fmt("/api/rooms/%lld/join", (long long)room_id), token, NULL, 204,
                  NULL);
}

json_t *pl_api_publish(const char *token, int64_t room_id, const char *client_id, const char *text)
{
    json_t *request = json_pack("{s:s}", "body", text);
    if (client_id)
        json_object_set_new(request, "client_id", json_string(client_id));
    char *body = pl_api_dump(request);
    json_t *message = pl_api_json(
        "POST", pl_api_fmt("/api/rooms/%lld/messages", (long long)room_id), token, body, 201);
    free(body);
    return message;
}

static void s_poll_pause(void)
{
    nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
}

json_t *pl_api_health_until(int port, int status)
{
    int64_t deadline = pl_net_now_ms() + 15000;
    for (;; s_poll_pause()) {
        pl_http_response_t r;
        int rc = pl_http_json(port, "GET", "/healthz", NULL, NULL, &r);
        if (rc == 0 && r.status == status) {
            json_t *json = json_incref(r.json);
            pl_http_response_free(&r);
            return json;
        }
        if (rc == 0)
            pl_http_response_free(&r);
        cr_assert(pl_net_now_ms() < deadline, "/healthz at port %d never answered %d", port,
                  status);
    }
}

void pl_api_live_nodes_until(int port, size_t count)
{
    int64_t deadline = pl_net_now_ms() + 15000;
    for (;; s_poll_pause()) {
        json_t *health = pl_api_health_until(port, 200);
        size_t live = json_array_size(json_object_get(health, "nodes"));
        json_decref(health);
        if (live == count)
            return;
        cr_assert(pl_net_now_ms() < deadline, "the node at port %d never saw %zu live nodes", port,
                  count);
    }
}
