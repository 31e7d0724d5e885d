/*  Tests for http_parse.c: integer query parameters and Last-Event-ID, read from
    raw query strings and header values as civetweb hands them over. */
#include "parley/http_parse.h"

#include <criterion/criterion.h>
#include <stdint.h>

TestSuite(http_parse, .timeout = 10);

Test(http_parse, query_integers_are_decimal_within_their_bounds)
{
    int64_t value = -42;
    cr_assert_eq(pl_query_int(NULL, "limit", 1, 200, &value), 0);
    cr_assert_eq(pl_query_int("before=3", "limit", 1, 200, &value), 0);
    cr_assert_eq(value, -42, "an absent parameter leaves the value alone");
    cr_assert_eq(pl_query_int("before=3&limit=%3200", "limit", 1, 200, &value), 1);
    cr_assert_eq(value, 200);
    cr_assert_eq(pl_query_int("after=9223372036854775807", "after", 0, INT64_MAX, &value), 1);
    cr_assert_eq(value, INT64_MAX);
    const char *refused[] = {"limit=",
                             "limit=201",
                             "limit=0",
                             "limit=x",
                             "limit=5x",
                             "limit=1e2",
                             "limit=-1",
                             "limit=99999999999999999999",
                             "limit=000000000000000000000000000000005"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        cr_assert_eq(pl_query_int(refused[i], "limit", 1, 200, &value), -1, "%s", refused[i]);
}

//  Seen while fixing the finding below (no fuzzer reached it: a header holds no NUL):
//  a NUL decoded from the query ended strtoll's reading, and the rest was ignored.
Test(http_parse, a_decoded_nul_is_not_the_end_of_a_value)
{
    int64_t value = -42;
    cr_assert_eq(pl_query_int("limit=5%00x", "limit", 1, 200, &value), -1);
    cr_assert_eq(pl_last_event_id(NULL, "last_event_id=5%00x", &value), -1);
    cr_assert_eq(value, -1);
}

Test(http_parse, last_event_id_comes_from_the_header_else_the_query)
{
    int64_t id = 0;
    cr_assert_eq(pl_last_event_id(NULL, NULL, &id), 0);
    cr_assert_eq(id, -1);
    cr_assert_eq(pl_last_event_id("", "last_event_id=7", &id), 0);
    cr_assert_eq(id, -1, "an empty header means none, whatever the query says");
    cr_assert_eq(pl_last_event_id("12", "last_event_id=7", &id), 0);
    cr_assert_eq(id, 12);
    cr_assert_eq(pl_last_event_id(NULL, "a=1&last_event_id=7", &id), 0);
    cr_assert_eq(id, 7);
    const char *refused[] = {"-1", " 5", "+5", "5 ", "x", "9223372036854775808"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_assert_eq(pl_last_event_id(refused[i], NULL, &id), -1, "%s", refused[i]);
        cr_assert_eq(id, -1);
    }
}

//  Found by the last_event_id fuzz target: a value too long for the decoding buffer
//  read as no value at all from the query (a stream without replay), where the
//  header refused it, and an id with many leading zeros went the other way.
Test(http_parse, a_long_value_reads_the_same_from_the_header_and_the_query)
{
    int64_t id;
    const char *long_id = "00000000000000000000000000000005";
    cr_assert_eq(pl_last_event_id(long_id, NULL, &id), -1);
    cr_assert_eq(pl_last_event_id(NULL, "last_event_id=00000000000000000000000000000005", &id), -1);
    cr_assert_eq(pl_last_event_id("0000000000000000000000000000005", NULL, &id), 0);
    cr_assert_eq(id, 5);
    cr_assert_eq(pl_last_event_id(NULL, "last_event_id=0000000000000000000000000000005", &id), 0);
    cr_assert_eq(id, 5);
    cr_assert_eq(pl_last_event_id(NULL, "last_event_id=H8xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", &id),
                 -1);
}
