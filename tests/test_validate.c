/*  Tests for validate.c against PROTOCOL.md's rules for usernames, passwords, display
    names and avatar URLs. Every value is passed as a heap copy of exactly len bytes
    with no NUL after it, so a check that reads past len shows up under ASAN. */
#include "parley/validate.h"

#include "parley/store.h" //  PL_URL_MAX, which validate.h names but does not define

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(validate, .timeout = 10);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef const char *(*check_fn)(const char *text, size_t len);

//  Runs check on an exact-size copy of len bytes of text.
static const char *s_run(check_fn check, const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, text, len);
    const char *reason = check(copy, len);
    free(copy);
    return reason;
}

#define ACCEPTS(check, text, len)                                                                  \
    do {                                                                                           \
        const char *reason_ = s_run(check, text, len);                                             \
        cr_assert_null(reason_, "%s refused %zu bytes \"%.*s\": %s", #check, (size_t)(len),        \
                       (int)((len) > 80 ? 80 : (len)), text, reason_);                             \
    } while (0)

#define REFUSES(check, text, len)                                                                  \
    do {                                                                                           \
        const char *reason_ = s_run(check, text, len);                                             \
        cr_assert_not_null(reason_, "%s accepted %zu bytes \"%.*s\"", #check, (size_t)(len),       \
                           (int)((len) > 80 ? 80 : (len)), text);                                  \
        cr_assert_gt(strlen(reason_), 0, "an empty reason");                                       \
    } while (0)

#define ACCEPTS_STR(check, text) ACCEPTS(check, text, strlen(text))
#define REFUSES_STR(check, text) REFUSES(check, text, strlen(text))

//  count copies of unit (a UTF-8 sequence) in a malloc'd buffer; *len gets its size.
static char *s_repeat(const char *unit, size_t count, size_t *len)
{
    size_t unit_len = strlen(unit);
    *len = unit_len * count;
    char *text = malloc(*len + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < count; i++)
        memcpy(text + i * unit_len, unit, unit_len);
    text[*len] = '\0';
    return text;
}

static void s_accepts_repeat(check_fn check, const char *unit, size_t count)
{
    size_t len;
    char *text = s_repeat(unit, count, &len);
    const char *reason = s_run(check, text, len);
    cr_assert_null(reason, "refused %zu x \"%s\" (%zu bytes): %s", count, unit, len, reason);
    free(text);
}

static void s_refuses_repeat(check_fn check, const char *unit, size_t count)
{
    size_t len;
    char *text = s_repeat(unit, count, &len);
    cr_assert_not_null(s_run(check, text, len), "accepted %zu x \"%s\" (%zu bytes)", count, unit,
                       len);
    free(text);
}

static const char s_korean[] = "\xed\x95\x9c";    //  U+D55C, 3 bytes
static const char s_emoji[] = "\xf0\x9f\x98\x80"; //  U+1F600, 4 bytes
static const char s_e_acute[] = "\xc3\xa9";       //  U+00E9, 2 bytes

//  --------------------------------------------------------------------------------
//  pl_utf8_length

Test(validate, utf8_length)
{
    cr_assert_eq(pl_utf8_length("", 0), 0);
    cr_assert_eq(pl_utf8_length("abc", 3), 3);
    cr_assert_eq(pl_utf8_length(s_e_acute, 2), 1);
    cr_assert_eq(pl_utf8_length(s_korean, 3), 1);
    cr_assert_eq(pl_utf8_length(s_emoji, 4), 1);
    cr_assert_eq(pl_utf8_length("a\xc3\xa9\xed\x95\x9c\xf0\x9f\x98\x80z", 11), 5);
    cr_assert_eq(pl_utf8_length("a\0b", 3), 3, "a NUL is a code point");
    cr_assert_eq(pl_utf8_length("abcdef", 2), 2, "only len bytes count");
    size_t len;
    char *text = s_repeat(s_emoji, 1000, &len);
    cr_assert_eq(pl_utf8_length(text, len), 1000);
    free(text);
}

