/*  Query parameters and Last-Event-ID (http_parse.h). civetweb's mg_get_var finds and
    percent-decodes a parameter; what it gives is read here as a decimal integer. */
#include "parley/http_parse.h"

#include <civetweb.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

//  The most bytes a decoded integer parameter may take, its NUL included.
#define DECODED_MAX 32

//  True when the len bytes at text (a NUL after them) are all of a decimal integer
//  within [min, max], in *out. A NUL inside a decoded value ("5%00x") ends strtoll's
//  reading early, so the length is checked, not *end.
static bool s_integer(const char *text, size_t len, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || end != text + len || value < min || value > max)
        return false;
    *out = value;
    return true;
}

int pl_query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t *out)
{
    char text[DECODED_MAX];
    int n = query ? mg_get_var(query, strlen(query), name, text, sizeof text) : -1;
    if (n == -1)
        return 0;
    return n > 0 && s_integer(text, (size_t)n, min, max, out) ? 1 : -1;
}

int pl_last_event_id(const char *header, const char *query, int64_t *id)
{
    *id = -1;
    char decoded[DECODED_MAX];
    const char *text = header;
    size_t len = header ? strlen(header) : 0;
    if (!header && query) {
        int n = mg_get_var(query, strlen(query), "last_event_id", decoded, sizeof decoded);
        //  -2: too long for the buffer, which is too long for any id, as in the header.
        if (n == -2)
            return -1;
        if (n >= 0) {
            text = decoded;
            len = (size_t)n;
        }
    }
    if (!text || len == 0)
        return 0;
    //  strtoll would take a sign or leading blanks; an id is digits only.
    if (len >= DECODED_MAX || *text < '0' || *text > '9' ||
        !s_integer(text, len, 0, INT64_MAX, id)) {
        *id = -1;
        return -1;
    }
    return 0;
}
