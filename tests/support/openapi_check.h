/*  tests/support/openapi_check.h
 *
 *  Checks a real JSON answer against what the OpenAPI document
 *  (src/assets/openapi.json) says that operation answers with that status, and
 *  a request body the server took against the operation's requestBody, so the
 *  document's schemas are tested against the server and not only linted.
 *  It reads the part of JSON Schema that says what shape a value has: $ref
 *  (within the document), allOf, oneOf, anyOf, type, enum, const, minimum,
 *  maximum, required, properties and items. It ignores pattern and lengths
 *  (ECMA-262 patterns are not POSIX ones) and if/then/else, so those parts of
 *  the document are only linted and read. Objects are strict: a member the schema
 *  (with its allOf parts) does not name is an error, so an undocumented field
 *  shows up.
 */
#ifndef PARLEY_TEST_OPENAPI_CHECK_H
#define PARLEY_TEST_OPENAPI_CHECK_H

#include <jansson.h>
#include <stddef.h>

//  Checks body (the parsed JSON answer; NULL for none) against the document's
//  response `status` of operation `method` (lowercase, e.g. "get") on `path` (as
//  the document spells it, e.g. "/api/rooms/{room_id}"). Returns NULL when it
//  matches, else the first mismatch ("$.rooms[0].kind: ...") in err, which it
//  returns.
const char *pl_openapi_check(const json_t *doc, const char *method, const char *path, int status,
                             const json_t *body, char *err, size_t err_len);

//  Checks a JSON request body the server accepted against the document's
//  requestBody of that operation, so that the document is not stricter than the
//  server. Returns as pl_openapi_check.
const char *pl_openapi_check_request(const json_t *doc, const char *method, const char *path,
                                     const json_t *body, char *err, size_t err_len);

#endif
