/*  End to end: the logs an operator reads (log_format = json, access_log = on) and
    the X-Request-Id that ties an answer to its log line. Every line is a JSON object
    with its time, level, thread and message, and no line holds a password or a
    token, whichever way the token was sent. */
#include "e2e_suite.h"
#include "fixtures.h"
#include "sse_client.h"

#include <stdlib.h>

TestSuite(e2e_logs, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 60);

#define PASSWORD "correct horse battery staple"

//  Every line the server logged, parsed; asserts each is a JSON object with the
//  members every line has. Caller decrefs the array.
static json_t *s_log_lines(void)
{
    FILE *log = fopen(s_srv.log_path, "r");
    cr_assert_not_null(log);
    json_t *lines = json_array();
    char line[8192];
    while (fgets(line, sizeof line, log)) {
        //  The test harness marks where each server start begins.
        if (strncmp(line, "----- ", 6) == 0)
            continue;
        json_error_t error;
        json_t *object = json_loads(line, 0, &error);
        cr_assert(json_is_object(object), "not a JSON object (%s): %s", error.text, line);
        cr_assert(json_is_string(json_object_get(object, "time")) &&
                      json_is_string(json_object_get(object, "level")) &&
                      json_is_string(json_object_get(object, "thread")) &&
                      json_is_string(json_object_get(object, "msg")),
                  "a line without time, level, thread or msg: %s", line);
        json_array_append_new(lines, object);
    }
    fclose(log);
    return lines;
}

//  The access line of request_id, or NULL.
static json_t *s_access_line(json_t *lines, const char *request_id)
{
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        const char *id = json_string_value(json_object_get(line, "request_id"));
        const char *component = json_string_value(json_object_get(line, "component"));
        if (id && strcmp(id, request_id) == 0 && component && strcmp(component, "access") == 0)
            return line;
    }
    return NULL;
}

Test(e2e_logs, json_lines_with_request_ids_and_no_secrets)
{
    pl_e2e_restart_with((const char *const[]){"--log-format", "json", "--access-log", "on",
                                              "--log-level", "debug", NULL});
    char *token = NULL;
    int64_t id = 0;
    cr_assert_eq(pl_fx_signup(s_srv.port, "alice", PASSWORD, "Alice", &token, &id), 201);
    pl_http_response_t login;
    cr_assert_eq(pl_http_json(s_srv.port, "POST", "/api/auth/login", NULL,
                              "{\"username\":\"alice\",\"password\":\"" PASSWORD "\"}", &login),
                 0);
    cr_assert_eq(login.status, 200);
    char login_id[80];
    const char *header = pl_http_header(&login, "X-Request-Id");
    cr_assert(header && strlen(header) == 16, "login answered without a generated X-Request-Id");
    snprintf(login_id, sizeof login_id, "%s", header);
    pl_http_response_free(&login);
    //  The token every way a client sends it.
    json_decref(pl_api_json("GET", "/api/me", token, NULL, 200));
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, token, NULL);
    cr_assert_not_null(ws);
    pl_ws_close(&ws);
    pl_sse_t *sse =
        pl_sse_connect(s_srv.port, pl_api_fmt("/api/events?token=%.200s", token), NULL, NULL);
    cr_assert_not_null(sse);
    cr_assert_not_null(pl_http_header(pl_sse_response(sse), "X-Request-Id"));
    pl_sse_close(&sse);
    //  A client's own id comes back, and is what its line says; a hostile one does not.
    pl_http_response_t mine;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/api/nothing", "X-Request-Id: my-id.42\r\n",
                                 NULL, 0, &mine),
                 0);
    cr_assert_str_eq(pl_http_header(&mine, "X-Request-Id"), "my-id.42");
    pl_http_response_free(&mine);
    pl_http_response_t hostile;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/healthz", "X-Request-Id: a b\"c\r\n", NULL, 0,
                                 &hostile),
                 0);
    cr_assert_eq(strlen(pl_http_header(&hostile, "X-Request-Id")), 16);
    pl_http_response_free(&hostile);
    cr_assert_eq(pl_server_stop(&s_srv), 0);

    json_t *lines = s_log_lines();
    char *text = json_dumps(lines, 0);
    cr_assert_null(strstr(text, PASSWORD), "a password is in the log");
    //  The signature is the part of a token that must never leak.
    cr_assert_null(strstr(text, strrchr(token, '.') + 1), "a token is in the log");
    free(text);
    json_t *line = s_access_line(lines, login_id);
    cr_assert_not_null(line, "no access line for the login");
    cr_assert_str_eq(json_string_value(json_object_get(line, "method")), "POST");
    cr_assert_str_eq(json_string_value(json_object_get(line, "route")), "/api/auth/login");
    cr_assert_eq(json_integer_value(json_object_get(line, "status")), 200);
    cr_assert_gt(json_integer_value(json_object_get(line, "bytes")), 0);
    cr_assert(json_is_integer(json_object_get(line, "duration_us")));
    cr_assert_str_eq(json_string_value(json_object_get(line, "client")), "127.0.0.1");
    line = s_access_line(lines, "my-id.42");
    cr_assert_not_null(line, "no access line for the client's own request id");
    cr_assert_str_eq(json_string_value(json_object_get(line, "route")), "-");
    cr_assert_eq(json_integer_value(json_object_get(line, "status")), 404);
    //  The upgrade and the stream are logged with their user.
    size_t i;
    int upgrades = 0, streams = 0;
    json_array_foreach(lines, i, line)
    {
        const char *route = json_string_value(json_object_get(line, "route"));
        bool mine_line = json_integer_value(json_object_get(line, "user_id")) == id;
        upgrades += route && strcmp(route, "/ws") == 0 && mine_line &&
                    json_integer_value(json_object_get(line, "status")) == 101;
        streams += route && strcmp(route, "/api/events") == 0 && mine_line &&
                   json_integer_value(json_object_get(line, "status")) == 200;
    }
    cr_assert_eq(upgrades, 1);
    cr_assert_eq(streams, 1);
    json_decref(lines);
    free(token);
}

Test(e2e_logs, text_lines_by_default_and_no_access_log)
{
    //  A refused cookie's request is logged with its decoded path, which a client can
    //  give a line break: it must not make a line of its own.
    char *token = pl_api_user("Mallory", NULL);
    int status = 0;
    cr_assert_null(pl_ws_connect(s_srv.port, "/ws/%0a2026-01-01T00:00:00.000Z%20error%20forged",
                                 pl_api_fmt("Cookie: parley_token=%.300s\r\n", token), &status));
    cr_assert_eq(status, 403);
    free(token);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    const char *request_id = pl_http_header(&r, "X-Request-Id");
    cr_assert_not_null(request_id);
    char id[32];
    snprintf(id, sizeof id, "%s", request_id);
    pl_http_response_free(&r);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    FILE *log = fopen(s_srv.log_path, "r");
    char line[8192];
    while (fgets(line, sizeof line, log)) {
        cr_assert_neq(line[0], '{', "a JSON line without log_format = json: %s", line);
        cr_assert_neq(strncmp(line, "2026-01-01T00:00:00.000Z", 24), 0,
                      "a client made a log line: %s", line);
        cr_assert_null(strstr(line, id), "an access line without access_log = on: %s", line);
    }
    fclose(log);
}
