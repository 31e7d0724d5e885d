/*  Target bodies: the validation of every JSON request body (src/validate.c). The
    bytes are parsed as pl_http_read_json parses a body (jansson, duplicate keys
    refused, an object only). Then every string member, as an exact-size copy with
    no NUL after it, goes through each check a body field takes (username, password,
    display_name, avatar_url, title, description, a content's kind, client_id); the
    object through pl_check_content (POST /api/contents and import-contents) and
    pl_check_string_member; its kind, body and url through pl_check_message
    (POST /api/rooms/{id}/messages); and its ids or all through pl_check_read_marks
    (POST /api/notifications/read). A value a check accepts must keep the rule the
    check promises. */
#include "fuzz.h"

#include "parley/store.h"
#include "parley/uploads.h"
#include "parley/validate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE_CHARS 40

static bool s_all_in(const char *text, size_t len, const char *set)
{
    for (size_t i = 0; i < len; i++)
        if (!text[i] || !strchr(set, text[i]))
            return false;
    return true;
}

static bool s_printable(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return false;
    return true;
}

//  True when text holds no blank, C0 control or DEL byte (UTF-8 is fine).
static bool s_no_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
            return false;
    return true;
}

//  What an accepted value of each check must be.
static void s_check_promises(const char *text, size_t len)
{
    size_t chars = pl_utf8_length(text, len);
    PL_FUZZ_CHECK(chars <= len);
    if (!pl_check_username(text, len))
        PL_FUZZ_CHECK(len >= 3 && len <= PL_USERNAME_MAX &&
                      s_all_in(text, len, "abcdefghijklmnopqrstuvwxyz0123456789_"));
    if (!pl_check_password(text, len))
        PL_FUZZ_CHECK(chars >= 8 && len <= PL_PASSWORD_MAX_BYTES && !memchr(text, 0, len));
    if (!pl_check_display_name(text, len))
        PL_FUZZ_CHECK(chars >= 1 && chars <= PL_DISPLAY_NAME_MAX && !memchr(text, 0, len));
    if (!pl_check_avatar_url(text, len))
        PL_FUZZ_CHECK(
            len == 0 ||
            (len <= PL_URL_MAX && s_no_blank(text, len) && !memchr(text, '\\', len) &&
             ((text[0] == '/' && (len == 1 || text[1] != '/')) || strncmp(text, "http", 4) == 0)));
    if (!pl_check_title(text, len))
        PL_FUZZ_CHECK(chars >= 1 && chars <= PL_TITLE_MAX_CHARS && !memchr(text, 0, len));
    if (!pl_check_description(text, len))
        PL_FUZZ_CHECK(chars <= PL_DESCRIPTION_MAX_CHARS);
    if (!pl_check_content_kind(text, len))
        PL_FUZZ_CHECK(pl_fuzz_same(text, len, "movie", 5) || pl_fuzz_same(text, len, "book", 4));
    if (!pl_check_client_id(text, len))
        PL_FUZZ_CHECK(len >= 1 && len <= PL_CLIENT_ID_MAX && s_printable(text, len));
}

//  The string member name of object as an exact-size copy (*len bytes), or NULL
//  when it is absent or not a string.
static char *s_member_copy(const json_t *object, const char *name, size_t *len)
{
    const json_t *value = json_object_get(object, name);
    *len = json_string_length(value);
    return json_is_string(value) ? pl_fuzz_copy(json_string_value(value), *len) : NULL;
}

static void s_check_message(const json_t *object)
{
    size_t kind_len, body_len, url_len;
    char *kind = s_member_copy(object, "kind", &kind_len);
    char *body = s_member_copy(object, "body", &body_len);
    char *url = s_member_copy(object, "url", &url_len);
    const char *field = "unset";
    const char *problem =
        pl_check_message(kind, kind_len, body, body_len, url, url_len, MAX_MESSAGE_CHARS, &field);
    if (problem)
        PL_FUZZ_CHECK(field && (strcmp(field, "kind") == 0 || strcmp(field, "body") == 0 ||
                                strcmp(field, "url") == 0));
    else if (kind && pl_fuzz_same(kind, kind_len, "image", 5))
        PL_FUZZ_CHECK(url && pl_upload_url_type(url, url_len));
    else
        PL_FUZZ_CHECK(!url && body && pl_utf8_length(body, body_len) >= 1 &&
                      pl_utf8_length(body, body_len) <= MAX_MESSAGE_CHARS);
    free(kind);
    free(body);
    free(url);
}

static void s_check_content(const json_t *object)
{
    pl_content_input_t content;
    const char *field;
    if (pl_check_content(object, &content, &field)) {
        PL_FUZZ_CHECK(field != NULL);
        return;
    }
    PL_FUZZ_CHECK(!pl_check_content_kind(content.kind.ptr, content.kind.len));
    PL_FUZZ_CHECK(!pl_check_title(content.title.ptr, content.title.len));
    PL_FUZZ_CHECK(content.year >= 0 && content.year <= PL_YEAR_MAX);
}

static void s_check_read_marks(const json_t *object)
{
    pl_read_marks_t marks;
    const char *field;
    if (pl_check_read_marks(object, &marks, &field))
        return;
    PL_FUZZ_CHECK(field == NULL && marks.all == !marks.ids);
    size_t n = json_array_size(marks.ids);
    PL_FUZZ_CHECK(marks.all || (n >= 1 && n <= PL_READ_IDS_MAX));
    for (size_t i = 0; i < n; i++)
        PL_FUZZ_CHECK(json_integer_value(json_array_get(marks.ids, i)) >= 1);
}

int pl_fuzz_bodies(const uint8_t *data, size_t size)
{
    json_error_t error;
    json_t *object = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(object)) {
        json_decref(object);
        return 0;
    }
    const char *name;
    json_t *value;
    json_object_foreach(object, name, value)
    {
        pl_str_t member;
        const char *problem = pl_check_string_member(object, name, true, NULL, &member);
        PL_FUZZ_CHECK(!problem == json_is_string(value));
        if (!json_is_string(value))
            continue;
        PL_FUZZ_CHECK(member.ptr == json_string_value(value));
        char *text = pl_fuzz_copy(member.ptr, member.len);
        s_check_promises(text, member.len);
        free(text);
    }
    s_check_content(object);
    s_check_message(object);
    s_check_read_marks(object);
    json_decref(object);
    return 0;
}
