/*  tests/support/api.h
 *
 *  Request helpers that end-to-end suites share, for tests that assert as they
 *  go: unlike fixtures.h, every helper here fails the calling test (Criterion
 *  asserts) when the server does not answer as expected, naming the request
 *  and the answer. They talk to the suite's current server, whose port
 *  e2e_suite.h hands to pl_api_use_port whenever it starts one.
 */
#ifndef PARLEY_TEST_API_H
#define PARLEY_TEST_API_H

#include "http_client.h"

#include <jansson.h>
#include <stdint.h>

//  The port the helpers send to (set before any thread uses them).
void pl_api_use_port(int port);
int pl_api_port(void);

//  Formats into one of 8 rotating per-thread buffers of 256 bytes, so that one
//  call can take several (a path and a body). The text lives until 8 more calls
//  of the same thread.
const char *pl_api_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

//  Dumps a JSON value (stolen) compactly; caller frees.
char *pl_api_dump(json_t *value);

//  Sends a request (token NULL: none; body NULL: none, else sent as
//  application/json) and asserts the status and, when error_code is set, the
//  error object {"error": {"code": error_code, "message": string}}. The caller
//  frees the answer with pl_http_response_free.
pl_http_response_t pl_api_call(const char *method, const char *path, const char *token,
                               const char *body, int status, const char *error_code);

//  pl_api_call with the answer dropped.
void pl_api_expect(const char *method, const char *path, const char *token, const char *body,
                   int status, const char *error_code);

//  Expects 400 bad_request whose message names field.
void pl_api_expect_bad(const char *method, const char *path, const char *token, const char *body,
                       const char *field);

//  The JSON answer of a request expected to answer status (caller decrefs).
json_t *pl_api_json(const char *method, const char *path, const char *token, const char *body,
                    int status);

//  A JSON value as compact text for assertion messages, in one of 2 rotating
//  per-thread buffers of 4 KiB ("(null)" for NULL, cut short when longer).
const char *pl_api_show(const json_t *value);

//  Asserted members of a JSON object: an integer, a string (owned by object).
int64_t pl_api_int(const json_t *object, const char *key);
const char *pl_api_str(const json_t *object, const char *key);

//  Signs up a new user with a unique name and the display name given (NULL: the
//  username); returns the token (caller frees) and, if id is set, the user id.
char *pl_api_user(const char *display_name, int64_t *id);

//  A user signed up by pl_api_signup: its token (owned), id and display name.
typedef struct {
    char *token;
    int64_t id;
    char name[64];
} pl_api_user_t;

//  Signs up a new user with a unique name and display_name (not NULL).
pl_api_user_t pl_api_signup(const char *display_name);

//  Frees the user's token and clears it (safe twice).
void pl_api_user_free(pl_api_user_t *user);

//  Creates a movie with title; returns its id.
int64_t pl_api_content(const char *token, const char *title);

//  POST /api/contents/{id}/room, expecting status (200 or 201); returns the room id.
int64_t pl_api_content_room(const char *token, int64_t content_id, int status);

//  A new content ("A film") with its group room, made by token's user.
int64_t pl_api_new_room(const char *token);

//  POST /api/rooms/{id}/join, expecting 204.
void pl_api_join(const char *token, int64_t room_id);

//  Publishes a text message over HTTP (client_id NULL: none); returns the
//  Message (caller decrefs).
json_t *pl_api_publish(const char *token, int64_t room_id, const char *client_id, const char *text);

//  Waits (polling, up to 15 s) until GET /healthz at port answers status; returns
//  its JSON (caller decrefs).
json_t *pl_api_health_until(int port, int status);

//  Waits (polling, up to 15 s) until the /healthz at port answers 200 and lists
//  exactly count live nodes: a cluster's view as that node sees it.
void pl_api_live_nodes_until(int port, size_t count);

#endif
