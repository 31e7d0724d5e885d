/*  Tests for the browser-origin comparison (origin.c): which Origin header values may
    use the login cookie, for the request's Host, a configured public_url and the
    allowed_origins list, and which option values start-up refuses. */
#include "parley/origin.h"

#include <criterion/criterion.h>
#include <string.h>

TestSuite(origin, .timeout = 10);

static bool s_allowed(const char *origin, const char *host)
{
    return pl_origin_allowed(origin, host, "", "");
}

Test(origin, the_request_host_is_the_own_origin_by_default)
{
    cr_assert(s_allowed("http://127.0.0.1:8080", "127.0.0.1:8080"));
    cr_assert(s_allowed("http://chat.example.com", "chat.example.com"));
    //  Behind a TLS-terminating proxy the page is https, the request plain http.
    cr_assert(s_allowed("https://chat.example.com", "chat.example.com"));
    cr_assert_not(s_allowed("http://evil.example", "chat.example.com"));
    cr_assert_not(s_allowed("http://chat.example.com.evil.example", "chat.example.com"));
    cr_assert_not(s_allowed("http://127.0.0.1:8081", "127.0.0.1:8080"));
    cr_assert_not(s_allowed("http://127.0.0.1", "127.0.0.1:8080"));
    cr_assert_not(s_allowed("http://127.0.0.1:8080", NULL));
}

Test(origin, case_and_default_ports_do_not_matter)
{
    cr_assert(s_allowed("HTTP://Chat.Example.COM", "chat.example.com"));
    cr_assert(s_allowed("http://chat.example.com:80", "chat.example.com"));
    cr_assert(s_allowed("http://chat.example.com", "chat.example.com:80"));
    cr_assert(s_allowed("https://chat.example.com:443", "chat.example.com"));
    cr_assert(s_allowed("https://chat.example.com", "chat.example.com:443"));
    cr_assert(s_allowed("http://[::1]:8080", "[::1]:8080"));
}

Test(origin, anything_not_an_http_origin_is_refused)
{
    const char *bad[] = {"null",
                         "",
                         "chat.example.com",
                         "ftp://chat.example.com",
                         "file://",
                         "http://",
                         "http://chat.example.com/path",
                         "http://chat.example.com:",
                         "http://chat.example.com:123456",
                         "http://user@chat.example.com",
                         "http://chat.example.com\r\nX: y",
                         "http://[::1",
                         "http://[]",
                         NULL};
    for (const char **origin = bad; *origin; origin++)
        cr_assert_not(s_allowed(*origin, "chat.example.com"), "'%s' was allowed", *origin);
    cr_assert_not(s_allowed(NULL, "chat.example.com"));
    //  An origin made to match a hostile Host is no origin either.
    cr_assert_not(s_allowed("http://a", "a/b"));
}

Test(origin, a_public_url_replaces_the_host)
{
    const char *url = "https://chat.example.com/parley/";
    cr_assert(pl_origin_allowed("https://chat.example.com", "10.0.0.5:8080", url, ""));
    cr_assert_not(pl_origin_allowed("http://chat.example.com", "10.0.0.5:8080", url, ""));
    cr_assert_not(pl_origin_allowed("http://10.0.0.5:8080", "10.0.0.5:8080", url, ""));
}

Test(origin, listed_origins_are_allowed_too)
{
    const char *list = " https://app.example.com , http://localhost:3000/,";
    cr_assert(pl_origin_allowed("https://app.example.com", "chat.example.com", "", list));
    cr_assert(pl_origin_allowed("http://localhost:3000", "chat.example.com", "", list));
    cr_assert(pl_origin_allowed("http://chat.example.com", "chat.example.com", "", list));
    cr_assert_not(pl_origin_allowed("http://app.example.com", "chat.example.com", "", list));
    cr_assert_not(pl_origin_allowed("http://localhost:3001", "chat.example.com", "", list));
}

Test(origin, option_values_are_checked)
{
    char err[512] = "";
    cr_assert_eq(pl_origin_check_list("", false, err, sizeof err), 0);
    cr_assert_eq(
        pl_origin_check_list("https://a.example, http://b.example:81", false, err, sizeof err), 0);
    cr_assert_eq(pl_origin_check_list("https://a.example, b.example", false, err, sizeof err), -1);
    cr_assert(strstr(err, "'b.example'"), "%s", err);
    cr_assert_eq(pl_origin_check_list("https://a.example/chat", false, err, sizeof err), -1);
    cr_assert_eq(pl_origin_check_list("http://[]", false, err, sizeof err), -1);
    cr_assert_eq(pl_origin_check_list("https://a.example/chat", true, err, sizeof err), 0);
    cr_assert_eq(pl_origin_check_list("a.example", true, err, sizeof err), -1);
    cr_assert(strstr(err, "'a.example'"), "%s", err);
}
