/*  End to end: likes, search and the import of contents against the real parley
    binary, as a client and an operator see them (PROTOCOL.md "Users, follows,
    contents, likes"): like and unlike with their errors and the likes count,
    GET /api/contents with any q a client can send, and `parley import-contents`
    run as a process beside the server and before it. Each test starts its own
    server on a free port with a fresh data dir. */
#include "e2e_suite.h"
#include "fixtures.h"
#include "hostile_queries.h"
#include "http_client.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(e2e_contents, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120);

//  How long an import may take (the demo catalogue takes well under a second).
#define IMPORT_TIMEOUT_MS 30000

//  --- helpers ---------------------------------------------------------------------

//  Sends a request; asserts its status and, when code is not NULL, that the body is
//  the error object with that code. Returns the body's JSON (caller decrefs), or
//  NULL when it has none.
static json_t *s_request(const char *method, const char *path, const char *token, const char *body,
                         int status, const char *code)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, method, path, token, body, &r), 0, "%s %s: no answer",
                 method, path);
    cr_assert_eq(r.status, status, "%s %s: status %d, expected %d: %s", method, path, r.status,
                 status, r.body);
    if (code) {
        json_t *error = json_object_get(r.json, "error");
        cr_assert_str_eq(json_string_value(json_object_get(error, "code")), code, "%s %s: %s",
                         method, path, r.body);
        cr_assert(json_is_string(json_object_get(error, "message")), "%s %s: %s", method, path,
                  r.body);
    }
    json_t *json = json_incref(r.json);
    pl_http_response_free(&r);
    return json;
}

//  A request path from fmt, in a buffer of the calling test.
#define PATH(buf, ...) (snprintf(buf, sizeof buf, __VA_ARGS__), buf)

static char *s_user(int64_t *id)
{
    char *name = pl_fx_unique_name("like");
    char *token = NULL;
    cr_assert_eq(pl_fx_signup(s_srv.port, name, "password1", NULL, &token, id), 201);
    free(name);
    return token;
}

static int64_t s_content(const char *token, const char *kind, const char *title,
                         const char *description)
{
    json_t *request =
        json_pack("{s:s, s:s, s:s}", "kind", kind, "title", title, "description", description);
    char *body = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    json_t *content = s_request("POST", "/api/contents", token, body, 201, NULL);
    free(body);
    int64_t id = json_integer_value(json_object_get(content, "id"));
    json_decref(content);
    cr_assert_gt(id, 0);
    return id;
}

static int64_t s_likes(const char *token, int64_t content_id)
{
    char path[64];
    json_t *content = s_request("GET", PATH(path, "/api/contents/%lld", (long long)content_id),
                                token, NULL, 200, NULL);
    json_t *likes = json_object_get(content, "likes");
    cr_assert(json_is_integer(likes), "no likes count");
    int64_t count = json_integer_value(likes);
    json_decref(content);
    return count;
}

//  GET /api/contents?<query> expecting 200; returns the "contents" array (caller
//  decrefs), after checking every element is a Content.
static json_t *s_search(const char *token, const char *query)
{
    char path[16384];
    int n = snprintf(path, sizeof path, "/api/contents?%s", query);
    cr_assert(n > 0 && (size_t)n < sizeof path);
    json_t *answer = s_request("GET", path, token, NULL, 200, NULL);
    json_t *contents = json_incref(json_object_get(answer, "contents"));
    json_decref(answer);
    cr_assert(json_is_array(contents), "?%.200s: no contents array", query);
    size_t i;
    json_t *content;
    json_array_foreach(contents, i, content)
    {
        cr_assert(json_is_integer(json_object_get(content, "id")) &&
                      json_is_string(json_object_get(content, "title")) &&
                      json_is_integer(json_object_get(content, "likes")),
                  "?%.200s: result %zu is not a Content", query, i);
    }
    return contents;
}

//  Asserts a search answers exactly the titles given, in order (NULL-terminated).
static void s_expect_titles(const char *token, const char *query, ...)
{
    json_t *contents = s_search(token, query);
    char why[512];
    va_list titles;
    va_start(titles, query);
    bool same = pl_fx_titles_are(contents, titles, why, sizeof why);
    va_end(titles);
    cr_assert(same, "?%s: %s", query, why);
    json_decref(contents);
}

//  Percent-encodes every byte of text[0..len) into out (3 * len + 1 bytes).
static void s_encode(const char *text, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 3 * i, "%%%02X", (unsigned char)text[i]);
    out[3 * len] = '\0';
}

