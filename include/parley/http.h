/*  The HTTP edge: civetweb's server, the route table, and the helpers every handler
    uses to read a bounded JSON body, authenticate, and answer with JSON or with the
    error object of PROTOCOL.md.

    Handlers run on civetweb's worker threads. Each worker has a pl_thread_t (made in
    civetweb's init_thread callback) holding its waiter for actor replies and the
    state of the WebSocket upgrade it serves, if any, until the connection is handed
    to its actor: a worker serves one connection at a time, so that state needs no
    allocation or lock. */
#ifndef PARLEY_HTTP_H
#define PARLEY_HTTP_H

#include "parley/app.h"
#include "parley/client_addr.h"
#include "parley/origin.h"
#include "parley/validate.h"

#include <civetweb.h>
#include <jansson.h>

//  How long a handler waits for an actor's reply before answering 500.
#define PL_HTTP_ACTOR_TIMEOUT_MS 10000

//  Room for a request id: up to 64 characters and the NUL.
#define PL_REQUEST_ID_SIZE 65

typedef struct {
    pl_waiter_t *waiter;
    //  The request this worker answers now (http_access.c): its id, which every
    //  answer's head carries as X-Request-Id, and the status and length of that head.
    char request_id[PL_REQUEST_ID_SIZE];
    char cors_origin[PL_ORIGIN_MAX + 1]; //  its allowed Origin, echoed for CORS ("": none)
    int response_status;
    uint64_t response_bytes;
    //  The WebSocket upgrade this worker serves until it hands it over (see ws.c).
    bool ws_active; //  counted in app->open_streams
    int ws_fd;      //  its socket (peer_sockets.h)
    uint64_t ws_id;
    int64_t ws_user_id;
} pl_thread_t;

typedef struct {
    struct mg_connection *conn;
    const struct mg_request_info *info;
    pl_app_t *app;
    pl_thread_t *thread;
    int64_t user_id;       //  the authenticated caller (routes that require auth)
    int64_t path_id;       //  the {id} in the path, for routes that have one
    const char *path_name; //  the {name} in the path, not NUL-terminated,
    size_t path_name_len;  //  and its length, for routes that have one
    bool streamed;         //  the handler handed the connection over as a stream (SSE): no request
} pl_req_t;

typedef void (*pl_handler_t)(pl_req_t *req);

//  A route: method and pattern, where "{id}" matches one positive integer segment and
//  "{name}" one non-empty segment (any bytes but '/'; the handler validates it).
typedef struct {
    const char *method;
    const char *pattern;
    bool needs_auth;
    pl_handler_t handler;
} pl_route_t;

//  Route tables of the API modules, each ended by a row with a NULL method.
extern const pl_route_t pl_auth_routes[];
extern const pl_route_t pl_user_routes[];
extern const pl_route_t pl_health_routes[];
extern const pl_route_t pl_content_routes[];
extern const pl_route_t pl_room_routes[];
extern const pl_route_t pl_event_routes[];
extern const pl_route_t pl_notification_routes[];
extern const pl_route_t pl_upload_routes[];
extern const pl_route_t pl_metrics_routes[];
extern const pl_route_t pl_openapi_routes[];
extern const pl_route_t pl_web_routes[];

//  Every route table the server answers from, in the order they are searched
//  (tests/test_openapi.c checks them against the OpenAPI document).
extern const pl_route_t *const pl_http_route_tables[];
extern const size_t pl_http_route_table_count;

//  Serves GET /metrics alone on metrics_listen, when the operator set it (the public
//  port then answers 404 for it). Returns NULL with a reason in err. *port receives
//  the port actually bound.
struct mg_context *pl_http_start_metrics(pl_app_t *app, int *port, char *err, size_t err_len);

//  The route of the API's tables for method and path, with the path's {id} and {name}
//  stored in req (path_id, path_name, path_name_len), or NULL. *path_known says
//  whether some route has that path (another method: 405, rather than 404). Pure: it
//  reads nothing of req but writes those fields.
const pl_route_t *pl_route_find(const char *method, const char *path, pl_req_t *req,
                                bool *path_known);

