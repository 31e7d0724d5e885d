/*  Tests for uploads.c without a server: which Content-Types name an image type, which
    first bytes prove one, which names and urls are upload names, and the writer's
    temp-file-then-rename life in a scratch data dir. */
#include "parley/uploads.h"

#include "scratch.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[64];

static void setup(void)
{
    cr_assert_eq(pl_scratch_dir_new(s_dir, sizeof s_dir, "uploads"), 0);
}

static void teardown(void)
{
    pl_scratch_dir_remove(s_dir);
}

TestSuite(uploads, .init = setup, .fini = teardown, .timeout = 10);

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

//  A new upload in s_dir, prepared for it.
static pl_upload_t *s_new_upload(void)
{
    char err[256];
    cr_assert_eq(pl_uploads_prepare(s_dir, err, sizeof err), 0, "%s", err);
    pl_upload_t *upload = pl_upload_new(s_dir);
    cr_assert(upload);
    return upload;
}

//  The entries of <s_dir>/uploads, sorted and joined by spaces, in a static buffer.
static const char *s_listing(void)
{
    static char text[1024];
    char dir[128];
    snprintf(dir, sizeof dir, "%s/uploads", s_dir);
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);
    cr_assert_geq(n, 0, "no %s", dir);
    text[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (entries[i]->d_name[0] != '.') {
            if (text[0])
                strcat(text, " ");
            strncat(text, entries[i]->d_name, sizeof text - strlen(text) - 2);
        }
        free(entries[i]);
    }
    free(entries);
    return text;
}

Test(uploads, content_types_name_the_four_image_types)
{
    const struct {
        const char *header, *mime;
    } cases[] = {
        {"image/png", "image/png"},
        {"IMAGE/PNG", "image/png"},
        {" image/jpeg ; charset=binary", "image/jpeg"},
        {"image/gif;x=1", "image/gif"},
        {"image/webp", "image/webp"},
        {"image/pngx", NULL},
        {"image/jpg", NULL},
        {"image/svg+xml", NULL},
        {"text/html", NULL},
        {"image/", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pl_image_type_t *type = pl_image_type_of_mime(cases[i].header);
        if (cases[i].mime)
            cr_assert(type && strcmp(type->mime, cases[i].mime) == 0, "'%s'", cases[i].header);
        else
            cr_assert_null(type, "'%s' named %s", cases[i].header, type->mime);
    }
    cr_assert_null(pl_image_type_of_mime(NULL));
}

//  True when the first bytes of text (len of them) prove the type named by mime.
static bool s_matches(const char *mime, const char *text, size_t len)
{
    const pl_image_type_t *type = pl_image_type_of_mime(mime);
    cr_assert(type);
    return pl_image_matches(type, (const uint8_t *)text, len);
}

Test(uploads, magic_bytes_prove_the_declared_type_only)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\r";
    static const char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0\x01";
    static const char gif87[] = "GIF87a\x01\0\x01\0\0\0";
    static const char gif89[] = "GIF89a\x01\0\x01\0\0\0";
    static const char webp[] = "RIFF\x24\x10\0\0WEBPVP8 ";
    cr_assert(s_matches("image/png", png, 12));
    cr_assert(s_matches("image/jpeg", jpeg, 12));
    cr_assert(s_matches("image/gif", gif87, 12));
    cr_assert(s_matches("image/gif", gif89, 12));
    cr_assert(s_matches("image/webp", webp, 12));
    //  Short bodies are judged on what there is.
    cr_assert(s_matches("image/png", png, 8));
    cr_assert(s_matches("image/jpeg", jpeg, 3));
    cr_assert_not(s_matches("image/png", png, 7));
    cr_assert_not(s_matches("image/webp", webp, 11));
    cr_assert_not(s_matches("image/jpeg", jpeg, 0));
    //  Another type's bytes, or near misses.
    cr_assert_not(s_matches("image/png", jpeg, 12));
    cr_assert_not(s_matches("image/jpeg", png, 12));
    cr_assert_not(s_matches("image/gif", webp, 12));
    cr_assert_not(s_matches("image/webp", gif89, 12));
    cr_assert_not(s_matches("image/gif", "GIF88a\0\0\0\0\0\0", 12));
    cr_assert_not(s_matches("image/jpeg", "\xff\xd8\xfe\0\0\0\0\0\0\0\0\0", 12));
    cr_assert_not(s_matches("image/webp", "RIFF\x24\x10\0\0WAVEfmt ", 12));
    cr_assert_not(s_matches("image/png", "\x89PNG\r\n\x1a\r\0\0\0\r", 12));
}

//  Found by the upload_sniff fuzz target: a piece after a short first one was read from
//  the head's offset instead of its own start, so a body that arrived in small pieces
//  was judged on the wrong bytes.
Test(uploads, the_head_of_a_body_is_its_first_bytes_however_it_is_cut)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    static const size_t cuts[][3] = {{1, 4, 13}, {3, 5, 9}, {11, 1, 5}, {12, 5, 0}, {17, 0, 0}};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        pl_image_head_t head = {.len = 0};
        size_t at = 0, completions = 0;
        for (size_t i = 0; i < 3 && cuts[c][i]; i++) {
            completions += pl_image_head_add(&head, png + at, cuts[c][i]);
            at += cuts[c][i];
        }
        cr_assert_eq(completions, 1, "cut %zu", c);
        cr_assert_eq(head.len, PL_IMAGE_SNIFF_BYTES, "cut %zu", c);
        cr_assert_eq(memcmp(head.bytes, png, PL_IMAGE_SNIFF_BYTES), 0, "cut %zu", c);
        cr_assert(pl_image_matches(pl_image_type_of_mime("image/png"), head.bytes, head.len));
    }
}