//  --------------------------------------------------------------------------------
//  Usernames: 3-32 of [a-z0-9_]

Test(validate, username_length_bounds)
{
    REFUSES_STR(pl_check_username, "");
    REFUSES_STR(pl_check_username, "a");
    REFUSES_STR(pl_check_username, "ab");
    ACCEPTS_STR(pl_check_username, "abc");
    s_accepts_repeat(pl_check_username, "a", 31);
    s_accepts_repeat(pl_check_username, "a", 32);
    s_refuses_repeat(pl_check_username, "a", 33);
    s_refuses_repeat(pl_check_username, "a", 1000);
}

Test(validate, username_alphabet)
{
    ACCEPTS_STR(pl_check_username, "abcdefghijklmnopqrstuvwxyz");
    ACCEPTS_STR(pl_check_username, "0123456789");
    ACCEPTS_STR(pl_check_username, "___");
    ACCEPTS_STR(pl_check_username, "user_42");
    ACCEPTS_STR(pl_check_username, "007");
    //  Uppercase, punctuation, space, unicode: each in an otherwise good name.
    static const char *const bad[] = {
        "Alice",          "alicE",     "ALICE",        "al ice",
        " alice",         "alice ",    "al-ice",       "al.ice",
        "al@ice",         "al/ice",    "al:ice",       "al`ice",
        "al{ice",         "al^ice",    "al+ice",       "al\tice",
        "al\nice",        "al\x7fice", "h\xc3\xa9llo", "\xed\x95\x9c\xea\xb8\x80\xec\x9e\x90",
        "ab\xc4\xb1",     //  dotless i, lowercases oddly in some locales
        "ab\xef\xbd\x81", //  fullwidth 'a'
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        REFUSES_STR(pl_check_username, bad[i]);
    //  Embedded NUL and high bytes.
    REFUSES(pl_check_username, "ab\0cd", 5);
    REFUSES(pl_check_username, "abc\0", 4);
    REFUSES(pl_check_username, "ab\xff", 3);
}

Test(validate, username_respects_len)
{
    //  Only the first len bytes are the name.
    cr_assert_null(pl_check_username("abc-DEF", 3));
    cr_assert_not_null(pl_check_username("abcdef", 2));
}

//  --------------------------------------------------------------------------------
//  Passwords: at least 8 characters (code points), at most 1024 bytes, no NUL

Test(validate, password_ascii_length)
{
    REFUSES_STR(pl_check_password, "");
    REFUSES_STR(pl_check_password, "1234567");
    ACCEPTS_STR(pl_check_password, "12345678");
    ACCEPTS_STR(pl_check_password, "correct horse battery staple");
    ACCEPTS_STR(pl_check_password, "        "); //  8 spaces: length is the only rule
}

Test(validate, password_counts_code_points_not_bytes)
{
    s_refuses_repeat(pl_check_password, s_korean, 4); //  12 bytes, 4 characters
    s_refuses_repeat(pl_check_password, s_korean, 7); //  21 bytes, 7 characters
    s_accepts_repeat(pl_check_password, s_korean, 8); //  24 bytes, 8 characters
    s_refuses_repeat(pl_check_password, s_emoji, 7);  //  28 bytes
    s_accepts_repeat(pl_check_password, s_emoji, 8);
    s_refuses_repeat(pl_check_password, s_e_acute, 7);
    s_accepts_repeat(pl_check_password, s_e_acute, 8);
    //  Mixed: 7 ASCII + 1 Korean = 8 characters.
    ACCEPTS_STR(pl_check_password, "abcdefg\xed\x95\x9c");
    REFUSES_STR(pl_check_password, "abcdef\xed\x95\x9c");
}

Test(validate, password_byte_limit)
{
    cr_assert_eq(PL_PASSWORD_MAX_BYTES, 1024);
    s_accepts_repeat(pl_check_password, "p", 1024);
    s_refuses_repeat(pl_check_password, "p", 1025);
    s_refuses_repeat(pl_check_password, "p", 100000);
    //  Few characters, many bytes: 341 x 3 = 1023 bytes ok, 342 x 3 = 1026 refused.
    s_accepts_repeat(pl_check_password, s_korean, 341);
    s_refuses_repeat(pl_check_password, s_korean, 342);
    s_accepts_repeat(pl_check_password, s_emoji, 256); //  exactly 1024 bytes
    s_refuses_repeat(pl_check_password, s_emoji, 257); //  1028 bytes
}

Test(validate, password_with_nul_is_refused)
{
    REFUSES(pl_check_password, "abcd\0efgh", 9);
    REFUSES(pl_check_password, "\0abcdefgh", 9);
    REFUSES(pl_check_password, "abcdefgh\0", 9);
    REFUSES(pl_check_password, "\0\0\0\0\0\0\0\0", 8);
}

Test(validate, password_respects_len)
{
    cr_assert_null(pl_check_password("12345678\0and more", 8));
    cr_assert_not_null(pl_check_password("12345678", 7));
}

//  --------------------------------------------------------------------------------
//  Display names: 1-64 characters (code points), no control characters

Test(validate, display_name_length_in_characters)
{
    REFUSES(pl_check_display_name, "", 0);
    ACCEPTS_STR(pl_check_display_name, "a");
    ACCEPTS_STR(pl_check_display_name, s_korean);
    ACCEPTS_STR(pl_check_display_name, "Ada Lovelace");
    s_accepts_repeat(pl_check_display_name, "a", 64);
    s_refuses_repeat(pl_check_display_name, "a", 65);
    s_accepts_repeat(pl_check_display_name, s_emoji, 64); //  256 bytes
    s_refuses_repeat(pl_check_display_name, s_emoji, 65);
    s_accepts_repeat(pl_check_display_name, s_korean, 64);
    s_refuses_repeat(pl_check_display_name, s_korean, 65);
    s_accepts_repeat(pl_check_display_name, s_e_acute, 64);
    s_refuses_repeat(pl_check_display_name, s_e_acute, 65);
    s_refuses_repeat(pl_check_display_name, "a", 10000);
}

Test(validate, display_name_control_characters)
{
    static const char *const bad[] = {
        "a\nb",         "a\tb",  "a\rb", "\x01",   "a\x1f",
        "a\x1b[31mred", "a\x7f", "\x7f", "line\n", "a\xc2\x85z", //  U+0085 NEXT LINE
        "a\xc2\x80z",                                            //  U+0080, first C1
        "a\xc2\x9fz",                                            //  U+009F, last C1
        "\xc2\x85",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        REFUSES_STR(pl_check_display_name, bad[i]);
    REFUSES(pl_check_display_name, "a\0b", 3);
    REFUSES(pl_check_display_name, "\0", 1);
    //  Neighbours of the control ranges are fine.
    ACCEPTS_STR(pl_check_display_name, " ");
    ACCEPTS_STR(pl_check_display_name, "~");
    ACCEPTS_STR(pl_check_display_name, "a\xc2\xa0z");    //  U+00A0 NO-BREAK SPACE
    ACCEPTS_STR(pl_check_display_name, "\xc2\xa9 2024"); //  U+00A9 COPYRIGHT SIGN
    ACCEPTS_STR(pl_check_display_name, "Zo\xc3\xab");    //  U+00EB
    ACCEPTS_STR(pl_check_display_name, "\xc4\x85");      //  U+0105: second byte 0x85, not C1
}

Test(validate, display_name_respects_len)
{
    cr_assert_null(pl_check_display_name("ok\nnot this", 2));
    //  65 characters in the buffer, 64 in the slice.
    size_t len;
    char *text = s_repeat("a", 65, &len);
    ACCEPTS(pl_check_display_name, text, 64);
    free(text);
}

//  --------------------------------------------------------------------------------
//  Avatar URLs: empty, http(s)://..., or /path on this server; <= 2048 bytes

Test(validate, avatar_url_accepted_forms)
{
    ACCEPTS(pl_check_avatar_url, "", 0);
    ACCEPTS_STR(pl_check_avatar_url, "http://example.com/a.png");
    ACCEPTS_STR(pl_check_avatar_url, "https://example.com/a.png");
    ACCEPTS_STR(pl_check_avatar_url, "https://example.com:8443/a/b.png?size=64#x");
    ACCEPTS_STR(pl_check_avatar_url, "/uploads/x.png");
    ACCEPTS_STR(pl_check_avatar_url, "/uploads/0123456789abcdef.jpg");
}

Test(validate, avatar_url_refused_forms)
{
    static const char *const bad[] = {
        "//evil.com/x",
        "//evil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:image/png;base64,AAAA",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "uploads/x.png", //  relative
        "x.png",
        "http:/example.com",
        "https:example.com",
        "mailto:a@b.c",
        " http://example.com/a.png", //  leading space
        "http://example.com/a b.png",
        "/uploads/a b.png",
        "http://example.com/a.png ",
        "http://example.com/\n.png",
        "http://example.com/\t.png",
        "/uploads/\r",
        "/uploads/\x7f",
        "/uploads/\x01",
    };
    for (size_t i = 0; i < COUNT(bad); i++)
        REFUSES_STR(pl_check_avatar_url, bad[i]);
    REFUSES(pl_check_avatar_url, "/uploads/\0x.png", 15);
}

Test(validate, avatar_url_backslash_is_not_a_local_path)
{
    //  Browsers read "/\host" like "//host": it leaves this server just the same.
    REFUSES_STR(pl_check_avatar_url, "/\\evil.com/x.png");
}

Test(validate, avatar_url_length_limit)
{
    static const char head[] = "https://example.com/";
    size_t head_len = strlen(head);
    char *text = malloc(PL_URL_MAX + 2);
    memcpy(text, head, head_len);
    memset(text + head_len, 'a', PL_URL_MAX + 1 - head_len);
    ACCEPTS(pl_check_avatar_url, text, (size_t)PL_URL_MAX);
    REFUSES(pl_check_avatar_url, text, (size_t)PL_URL_MAX + 1);
    //  A path, too.
    text[0] = '/';
    memset(text + 1, 'p', PL_URL_MAX);
    ACCEPTS(pl_check_avatar_url, text, (size_t)PL_URL_MAX);
    REFUSES(pl_check_avatar_url, text, (size_t)PL_URL_MAX + 1);
    free(text);
    cr_assert_eq(PL_URL_MAX, 2048);
}

Test(validate, avatar_url_respects_len)
{
    //  The first len bytes are the whole URL: "https" and "http" are not URLs, whatever
    //  the buffer holds after them. (Called on the literals directly, so the bytes past
    //  len are there to be misread.)
    static const char https[] = "https://example.com/a.png";
    static const char http[] = "http://example.com/a.png";
    cr_assert_not_null(pl_check_avatar_url(https, 5), "\"https\" accepted");
    cr_assert_not_null(pl_check_avatar_url(https, 7), "\"https:/\" accepted");
    cr_assert_not_null(pl_check_avatar_url(http, 4), "\"http\" accepted");
    cr_assert_not_null(pl_check_avatar_url(http, 6), "\"http:/\" accepted");
    cr_assert_not_null(pl_check_avatar_url(http, 1), "\"h\" accepted");
    cr_assert_null(pl_check_avatar_url("/uploads/x.png and then junk", 14));
}

//  --------------------------------------------------------------------------------
//  Contents (POST /api/contents and the import)

Test(validate, content_kind)
{
    ACCEPTS_STR(pl_check_content_kind, "movie");
    ACCEPTS_STR(pl_check_content_kind, "book");
    REFUSES_STR(pl_check_content_kind, "");
    REFUSES_STR(pl_check_content_kind, "Movie");
    REFUSES_STR(pl_check_content_kind, "film");
    REFUSES_STR(pl_check_content_kind, "books");
    REFUSES_STR(pl_check_content_kind, "boo");
    //  A NUL after the kind is part of it, not its end.
    REFUSES(pl_check_content_kind, "movie\0x", 7);
    REFUSES(pl_check_content_kind, "book\0", 5);
}

//  Checks the content JSON text; returns the field named by a refusal, or NULL
//  when accepted (and then *out is filled). NULs are let through the parser: the
//  check must not rely on its caller's parser refusing them.
static const char *s_content_field(const char *text, pl_content_input_t *out, json_t **json)
{
    json_error_t error;
    *json = json_loads(text, JSON_ALLOW_NUL, &error);
    cr_assert_not_null(*json, "bad test JSON %s: %s", text, error.text);
    const char *field = "unset";
    const char *reason = pl_check_content(*json, out, &field);
    if (!reason) {
        cr_assert_null(field, "%s: accepted but names %s", text, field);
        return NULL;
    }
    cr_assert(field && strlen(reason) > 0, "%s: a refusal without field or reason", text);
    return field;
}

Test(validate, content_accepted)
{
    pl_content_input_t in;
    json_t *json;
    cr_assert_null(s_content_field("{\"kind\":\"book\",\"title\":\"Émile\",\"description\":\"On "
                                   "education.\",\"year\":1762,\"extra\":[1]}",
                                   &in, &json));
    cr_assert_eq(in.kind.len, 4);
    cr_assert_eq(memcmp(in.kind.ptr, "book", 4), 0);
    cr_assert_eq(in.title.len, strlen("Émile"));
    cr_assert_eq(memcmp(in.description.ptr, "On education.", in.description.len), 0);
    cr_assert_eq(in.year, 1762);
    json_decref(json);

    cr_assert_null(s_content_field("{\"kind\":\"movie\",\"title\":\"x\",\"description\":null,"
                                   "\"year\":null}",
                                   &in, &json));
    cr_assert_null(in.description.ptr, "a null description is absent");
    cr_assert_eq(in.year, 0, "a null year is absent");
    json_decref(json);
    cr_assert_null(
        s_content_field("{\"kind\":\"movie\",\"title\":\"x\",\"year\":9999}", &in, &json));
    cr_assert_eq(in.year, 9999);
    json_decref(json);
}

Test(validate, content_refused_names_the_field)
{
    const struct {
        const char *json, *field;
    } cases[] = {
        {"{}", "kind"},
        {"{\"title\":\"x\"}", "kind"},
        {"{\"kind\":null,\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"series\",\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"movie\\u0000\",\"title\":\"x\"}", "kind"},
        {"{\"kind\":[\"movie\"],\"title\":\"x\"}", "kind"},
        {"{\"kind\":\"movie\"}", "title"},
        {"{\"kind\":\"movie\",\"title\":\"\"}", "title"},
        {"{\"kind\":\"movie\",\"title\":\"a\\nb\"}", "title"},
        {"{\"kind\":\"movie\",\"title\":5}", "title"},
        {"{\"kind\":\"movie\",\"title\":\"x\",\"description\":false}", "description"},
        {"{\"kind\":\"movie\",\"title\":\"x\",\"year\":0}", "year"},
        {"{\"kind\":\"movie\",\"title\":\"x\",\"year\":10000}", "year"},
        {"{\"kind\":\"movie\",\"title\":\"x\",\"year\":\"1999\"}", "year"},
        {"{\"kind\":\"movie\",\"title\":\"x\",\"year\":1999.0}", "year"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        pl_content_input_t in;
        json_t *json;
        const char *field = s_content_field(cases[i].json, &in, &json);
        cr_assert(field && strcmp(field, cases[i].field) == 0, "%s: names %s, expected %s",
                  cases[i].json, field ? field : "nothing", cases[i].field);
        json_decref(json);
    }
}

//  pl_check_message on exact-size copies of kind (no NUL after it), as the WebSocket
//  send fast path hands it views into the frame; returns the reason or NULL.
static const char *s_message(const char *kind, size_t kind_len, const char *body, const char *url,
                             const char **field)
{
    char *copy = malloc(kind_len ? kind_len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, kind, kind_len);
    const char *reason = pl_check_message(copy, kind_len, body, body ? strlen(body) : 0, url,
                                          url ? strlen(url) : 0, 10, field);
    free(copy);
    return reason;
}

Test(validate, message_kind_is_read_by_its_length)
{
    static const char url[] =
        "/uploads/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.png";
    const char *field = NULL;
    cr_assert_null(s_message("text", 4, "hi", NULL, &field));
    cr_assert_null(s_message("image", 5, NULL, url, &field));
    //  Only kind_len bytes count: "images" cut to 5 is image, "text" cut to 3 is not text.
    cr_assert_null(s_message("images", 5, "caption", url, &field));
    cr_assert_str_eq(s_message("text", 3, "hi", NULL, &field), "must be text or image");
    cr_assert_str_eq(field, "kind");
    cr_assert_str_eq(s_message("text\0x", 6, "hi", NULL, &field), "must be text or image");
    cr_assert_not_null(s_message("", 0, "hi", NULL, &field));
    cr_assert_str_eq(field, "kind");
    cr_assert_str_eq(s_message("image", 5, NULL, NULL, &field), "is required for an image message");
    cr_assert_str_eq(field, "url");
    cr_assert_str_eq(s_message("text", 4, "eleven char", NULL, &field), "is too long");
    cr_assert_str_eq(field, "body");
}

//  --- POST /api/notifications/read ---------------------------------------------------

//  pl_check_read_marks on a JSON text: the reason, with *field and *marks.
static const char *s_read_marks(const char *text, pl_read_marks_t *marks, const char **field)
{
    json_t *body = json_loads(text, 0, NULL);
    cr_assert_not_null(body, "%s", text);
    const char *problem = pl_check_read_marks(body, marks, field);
    if (marks->ids)
        cr_assert_eq(marks->ids, json_object_get(body, "ids"));
    json_decref(body);
    return problem;
}

Test(validate, read_marks_take_ids_or_all)
{
    pl_read_marks_t marks;
    const char *field;
    cr_assert_null(s_read_marks("{\"ids\":[1,2,9007199254740993]}", &marks, &field));
    cr_assert(!marks.all && marks.ids && field == NULL);
    cr_assert_null(s_read_marks("{\"all\":true,\"ids\":\"ignored\"}", &marks, &field));
    cr_assert(marks.all && !marks.ids);
    cr_assert_null(s_read_marks("{\"all\":false,\"ids\":[3]}", &marks, &field));
    cr_assert(!marks.all && marks.ids);
}

Test(validate, read_marks_refused_name_the_member)
{
    static const struct {
        const char *body, *field;
    } refused[] = {
        {"{}", NULL},
        {"{\"all\":false}", NULL},
        {"{\"all\":1}", "all"},
        {"{\"ids\":[]}", "ids"},
        {"{\"ids\":{}}", "ids"},
        {"{\"ids\":[1,0]}", "ids"},
        {"{\"ids\":[1,\"2\"]}", "ids"},
        {"{\"ids\":[1.0]}", "ids"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        pl_read_marks_t marks;
        const char *field = "unset";
        cr_assert_not_null(s_read_marks(refused[i].body, &marks, &field), "%s", refused[i].body);
        if (refused[i].field)
            cr_assert_str_eq(field, refused[i].field, "%s", refused[i].body);
        else
            cr_assert_null(field, "%s", refused[i].body);
    }
}

Test(validate, read_marks_take_at_most_the_limit)
{
    json_t *ids = json_array();
    for (int i = 1; i <= PL_READ_IDS_MAX; i++)
        json_array_append_new(ids, json_integer(i));
    json_t *body = json_pack("{s:o}", "ids", ids);
    pl_read_marks_t marks;
    const char *field;
    cr_assert_null(pl_check_read_marks(body, &marks, &field));
    json_array_append_new(ids, json_integer(1));
    cr_assert_str_eq(pl_check_read_marks(body, &marks, &field), "must be an array of 1-1000 ids");
    json_decref(body);
}
