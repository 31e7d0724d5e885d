/*  Tests for send_scan.c, the WebSocket `send` fast path. The scanner may decline
    anything, but what it takes must be exactly what ws_session.c's jansson path reads from
    the same bytes. So besides the frames it must take and the frames it must decline,
    every frame here, every prefix of it and many thousands of mutations of it are
    also read the jansson way, and whenever the scanner takes one the two readings
    must agree field by field. Every frame is scanned from an exact-size heap copy,
    so a read past its end shows up under ASAN. */
#include "parley/send_scan.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TestSuite(send_scan, .timeout = 60);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *text;
    size_t len;
} frame_t;

//  A frame from a string literal, NUL bytes inside it included.
#define F(literal)                                                                                 \
    {                                                                                              \
        literal, sizeof(literal) - 1                                                               \
    }

//  Scans an exact-size copy of len bytes; the views are made to point into text.
static bool s_scan(const char *text, size_t len, pl_send_request_t *out)
{
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, text, len);
    bool taken = pl_send_scan(copy, len, out);
    pl_str_t *fields[] = {&out->client_id, &out->kind, &out->body, &out->url, &out->ref};
    for (size_t i = 0; taken && i < COUNT(fields); i++)
        if (fields[i]->ptr) {
            cr_assert(fields[i]->ptr >= copy && fields[i]->ptr + fields[i]->len <= copy + len,
                      "a view outside the frame");
            fields[i]->ptr = text + (fields[i]->ptr - copy);
        }
    free(copy);
    return taken;
}

//  What ws_session.c's jansson path reads from the frame: true when it would reach the
//  shared send code (an object, type "send", room an integer >= 1, the string fields
//  strings, absent or null), with *out viewing strings inside *tree (caller decrefs)
//  and *ref the ref its errors carry. False when it would answer an error itself.
static bool s_jansson(const char *text, size_t len, pl_send_request_t *out, json_t **tree,
                      pl_str_t *ref)
{
    *tree = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    *out = (pl_send_request_t){0};
    *ref = (pl_str_t){NULL, 0};
    if (!json_is_object(*tree))
        return false;
    const char *type = json_string_value(json_object_get(*tree, "type"));
    json_t *room = json_object_get(*tree, "room");
    if (!type || strcmp(type, "send") != 0 || !json_is_integer(room) ||
        json_integer_value(room) < 1)
        return false;
    out->room = json_integer_value(room);
    const char *names[] = {"client_id", "kind", "body", "url", "ref"};
    pl_str_t *fields[] = {&out->client_id, &out->kind, &out->body, &out->url, &out->ref};
    for (size_t i = 0; i < COUNT(names); i++) {
        json_t *value = json_object_get(*tree, names[i]);
        if (!value || json_is_null(value))
            continue;
        if (!json_is_string(value))
            return false;
        *fields[i] = (pl_str_t){json_string_value(value), (uint32_t)json_string_length(value)};
    }
    json_t *r = json_object_get(*tree, "ref");
    if (!json_is_string(r))
        r = json_object_get(*tree, "client_id");
    if (json_is_string(r))
        *ref = (pl_str_t){json_string_value(r), (uint32_t)json_string_length(r)};
    return true;
}

