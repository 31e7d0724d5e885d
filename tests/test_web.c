/*  The browser client as built into the binary (src/web.c, src/assets/embed.cmake):
    every file is there with its type and its gzip, index.html names the build's
    version and holds no inline script, and Accept-Encoding is read as browsers and
    other clients write it. */
#include "parley/web.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

TestSuite(web, .timeout = 10);

Test(web, every_file_has_a_type_and_a_smaller_gzip)
{
    cr_assert_gt(pl_web_asset_count, 3);
    for (size_t i = 0; i < pl_web_asset_count; i++) {
        const pl_web_asset_t *a = &pl_web_assets[i];
        cr_expect(a->type && *a->type, "%s has no type", a->name);
        cr_expect_gt(a->size, 0, "%s is empty", a->name);
        cr_expect(a->gzip_size > 18 && a->gzip[0] == 0x1f && a->gzip[1] == 0x8b,
                  "%s has no gzip stream", a->name);
        cr_expect_eq(pl_web_find(a->name, strlen(a->name)), a);
    }
    cr_expect_null(pl_web_find("app.js.gz", 9));
    cr_expect_null(pl_web_find("app", 3), "a prefix is not a name");
}

Test(web, index_names_the_version_and_holds_no_inline_script)
{
    cr_assert_eq(strlen(pl_web_version), 16);
    cr_assert_eq(strspn(pl_web_version, "0123456789abcdef"), 16);
    const pl_web_asset_t *index = pl_web_find("index.html", 10);
    cr_assert_not_null(index);
    const char *html = (const char *)index->bytes;
    char script[64];
    snprintf(script, sizeof script, "<script type=\"module\" src=\"/assets/%s/app.js\"></script>",
             pl_web_version);
    cr_expect_not_null(strstr(html, script), "%s", html);
    cr_expect_null(strstr(html, "{{version}}"));
    //  Every <script> has a src and nothing between its tags (the CSP allows no other).
    for (const char *at = strstr(html, "<script"); at; at = strstr(at + 1, "<script")) {
        const char *end = strchr(at, '>');
        cr_assert_not_null(end);
        cr_expect(memmem(at, (size_t)(end - at), " src=", 5), "an inline script");
        cr_expect_eq(strncmp(end, "></script>", 10), 0, "a script with a body");
    }
}

Test(web, accept_encoding)
{
    cr_expect(pl_web_accepts_gzip("gzip"));
    cr_expect(pl_web_accepts_gzip("gzip, deflate, br, zstd"));
    cr_expect(pl_web_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    cr_expect(pl_web_accepts_gzip("deflate,gzip"));
    cr_expect(pl_web_accepts_gzip("gzip;q=0.001"));
    cr_expect_not(pl_web_accepts_gzip(NULL));
    cr_expect_not(pl_web_accepts_gzip(""));
    cr_expect_not(pl_web_accepts_gzip("identity"));
    cr_expect_not(pl_web_accepts_gzip("br, *"));
    cr_expect_not(pl_web_accepts_gzip("gzip;q=0"));
    cr_expect_not(pl_web_accepts_gzip("gzip; q=0.000, br"));
    cr_expect_not(pl_web_accepts_gzip("x-gzip"));
    cr_expect_not(pl_web_accepts_gzip("gzipped"));
}
