/*  Pure readers for what the HTTP edge takes from a request's query string and
    headers: integer query parameters (before, after, limit) and the id an SSE client
    reconnects with (Last-Event-ID). They take the raw text, the query string still
    percent-encoded as civetweb hands it, and need no connection, so the tests and
    the fuzzer (tests/fuzz/) call them on any bytes; the handlers turn a refusal into
    400 bad_request. */
#ifndef PARLEY_HTTP_PARSE_H
#define PARLEY_HTTP_PARSE_H

#include <stdint.h>

//  Reads the query parameter `name` of query (NULL: no query string), percent-decoded,
//  as a decimal integer within [min, max]. Returns 1 with *out, 0 when the parameter
//  is absent (*out untouched), or -1 when it is present but empty, not an integer
//  (a decoded NUL included), longer than 31 bytes, or out of range.
int pl_query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t *out);

//  Reads the id a reconnecting SSE client saw last: header is the Last-Event-ID
//  header's value (NULL when absent); without it, query's last_event_id= stands in,
//  for clients that cannot set headers, and reads the same. Returns 0 with *id (-1
//  when neither gives a value, or the value is empty), or -1 when the value is not a
//  decimal id of at most 31 bytes (leading zeros allowed).
int pl_last_event_id(const char *header, const char *query, int64_t *id);

#endif