static bool s_same_str(pl_str_t a, pl_str_t b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) && a.len == b.len &&
           (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

//  Asserts that when the scanner takes the frame, jansson reads the same fields and
//  the same error ref (the request's ref, else its client_id). Returns whether the
//  scanner took it; *jansson_took says whether jansson's path would send it.
static bool s_check_equivalent(const char *text, size_t len, bool *jansson_took)
{
    pl_send_request_t fast, slow;
    json_t *tree;
    pl_str_t slow_ref;
    bool taken = s_scan(text, len, &fast);
    bool took = s_jansson(text, len, &slow, &tree, &slow_ref);
    if (jansson_took)
        *jansson_took = took;
    if (taken) {
        cr_assert(took, "taken, but jansson's path refuses: %.*s", (int)len, text);
        cr_assert_eq(fast.room, slow.room, "room differs: %.*s", (int)len, text);
        const char *names[] = {"client_id", "kind", "body", "url", "ref"};
        pl_str_t fast_fields[] = {fast.client_id, fast.kind, fast.body, fast.url, fast.ref};
        pl_str_t slow_fields[] = {slow.client_id, slow.kind, slow.body, slow.url, slow.ref};
        for (size_t i = 0; i < COUNT(names); i++)
            cr_assert(s_same_str(fast_fields[i], slow_fields[i]), "%s differs: %.*s", names[i],
                      (int)len, text);
        pl_str_t fast_ref = fast.ref.ptr ? fast.ref : fast.client_id;
        cr_assert(s_same_str(fast_ref, slow_ref), "the error ref differs: %.*s", (int)len, text);
    }
    json_decref(tree);
    return taken;
}

//  --- frames the scanner must take ---------------------------------------------------

static bool s_is(pl_str_t got, const char *want)
{
    return want ? s_same_str(got, (pl_str_t){want, (uint32_t)strlen(want)}) : got.ptr == NULL;
}

static const struct {
    frame_t frame;
    int64_t room;
    const char *client_id, *kind, *body, *url, *ref; //  NULL: absent
} s_taken[] = {
    //  What parley-bench sends.
    {F("{\"type\":\"send\",\"room\":12,\"client_id\":\"c3.17.123456789\",\"body\":\"t=1;xxxx\"}"),
     12, "c3.17.123456789", NULL, "t=1;xxxx", NULL, NULL},
    {F("{\"type\":\"send\",\"room\":42,\"client_id\":\"c-1\",\"kind\":\"image\",\"body\":\"cap\","
       "\"url\":\"/uploads/ab.png\",\"ref\":\"r1\"}"),
     42, "c-1", "image", "cap", "/uploads/ab.png", "r1"},
    //  Any order.
    {F("{\"ref\":\"r1\",\"url\":\"/u\",\"body\":\"b\",\"kind\":\"text\",\"client_id\":\"c\","
       "\"room\":3,\"type\":\"send\"}"),
     3, "c", "text", "b", "/u", "r1"},
    {F("{\"room\":1,\"body\":\"x\",\"type\":\"send\"}"), 1, NULL, NULL, "x", NULL, NULL},
    {F("{\"type\":\"send\",\"room\":1}"), 1, NULL, NULL, NULL, NULL, NULL},
    //  JSON whitespace wherever JSON allows it.
    {F(" \t\r\n{ \"type\" : \"send\" ,\n\"room\"\t:\r7\n,\"body\" :\"a b\" } \n\r\t"), 7, NULL,
     NULL, "a b", NULL, NULL},
    {F("{\n  \"type\": \"send\",\n  \"room\": 5,\n  \"client_id\": \"x\"\n}\n"), 5, "x", NULL, NULL,
     NULL, NULL},
    //  Empty strings are present, not absent.
    {F("{\"type\":\"send\",\"room\":2,\"client_id\":\"\",\"kind\":\"\",\"body\":\"\",\"url\":\"\","
       "\"ref\":\"\"}"),
     2, "", "", "", "", ""},
    //  Strings that look like JSON, and every printable ASCII byte but quote and backslash.
    {F("{\"type\":\"send\",\"room\":2,\"body\":\"{}[],:0 -1e5 true null /*/ ' ~\x7f\"}"), 2, NULL,
     NULL, "{}[],:0 -1e5 true null /*/ ' ~\x7f", NULL, NULL},
    //  Valid UTF-8 of every length, the edges of each range included.
    {F("{\"type\":\"send\",\"room\":9,\"body\":\"h\xc3\xa9llo \xed\x95\x9c \xf0\x9f\x98\x80\"}"), 9,
     NULL, NULL, "h\xc3\xa9llo \xed\x95\x9c \xf0\x9f\x98\x80", NULL, NULL},
    {F("{\"type\":\"send\",\"room\":9,\"body\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80"
       "\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}"),
     9, NULL, NULL,
     "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf"
     "\xbf",
     NULL, NULL},
    //  The largest room id there is.
    {F("{\"type\":\"send\",\"room\":9223372036854775807}"), INT64_MAX, NULL, NULL, NULL, NULL,
     NULL},
    {F("{\"type\":\"send\",\"room\":1000000000000000000}"), 1000000000000000000, NULL, NULL, NULL,
     NULL, NULL},
};

Test(send_scan, takes_plain_sends_and_views_every_field)
{
    for (size_t i = 0; i < COUNT(s_taken); i++) {
        const frame_t *f = &s_taken[i].frame;
        pl_send_request_t got;
        cr_assert(s_scan(f->text, f->len, &got), "declined: %s", f->text);
        cr_assert_eq(got.room, s_taken[i].room, "room %lld: %s", (long long)got.room, f->text);
        cr_assert(s_is(got.client_id, s_taken[i].client_id), "client_id: %s", f->text);
        cr_assert(s_is(got.kind, s_taken[i].kind), "kind: %s", f->text);
        cr_assert(s_is(got.body, s_taken[i].body), "body: %s", f->text);
        cr_assert(s_is(got.url, s_taken[i].url), "url: %s", f->text);
        cr_assert(s_is(got.ref, s_taken[i].ref), "ref: %s", f->text);
        cr_assert(s_check_equivalent(f->text, f->len, NULL));
    }
}

//  --- frames the scanner must decline ------------------------------------------------

static const frame_t s_declined[] = {
    //  Escapes, in values and in keys, even ones jansson reads as plain text.
    F("{\"type\":\"send\",\"room\":1,\"body\":\"a\\nb\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\\\"\"}"),
    F("{\"type\":\"send\",\"room\":1,\"url\":\"\\/uploads/x.png\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\\u00e9\"}"),
    F("{\"type\":\"send\",\"room\":1,\"client_id\":\"\\u0000\"}"),
    F("{\"typ\\u0065\":\"send\",\"room\":1}"),
    F("{\"type\":\"sen\\u0064\",\"room\":1}"),
    //  Control bytes inside strings.
    F("{\"type\":\"send\",\"room\":1,\"body\":\"a\x01\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"tab\there\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"nul\0here\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\x1f\"}"),
    //  Invalid UTF-8: a lone continuation, overlongs, surrogates, past U+10FFFF, cut short.
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\x80\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xc0\xaf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xc1\xbf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xe0\x80\xaf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xe0\x9f\xbf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xf0\x8f\xbf\xbf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xed\xa0\x80\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xed\xbf\xbf\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xf4\x90\x80\x80\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xf5\x80\x80\x80\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xff\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xc3\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xe2\x82\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xf0\x9f\x98\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"\xc3(\"}"),
    F("{\"type\":\"send\",\"room\":1,\"client_id\":\"\xc3\xa9\xc3\"}"),
    F("{\"type\":\"send\",\"room\":1,\"x\xc3\":\"y\"}"),
    //  Duplicate members (jansson refuses them all).
    F("{\"type\":\"send\",\"room\":1,\"body\":\"a\",\"body\":\"b\"}"),
    F("{\"type\":\"send\",\"type\":\"send\",\"room\":1}"),
    F("{\"type\":\"send\",\"room\":1,\"room\":2}"),
    F("{\"type\":\"send\",\"room\":1,\"ref\":\"a\",\"ref\":\"a\"}"),
    //  Nested values.
    F("{\"type\":\"send\",\"room\":1,\"body\":{\"a\":1}}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":[\"x\"]}"),
    F("{\"type\":\"send\",\"room\":[1]}"),
    F("{\"type\":\"send\",\"room\":1,\"client_id\":{}}"),
    //  Rooms that are not plain positive int64s.
    F("{\"type\":\"send\",\"room\":1.0}"),
    F("{\"type\":\"send\",\"room\":1.5}"),
    F("{\"type\":\"send\",\"room\":1e3}"),
    F("{\"type\":\"send\",\"room\":1E3}"),
    F("{\"type\":\"send\",\"room\":01}"),
    F("{\"type\":\"send\",\"room\":0}"),
    F("{\"type\":\"send\",\"room\":-1}"),
    F("{\"type\":\"send\",\"room\":-0}"),
    F("{\"type\":\"send\",\"room\":+1}"),
    F("{\"type\":\"send\",\"room\":9223372036854775808}"),
    F("{\"type\":\"send\",\"room\":99999999999999999999}"),
    F("{\"type\":\"send\",\"room\":\"12\"}"),
    F("{\"type\":\"send\",\"room\":12x}"),
    F("{\"type\":\"send\",\"room\":1 2}"),
    F("{\"type\":\"send\",\"room\":}"),
    //  Literals, and numbers where strings belong.
    F("{\"type\":\"send\",\"room\":1,\"url\":null}"),
    F("{\"type\":\"send\",\"room\":1,\"client_id\":null}"),
    F("{\"type\":\"send\",\"room\":null}"),
    F("{\"type\":\"send\",\"room\":true}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":true}"),
    F("{\"type\":\"send\",\"room\":1,\"kind\":false}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":7}"),
    F("{\"type\":\"send\",\"room\":1,\"client_id\":5}"),
    F("{\"type\":null,\"room\":1}"),
    //  Other types.
    F("{\"type\":\"ping\",\"room\":1}"),
    F("{\"type\":\"subscribe\",\"room\":1}"),
    F("{\"type\":\"sendx\",\"room\":1}"),
    F("{\"type\":\"Send\",\"room\":1}"),
    F("{\"type\":\"sen\",\"room\":1}"),
    F("{\"type\":1,\"room\":1}"),
    //  Unknown members, even harmless ones.
    F("{\"type\":\"send\",\"room\":1,\"extra\":\"x\"}"),
    F("{\"type\":\"send\",\"room\":1,\"since\":1}"),
    F("{\"type\":\"send\",\"room\":1,\"Body\":\"x\"}"),
    F("{\"type\":\"send\",\"room\":1,\"\":\"x\"}"),
    F("{\"type\":\"send\",\"room\":1,\"body \":\"x\"}"),
    //  Missing type or room.
    F("{\"room\":1,\"body\":\"x\"}"),
    F("{\"type\":\"send\",\"body\":\"x\"}"),
    F("{}"),
    F("{ }"),
    //  Not one object, or more than one.
    F(""),
    F("   "),
    F("[]"),
    F("\"send\""),
    F("1"),
    F("{\"type\":\"send\",\"room\":1} x"),
    F("{\"type\":\"send\",\"room\":1}{}"),
    F("{\"type\":\"send\",\"room\":1},"),
    F("{\"type\":\"send\",\"room\":1}\0"),
    F("\xef\xbb\xbf{\"type\":\"send\",\"room\":1}"),
    //  Malformed objects.
    F("{\"type\":\"send\",\"room\":1,}"),
    F("{,\"type\":\"send\",\"room\":1}"),
    F("{\"type\":\"send\" \"room\":1}"),
    F("{\"type\" \"send\",\"room\":1}"),
    F("{\"type\"::\"send\",\"room\":1}"),
    F("{type:\"send\",\"room\":1}"),
    F("{'type':'send','room':1}"),
    F("{\"type\":\"send\",\"room\":1"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"x}"),
    F("{\"type\":\"send\",\"room\":1,\"body\":\"x"),
    //  Whitespace JSON does not know.
    F("{\"type\":\"send\",\v\"room\":1}"),
    F("{\"type\":\"send\",\f\"room\":1}"),
    F("{\"type\":\"send\",\"room\":1}\xc2\xa0"),
};

Test(send_scan, declines_everything_unusual)
{
    for (size_t i = 0; i < COUNT(s_declined); i++) {
        pl_send_request_t got;
        cr_assert_not(s_scan(s_declined[i].text, s_declined[i].len, &got), "taken: %.*s",
                      (int)s_declined[i].len, s_declined[i].text);
    }
}

Test(send_scan, declines_every_proper_prefix)
{
    for (size_t i = 0; i < COUNT(s_taken); i++) {
        const frame_t *f = &s_taken[i].frame;
        //  Trailing whitespace aside, a frame cut short is not an object.
        size_t end = f->len;
        while (end > 0 && strchr(" \t\r\n", f->text[end - 1]))
            end--;
        for (size_t len = 0; len < end; len++) {
            pl_send_request_t got;
            cr_assert_not(s_scan(f->text, len, &got), "taken %zu bytes of %s", len, f->text);
        }
    }
}

//  --- the same reading as jansson's -------------------------------------------------

Test(send_scan, every_listed_frame_reads_as_jansson_reads_it)
{
    for (size_t i = 0; i < COUNT(s_declined); i++)
        s_check_equivalent(s_declined[i].text, s_declined[i].len, NULL);
    for (size_t i = 0; i < COUNT(s_taken); i++)
        for (size_t len = 0; len <= s_taken[i].frame.len; len++)
            s_check_equivalent(s_taken[i].frame.text, len, NULL);
}

//  A body of n bytes: for each UTF-8 question, the scanner and jansson must agree both
//  ways (no backslash is ever in it, so UTF-8 is the only reason to differ).
static void s_check_body_bytes(const unsigned char *bytes, size_t n, size_t *taken)
{
    char frame[64];
    static const char head[] = "{\"type\":\"send\",\"room\":1,\"body\":\"";
    size_t len = sizeof head - 1;
    memcpy(frame, head, len);
    memcpy(frame + len, bytes, n);
    len += n;
    memcpy(frame + len, "\"}", 2);
    len += 2;
    bool jansson_took;
    bool fast_took = s_check_equivalent(frame, len, &jansson_took);
    cr_assert_eq(fast_took, jansson_took, "body %02x %02x %02x %02x: scanner %d, jansson %d",
                 bytes[0], n > 1 ? bytes[1] : 0, n > 2 ? bytes[2] : 0, n > 3 ? bytes[3] : 0,
                 fast_took, jansson_took);
    *taken += fast_took;
}

Test(send_scan, utf8_is_judged_as_jansson_judges_it)
{
    static const unsigned char edges[] = {0x00, 0x22, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                          0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf4, 0xff};
    size_t taken = 0;
    unsigned char b[4];
    //  Every pair of bytes, except the backslash (an escape).
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 256; j++) {
            if (i == '\\' || j == '\\')
                continue;
            b[0] = (unsigned char)i, b[1] = (unsigned char)j;
            s_check_body_bytes(b, 2, &taken);
        }
    //  Every lead of three and four bytes, every second byte, the edges after it.
    for (int i = 0xc0; i < 256; i++)
        for (int j = 0; j < 256; j++)
            for (size_t k = 0; k < sizeof edges; k++) {
                if (j == '\\')
                    continue;
                b[0] = (unsigned char)i, b[1] = (unsigned char)j, b[2] = edges[k];
                s_check_body_bytes(b, 3, &taken);
                for (size_t l = 0; i >= 0xf0 && l < sizeof edges; l++) {
                    b[3] = edges[l];
                    s_check_body_bytes(b, 4, &taken);
                }
            }
    //  The sweep is worth something only if many of these were taken.
    cr_assert_gt(taken, 20000, "only %zu taken", taken);
}