//  Starts civetweb on cfg->listen with the routes and the /ws endpoint. Returns NULL
//  with a reason in err. *port receives the port actually bound.
struct mg_context *pl_http_start(pl_app_t *app, int *port, char *err, size_t err_len);

//  Starts a request on this worker: its id is the client's X-Request-Id when that is
//  1-64 characters of [A-Za-z0-9._-], else a new random one; and an Origin that may
//  read the answers (pl_origin_allowed) is noted for the CORS headers.
void pl_http_begin_request(struct mg_connection *conn, const pl_app_t *app);

//  The CORS headers of the current request's answers ("Name: value\r\n" lines in
//  buf, "" when its Origin is none or not allowed). Returns buf.
const char *pl_http_cors_headers(const struct mg_connection *conn, char *buf, size_t size);

//  Answers an OPTIONS request (a CORS preflight): 204 with what the allowed origin
//  may send, or 403 forbidden for another. Returns true when it was one.
bool pl_http_preflight(struct mg_connection *conn);

//  The id of the request conn's worker answers now, or NULL outside a worker.
const char *pl_http_request_id(const struct mg_connection *conn);

//  The client's address (client_addr.h): the peer, or what trusted proxies said in
//  X-Forwarded-For, every line of it taken in order, since a proxy may add a line of
//  its own rather than append to the client's.
void pl_http_client_address(const struct mg_connection *conn, const pl_app_t *app,
                            char out[PL_CLIENT_ADDR_SIZE]);

//  With access_log on, logs the request that began at started_ns (pl_now_ns): method,
//  route (the pattern it matched: no ids, no query, so no token), status, bytes,
//  duration, request id, user (0: none) and client address.
void pl_http_log_access(const struct mg_connection *conn, const pl_app_t *app, const char *route,
                        int64_t user_id, int64_t started_ns);

//  Answers with status and a JSON body (stolen; NULL for none, e.g. 204).
//  extra_headers is NULL or "Name: value\r\n" lines.
void pl_http_reply(struct mg_connection *conn, int status, json_t *body, const char *extra_headers);

