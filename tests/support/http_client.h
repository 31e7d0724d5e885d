/*  tests/support/http_client.h
 *
 *  A minimal HTTP/1.1 client for parley's end-to-end tests. One request per
 *  fresh loopback connection ("Connection: close"); the whole response is
 *  read (Content-Length, chunked, or until close) under one deadline, so a
 *  call can never hang. Every call returns an error instead of aborting.
 */
#ifndef PARLEY_TEST_HTTP_CLIENT_H
#define PARLEY_TEST_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

//  Default deadline of a whole request, connect to last body byte.
#define PL_HTTP_TIMEOUT_MS 5000

typedef struct {
    int status;    //  e.g. 200; 0 until a response was parsed
    char *headers; //  raw head: status line and header lines, each ending in
                   //  "\r\n", without the final blank line; NUL-terminated
    char *body;    //  body bytes (chunked encoding removed), always
                   //  NUL-terminated; "" (never NULL) when there is no body
    size_t body_len;
    json_t *json; //  the body parsed as JSON, or NULL if it is not JSON
    //  Private: the parsed header fields, names[2i] / values[2i+1].
    char **fields_;
    size_t field_count_;
} pl_http_response_t;

//  Sends one request on a fresh connection to 127.0.0.1:port and reads the
//  whole response, within PL_HTTP_TIMEOUT_MS. extra_headers is NULL or lines
//  "Name: value\r\n..."; Host, Connection: close and (when body is non-NULL or
//  the method is POST/PUT/PATCH) Content-Length are added unless extra_headers
//  already has them (or, for Content-Length, a Transfer-Encoding, in which case
//  body must already be chunked). No Content-Type is added. body may be NULL,
//  and holds any bytes. Interim 1xx responses are skipped. On success returns
//  0 and fills *out (the caller frees it with pl_http_response_free); on
//  failure (refused, timeout, malformed or truncated response) returns -1 with
//  *out zeroed.
int pl_http_request(int port, const char *method, const char *path, const char *extra_headers,
                    const char *body, size_t body_len, pl_http_response_t *out);

//  pl_http_request with an explicit deadline in milliseconds.
int pl_http_request_timeout(int port, const char *method, const char *path,
                            const char *extra_headers, const char *body, size_t body_len,
                            int timeout_ms, pl_http_response_t *out);

//  Convenience: sends json_body (NULL = no body) with
//  "Content-Type: application/json" and, if token is non-NULL,
//  "Authorization: Bearer <token>". Returns as pl_http_request.
int pl_http_json(int port, const char *method, const char *path, const char *token,
                 const char *json_body, pl_http_response_t *out);

//  Returns the value of the first header called name (case-insensitive),
//  trimmed of surrounding blanks, or NULL. The string belongs to the response
//  and lives until pl_http_response_free.
const char *pl_http_header(const pl_http_response_t *r, const char *name);

//  Like pl_http_header, but returns the index-th (0-based) occurrence of a
//  repeated header such as Set-Cookie, or NULL.
const char *pl_http_header_n(const pl_http_response_t *r, const char *name, size_t index);

//  Frees everything the response owns and zeroes it. Safe on a zeroed
//  response and safe to call twice.
void pl_http_response_free(pl_http_response_t *r);

//  Internal, shared with ws_client.c: reads from fd until a complete response
//  head ("\r\n\r\n") has arrived, by deadline_ms. On success returns 0,
//  *buf (malloc'd, caller frees) holds *buf_len bytes: the head (*head_len
//  bytes, through the blank line) followed by any bytes already read past it.
//  Returns -1 on error, EOF, timeout or a head over 64 KiB.
int pl__http_read_head(int fd, int64_t deadline_ms, char **buf, size_t *buf_len, size_t *head_len);

//  Internal, shared by ws_client.c and sse_client.c: connects to 127.0.0.1:port,
//  writes request (a whole request head) and reads the response head, all by
//  deadline_ms; a failed write may still leave an answer (e.g. 401) to read. On
//  success returns the fd (caller closes) with *head parsed (caller frees it with
//  pl_http_response_free) and *buf, *buf_len, *head_len as pl__http_read_head
//  leaves them (caller frees *buf). Returns -1 with nothing to free on refusal,
//  timeout or a malformed head.
int pl__http_open(int port, const char *request, int64_t deadline_ms, char **buf, size_t *buf_len,
                  size_t *head_len, pl_http_response_t *head);

//  Internal: parses a response head (head_len bytes through the blank line)
//  into out->status, out->headers and the header fields. Returns 0 or -1.
int pl__http_parse_head(const char *head, size_t head_len, pl_http_response_t *out);

#endif
