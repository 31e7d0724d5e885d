/*  Authentication of HTTP requests, WebSocket upgrades and SSE streams: the token
    from the Authorization header, the query or the parley_token cookie, and for the
    cookie the browser-origin check of PROTOCOL.md "Browser security".

    The cookie rides along with every request a browser makes to parley, whichever
    site's page started it, so a request that used it must show it came from an
    allowed page. Browsers send Origin with every WebSocket upgrade, every request
    that is not a GET or HEAD, and every cross-origin GET made with credentials (an
    EventSource with withCredentials); they leave it out only on same-origin GETs.
    So upgrades and state-changing requests must carry an allowed Origin, and a GET
    that carries one must carry an allowed one. A token in the header or the query
    is not ambient (a page must have it to send it), so it needs no such check. */
#include "parley/http.h"

#include "parley/jwt.h"
#include "parley/log.h"
#include "parley/origin.h"

#include <ctype.h>
#include <strings.h>
#include <time.h>

//  Copies the token from the request into buf and says whether it was the cookie;
//  returns its length, or 0 for none.
static size_t s_find_token(const struct mg_connection *conn, char *buf, size_t size,
                           bool *from_cookie)
{
    *from_cookie = false;
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
        if (n > 0) {
            *from_cookie = true;
            return (size_t)n;
        }
    }
    return 0;
}

//  True when the page that sent this cookie-authenticated request may use the cookie.
static bool s_cookie_origin_allowed(const struct mg_connection *conn, const pl_config_t *cfg)
{
    const struct mg_request_info *info = mg_get_request_info(conn);
    const char *origin = mg_get_header(conn, "Origin");
    if (!origin) {
        bool read_only = (strcmp(info->request_method, "GET") == 0 ||
                          strcmp(info->request_method, "HEAD") == 0) &&
                         !mg_get_header(conn, "Upgrade");
        if (!read_only)
            pl_info("auth: refused the cookie of a %s %s without Origin", info->request_method,
                    info->local_uri);
        return read_only;
    }
    if (pl_origin_allowed(origin, mg_get_header(conn, "Host"), cfg->public_url,
                          cfg->allowed_origins))
        return true;
    //  The origin is the caller's text: only its printable start goes to the log.
    char shown[PL_ORIGIN_MAX + 1];
    size_t len = 0;
    for (; origin[len] && len < sizeof shown - 1; len++)
        shown[len] = isprint((unsigned char)origin[len]) ? origin[len] : '?';
    shown[len] = '\0';
    pl_info("auth: refused the cookie of a %s %s from origin '%s' (allowed_origins)",
            info->request_method, info->local_uri, shown);
    return false;
}

pl_auth_t pl_http_authenticate(const struct mg_connection *conn, const pl_app_t *app,
                               int64_t *user_id)
{
    char token[PL_JWT_MAX_LEN + 1];
    bool from_cookie;
    size_t len = s_find_token(conn, token, sizeof token, &from_cookie);
    if (len == 0)
        return PL_AUTH_MISSING;
    pl_jwt_status_t status =
        pl_jwt_verify(app->jwt_key, app->jwt_key_len, token, len, time(NULL), user_id);
    if (status != PL_JWT_OK) {
        pl_debug("auth: rejected a token (%s)", pl_jwt_status_name(status));
        return PL_AUTH_MISSING;
    }
    if (from_cookie && !s_cookie_origin_allowed(conn, app->config))
        return PL_AUTH_FOREIGN_ORIGIN;
    return PL_AUTH_OK;
}

void pl_http_refuse_auth(struct mg_connection *conn, pl_auth_t outcome, bool upgrade)
{
    bool foreign = outcome == PL_AUTH_FOREIGN_ORIGIN;
    int status = foreign ? 403 : 401;
    const char *code = foreign ? "forbidden" : "unauthorized";
    const char *message =
        foreign ? "this origin may not use the login cookie" : "a valid token is required";
    if (upgrade)
        pl_http_refuse_upgrade(conn, status, code, message);
    else
        pl_http_error(conn, status, code, "%s", message);
}
