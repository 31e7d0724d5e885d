/*  Request and response helpers for handlers: bounded JSON bodies, query
    parameters, and answers with JSON or the error object. */
#include "parley/http.h"

#include "parley/http_parse.h"
#include "parley/json_shapes.h"
#include "parley/jwt.h"
#include "parley/log.h"
#include "parley/metrics.h"

#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

//  True when the client wants the connection closed after this response.
static bool s_wants_close(const struct mg_connection *conn)
{
    const char *connection = mg_get_header(conn, "Connection");
    if (connection)
        return strcasestr(connection, "close") != NULL;
    return strcmp(mg_get_request_info(conn)->http_version, "1.1") != 0;
}

//  Formats a response head into head: status line, Date, content_type (NULL for
//  none), Content-Length, cache_control, Connection, X-Request-Id and extra_headers,
//  and notes status and length for the access log. The head is
//  built here rather than with civetweb's response-header API: that API formats its
//  Date with gmtime(), which is not thread-safe, and inside the WebSocket connect
//  handler it writes no status line at all. Returns its length, or -1 when it does
//  not fit.
static int s_format_head(const struct mg_connection *conn, char *head, size_t size, int status,
                         const char *content_type, uint64_t length, const char *cache_control,
                         const char *extra_headers, bool close)
{
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *request_id = pl_http_request_id(conn);
    char cors[PL_ORIGIN_MAX + 256];
    int len = snprintf(
        head, size,
        "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%sContent-Length: %" PRIu64 "\r\n"
        "Cache-Control: %s\r\nConnection: %s\r\n%s%s%s%s%s\r\n",
        status, mg_get_response_code_text(conn, status), date, content_type ? "Content-Type: " : "",
        content_type ? content_type : "", content_type ? "\r\n" : "", length, cache_control,
        close || s_wants_close(conn) ? "close" : "keep-alive", request_id ? "X-Request-Id: " : "",
        request_id ? request_id : "", request_id ? "\r\n" : "",
        pl_http_cors_headers(conn, cors, sizeof cors), extra_headers ? extra_headers : "");
    if (len < 0 || (size_t)len >= size) {
        pl_error("http: response header too long");
        return -1;
    }
    pl_metrics_count_http_status(status);
    pl_thread_t *t = mg_get_thread_pointer(conn);
    if (t) {
        t->response_status = status;
        t->response_bytes = length;
    }
    return len;
}

//  True for a HEAD request, whose answer carries the head of a GET's and no body.
static bool s_is_head(const struct mg_connection *conn)
{
    return strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0;
}

//  Writes the whole response, head and JSON body (stolen), with one mg_write.
static void s_respond(struct mg_connection *conn, int status, json_t *body,
                      const char *extra_headers, bool close)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    size_t body_len = text ? strlen(text) : 0;
    char head[PL_JWT_MAX_LEN + 1024];
    int head_len = s_format_head(conn, head, sizeof head, status, text ? "application/json" : NULL,
                                 body_len, "no-store", extra_headers, close);
    if (head_len < 0) {
        free(text);
        return;
    }
    if (s_is_head(conn))
        body_len = 0;
    char *response = malloc((size_t)head_len + body_len);
    if (response) {
        memcpy(response, head, (size_t)head_len);
        if (body_len)
            memcpy(response + head_len, text, body_len);
        mg_write(conn, response, (size_t)head_len + body_len);
    }
    free(response);
    free(text);
}

int pl_http_write_head(struct mg_connection *conn, int status, const char *content_type,
                       uint64_t length, const char *cache_control, const char *extra_headers)
{
    char head[2048];
    int len = s_format_head(conn, head, sizeof head, status, content_type, length, cache_control,
                            extra_headers, false);
    return len >= 0 && mg_write(conn, head, (size_t)len) == len ? 0 : -1;
}

void pl_http_reply(struct mg_connection *conn, int status, json_t *body, const char *extra_headers)
{
    s_respond(conn, status, body, extra_headers, false);
}

