/*  Tests for json_writer.c. The writer promises jansson's compact bytes, so most
    checks build the same document with jansson and compare the two texts exactly:
    every control character, quotes, backslash, slash, DEL, UTF-8, embedded NULs,
    the int64 extremes, nesting, and a buffer grown many times over. */
#include "parley/json_writer.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

TestSuite(json_writer, .timeout = 10);

//  Asserts the writer holds exactly what jansson dumps for expected (stolen).
static void s_same_as_jansson(const pl_jw_t *w, json_t *expected)
{
    char *want = json_dumps(expected, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(expected);
    cr_assert_not_null(want);
    size_t len;
    const char *got = pl_jw_text(w, &len);
    cr_assert_not_null(got);
    cr_assert_eq(len, strlen(got), "the length counts every byte but the NUL");
    cr_assert_str_eq(got, want);
    free(want);
}

//  A one-key object {"s": str} written both ways.
static void s_check_string(const char *str, size_t len)
{
    pl_jw_t w = PL_JW_INIT;
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "s");
    pl_jw_str(&w, str, len);
    pl_jw_object_end(&w);
    json_t *expected = json_object();
    json_object_set_new(expected, "s", json_stringn(str, len));
    s_same_as_jansson(&w, expected);
    pl_jw_release(&w);
}

Test(json_writer, escapes_every_control_character_as_jansson_does)
{
    for (int c = 0; c < 0x20; c++) {
        char str[3] = {'a', (char)c, 'b'};
        s_check_string(str, sizeof str);
    }
}

Test(json_writer, escapes_quote_and_backslash_and_passes_the_rest)
{
    const char *cases[] = {
        "",
        "plain",
        "\"",
        "\\",
        "say \"hi\" \\o/ to C:\\temp",
        "a/b</script>",
        "del \x7f here",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "\"\\\"\\\n\t\r\b\f\x01\x1f",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_check_string(cases[i], strlen(cases[i]));
}

Test(json_writer, writes_embedded_nul_bytes)
{
    s_check_string("a\0b\0", 4);
}

Test(json_writer, integers_cover_the_int64_range)
{
    const int64_t values[] = {0,         1,         -1,           9, 10, -10, 1234567890123,
                              INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        pl_jw_t w = PL_JW_INIT;
        pl_jw_object_begin(&w);
        pl_jw_key(&w, "n");
        pl_jw_int(&w, values[i]);
        pl_jw_object_end(&w);
        s_same_as_jansson(&w, json_pack("{s:I}", "n", (json_int_t)values[i]));
        pl_jw_release(&w);
    }
}

//  The shape of a "message" frame: nested object, null and optional keys.
Test(json_writer, nested_objects_with_nulls_match_jansson)
{
    pl_jw_t w = PL_JW_INIT;
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "type");
    pl_jw_str(&w, "message", 7);
    pl_jw_key(&w, "seq");
    pl_jw_int(&w, 42);
    pl_jw_key(&w, "client_id");
    pl_jw_str_or_null(&w, NULL, 0);
    pl_jw_key(&w, "sender");
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "id");
    pl_jw_int(&w, 7);
    pl_jw_key(&w, "avatar_url");
    pl_jw_str_or_null(&w, NULL, 0);
    pl_jw_key(&w, "inner");
    pl_jw_object_begin(&w);
    pl_jw_object_end(&w);
    pl_jw_object_end(&w);
    pl_jw_key(&w, "body");
    pl_jw_str_or_null(&w, "hi", 2);
    pl_jw_object_end(&w);
    s_same_as_jansson(&w, json_pack("{s:s, s:I, s:n, s:{s:I, s:n, s:{}}, s:s}", "type", "message",
                                    "seq", (json_int_t)42, "client_id", "sender", "id",
                                    (json_int_t)7, "avatar_url", "inner", "body", "hi"));
    pl_jw_release(&w);
}

Test(json_writer, reset_starts_a_new_document_in_the_same_buffer)
{
    pl_jw_t w = PL_JW_INIT;
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "a");
    pl_jw_int(&w, 1);
    pl_jw_object_end(&w);
    const char *first = pl_jw_text(&w, NULL);
    pl_jw_reset(&w);
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "b");
    pl_jw_int(&w, 2);
    pl_jw_object_end(&w);
    cr_assert_eq(pl_jw_text(&w, NULL), first, "the buffer is reused");
    cr_assert_str_eq(pl_jw_text(&w, NULL), "{\"b\":2}");
    pl_jw_release(&w);
    cr_assert_null(pl_jw_text(&w, NULL), "a released writer holds nothing");
}

Test(json_writer, grows_its_buffer_for_long_strings)
{
    //  Past the first 256 bytes many times, with escapes spread through it.
    size_t len = 100000;
    char *str = malloc(len);
    cr_assert_not_null(str);
    for (size_t i = 0; i < len; i++)
        str[i] = i % 97 == 0 ? '\n' : i % 89 == 0 ? '"' : (char)('a' + i % 26);
    s_check_string(str, len);
    free(str);
}

Test(json_writer, raw_values_take_their_place_among_keys)
{
    pl_jw_t w = PL_JW_INIT;
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "actor");
    pl_jw_raw(&w, "{\"id\":7,\"avatar_url\":null}", 26);
    pl_jw_key(&w, "count");
    pl_jw_int(&w, 3);
    pl_jw_object_end(&w);
    s_same_as_jansson(&w, json_pack("{s:{s:I, s:n}, s:I}", "actor", "id", (json_int_t)7,
                                    "avatar_url", "count", (json_int_t)3));
    pl_jw_release(&w);
}

Test(json_writer, arrays_booleans_and_optional_members_match_jansson)
{
    pl_jw_t w = PL_JW_INIT;
    pl_jw_object_begin(&w);
    pl_jw_key(&w, "empty");
    pl_jw_array_begin(&w);
    pl_jw_array_end(&w);
    pl_jw_key(&w, "online");
    pl_jw_array_begin(&w);
    for (int64_t id = 1; id <= 3; id++)
        pl_jw_int(&w, id * 1000);
    pl_jw_array_end(&w);
    pl_jw_key(&w, "nested");
    pl_jw_array_begin(&w);
    pl_jw_array_begin(&w);
    pl_jw_bool(&w, false);
    pl_jw_array_end(&w);
    pl_jw_object_begin(&w);
    pl_jw_object_end(&w);
    pl_jw_array_end(&w);
    pl_jw_key(&w, "recovered");
    pl_jw_bool(&w, true);
    pl_jw_member_str_if(&w, "absent", NULL, 0);
    pl_jw_member_str_if(&w, "ref", "r1", 2);
    pl_jw_object_end(&w);
    s_same_as_jansson(&w, json_pack("{s:[], s:[I, I, I], s:[[b], {}], s:b, s:s}", "empty", "online",
                                    (json_int_t)1000, (json_int_t)2000, (json_int_t)3000, "nested",
                                    0, "recovered", 1, "ref", "r1"));
    pl_jw_release(&w);
}
