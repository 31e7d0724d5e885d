/*  The JSON objects PROTOCOL.md defines, built from store rows. One function per
    shape, so every endpoint that returns a User returns the same User. Callers own
    the returned json_t (json_decref). */
#ifndef PARLEY_JSON_SHAPES_H
#define PARLEY_JSON_SHAPES_H

#include "parley/store.h"

#include <jansson.h>

//  User: {"id", "username", "display_name", "avatar_url" (null when none), "created_at"}.
json_t *pl_json_user(const pl_user_t *user);

//  Notification: the stored body (a JSON object) with "id" and "read" put back. A
//  body that is not a JSON object (written by hand?) is shown, with a warning, as an
//  empty notification rather than breaking a listing. NULL only when out of memory.
json_t *pl_json_notification(int64_t id, bool read, const char *body);

//  {"error": {"code", "message"}}.
json_t *pl_json_error(const char *code, const char *message);

#endif
