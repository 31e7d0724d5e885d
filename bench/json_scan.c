/*  A one-pass scanner for the few top-level fields parley-bench reads from every
    received frame (type, room, seq, client_id, body, t). It skips nested objects,
    arrays and strings without building anything, so the receive path stays cheap;
    setup, which is not hot, parses its HTTP answers with jansson instead. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

//  Returns the index of the first quote or backslash in s[at..n), or n. Every
//  delivery's strings go through here (ten or more per parley frame, most of them
//  short), so 16 bytes are looked at a time, inline: a memchr call per string cost the
//  generator more than the bytes did.
static size_t s_quote_or_backslash(const char *s, size_t n, size_t at)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    for (; at + 16 <= n; at += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(const void *)(s + at));
        unsigned found = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)));
        if (found)
            return at + (size_t)__builtin_ctz(found);
    }
#endif
    while (at < n && s[at] != '"' && s[at] != '\\')
        at++;
    return at;
}

//  Returns the index just past the string starting at s[i] == '"'; a backslash takes
//  the byte after it into the string.
static size_t s_skip_string(const char *s, size_t n, size_t i)
{
    for (size_t at = i + 1;; at += 2) {
        at = s_quote_or_backslash(s, n, at);
        if (at >= n)
            return n;
        if (s[at] == '"')
            return at + 1;
    }
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
    uint64_t wanted_lens = 0; //  bit k: some name is k bytes long (k < 64)
    if (nfields > MAX_FIELDS)
        nfields = MAX_FIELDS;
    for (int f = 0; f < nfields; f++) {
        fields[f].val = NULL;
        name_len[f] = fields[f].name_len ? fields[f].name_len : strlen(fields[f].name);
        wanted_lens |= name_len[f] < 64 ? 1ull << name_len[f] : 0;
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
        for (int f = 0; key_len < 64 && wanted_lens >> key_len & 1 && f < nfields; f++) {
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
