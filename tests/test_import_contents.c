/*  Tests for pl_import_contents (import_contents.c) against a store in a fresh
    temporary data directory, reading catalogues from memory: what is imported,
    skipped and reported, line numbers across batches, and lines no parser should
    see. The subcommand itself (options, exit status, beside a running server) is
    tested end to end in test_e2e_contents.c. */
#include "parley/import_contents.h"

#include "tmp_dir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char s_dir[64];
static pl_store_t *s_store;

static void s_setup(void)
{
    cr_assert_eq(pl_tmp_dir_make(s_dir, sizeof s_dir, "parley-import-"), 0);
    char err[512] = "";
    s_store = pl_store_sqlite_open(s_dir, true, err, sizeof err);
    cr_assert_not_null(s_store, "%s", err);
}

static void s_teardown(void)
{
    pl_store_close(&s_store);
    cr_assert_eq(pl_tmp_dir_remove(s_dir), 0);
}

TestSuite(import_contents, .init = s_setup, .fini = s_teardown, .timeout = 30);

//  Imports len bytes of text; returns what pl_import_contents returned, with the
//  counts in *counts and the report in *report (caller frees).
static int s_import(const char *text, size_t len, pl_import_counts_t *counts, char **report)
{
    FILE *in = fmemopen((void *)text, len, "r");
    cr_assert_not_null(in);
    size_t report_len;
    FILE *out = open_memstream(report, &report_len);
    cr_assert_not_null(out);
    memset(counts, 0x5a, sizeof *counts);
    int rc = pl_import_contents(s_store, in, "cat.jsonl", out, counts);
    fclose(out);
    fclose(in);
    return rc;
}

static void s_expect_counts(const pl_import_counts_t *counts, int64_t imported, int64_t skipped,
                            int64_t bad)
{
    cr_assert_eq(counts->imported, imported, "imported %lld, expected %lld",
                 (long long)counts->imported, (long long)imported);
    cr_assert_eq(counts->skipped, skipped, "skipped %lld, expected %lld",
                 (long long)counts->skipped, (long long)skipped);
    cr_assert_eq(counts->bad, bad, "bad %lld, expected %lld", (long long)counts->bad,
                 (long long)bad);
}

static bool s_stored(const char *kind, const char *title, int64_t year)
{
    int64_t id;
    return s_store->ops->content_find(s_store, pl_str_of(kind), pl_str_of(title), year, &id) ==
           PL_STATUS_OK;
}

