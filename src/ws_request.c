/*  Reading WebSocket requests (ws_request.h). Each request type has a reader that
    takes its fields from jansson's tree in the order their errors are reported; a
    send, whichever way it was read, then passes the same client_id and message
    checks (validate.h). */
#include "parley/ws_request.h"

#include "parley/validate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int s_refuse(pl_ws_request_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  Refuses the request as a bad_request with a printf-formatted message; returns -1.
static int s_refuse(pl_ws_request_t *self, const char *fmt, ...)
{
    self->code = "bad_request";
    va_list args;
    va_start(args, fmt);
    vsnprintf(self->message, sizeof self->message, fmt, args);
    va_end(args);
    return -1;
}

static pl_str_t s_view(const json_t *string)
{
    return (pl_str_t){json_string_value(string), (uint32_t)json_string_length(string)};
}

//  Reads an integer member of at least min; absent is fine when !required (*out is
//  then left as it is). Returns 0, or -1 after refusing.
static int s_int(pl_ws_request_t *self, const char *name, bool required, int64_t min, int64_t *out)
{
    json_t *value = json_object_get(self->tree, name);
    if (!value && !required)
        return 0;
    if (!json_is_integer(value) || json_integer_value(value) < min)
        return s_refuse(self, "%s: must be an integer of at least %" PRId64, name, min);
    *out = json_integer_value(value);
    return 0;
}

//  Reads an optional string member (absent or null: ptr NULL). Returns 0, or -1 after
//  refusing another type.
static int s_str(pl_ws_request_t *self, const char *name, pl_str_t *out)
{
    json_t *value = json_object_get(self->tree, name);
    *out = (pl_str_t){NULL, 0};
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return s_refuse(self, "%s: must be a string", name);
    *out = s_view(value);
    return 0;
}

//  The checks of a send's fields, however they were read.
static int s_check_send(pl_ws_request_t *self, size_t max_message_chars)
{
    const pl_send_request_t *f = &self->send;
    const char *field = "client_id";
    const char *problem =
        f->client_id.ptr ? pl_check_client_id(f->client_id.ptr, f->client_id.len) : NULL;
    if (!problem)
        problem = pl_check_message(f->kind.ptr, f->kind.len, f->body.ptr, f->body.len, f->url.ptr,
                                   f->url.len, max_message_chars, &field);
    return problem ? s_refuse(self, "%s: %s", field, problem) : 0;
}

static int s_read_subscribe(pl_ws_request_t *self, size_t max_message_chars)
{
    if (s_int(self, "room", true, 1, &self->room) || s_int(self, "since", false, 0, &self->since) ||
        s_str(self, "ref", &self->ref))
        return -1;
    return 0;
}

static int s_read_unsubscribe(pl_ws_request_t *self, size_t max_message_chars)
{
    return s_int(self, "room", true, 1, &self->room);
}

static int s_read_send(pl_ws_request_t *self, size_t max_message_chars)
{
    pl_send_request_t *f = &self->send;
    if (s_int(self, "room", true, 1, &self->room) || s_str(self, "client_id", &f->client_id) ||
        s_str(self, "kind", &f->kind) || s_str(self, "body", &f->body) ||
        s_str(self, "url", &f->url) || s_str(self, "ref", &self->ref))
        return -1;
    f->room = self->room;
    f->ref = self->ref;
    return s_check_send(self, max_message_chars);
}

static int s_read_read(pl_ws_request_t *self, size_t max_message_chars)
{
    if (s_int(self, "room", true, 1, &self->room) || s_int(self, "seq", true, 0, &self->seq) ||
        s_str(self, "ref", &self->ref))
        return -1;
    return 0;
}

static int s_read_typing(pl_ws_request_t *self, size_t max_message_chars)
{
    if (s_int(self, "room", true, 1, &self->room) || s_str(self, "ref", &self->ref))
        return -1;
    return 0;
}

//  Each type's name on the wire and its reader (NULL: it has no fields).
static const struct {
    const char *name;
    int (*read)(pl_ws_request_t *self, size_t max_message_chars);
} s_types[PL_WS__COUNT] = {
    [PL_WS_PING] = {"ping", NULL},
    [PL_WS_SUBSCRIBE] = {"subscribe", s_read_subscribe},
    [PL_WS_UNSUBSCRIBE] = {"unsubscribe", s_read_unsubscribe},
    [PL_WS_SEND] = {"send", s_read_send},
    [PL_WS_READ] = {"read", s_read_read},
    [PL_WS_TYPING] = {"typing", s_read_typing},
};

int pl_ws_request_parse_json(pl_ws_request_t *self, const char *data, size_t len,
                             size_t max_message_chars)
{
    *self = (pl_ws_request_t){.since = -1};
    json_error_t error;
    self->tree = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(self->tree))
        return s_refuse(self, "%s",
                        self->tree ? "a request must be a JSON object" : "malformed JSON");
    json_t *ref = json_object_get(self->tree, "ref");
    if (!json_is_string(ref))
        ref = json_object_get(self->tree, "client_id");
    if (json_is_string(ref))
        self->error_ref = s_view(ref);
    json_t *type = json_object_get(self->tree, "type");
    if (!json_is_string(type))
        return s_refuse(self, "type: is required and must be a string");
    pl_str_t name = s_view(type);
    for (int i = 0; i < PL_WS__COUNT; i++) {
        if (name.len != strlen(s_types[i].name) || memcmp(name.ptr, s_types[i].name, name.len))
            continue;
        self->type = (pl_ws_type_t)i;
        return s_types[i].read ? s_types[i].read(self, max_message_chars) : 0;
    }
    return s_refuse(self, "type: unknown request type '%.40s'", name.ptr);
}

int pl_ws_request_parse(pl_ws_request_t *self, const char *data, size_t len,
                        size_t max_message_chars)
{
    *self = (pl_ws_request_t){.since = -1};
    if (!pl_send_scan(data, len, &self->send))
        return pl_ws_request_parse_json(self, data, len, max_message_chars);
    self->type = PL_WS_SEND;
    self->room = self->send.room;
    self->ref = self->send.ref;
    self->error_ref = self->ref.ptr ? self->ref : self->send.client_id;
    return s_check_send(self, max_message_chars);
}

void pl_ws_request_release(pl_ws_request_t *self)
{
    json_decref(self->tree);
    self->tree = NULL;
}
