/*  Edge validation: the rules PROTOCOL.md sets for what clients send. Pure functions,
    no I/O, so the tests call them directly. Each returns NULL when the value is
    acceptable, or a short reason ("must be 3-32 of [a-z0-9_]") that the caller puts
    after the field name in a bad_request error. Inputs are valid UTF-8, as jansson
    or the WebSocket send scanner (send_scan.h) hands them over, and are read by their
    length: none needs a NUL after it. */
#ifndef PARLEY_VALIDATE_H
#define PARLEY_VALIDATE_H

#include "parley/types.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  A validation rule, as each pl_check_* below: NULL when the value is fine, else the
//  reason.
typedef const char *(*pl_check_t)(const char *text, size_t len);

//  Reads the string member `name` of a JSON object and, when present and check is not
//  NULL, validates it. Absent or null is fine when optional (out->ptr NULL then).
//  Returns NULL with *out viewing the string inside object, or the reason ("is
//  required", "must be a string", or check's).
const char *pl_check_string_member(const json_t *object, const char *name, bool required,
                                   pl_check_t check, pl_str_t *out);

//  Longest password accepted, in bytes: hashing cost must not be the client's choice.
#define PL_PASSWORD_MAX_BYTES 1024

//  The number of Unicode code points in valid UTF-8 text.
size_t pl_utf8_length(const char *text, size_t len);

const char *pl_check_username(const char *text, size_t len);
const char *pl_check_password(const char *text, size_t len);
const char *pl_check_display_name(const char *text, size_t len);

//  An avatar URL: empty (no avatar), an absolute http(s) URL, or a path on this
//  server starting with "/"; at most PL_URL_MAX bytes (store.h), no spaces, control
//  bytes or backslashes.
const char *pl_check_avatar_url(const char *text, size_t len);

#define PL_TITLE_MAX_CHARS       200
#define PL_DESCRIPTION_MAX_CHARS 4000
#define PL_CLIENT_ID_MAX         64

//  A content title: 1-200 characters, no control characters.
const char *pl_check_title(const char *text, size_t len);

//  A content description: at most 4000 characters.
const char *pl_check_description(const char *text, size_t len);

#define PL_YEAR_MAX 9999

//  A content's kind: movie or book.
const char *pl_check_content_kind(const char *text, size_t len);

//  A content as POST /api/contents and `parley import-contents` take it.
typedef struct {
    pl_str_t kind, title, description; //  description.ptr NULL when absent
    int64_t year;                      //  0 when absent
} pl_content_input_t;

//  Checks a content object: {"kind" (movie|book), "title", "description"?, "year"?
//  (1-9999)}; other members are ignored. Returns NULL with *out (views into object),
//  or the reason with *field naming the member at fault.
const char *pl_check_content(const json_t *object, pl_content_input_t *out, const char **field);

//  Most ids one POST /api/notifications/read may mark read.
#define PL_READ_IDS_MAX 1000

//  What POST /api/notifications/read marks read.
typedef struct {
    bool all;          //  every notification of the caller ({"all": true})
    const json_t *ids; //  else 1-PL_READ_IDS_MAX ids (positive integers), inside the body
} pl_read_marks_t;

//  Checks the body of POST /api/notifications/read, {"ids": [...]} or {"all": true}
//  (with all true, ids are not looked at). Returns NULL with *out, or the reason with
//  *field naming the member at fault (NULL when the body names neither).
const char *pl_check_read_marks(const json_t *object, pl_read_marks_t *out, const char **field);

//  A client_id: 1-64 printable ASCII characters.
const char *pl_check_client_id(const char *text, size_t len);

//  A message as a client sends it (kind NULL means "text"; like body and url, kind is
//  read by its length and needs no NUL after it). Text needs a body of 1-max_chars
//  characters; an image needs the url of an upload of this server
//  ("/uploads/<sha256 hex>.<png|jpg|gif|webp>") and may carry a caption. Returns NULL
//  when acceptable, else the reason, with *field naming the field at fault. Only the
//  url's form is checked here; whether it was uploaded is pl_uploads_check_url's
//  question (uploads.h), asked by the edge after this one.
const char *pl_check_message(const char *kind, size_t kind_len, const char *body, size_t body_len,
                             const char *url, size_t url_len, size_t max_chars, const char **field);

#endif