//  xorshift64: the same mutations on every run.
static uint64_t s_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

Test(send_scan, mutated_frames_are_taken_only_as_jansson_reads_them)
{
    static const char alphabet[] = "\"\\{}[],: \t\n0123456789-+.eE\x01\x7f\x80\xbf\xc0\xc3\xe0"
                                   "\xed\xf0\xf4\xffnultrsabcdefgkimoy";
    uint64_t state = 0x9e3779b97f4a7c15u;
    size_t taken = 0, tried = 0;
    char buf[256];
    for (size_t round = 0; round < 4000; round++)
        for (size_t i = 0; i < COUNT(s_taken); i++) {
            const frame_t *f = &s_taken[i].frame;
            if (f->len + 8 > sizeof buf)
                continue;
            size_t len = f->len;
            memcpy(buf, f->text, len);
            //  One to three edits: a byte replaced, inserted or removed.
            for (uint64_t edits = s_next(&state) % 3 + 1; edits > 0; edits--) {
                size_t at = (size_t)(s_next(&state) % (len + 1));
                char ch = alphabet[s_next(&state) % (sizeof alphabet - 1)];
                switch (s_next(&state) % 3) {
                case 0:
                    if (at < len)
                        buf[at] = ch;
                    break;
                case 1:
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = ch;
                    len++;
                    break;
                default:
                    if (at < len) {
                        memmove(buf + at, buf + at + 1, len - at - 1);
                        len--;
                    }
                    break;
                }
            }
            taken += s_check_equivalent(buf, len, NULL);
            tried++;
        }
    cr_assert_gt(taken, tried / 20, "only %zu of %zu mutations taken", taken, tried);
    cr_assert_lt(taken, tried, "every mutation taken");
}
