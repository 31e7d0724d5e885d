/*  The fast path for the commonest WebSocket request: a plain `send` (PROTOCOL.md
    "WebSocket"). pl_send_scan reads a frame's bytes in one pass, without allocating,
    and answers only when it is certain that jansson's parse (json_loadb with
    JSON_REJECT_DUPLICATES, as ws_session.c calls it) followed by its field reading would
    give exactly the same fields; for anything else it declines and the caller takes
    the jansson path, which then gives every error it gives today.

    It takes one flat object whose members are among type, room, client_id, kind,
    body, url and ref, each at most once; type the string "send"; room a plain
    positive integer (no sign, fraction, exponent or leading zero, within int64);
    every other member a string without backslash escapes or control bytes, in valid
    UTF-8. JSON whitespace may stand between tokens. Everything else declines: escapes,
    invalid UTF-8, null/true/false, nested values, unknown or duplicate members, a
    missing type or room, trailing bytes. */
#ifndef PARLEY_SEND_SCAN_H
#define PARLEY_SEND_SCAN_H

#include "parley/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The fields of a `send` request, as ws.c reads them whichever way the frame was
//  parsed. A string field's ptr is NULL when the member is absent (present and empty
//  is a non-NULL ptr with len 0); none is NUL-terminated.
typedef struct {
    int64_t room; //  at least 1
    pl_str_t client_id, kind, body, url, ref;
} pl_send_request_t;

//  Scans len bytes at data (not NUL-terminated). Returns true with *out filled, its
//  strings viewing data, when the frame is a plain `send` request as described above;
//  false (and *out unspecified) when the caller must parse it with jansson instead.
bool pl_send_scan(const char *data, size_t len, pl_send_request_t *out);

#endif