//  Writes a file in the server's data dir; returns its path (caller frees).
static char *s_write_file(const char *name, const char *text)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/%s", s_srv.data_dir, name) > 0);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs(text, file);
    cr_assert_eq(fclose(file), 0);
    return path;
}

//  Runs `parley import-contents path --data-dir <the server's>`; asserts the exit
//  status and returns what it printed (stdout then stderr; caller frees).
static char *s_import(const char *path, int status)
{
    const char *args[] = {"import-contents", path, "--data-dir", s_srv.data_dir, NULL};
    char *out, *err;
    int got = pl_parley_run(args, IMPORT_TIMEOUT_MS, &out, &err);
    cr_assert_eq(got, status, "import-contents %s: exit %d, expected %d\n%s%s", path, got, status,
                 out, err);
    char *both = NULL;
    cr_assert(asprintf(&both, "%s%s", out, err) > 0);
    free(out);
    free(err);
    return both;
}

static void s_expect_in(const char *text, const char *part)
{
    cr_assert(strstr(text, part), "no '%s' in:\n%s", part, text);
}

//  --- likes -------------------------------------------------------------------------

Test(e2e_contents, likes_are_counted_and_their_errors_are_as_documented)
{
    char *alice = s_user(NULL), *bob = s_user(NULL);
    int64_t film = s_content(alice, "movie", "Solaris", "A station above a thinking ocean.");
    int64_t book = s_content(alice, "book", "Solaris", "The novel.");
    char path[64], other[64];
    PATH(path, "/api/contents/%lld/like", (long long)film);
    PATH(other, "/api/contents/%lld/like", (long long)book);
    cr_assert_eq(s_likes(alice, film), 0);

    json_decref(s_request("POST", path, alice, NULL, 204, NULL));
    cr_assert_eq(s_likes(alice, film), 1);
    json_decref(s_request("POST", path, alice, NULL, 409, "conflict"));
    json_decref(s_request("POST", path, bob, NULL, 204, NULL));
    json_decref(s_request("POST", other, bob, NULL, 204, NULL));
    cr_assert_eq(s_likes(bob, film), 2, "two users like it");
    cr_assert_eq(s_likes(bob, book), 1);

    json_decref(s_request("DELETE", path, alice, NULL, 204, NULL));
    cr_assert_eq(s_likes(alice, film), 1);
    json_decref(s_request("DELETE", path, alice, NULL, 404, "not_found"));
    cr_assert_eq(s_likes(alice, film), 1, "a refused unlike changed the count");
    cr_assert_eq(s_likes(alice, book), 1, "another content's count changed");
    //  Liked again after the unlike.
    json_decref(s_request("POST", path, alice, NULL, 204, NULL));
    cr_assert_eq(s_likes(alice, film), 2);

    //  The count is the one every Content shows, search results included.
    json_t *found = s_search(alice, "q=solaris&kind=movie");
    cr_assert_eq(json_array_size(found), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(found, 0), "likes")), 2);
    json_decref(found);

    json_decref(
        s_request("POST", "/api/contents/987654/like", alice, NULL, 404, "content_not_found"));
    json_decref(
        s_request("DELETE", "/api/contents/987654/like", alice, NULL, 404, "content_not_found"));
    json_decref(s_request("POST", path, NULL, NULL, 401, "unauthorized"));
    json_decref(s_request("DELETE", path, NULL, NULL, 401, "unauthorized"));
    json_decref(s_request("PUT", path, alice, NULL, 405, NULL));
    cr_assert_eq(s_likes(alice, film), 2);
    free(alice);
    free(bob);
}

//  --- search ------------------------------------------------------------------------

