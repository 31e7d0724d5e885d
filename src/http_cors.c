/*  Cross-origin reads for the origins allowed_origins names (PROTOCOL.md "Browser
    security"): a page of such an origin may use the login cookie, and with these
    headers its browser also lets it read the answers, preflight its JSON requests
    and hold a credentialed EventSource. The Origin is checked once, when the request
    begins (http_access.c), and kept in the worker's pl_thread_t; every answer's
    head then echoes it. Other origins get no CORS header, so their pages cannot
    read anything, whatever http_auth.c decides about the cookie. */
#include "parley/http.h"

#include "parley/log.h"

const char *pl_http_cors_headers(const struct mg_connection *conn, char *buf, size_t size)
{
    const pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t || !t->cors_origin[0]) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, size,
             "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: true\r\n"
             "Access-Control-Expose-Headers: X-Request-Id, Retry-After\r\nVary: Origin\r\n",
             t->cors_origin);
    return buf;
}

bool pl_http_preflight(struct mg_connection *conn)
{
    const struct mg_request_info *info = mg_get_request_info(conn);
    if (strcmp(info->request_method, "OPTIONS") != 0)
        return false;
    const pl_thread_t *t = mg_get_thread_pointer(conn);
    if (!t || !t->cors_origin[0]) {
        pl_http_error(conn, 403, "forbidden", "this origin may not call the API");
        return true;
    }
    pl_http_write_head(conn, 204, NULL, 0, "no-store",
                       "Access-Control-Allow-Methods: GET, POST, PATCH, DELETE\r\n"
                       "Access-Control-Allow-Headers: Authorization, Content-Type, "
                       "Last-Event-ID, X-Request-Id\r\n"
                       "Access-Control-Max-Age: 600\r\n");
    return true;
}
