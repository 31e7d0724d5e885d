/*  The load generator's frame scanner (bench/json_scan.c): every delivery it counts goes
    through it, so a field it misreads is a gap or a latency that never happened. */
#include "../bench/bench.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void s_scan(const char *text, bn_jfield_t *fields, int count)
{
    bn_json_scan(text, strlen(text), fields, count);
}

Test(bench_json_scan, finds_top_level_fields_past_nested_values)
{
    bn_jfield_t f[3] = {{.name = "seq"}, {.name = "body"}, {.name = "t"}};
    s_scan("{\"type\":\"message\",\"sender\":{\"seq\":9,\"body\":\"no\"},\"list\":[1,{\"t\":2}],"
           "\"seq\": 42 ,\"body\":\"t=17;xx\"}",
           f, 3);
    cr_assert_eq(bn_json_int(&f[0], -1), 42);
    cr_assert(f[1].is_str);
    cr_assert_eq(f[1].len, 7);
    cr_assert_eq(memcmp(f[1].val, "t=17;xx", 7), 0);
    cr_assert_null(f[2].val, "a key inside a nested value is not a top-level field");
}

Test(bench_json_scan, escaped_quotes_and_backslashes_stay_inside_strings)
{
    bn_jfield_t f[2] = {{.name = "body"}, {.name = "seq"}};
    s_scan("{\"body\":\"a\\\"b\\\\\",\"x\":\"\\\\\\\"\\\\\",\"seq\":7}", f, 2);
    cr_assert_eq(f[0].len, strlen("a\\\"b\\\\"));
    cr_assert_eq(memcmp(f[0].val, "a\\\"b\\\\", f[0].len), 0);
    cr_assert_eq(bn_json_int(&f[1], -1), 7);
}

Test(bench_json_scan, a_key_is_matched_whole_not_by_prefix)
{
    bn_jfield_t f[2] = {{.name = "t"}, {.name = "seq"}};
    s_scan("{\"ts\":1,\"seqs\":2,\"t\":3}", f, 2);
    cr_assert_eq(bn_json_int(&f[0], -1), 3);
    cr_assert_null(f[1].val);
}

Test(bench_json_scan, a_cut_or_malformed_frame_yields_what_came_before_it)
{
    bn_jfield_t f[2] = {{.name = "seq"}, {.name = "body"}};
    s_scan("{\"seq\":5,\"body\":\"unterminated", f, 2);
    cr_assert_eq(bn_json_int(&f[0], -1), 5);
    s_scan("[\"seq\",5]", f, 2);
    cr_assert_null(f[0].val);
    s_scan("{\"seq\" 5}", f, 2);
    cr_assert_null(f[0].val);
}

//  Strings are searched 16 bytes at a time: escapes and the closing quote must be found
//  at every offset within and across those blocks, and a string cut at the end of the
//  frame must not be read past.
Test(bench_json_scan, escapes_are_found_at_every_offset_of_a_long_string)
{
    for (size_t pad = 0; pad < 40; pad++) {
        char text[128], body[64];
        memset(body, 'x', pad);
        strcpy(body + pad, "\\\"y\\\\");
        snprintf(text, sizeof text, "{\"body\":\"%s\",\"seq\":%zu}", body, pad);
        bn_jfield_t f[2] = {{.name = "body"}, {.name = "seq"}};
        s_scan(text, f, 2);
        cr_assert_eq(f[0].len, strlen(body), "pad %zu", pad);
        cr_assert_eq(memcmp(f[0].val, body, f[0].len), 0);
        cr_assert_eq(bn_json_int(&f[1], -1), (int64_t)pad);
        //  The same frame cut inside the string, just after a backslash.
        const char *cut = strstr(text, "\\\\\"");
        bn_jfield_t g[1] = {{.name = "seq"}};
        bn_json_scan(text, (size_t)(cut - text) + 1, g, 1);
        cr_assert_null(g[0].val);
    }
}
