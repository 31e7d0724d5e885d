/*  The JSON writer (see json_writer.h): appends to one buffer that grows by
    doubling and is kept across documents. */
#include "parley/json_writer.h"

#include <stdlib.h>
#include <string.h>

//  Makes room for `more` bytes and the NUL; false (and failed) when memory ran out.
static bool s_reserve(pl_jw_t *self, size_t more)
{
    if (self->failed)
        return false;
    size_t need = self->len + more + 1;
    if (need <= self->capacity)
        return true;
    size_t capacity = self->capacity ? self->capacity : 256;
    while (capacity < need)
        capacity *= 2;
    char *grown = realloc(self->data, capacity);
    if (!grown) {
        self->failed = true;
        return false;
    }
    self->data = grown;
    self->capacity = capacity;
    return true;
}

static void s_append(pl_jw_t *self, const char *bytes, size_t len)
{
    if (len == 0 || !s_reserve(self, len))
        return;
    memcpy(self->data + self->len, bytes, len);
    self->len += len;
    self->data[self->len] = '\0';
}

static void s_char(pl_jw_t *self, char c)
{
    s_append(self, &c, 1);
}

//  Starts a value or key: its comma, if something came before it at this level.
static void s_separate(pl_jw_t *self)
{
    if (self->comma)
        s_char(self, ',');
}

void pl_jw_reset(pl_jw_t *self)
{
    self->len = 0;
    self->comma = false;
    self->failed = false;
    if (self->data)
        self->data[0] = '\0';
}

void pl_jw_release(pl_jw_t *self)
{
    free(self->data);
    *self = PL_JW_INIT;
}

const char *pl_jw_text(const pl_jw_t *self, size_t *len)
{
    if (self->failed || !self->data)
        return NULL;
    if (len)
        *len = self->len;
    return self->data;
}

//  Opens an object or array: its first member or element needs no comma.
static void s_open(pl_jw_t *self, char bracket)
{
    s_separate(self);
    s_char(self, bracket);
    self->comma = false;
}

//  Closes an object or array, which is then a value that others follow.
static void s_close(pl_jw_t *self, char bracket)
{
    s_char(self, bracket);
    self->comma = true;
}

void pl_jw_object_begin(pl_jw_t *self)
{
    s_open(self, '{');
}

void pl_jw_object_end(pl_jw_t *self)
{
    s_close(self, '}');
}

void pl_jw_bool(pl_jw_t *self, bool value)
{
    s_separate(self);
    s_append(self, value ? "true" : "false", value ? 4 : 5);
    self->comma = true;
}

void pl_jw_array_begin(pl_jw_t *self)
{
    s_open(self, '[');
}

void pl_jw_array_end(pl_jw_t *self)
{
    s_close(self, ']');
}

void pl_jw_key(pl_jw_t *self, const char *name)
{
    s_separate(self);
    s_char(self, '"');
    s_append(self, name, strlen(name));
    s_append(self, "\":", 2);
    //  The value that follows belongs to this key: no comma before it.
    self->comma = false;
}

//  The escape of a byte that needs one (jansson's choice of form), else NULL.
static const char *s_escape(unsigned char c, char buf[7])
{
    static const char hex[] = "0123456789ABCDEF";
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        memcpy(buf, "\\u00", 4);
        buf[4] = hex[c >> 4];
        buf[5] = hex[c & 0x0f];
        buf[6] = '\0';
        return buf;
    }
}

void pl_jw_str(pl_jw_t *self, const char *str, size_t len)
{
    s_separate(self);
    //  The common case, nothing to escape, costs one reservation and one copy.
    if (!s_reserve(self, len + 2))
        return;
    s_char(self, '"');
    size_t run = 0; //  start of the bytes not yet copied
    char buf[7];
    for (size_t i = 0; i < len; i++) {
        const char *escape = s_escape((unsigned char)str[i], buf);
        if (!escape)
            continue;
        s_append(self, str + run, i - run);
        s_append(self, escape, strlen(escape));
        run = i + 1;
    }
    s_append(self, str + run, len - run);
    s_char(self, '"');
    self->comma = true;
}

void pl_jw_str_or_null(pl_jw_t *self, const char *str, size_t len)
{
    if (str) {
        pl_jw_str(self, str, len);
        return;
    }
    s_separate(self);
    s_append(self, "null", 4);
    self->comma = true;
}

void pl_jw_member_str_if(pl_jw_t *self, const char *key, const char *str, size_t len)
{
    if (!str)
        return;
    pl_jw_key(self, key);
    pl_jw_str(self, str, len);
}

void pl_jw_int(pl_jw_t *self, int64_t value)
{
    s_separate(self);
    char digits[20];
    //  In unsigned arithmetic so that INT64_MIN has a magnitude too.
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    size_t n = sizeof digits;
    do {
        digits[--n] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        s_char(self, '-');
    s_append(self, digits + n, sizeof digits - n);
    self->comma = true;
}

void pl_jw_raw(pl_jw_t *self, const char *json, size_t len)
{
    s_separate(self);
    s_append(self, json, len);
    self->comma = true;
}