static void s_verror(struct mg_connection *conn, int status, const char *code, bool close,
                     const char *fmt, va_list args) __attribute__((format(printf, 5, 0)));

static void s_verror(struct mg_connection *conn, int status, const char *code, bool close,
                     const char *fmt, va_list args)
{
    char message[512];
    vsnprintf(message, sizeof message, fmt, args);
    s_respond(conn, status, pl_json_error(code, message), NULL, close);
}

void pl_http_error(struct mg_connection *conn, int status, const char *code, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_verror(conn, status, code, false, fmt, args);
    va_end(args);
}

void pl_http_error_close(struct mg_connection *conn, int status, const char *code, const char *fmt,
                         ...)
{
    va_list args;
    va_start(args, fmt);
    s_verror(conn, status, code, true, fmt, args);
    va_end(args);
}

void pl_http_refuse_upgrade(struct mg_connection *conn, int status, const char *code,
                            const char *message)
{
    s_respond(conn, status, pl_json_error(code, message), NULL, true);
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
                         pl_check_t check, pl_str_t *out)
{
    const char *problem = pl_check_string_member(body, name, required, check, out);
    if (problem) {
        pl_http_error(req->conn, 400, "bad_request", "%s: %s", name, problem);
        return -1;
    }
    return 0;
}

int pl_http_ask(pl_req_t *req, pl_ingress_t *to, pl_msg_t *request, uint64_t *waiter_field,
                uint64_t *req_id_field, int timeout_ms, const char *timeout_code,
                pl_msg_reply_t *reply, char **body)
{
    pl_msg_frame_t in;
    if (pl_ingress_request(to, req->thread->waiter, request, waiter_field, req_id_field, timeout_ms,
                           &in)) {
        pl_http_error(req->conn, 503, timeout_code, "no answer within %d ms", timeout_ms);
        return -1;
    }
    *reply = in.msg.as.reply;
    if (body)
        *body = reply->body.ptr ? strndup(reply->body.ptr, reply->body.len) : NULL;
    reply->body = (pl_str_t){NULL, 0};
    pl_msg_frame_close(&in);
    return 0;
}

int pl_http_persist(pl_req_t *req, pl_msg_t *request, uint64_t *waiter_field,
                    uint64_t *req_id_field, pl_msg_reply_t *reply)
{
    if (pl_http_ask(req, req->app->persister, request, waiter_field, req_id_field,
                    PL_HTTP_ACTOR_TIMEOUT_MS, "unavailable", reply, NULL))
        return -1;
    if (reply->status != PL_STATUS_UNAVAILABLE)
        return 0;
    pl_http_error(req->conn, 503, "unavailable", "the store cannot be reached: try again");
    return -1;
}

int pl_http_int_field(pl_req_t *req, json_t *body, const char *name, bool required, int64_t min,
                      int64_t max, int64_t *out, bool *present)
{
    json_t *value = json_object_get(body, name);
    bool given = value && !json_is_null(value);
    if (present)
        *present = given;
    if (!given) {
        if (!required)
            return 0;
        pl_http_error(req->conn, 400, "bad_request", "%s: is required", name);
        return -1;
    }
    if (!json_is_integer(value) || json_integer_value(value) < min ||
        json_integer_value(value) > max) {
        pl_http_error(req->conn, 400, "bad_request",
                      "%s: must be an integer from %" PRId64 " to %" PRId64, name, min, max);
        return -1;
    }
    *out = json_integer_value(value);
    return 0;
}

int pl_http_query_int(pl_req_t *req, const char *name, int64_t min, int64_t max, int64_t *out,
                      bool *present)
{
    int found = pl_query_int(req->info->query_string, name, min, max, out);
    if (present)
        *present = found == 1;
    if (found < 0) {
        pl_http_error(req->conn, 400, "bad_request",
                      "%s: must be an integer from %" PRId64 " to %" PRId64, name, min, max);
        return -1;
    }
    return 0;
}