//  Answers with the error object; message is printf-formatted.
void pl_http_error(struct mg_connection *conn, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

//  pl_http_error for an answer given before the request body was read whole: it says
//  "Connection: close", since civetweb drops a connection when the unread rest of a
//  body may still be on its way, and a client should not count on reusing it.
void pl_http_error_close(struct mg_connection *conn, int status, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

//  Writes the head of a response whose body (length bytes, none for HEAD) the caller
//  then writes with mg_write: the status line, Date, content_type (NULL for none),
//  Content-Length, cache_control ("no-store", ...) and extra_headers (NULL or
//  "Name: value\r\n" lines). Returns 0, or -1 when it could not be written.
int pl_http_write_head(struct mg_connection *conn, int status, const char *content_type,
                       uint64_t length, const char *cache_control, const char *extra_headers);

//  Reads the request body (bounded by max_body_bytes) as a JSON object. On any
//  problem answers 400/413/415 itself and returns NULL.
json_t *pl_http_read_json(pl_req_t *req);

//  Reads an optional or required string field of body and, when present and check is
//  not NULL, validates it. Returns 0 with *out set (out->ptr NULL when absent or null
//  and optional), or -1 after answering 400 naming the field and the reason.
int pl_http_string_field(pl_req_t *req, json_t *body, const char *name, bool required,
                         pl_check_t check, pl_str_t *out);

//  Reads an optional or required integer field within [min, max]. Returns 0 with *out
//  (and *present, when not NULL), or -1 after answering 400 naming the field.
int pl_http_int_field(pl_req_t *req, json_t *body, const char *name, bool required, int64_t min,
                      int64_t max, int64_t *out, bool *present);

//  Reads an optional integer query parameter within [min, max]; the same contract.
int pl_http_query_int(pl_req_t *req, const char *name, int64_t min, int64_t max, int64_t *out,
                      bool *present);

//  Sends a request to any actor through `to` and waits up to timeout_ms for its
//  REPLY (copied to *reply; body, if any, to *body, which the caller frees). Returns
//  0, or -1 after answering 503 with timeout_code when no reply came in time.
int pl_http_ask(pl_req_t *req, pl_ingress_t *to, pl_msg_t *request, uint64_t *waiter_field,
                uint64_t *req_id_field, int timeout_ms, const char *timeout_code,
                pl_msg_reply_t *reply, char **body);

//  Sends a request to the persister and waits for its REPLY (status and id, copied
//  to *reply). The request's waiter and req_id fields are passed as pointers into
//  it. Returns 0, or -1 after answering 503 unavailable when no reply came in time
//  (the store or an actor is stuck) or the store could not be reached: the client
//  may retry.
int pl_http_persist(pl_req_t *req, pl_msg_t *request, uint64_t *waiter_field,
                    uint64_t *req_id_field, pl_msg_reply_t *reply);

//  Returns NULL when url names an upload this node can serve (its file, or the
//  store's copy), else the reason for a bad_request naming the url field.
const char *pl_http_check_upload_url(pl_app_t *app, pl_str_t url);

//  Sends {"type":"room","room":Room} (as user_id sees it) to every connection of
//  user_id: a room of theirs appeared or they joined one. Call it before answering:
//  the writers then hear of it before of any connection the client opens after
//  the answer, which must not get a frame about what it never missed.
void pl_http_room_notice(pl_req_t *req, int64_t room_id, int64_t user_id);

//  Tells a room's actor that user_id joined or left it (pl_member_event_t), through
//  the room's shared ingress: a request the user makes after hearing the answer takes
//  the same socket, so it cannot overtake the news.
void pl_http_member_event(pl_req_t *req, int64_t room_id, int64_t user_id, int event);

//  The outcome of authenticating a request.
typedef enum {
    PL_AUTH_OK,
    PL_AUTH_MISSING,        //  no valid token: 401 unauthorized
    PL_AUTH_FOREIGN_ORIGIN, //  the cookie, sent by a page the cookie is not for: 403 forbidden
} pl_auth_t;

//  Finds the caller's token: the Authorization bearer header, else ?token=, else the
//  parley_token cookie, and sets *user_id. The cookie is an ambient credential that
//  the browser sends whichever page made the request, so it counts only from a page
//  of an allowed origin (http_auth.c says which requests must name theirs).
pl_auth_t pl_http_authenticate(const struct mg_connection *conn, const pl_app_t *app,
                               int64_t *user_id);

//  Answers a request whose authentication failed: 401 or 403 with the error object;
//  for a WebSocket upgrade (upgrade true) as pl_http_refuse_upgrade does.
void pl_http_refuse_auth(struct mg_connection *conn, pl_auth_t outcome, bool upgrade);

//  Refuses a WebSocket upgrade with status and the error object, then closes.
void pl_http_refuse_upgrade(struct mg_connection *conn, int status, const char *code,
                            const char *message);

//  The WebSocket endpoint's handlers (ws.c), registered by pl_http_start.
void pl_ws_register(struct mg_context *ctx, pl_app_t *app);

//  What became of a connection handed to its connection actor (pl_conn_hand_over).
typedef enum {
    PL_HANDED_OVER, //  the actor owns the socket and the connection's slot
    PL_NOT_TAKEN,   //  the socket stays civetweb's, the slot the caller's
    PL_LOST,        //  taken, but the actor's inbox refused it: the socket is closed
} pl_hand_over_t;

//  After its handshake, takes a WebSocket's or SSE stream's socket from civetweb (fd,
//  civetweb's descriptor, then reads end of stream: peer_sockets.h) and sends it to
//  its connection actor in open (whose fd it sets): civetweb's worker goes back to its
//  pool. ws.c, shared with sse.c.
pl_hand_over_t pl_conn_hand_over(pl_app_t *app, int fd, pl_msg_t *open);

#endif