Test(import_contents, good_lines_are_stored_and_bad_ones_reported)
{
    static const char text[] =
        "{\"kind\":\"movie\",\"title\":\"Stalker\",\"description\":\"The Zone.\",\"year\":1979}\n"
        "\n"
        "not json\n"
        "   \t\r\n"
        "{\"kind\":\"book\",\"title\":\"Ficciones\"}\r\n"
        "{\"kind\":\"series\",\"title\":\"x\"}\n"
        "[\"movie\",\"x\"]\n"
        "{\"kind\":\"book\",\"title\":\"x\",\"year\":0}\n"
        "{\"kind\":\"book\",\"title\":\"x\",\"kind\":\"movie\"}\n"
        "{\"kind\":\"book\",\"title\":\"Последний\",\"year\":2001}";
    pl_import_counts_t counts;
    char *report;
    cr_assert_eq(s_import(text, sizeof text - 1, &counts, &report), 0);
    s_expect_counts(&counts, 3, 0, 5);
    cr_assert(s_stored("movie", "Stalker", 1979));
    cr_assert(s_stored("book", "Ficciones", 0));
    cr_assert(s_stored("book", "Последний", 2001), "the last line has no newline");
    cr_assert_not(s_stored("book", "x", 0));
    //  Each bad line by its number (blank lines count), with the field when one is at fault.
    static const char *const expected[] = {"cat.jsonl:3: not a JSON object",
                                           "cat.jsonl:6: kind: ", "cat.jsonl:7: not a JSON object",
                                           "cat.jsonl:8: year: ", "cat.jsonl:9: not a JSON object"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_assert(strstr(report, expected[i]), "no '%s' in the report:\n%s", expected[i], report);
    free(report);
}

Test(import_contents, what_is_already_there_is_skipped)
{
    static const char text[] = "{\"kind\":\"movie\",\"title\":\"Alien\",\"year\":1979}\n"
                               "{\"kind\":\"movie\",\"title\":\"Alien\",\"year\":1979}\n"
                               "{\"kind\":\"book\",\"title\":\"Alien\",\"year\":1979}\n"
                               "{\"kind\":\"movie\",\"title\":\"Alien\"}\n"
                               "{\"kind\":\"movie\",\"title\":\"Alien\",\"year\":1986}\n";
    pl_import_counts_t counts;
    char *report;
    cr_assert_eq(s_import(text, sizeof text - 1, &counts, &report), 0);
    //  The second line repeats the first within one batch.
    s_expect_counts(&counts, 4, 1, 0);
    free(report);
    cr_assert_eq(s_import(text, sizeof text - 1, &counts, &report), 0);
    s_expect_counts(&counts, 0, 5, 0);
    cr_assert_str_eq(report, "");
    free(report);
}

Test(import_contents, line_numbers_hold_across_batches)
{
    //  Two and a half batches, with bad lines at known places.
    int lines = PL_IMPORT_BATCH * 2 + PL_IMPORT_BATCH / 2;
    size_t size = (size_t)lines * 64;
    char *text = malloc(size);
    cr_assert_not_null(text);
    size_t len = 0;
    for (int i = 1; i <= lines; i++) {
        bool bad = i == 1 || i == PL_IMPORT_BATCH + 1 || i == lines;
        len += (size_t)snprintf(text + len, size - len, "{\"kind\":\"%s\",\"title\":\"T%d\"}\n",
                                bad ? "bad" : "book", i);
    }
    pl_import_counts_t counts;
    char *report;
    cr_assert_eq(s_import(text, len, &counts, &report), 0);
    s_expect_counts(&counts, lines - 3, 0, 3);
    char line[64];
    int bad_lines[] = {1, PL_IMPORT_BATCH + 1, lines};
    for (size_t i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "cat.jsonl:%d: kind: ", bad_lines[i]);
        cr_assert(strstr(report, line), "no '%s' in the report:\n%s", line, report);
    }
    char title[32];
    snprintf(title, sizeof title, "T%d", lines - 1);
    cr_assert(s_stored("book", "T2", 0));
    cr_assert(s_stored("book", title, 0), "the last batch was not stored");
    free(report);
    free(text);
}

Test(import_contents, lines_no_parser_should_take_are_bad)
{
    //  A line over the limit, then bytes jansson refuses: a NUL, invalid UTF-8.
    size_t long_len = PL_IMPORT_LINE_MAX + 100;
    size_t size = long_len + 512;
    char *text = malloc(size);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, size, "{\"kind\":\"book\",\"title\":\"");
    memset(text + len, 'a', long_len);
    len += long_len;
    static const char rest[] = "\"}\n"
                               "{\"kind\":\"book\",\"title\":\"nul\"}\0garbage\n"
                               "{\"kind\":\"book\",\"title\":\"\xff\xfe\"}\n"
                               "{\"kind\":\"book\",\"title\":\"After\"}\n";
    memcpy(text + len, rest, sizeof rest - 1);
    len += sizeof rest - 1;
    pl_import_counts_t counts;
    char *report;
    cr_assert_eq(s_import(text, len, &counts, &report), 0);
    s_expect_counts(&counts, 1, 0, 3);
    cr_assert(strstr(report, "cat.jsonl:1: the line is over"), "%s", report);
    cr_assert(strstr(report, "cat.jsonl:2: "), "%s", report);
    cr_assert(strstr(report, "cat.jsonl:3: "), "%s", report);
    cr_assert(s_stored("book", "After", 0), "the line after the bad ones was lost");
    cr_assert_not(s_stored("book", "nul", 0));
    free(report);
    free(text);
}