Test(e2e_contents, search_ranks_filters_limits_and_lists)
{
    char *token = s_user(NULL);
    s_content(token, "book", "Gardens of the Moon", "An empire at war.");
    s_content(token, "movie", "The Secret Garden", "A girl finds a locked gardens door.");
    s_content(token, "movie", "Amélie", "Une serveuse à Montmartre.");
    s_content(token, "book", "Unrelated", "Nothing here.");

    //  A title match first, even before a newer description match.
    s_expect_titles(token, "q=gardens", "Gardens of the Moon", "The Secret Garden", NULL);
    s_expect_titles(token, "q=gardens&kind=movie", "The Secret Garden", NULL);
    s_expect_titles(token, "q=gard&kind=book", "Gardens of the Moon", NULL);
    s_expect_titles(token, "q=gardens&limit=1", "Gardens of the Moon", NULL);
    s_expect_titles(token, "q=amelie", "Amélie", NULL);
    s_expect_titles(token, "q=AM%C3%89LIE", "Amélie", NULL);
    s_expect_titles(token, "q=secret+garden", "The Secret Garden", NULL);
    s_expect_titles(token, "q=secret%20garden%20moon", NULL);
    //  Without q (or with an empty one), the newest first.
    s_expect_titles(token, "", "Unrelated", "Amélie", "The Secret Garden", "Gardens of the Moon",
                    NULL);
    s_expect_titles(token, "q=&kind=movie", "Amélie", "The Secret Garden", NULL);
    s_expect_titles(token, "kind=book&limit=1", "Unrelated", NULL);
    s_expect_titles(token, "kind=&limit=2", "Unrelated", "Amélie", NULL);
    json_decref(s_request("GET", "/api/contents?q=gardens", NULL, NULL, 401, "unauthorized"));
    free(token);
}

Test(e2e_contents, a_search_answers_200_with_a_list_whatever_q_holds)
{
    char *token = s_user(NULL);
    s_content(token, "book", "Dune", "The spice must flow AND NOT stop.");
    s_content(token, "movie", "Title: the movie", "NEAR the end (of it) ^ - * \"quoted\"");
    char encoded[3 * 64 + 1];
    for (size_t i = 0; i < PL_HOSTILE_QUERY_COUNT; i++) {
        char query[sizeof encoded + 32];
        cr_assert_lt(strlen(pl_hostile_queries[i]), 64);
        s_encode(pl_hostile_queries[i], strlen(pl_hostile_queries[i]), encoded);
        snprintf(query, sizeof query, "q=%s", encoded);
        json_decref(s_search(token, query));
        snprintf(query, sizeof query, "q=%s&kind=book&limit=5", encoded);
        json_decref(s_search(token, query));
    }
    //  What a sloppy client sends unencoded or half encoded, NULs included.
    static const char *const raw[] = {
        "q=%00",       "q=dune%00x", "q=%",     "q=%zz",   "q=%e2%82",   "q=a&q=b",      "q",
        "q==",         "q=+++",      "q=dune;", "q=(dune", "q=\"dune\"", "q=title:dune", "&&&",
        "q=%FF%FE%FD", "Q=dune"};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        json_decref(s_search(token, raw[i]));

    //  10 KB of words and operators (within civetweb's 16 KiB request limit).
    static char big[10 * 1024 + 3] = "q=";
    for (size_t i = 2; i < sizeof big - 1; i++)
        big[i] = "dune+AND+%28+*+%22+"[(i - 2) % 19];
    json_t *found = s_search(token, big);
    cr_assert_eq(json_array_size(found), 1, "the first words, dune and AND, find Dune");
    json_decref(found);

    //  And the operators found nothing they should not: they are words.
    s_expect_titles(token, "q=%22dune%22", "Dune", NULL);
    s_expect_titles(token, "q=title%3Amovie", "Title: the movie", NULL);
    s_expect_titles(token, "q=dune+OR+movie", NULL);
    free(token);
}

Test(e2e_contents, bad_kind_and_limit_are_refused_naming_the_field)
{
    char *token = s_user(NULL);
    static const struct {
        const char *query, *field;
    } cases[] = {
        {"kind=film", "kind"},
        {"kind=MOVIE", "kind"},
        {"kind=movies", "kind"},
        {"kind=movie%00", "kind"},
        {"q=x&kind=series", "kind"},
        {"kind=booksandmovies", "kind"},
        {"limit=0", "limit"},
        {"limit=101", "limit"},
        {"limit=-1", "limit"},
        {"limit=abc", "limit"},
        {"limit=1.5", "limit"},
        {"limit=", "limit"},
        {"limit=99999999999999999999", "limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        json_t *error = s_request("GET", PATH(path, "/api/contents?%s", cases[i].query), token,
                                  NULL, 400, "bad_request");
        const char *message =
            json_string_value(json_object_get(json_object_get(error, "error"), "message"));
        cr_assert(message && strstr(message, cases[i].field), "?%s: '%s' does not name %s",
                  cases[i].query, message, cases[i].field);
        json_decref(error);
    }
    json_decref(s_search(token, "limit=1"));
    json_decref(s_search(token, "limit=100&kind=book"));
    free(token);
}

//  --- import-contents ---------------------------------------------------------------

