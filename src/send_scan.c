/*  The send fast path (send_scan.h): one forward pass over the frame with a cursor,
    no allocation, no recursion. Each step either moves on or declines; declining is
    always safe, because the caller then parses the frame with jansson as before. So
    every rule here is a subset of what jansson accepts, and the UTF-8 check is the
    one jansson applies (RFC 3629: no overlongs, no surrogates, nothing past
    U+10FFFF), so that non-ASCII chat stays on the fast path. */
#include "parley/send_scan.h"

#include <stddef.h>
#include <string.h>

//  The members a send may carry; each is a bit in the set of members seen.
enum { M_TYPE, M_ROOM, M_CLIENT_ID, M_KIND, M_BODY, M_URL, M_REF, M_COUNT };

typedef struct {
    const unsigned char *at, *end;
} cursor_t;

static void s_skip_space(cursor_t *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\n' || *c->at == '\r' || *c->at == '\t'))
        c->at++;
}

//  Consumes the byte ch when it is next; false otherwise.
static bool s_take(cursor_t *c, unsigned char ch)
{
    if (c->at == c->end || *c->at != ch)
        return false;
    c->at++;
    return true;
}

//  The length of the valid UTF-8 sequence at p (whose first byte is >= 0x80, before
//  end), or 0 when it is not one.
static size_t s_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned char lo = 0x80, hi = 0xbf; //  the range of the second byte
    size_t n;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0; //  a continuation byte, an overlong C0/C1 lead, or past U+10FFFF
    if (p[0] == 0xe0)
        lo = 0xa0; //  overlong below U+0800
    else if (p[0] == 0xed)
        hi = 0x9f; //  surrogates U+D800-DFFF
    else if (p[0] == 0xf0)
        lo = 0x90; //  overlong below U+10000
    else if (p[0] == 0xf4)
        hi = 0x8f; //  past U+10FFFF
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

//  Reads a string from its opening quote; false when there is none, or the string
//  holds an escape, a control byte or invalid UTF-8, or never ends.
static bool s_string(cursor_t *c, pl_str_t *out)
{
    if (!s_take(c, '"'))
        return false;
    const unsigned char *start = c->at;
    while (c->at < c->end) {
        unsigned char b = *c->at;
        if (b == '"') {
            *out = (pl_str_t){(const char *)start, (uint32_t)(c->at - start)};
            c->at++;
            return true;
        }
        if (b == '\\' || b < 0x20)
            return false;
        if (b < 0x80) {
            c->at++;
            continue;
        }
        size_t n = s_utf8_sequence(c->at, c->end);
        if (n == 0)
            return false;
        c->at += n;
    }
    return false;
}

//  Reads a positive integer that fits int64 and has no sign, leading zero, fraction
//  or exponent (a fraction or exponent leaves the cursor on a byte the caller
//  refuses).
static bool s_positive_integer(cursor_t *c, int64_t *out)
{
    if (c->at == c->end || *c->at < '1' || *c->at > '9')
        return false;
    int64_t value = 0;
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
        int digit = *c->at - '0';
        if (value > (INT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
        c->at++;
    }
    *out = value;
    return true;
}

//  The members, and where a string member's view goes in pl_send_request_t.
static const struct {
    const char *name;
    uint32_t len;
    size_t offset; //  string members only
} s_members[M_COUNT] = {
    [M_TYPE] = {"type", 4, 0},
    [M_ROOM] = {"room", 4, 0},
    [M_CLIENT_ID] = {"client_id", 9, offsetof(pl_send_request_t, client_id)},
    [M_KIND] = {"kind", 4, offsetof(pl_send_request_t, kind)},
    [M_BODY] = {"body", 4, offsetof(pl_send_request_t, body)},
    [M_URL] = {"url", 3, offsetof(pl_send_request_t, url)},
    [M_REF] = {"ref", 3, offsetof(pl_send_request_t, ref)},
};

//  The member named key, or -1 for any other name.
static int s_member(pl_str_t key)
{
    for (int m = 0; m < M_COUNT; m++)
        if (key.len == s_members[m].len && memcmp(key.ptr, s_members[m].name, key.len) == 0)
            return m;
    return -1;
}

//  Reads the value of member m into *out; false to decline.
static bool s_value(cursor_t *c, int m, pl_send_request_t *out)
{
    if (m == M_ROOM)
        return s_positive_integer(c, &out->room);
    pl_str_t value;
    if (!s_string(c, &value))
        return false;
    if (m == M_TYPE)
        return value.len == 4 && memcmp(value.ptr, "send", 4) == 0;
    *(pl_str_t *)((char *)out + s_members[m].offset) = value;
    return true;
}

bool pl_send_scan(const char *data, size_t len, pl_send_request_t *out)
{
    //  pl_str_t holds 32-bit lengths; no frame parley accepts comes near.
    if (len > UINT32_MAX)
        return false;
    *out = (pl_send_request_t){0};
    cursor_t c = {(const unsigned char *)data, (const unsigned char *)data + len};
    unsigned seen = 0;
    s_skip_space(&c);
    if (!s_take(&c, '{'))
        return false;
    //  An empty object has no type: it is declined at its first key.
    for (;;) {
        pl_str_t key;
        s_skip_space(&c);
        if (!s_string(&c, &key))
            return false;
        int m = s_member(key);
        if (m < 0 || (seen & (1u << m)))
            return false;
        seen |= 1u << m;
        s_skip_space(&c);
        if (!s_take(&c, ':'))
            return false;
        s_skip_space(&c);
        if (!s_value(&c, m, out))
            return false;
        s_skip_space(&c);
        if (s_take(&c, '}'))
            break;
        if (!s_take(&c, ','))
            return false;
    }
    s_skip_space(&c);
    unsigned required = (1u << M_TYPE) | (1u << M_ROOM);
    return c.at == c.end && (seen & required) == required;
}
