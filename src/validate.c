/*  Edge validation rules from PROTOCOL.md. */
#include "parley/validate.h"

#include "parley/store.h"
#include "parley/uploads.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

size_t pl_utf8_length(const char *text, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += ((unsigned char)text[i] & 0xc0) != 0x80;
    return count;
}

const char *pl_check_username(const char *text, size_t len)
{
    if (len < 3 || len > PL_USERNAME_MAX)
        return "must be 3-32 characters of a-z, 0-9 and _";
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "must be 3-32 characters of a-z, 0-9 and _";
    }
    return NULL;
}

const char *pl_check_password(const char *text, size_t len)
{
    if (len > PL_PASSWORD_MAX_BYTES)
        return "must be at most 1024 bytes";
    if (pl_utf8_length(text, len) < 8)
        return "must be at least 8 characters";
    if (memchr(text, '\0', len))
        return "must not contain NUL characters";
    return NULL;
}

//  True when text holds a C0 control byte or DEL (C1 controls are two-byte UTF-8
//  sequences starting 0xC2 0x80-0x9F).
static bool s_has_control(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            return true;
        if (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

const char *pl_check_display_name(const char *text, size_t len)
{
    size_t chars = pl_utf8_length(text, len);
    if (chars < 1 || chars > PL_DISPLAY_NAME_MAX)
        return "must be 1-64 characters";
    if (s_has_control(text, len))
        return "must not contain control characters";
    return NULL;
}

const char *pl_check_avatar_url(const char *text, size_t len)
{
    if (len == 0)
        return NULL;
    if (len > PL_URL_MAX)
        return "must be at most 2048 bytes";
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
            return "must not contain spaces or control characters";
        //  Browsers read "/\host" as "//host": another server.
        if (text[i] == '\\')
            return "must not contain backslashes";
    }
    bool is_path = text[0] == '/' && (len == 1 || text[1] != '/');
    bool is_http = (len > 7 && memcmp(text, "http://", 7) == 0) ||
                   (len > 8 && memcmp(text, "https://", 8) == 0);
    if (!is_path && !is_http)
        return "must be an http(s) URL or a path on this server";
    return NULL;
}

const char *pl_check_title(const char *text, size_t len)
{
    size_t chars = pl_utf8_length(text, len);
    if (chars < 1 || chars > PL_TITLE_MAX_CHARS)
        return "must be 1-200 characters";
    return s_has_control(text, len) ? "must not contain control characters" : NULL;
}

const char *pl_check_description(const char *text, size_t len)
{
    return pl_utf8_length(text, len) > PL_DESCRIPTION_MAX_CHARS ? "must be at most 4000 characters"
                                                                : NULL;
}

const char *pl_check_string_member(const json_t *object, const char *name, bool required,
                                   pl_check_t check, pl_str_t *out)
{
    json_t *value = json_object_get(object, name);
    *out = (pl_str_t){NULL, 0};
    if (!value || (json_is_null(value) && !required))
        return required ? "is required" : NULL;
    if (!json_is_string(value))
        return "must be a string";
    *out = (pl_str_t){json_string_value(value), (uint32_t)json_string_length(value)};
    return check ? check(out->ptr, out->len) : NULL;
}

const char *pl_check_content_kind(const char *text, size_t len)
{
    //  By length too: "movie\u0000x" is not movie.
    bool movie = len == 5 && memcmp(text, "movie", 5) == 0;
    bool book = len == 4 && memcmp(text, "book", 4) == 0;
    return movie || book ? NULL : "must be movie or book";
}

const char *pl_check_content(const json_t *object, pl_content_input_t *out, const char **field)
{
    static const struct {
        const char *name;
        bool required;
        pl_check_t check;
        size_t offset;
    } strings[] = {
        {"kind", true, pl_check_content_kind, offsetof(pl_content_input_t, kind)},
        {"title", true, pl_check_title, offsetof(pl_content_input_t, title)},
        {"description", false, pl_check_description, offsetof(pl_content_input_t, description)},
    };
    *out = (pl_content_input_t){0};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        *field = strings[i].name;
        const char *problem =
            pl_check_string_member(object, strings[i].name, strings[i].required, strings[i].check,
                                   (pl_str_t *)((char *)out + strings[i].offset));
        if (problem)
            return problem;
    }
    *field = "year";
    json_t *year = json_object_get(object, "year");
    if (year && !json_is_null(year)) {
        if (!json_is_integer(year) || json_integer_value(year) < 1 ||
            json_integer_value(year) > PL_YEAR_MAX)
            return "must be an integer from 1 to 9999";
        out->year = json_integer_value(year);
    }
    *field = NULL;
    return NULL;
}

//  A number as the text of a string literal.
#define S_TEXT(n)   #n
#define S_NUMBER(n) S_TEXT(n)

const char *pl_check_read_marks(const json_t *object, pl_read_marks_t *out, const char **field)
{
    const json_t *all = json_object_get(object, "all"), *ids = json_object_get(object, "ids");
    *out = (pl_read_marks_t){json_is_true(all), NULL};
    *field = "all";
    if (all && !json_is_boolean(all))
        return "must be true or false";
    *field = NULL;
    if (out->all)
        return NULL;
    if (!ids)
        return "expected ids or \"all\": true";
    *field = "ids";
    size_t n = json_array_size(ids);
    if (!json_is_array(ids) || n == 0 || n > PL_READ_IDS_MAX)
        return "must be an array of 1-" S_NUMBER(PL_READ_IDS_MAX) " ids";
    for (size_t i = 0; i < n; i++) {
        const json_t *id = json_array_get(ids, i);
        if (!json_is_integer(id) || json_integer_value(id) < 1)
            return "must hold only ids (positive integers)";
    }
    out->ids = ids;
    *field = NULL;
    return NULL;
}

const char *pl_check_client_id(const char *text, size_t len)
{
    if (len < 1 || len > PL_CLIENT_ID_MAX)
        return "must be 1-64 characters";
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x21 || text[i] > 0x7e)
            return "must be printable ASCII without spaces";
    return NULL;
}

const char *pl_check_message(const char *kind, size_t kind_len, const char *body, size_t body_len,
                             const char *url, size_t url_len, size_t max_chars, const char **field)
{
    bool image = kind && kind_len == 5 && memcmp(kind, "image", 5) == 0;
    bool text = kind && kind_len == 4 && memcmp(kind, "text", 4) == 0;
    if (kind && !image && !text) {
        *field = "kind";
        return "must be text or image";
    }
    size_t chars = body ? pl_utf8_length(body, body_len) : 0;
    *field = "body";
    if (!image && chars < 1)
        return "is required for a text message";
    if (chars > max_chars)
        return "is too long";
    if (body && memchr(body, '\0', body_len))
        return "must not contain NUL characters";
    *field = "url";
    if (image && !url)
        return "is required for an image message";
    if (!image && url)
        return "is only for image messages";
    if (image && !pl_upload_url_type(url, url_len))
        return "must be the url of an upload of this server";
    *field = NULL;
    return NULL;
}
