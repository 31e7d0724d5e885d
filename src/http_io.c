/*  Request and response helpers for handlers: bounded JSON bodies, the error object,
    and finding the caller's token in the header, the query or the cookie. */
#include "parley/http.h"

#include "parley/json_shapes.h"
#include "parley/jwt.h"
#include "parley/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

void pl_http_reply(struct mg_connection *conn, int status, json_t *body, const char *extra_headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    char length[32];
    snprintf(length, sizeof length, "%zu", len);
    mg_response_header_start(conn, status);
    if (text)
        mg_response_header_add(conn, "Content-Type", "application/json", -1);
    mg_response_header_add(conn, "Content-Length", length, -1);
    mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    if (extra_headers)
        mg_response_header_add_lines(conn, extra_headers);
    mg_response_header_send(conn);
    if (text)
        mg_write(conn, text, len);
    free(text);
}

void pl_http_error(struct mg_connection *conn, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    pl_http_reply(conn, status, pl_json_error(code, message), NULL);
}

void pl_http_unauthorized(struct mg_connection *conn)
{
    pl_http_error(conn, 401, "unauthorized", "a valid token is required");
}

void pl_http_refuse_upgrade(struct mg_connection *conn, int status, const char *code,
                            const char *message)
{
    json_t *body = pl_json_error(code, message);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
              status, mg_get_response_code_text(conn, status), text ? strlen(text) : 0,
              text ? text : "");
    free(text);
}

//  True when the request declares a Content-Type other than JSON. A missing type is
//  accepted: curl -d and many clients omit it.
static bool s_not_json(const struct mg_connection *conn)
{
    const char *type = mg_get_header(conn, "Content-Type");
    return type && strncasecmp(type, "application/json", 16) != 0;
}

json_t *pl_http_read_json(pl_req_t *req)
{
    size_t limit = (size_t)req->app->config->max_body_bytes;
    if (req->info->content_length > (long long)limit) {
        pl_http_error(req->conn, 413, "payload_too_large", "the body is over %zu bytes", limit);
        return NULL;
    }
    if (s_not_json(req->conn)) {
        pl_http_error(req->conn, 415, "unsupported_media_type",
                      "the body must be application/json");
        return NULL;
    }
    char *data = malloc(limit + 1);
    if (!data) {
        pl_http_error(req->conn, 500, "internal", "out of memory");
        return NULL;
    }
    //  Reads one byte past the limit, to tell a body of exactly the limit from a
    //  larger chunked one.
    size_t len = 0;
    int got;
    while (len <= limit && (got = mg_read(req->conn, data + len, limit + 1 - len)) > 0)
        len += (size_t)got;
    if (len > limit) {
        free(data);
        pl_http_error(req->conn, 413, "payload_too_large", "the body is over %zu bytes", limit);
        return NULL;
    }
    json_error_t error;
    json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    free(data);
    if (!body) {
        pl_http_error(req->conn, 400, "bad_request", "malformed JSON: %s (at character %d)",
                      error.text, error.position);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        pl_http_error(req->conn, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return body;
}

int pl_http_string_field(pl_req_t *req, json_t *body, const char *name, bool required,
                         pl_str_t *out)
{
    json_t *value = json_object_get(body, name);
    *out = (pl_str_t){NULL, 0};
    if (!value || (json_is_null(value) && !required))
        return required
                   ? (pl_http_error(req->conn, 400, "bad_request", "%s: is required", name), -1)
                   : 0;
    if (!json_is_string(value)) {
        pl_http_error(req->conn, 400, "bad_request", "%s: must be a string", name);
        return -1;
    }
    *out = (pl_str_t){json_string_value(value), (uint32_t)json_string_length(value)};
    return 0;
}

//  Copies the token from the request into buf; returns its length, or 0 for none.
static size_t s_find_token(const struct mg_connection *conn, char *buf, size_t size)
{
    const char *auth = mg_get_header(conn, "Authorization");
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return 0;
        int n = snprintf(buf, size, "%s", auth + 7);
        return n > 0 && (size_t)n < size ? (size_t)n : 0;
    }
    const char *query = mg_get_request_info(conn)->query_string;
    if (query) {
        int n = mg_get_var(query, strlen(query), "token", buf, size);
        if (n > 0)
            return (size_t)n;
    }
    const char *cookies = mg_get_header(conn, "Cookie");
    if (cookies) {
        int n = mg_get_cookie(cookies, "parley_token", buf, size);
        if (n > 0)
            return (size_t)n;
    }
    return 0;
}

int pl_http_authenticate(const struct mg_connection *conn, const pl_app_t *app, int64_t *user_id)
{
    char token[PL_JWT_MAX_LEN + 1];
    size_t len = s_find_token(conn, token, sizeof token);
    if (len == 0)
        return -1;
    pl_jwt_status_t status =
        pl_jwt_verify(app->jwt_key, app->jwt_key_len, token, len, time(NULL), user_id);
    if (status != PL_JWT_OK) {
        pl_debug("auth: rejected a token (%s)", pl_jwt_status_name(status));
        return -1;
    }
    return 0;
}
