/*  Request ids and the access log. Each HTTP request and WebSocket upgrade gets an
    id when it begins on its civetweb worker (kept in the worker's pl_thread_t, since
    a worker serves one request at a time); http_io.c puts it in every answer's
    head as X-Request-Id, and the access log line names it, so an operator can find
    the line of any answer a client reports. */
#include "parley/http.h"

#include "parley/log.h"

#include <sodium.h>
#include <strings.h>

//  True when id is 1-64 characters of [A-Za-z0-9._-], safe to echo in a header.
static bool s_id_acceptable(const char *id)
{
    size_t len = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    return len > 0 && len < PL_REQUEST_ID_SIZE && id[len] == '\0';
}

void pl_http_begin_request(struct mg_connection *conn, const pl_app_t *app)
{
    pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t)
        return;
    t->response_status = 0;
    t->response_bytes = 0;
    //  Only a well-formed origin is allowed, so the text echoed is a safe header value.
    const char *origin = mg_get_header(conn, "Origin");
    const pl_config_t *cfg = app->config;
    bool readable = origin && strlen(origin) < sizeof t->cors_origin &&
                    pl_origin_allowed(origin, mg_get_header(conn, "Host"), cfg->public_url,
                                      cfg->allowed_origins);
    snprintf(t->cors_origin, sizeof t->cors_origin, "%s", readable ? origin : "");
    const char *given = mg_get_header(conn, "X-Request-Id");
    if (given && s_id_acceptable(given)) {
        snprintf(t->request_id, sizeof t->request_id, "%s", given);
        return;
    }
    uint8_t random[8];
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(t->request_id, sizeof t->request_id, random, sizeof random);
}

const char *pl_http_request_id(const struct mg_connection *conn)
{
    const pl_thread_t *t = mg_get_thread_pointer(conn);
    return t && t->request_id[0] ? t->request_id : NULL;
}

void pl_http_client_address(const struct mg_connection *conn, const pl_app_t *app,
                            char out[PL_CLIENT_ADDR_SIZE])
{
    const struct mg_request_info *info = mg_get_request_info(conn);
    //  The lines joined with ',' (RFC 9110); past the buffer, the leftmost entries go:
    //  only the rightmost ones, from the nearest proxies, are believed anyway.
    char joined[2048];
    size_t len = 0;
    bool any = false;
    for (int i = info->num_headers - 1; i >= 0; i--) {
        if (strcasecmp(info->http_headers[i].name, "X-Forwarded-For") != 0)
            continue;
        const char *value = info->http_headers[i].value;
        size_t value_len = strlen(value), need = value_len + (any ? 1 : 0);
        if (len + need >= sizeof joined)
            break;
        memmove(joined + need, joined, len);
        memcpy(joined, value, value_len);
        if (any)
            joined[value_len] = ',';
        len += need;
        any = true;
    }
    joined[len] = '\0';
    pl_client_address(info->remote_addr, any ? joined : NULL, app->config->trusted_proxies, out);
}

void pl_http_log_access(const struct mg_connection *conn, const pl_app_t *app, const char *route,
                        int64_t user_id, int64_t started_ns)
{
    const pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t || strcmp(app->config->access_log, "on") != 0 || !pl_log_enabled(PL_LOG_INFO))
        return;
    const struct mg_request_info *info = mg_get_request_info(conn);
    char client[PL_CLIENT_ADDR_SIZE];
    pl_http_client_address(conn, app, client);
    pl_log_field_t fields[] = {
        {"method", info->request_method, 0},
        {"route", route, 0},
        {"status", NULL, t->response_status},
        {"bytes", NULL, (int64_t)t->response_bytes},
        {"duration_us", NULL, (pl_now_ns() - started_ns) / 1000},
        {"request_id", t->request_id, 0},
        {"user_id", NULL, user_id},
        {"client", client, 0},
    };
    pl_log_fields(PL_LOG_INFO, "access", "request", fields, sizeof fields / sizeof fields[0]);
}
