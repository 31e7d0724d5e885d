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

//  True when text (NUL-terminated) is a decimal integer within [min, max], in *out.
static bool s_integer(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
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
    return n > 0 && s_integer(text, min, max, out) ? 1 : -1;
}

int pl_last_event_id(const char *header, const char *query, int64_t *id)
{
    *id = -1;
    char decoded[DECODED_MAX];
    const char *text = header;
    if (!text && query &&
        mg_get_var(query, strlen(query), "last_event_id", decoded, sizeof decoded) >= 0)
        text = decoded;
    if (!text || !*text)
        return 0;
    //  strtoll would take a sign or leading blanks; an id is digits only.
    if (*text < '0' || *text > '9' || !s_integer(text, 0, INT64_MAX, id)) {
        *id = -1;
        return -1;
    }
    return 0;
}