Test(e2e_contents, an_import_beside_the_running_server_is_searchable_at_once)
{
    char *token = s_user(NULL);
    char *file = s_write_file(
        "catalogue.jsonl",
        "{\"kind\":\"movie\",\"title\":\"Stalker\",\"description\":\"The Zone.\",\"year\":1979}\n"
        "{\"kind\":\"book\",\"title\":\"Пикник на обочине\",\"description\":\"Roadside "
        "Picnic, the Zone.\",\"year\":1972}\n"
        "{\"kind\":\"book\",\"title\":\"Solaris\",\"year\":1961}\n");
    char *output = s_import(file, 0);
    s_expect_in(output, "imported 3, skipped 0 (already there), bad 0");
    free(output);
    s_expect_titles(token, "q=zone", "Stalker", "Пикник на обочине", NULL);
    s_expect_titles(token, "q=%D0%BF%D0%B8%D0%BA%D0%BD%D0%B8%D0%BA", "Пикник на обочине", NULL);
    //  The server keeps writing beside it.
    s_content(token, "movie", "Solaris", "Tarkovsky.");
    s_expect_titles(token, "q=solaris&kind=book", "Solaris", NULL);

    //  Again: everything is there already.
    output = s_import(file, 0);
    s_expect_in(output, "imported 0, skipped 3 (already there), bad 0");
    free(output);
    json_t *all = s_search(token, "limit=100");
    cr_assert_eq(json_array_size(all), 4, "a second import added contents");
    json_decref(all);
    free(file);
    free(token);
}

Test(e2e_contents, bad_lines_are_reported_and_the_rest_imported)
{
    char *file = s_write_file("mixed.jsonl", "{\"kind\":\"movie\",\"title\":\"Good\"}\n"
                                             "{\"kind\":\"film\",\"title\":\"Bad kind\"}\n"
                                             "not json at all\n"
                                             "\n"
                                             "{\"kind\":\"book\",\"title\":\"\"}\n"
                                             "{\"kind\":\"book\",\"title\":\"Also good\"}\n");
    char *output = s_import(file, 3);
    s_expect_in(output, "imported 2, skipped 0 (already there), bad 3");
    char line[512];
    s_expect_in(output, PATH(line, "%s:2: kind: must be movie or book", file));
    s_expect_in(output, PATH(line, "%s:3: not a JSON object", file));
    s_expect_in(output, PATH(line, "%s:5: title: ", file));
    free(output);
    char *token = s_user(NULL);
    //  bm25 puts the shorter of two equal matches first.
    s_expect_titles(token, "q=good", "Good", "Also good", NULL);
    free(token);
    free(file);

    //  A file that cannot be read, and no file at all.
    char missing[300];
    output = s_import(PATH(missing, "%s/missing.jsonl", s_srv.data_dir), 1);
    s_expect_in(output, "cannot open");
    free(output);
    output = s_import(s_srv.data_dir, 1);
    free(output);
    const char *no_file[] = {"import-contents", NULL};
    char *out, *err;
    cr_assert_eq(pl_parley_run(no_file, IMPORT_TIMEOUT_MS, &out, &err), 2, "%s%s", out, err);
    s_expect_in(err, "usage: parley import-contents");
    free(out);
    free(err);
}

//  What `.ci/dev run` does: import the demo catalogue, then start the server.
Test(e2e_contents, the_demo_catalogue_imports_cleanly_before_the_server_starts)
{
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    const char *demo = PARLEY_SOURCE_DIR "/configs/demo-contents.jsonl";
    FILE *file = fopen(demo, "r");
    cr_assert_not_null(file, "no %s", demo);
    int lines = 0;
    for (int c; (c = getc(file)) != EOF;)
        lines += c == '\n';
    fclose(file);
    cr_assert(lines >= 40 && lines <= 60, "the demo catalogue has %d lines", lines);

    char *output = s_import(demo, 0);
    char expected[128];
    s_expect_in(output, PATH(expected, "imported %d, skipped 0 (already there), bad 0", lines));
    free(output);
    output = s_import(demo, 0);
    s_expect_in(output, PATH(expected, "imported 0, skipped %d (already there), bad 0", lines));
    free(output);

    pl_e2e_start(NULL);
    char *token = s_user(NULL);
    json_t *all = s_search(token, "limit=100");
    cr_assert_eq(json_array_size(all), (size_t)lines);
    json_decref(all);
    s_expect_titles(token, "q=amelie", "Amélie", NULL);
    json_t *matrix = s_search(token, "q=matrix&kind=movie");
    cr_assert_geq(json_array_size(matrix), 1);
    json_decref(matrix);
    free(token);
}