Test(uploads, upload_names_are_a_lowercase_sha256_and_a_known_extension)
{
    static const char *const good[] = {HASH ".png", HASH ".jpg", HASH ".gif", HASH ".webp"};
    static const char *const bad[] = {
        HASH,
        HASH ".",
        HASH ".jpeg",
        HASH ".PNG",
        HASH ".bmp",
        HASH ".png.png",
        HASH "0.png",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde.png",
        "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.png",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg.png",
        "../../../../../../../../../../../../../../../../../../etc/passwd.png",
        "",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const pl_image_type_t *type = pl_upload_name_type(good[i], strlen(good[i]));
        cr_assert(type, "%s", good[i]);
        cr_assert_str_eq(type->ext, strrchr(good[i], '.') + 1);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_null(pl_upload_name_type(bad[i], strlen(bad[i])), "%s", bad[i]);
    //  The length given is the name: a NUL inside, or bytes past it, do not count.
    cr_assert_null(pl_upload_name_type(HASH ".p\0g", 68));
    cr_assert(pl_upload_name_type(HASH ".pngjunk", 68));

    cr_assert(pl_upload_url_type("/uploads/" HASH ".gif", 9 + 68));
    cr_assert_null(pl_upload_url_type("/upload/" HASH ".gif", 8 + 68));
    cr_assert_null(pl_upload_url_type("uploads/" HASH ".gif", 8 + 68));
    cr_assert_null(pl_upload_url_type("/uploads//" HASH ".gif", 10 + 68));
    cr_assert_null(pl_upload_url_type("https://x/uploads/" HASH ".gif", 18 + 68));
    cr_assert_null(pl_upload_url_type("/uploads/", 9));
}

Test(uploads, prepare_makes_the_directory_and_sweeps_leftover_temp_files)
{
    char err[256], path[128];
    umask(022); //  mkdir applies it (this test runs in a process of its own)
    cr_assert_eq(pl_uploads_prepare(s_dir, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/uploads", s_dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0755, "mode %o", st.st_mode & 0777);
    //  What a crash mid-upload leaves goes; stored uploads stay.
    static const char *const files[] = {"tmp-abc123", HASH ".png"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/uploads/%s", s_dir, files[i]);
        FILE *f = fopen(path, "w");
        cr_assert(f);
        fclose(f);
    }
    cr_assert_eq(pl_uploads_prepare(s_dir, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s_listing(), HASH ".png");
    cr_assert_null(pl_uploads_check_url(s_dir, "/uploads/" HASH ".png", 9 + 68));
    cr_assert_not_null(pl_uploads_check_url(s_dir, "/uploads/" HASH ".gif", 9 + 68));
    cr_assert_not_null(pl_uploads_check_url(s_dir, "/uploads/x.png", 14));
}

Test(uploads, a_committed_upload_is_named_by_its_sha256)
{
    pl_upload_t *upload = s_new_upload();
    cr_assert_eq(pl_upload_write(upload, "a", 1), 0);
    cr_assert_eq(pl_upload_write(upload, "bc", 2), 0);
    cr_assert_eq(pl_upload_size(upload), 3);
    cr_assert_eq(strncmp(s_listing(), "tmp-", 4), 0, "%s", s_listing());
    char url[PL_UPLOAD_URL_MAX + 1];
    cr_assert_eq(pl_upload_commit(upload, pl_image_type_of_mime("image/webp"), url), 0);
    pl_upload_destroy(&upload);
    cr_assert_null(upload);
    //  sha256("abc"), from FIPS 180-2.
    static const char name[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.webp";
    cr_assert_str_eq(url,
                     "/uploads/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                     ".webp");
    cr_assert_str_eq(s_listing(), name);
    char path[160], content[8] = "";
    snprintf(path, sizeof path, "%s/uploads/%s", s_dir, name);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    cr_assert_eq(fread(content, 1, sizeof content, f), 3);
    fclose(f);
    cr_assert_str_eq(content, "abc");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", st.st_mode & 0777);
    cr_assert_null(pl_uploads_check_url(s_dir, url, strlen(url)));

    //  The same bytes again end as the same single file.
    upload = s_new_upload();
    cr_assert_eq(pl_upload_write(upload, "abc", 3), 0);
    char again[PL_UPLOAD_URL_MAX + 1];
    cr_assert_eq(pl_upload_commit(upload, pl_image_type_of_mime("image/webp"), again), 0);
    pl_upload_destroy(&upload);
    cr_assert_str_eq(again, url);
    cr_assert_str_eq(s_listing(), name);
}

Test(uploads, an_upload_destroyed_before_commit_leaves_nothing)
{
    pl_upload_t *upload = s_new_upload();
    cr_assert_eq(pl_upload_write(upload, "half an image", 13), 0);
    cr_assert_neq(s_listing()[0], '\0');
    pl_upload_destroy(&upload);
    cr_assert_str_eq(s_listing(), "");
    pl_upload_destroy(&upload); //  NULL: nothing
}

Test(uploads, no_upload_without_the_directory)
{
    cr_assert_null(pl_upload_new(s_dir)); //  not prepared: no uploads/ in it
}
