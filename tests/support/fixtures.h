/*  tests/support/fixtures.h
 *
 *  Small helpers that end-to-end tests repeat: unique valid usernames,
 *  signing up or logging in a user over HTTP, uploading an image, opening an
 *  authenticated WebSocket, and comparing search results with the titles
 *  expected. They return errors rather than asserting, so the test decides
 *  what a failure means.
 */
#ifndef PARLEY_TEST_FIXTURES_H
#define PARLEY_TEST_FIXTURES_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_client.h"

//  Signs up username/password/display_name (display_name NULL = username)
//  via POST /api/auth/signup. Returns the HTTP status (201 expected), or -1
//  if no HTTP answer came. On 201, *token_out gets a malloc'd copy of the
//  token (caller frees) and *user_id_out the user id; otherwise they are set
//  to NULL and 0. Both out pointers may be NULL.
int pl_fx_signup(int port, const char *username, const char *password, const char *display_name,
                 char **token_out, int64_t *user_id_out);

//  Logs in via POST /api/auth/login. Returns the HTTP status (200 expected)
//  or -1; the out parameters behave as in pl_fx_signup (filled on 200).
int pl_fx_login(int port, const char *username, const char *password, char **token_out,
                int64_t *user_id_out);

//  Returns a new username, unique per call and across concurrently running
//  test processes: the prefix (lower-cased, other characters mapped to '_',
//  shortened as needed), '_' and a suffix, 3-32 characters of [a-z0-9_].
//  prefix may be NULL. Caller frees; NULL only if out of memory.
char *pl_fx_unique_name(const char *prefix);

//  A tiny PNG: the signature and an IHDR chunk, enough to pass as an image.
extern const unsigned char pl_fx_png[];
extern const size_t pl_fx_png_len;

//  Uploads len bytes of body as content_type via POST /api/uploads with
//  token (NULL: none). Returns the HTTP status (201 expected) or -1; on 201,
//  *url_out (may be NULL) gets a malloc'd copy of the url, else NULL.
int pl_fx_upload(int port, const char *token, const char *content_type, const void *body,
                 size_t len, char **url_out);

//  Opens GET /ws?token=<token>. Returns the connection or NULL; *http_status
//  as in pl_ws_connect (may be NULL).
pl_ws_t *pl_fx_ws_connect(int port, const char *token, int *http_status);

//  pl_fx_ws_connect, tried again every 20 ms while the server answers 503 (every
//  connection slot taken), for at most timeout_ms: for a slot a closed connection is
//  about to give back. NULL with *http_status the last answer when none came free or
//  the answer was another.
pl_ws_t *pl_fx_ws_connect_when_free(int port, const char *token, int timeout_ms, int *http_status);

//  Compares the "title" of each object of contents (a search's answer) with the
//  titles in `titles` (a va_list of const char *, ended by NULL), in order and
//  number. Returns true when they are the same, else false with the first
//  difference described in why.
bool pl_fx_titles_are(const json_t *contents, va_list titles, char *why, size_t why_size);

#endif
