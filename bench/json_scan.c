/*  A one-pass scanner for the few top-level fields parley-bench reads from every
    received frame (type, room, seq, client_id, body, t). It skips nested objects,
    arrays and strings without building anything, so the receive path stays cheap;
    setup, which is not hot, parses its HTTP answers with jansson instead. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

//  Returns the index just past the string starting at s[i] == '"'. memchr finds each
//  candidate quote (the bodies are long runs of plain bytes); a quote after an odd run of
//  backslashes is escaped.
static size_t s_skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n;) {
        const char *q = memchr(s + i, '"', n - i);
        if (!q)
            return n;
        size_t at = (size_t)(q - s), slashes = 0;
        while (at - slashes > i && s[at - slashes - 1] == '\\')
            slashes++;
        if (slashes % 2 == 0)
            return at + 1;
        i = at + 1;
    }
    return n;
}

//  Returns the index just past the value starting at s[i].
static size_t s_skip_value(const char *s, size_t n, size_t i)
{
    if (i < n && s[i] == '"')
        return s_skip_string(s, n, i);
    int depth = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            i = s_skip_string(s, n, i) - 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (ch == ',' && depth == 0) {
            return i;
        }
    }
    return n;
}

static size_t s_space(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

void bn_json_scan(const char *s, size_t n, bn_jfield_t *fields, int nfields)
{
    enum { MAX_FIELDS = 16 };
    size_t name_len[MAX_FIELDS];
    if (nfields > MAX_FIELDS)
        nfields = MAX_FIELDS;
    for (int f = 0; f < nfields; f++) {
        fields[f].val = NULL;
        name_len[f] = strlen(fields[f].name);
    }
    size_t i = s_space(s, n, 0);
    if (i >= n || s[i] != '{')
        return;
    i++;
    while (i < n) {
        i = s_space(s, n, i);
        if (i >= n || s[i] != '"')
            return;
        size_t key = i + 1, key_end = s_skip_string(s, n, i);
        size_t key_len = key_end - key - 1;
        i = s_space(s, n, key_end);
        if (i >= n || s[i] != ':')
            return;
        i = s_space(s, n, i + 1);
        size_t end = s_skip_value(s, n, i);
        for (int f = 0; f < nfields; f++) {
            if (name_len[f] == key_len && fields[f].name[0] == s[key] &&
                memcmp(fields[f].name, s + key, key_len) == 0) {
                bool str = i < n && s[i] == '"';
                fields[f].is_str = str;
                fields[f].val = s + i + str;
                fields[f].len = end - i - 2 * str;
            }
        }
        i = s_space(s, n, end);
        if (i >= n || s[i] != ',')
            return;
        i++;
    }
}

int64_t bn_json_int(const bn_jfield_t *f, int64_t fallback)
{
    if (!f->val || f->is_str || !f->len)
        return fallback;
    int64_t v = 0;
    size_t i = 0;
    bool neg = f->val[0] == '-';
    for (i = neg; i < f->len && f->val[i] >= '0' && f->val[i] <= '9'; i++)
        v = v * 10 + (f->val[i] - '0');
    return i == (size_t)neg ? fallback : neg ? -v : v;
}

bool bn_json_is(const bn_jfield_t *f, const char *text)
{
    return f->val && f->is_str && strlen(text) == f->len && memcmp(f->val, text, f->len) == 0;
}
