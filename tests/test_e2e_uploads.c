/*  End to end: image uploads against the real parley binary (PROTOCOL.md "Rooms",
    POST /api/uploads and the url it returns; README "Uploads"): each image type
    stored and served back byte for byte with its headers, content addressing, the
    type, size and body errors with nothing left behind in <data_dir>/uploads, strict
    upload paths, and image messages that must name an upload that exists. */
#include "e2e_suite.h"
#include "fixtures.h"
#include "http_client.h"
#include "server_proc.h"
#include "ws_client.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(e2e_uploads, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120);

#define FRAME_MS 5000

//  A sha256 in hex that no test uploads.
#define UNUSED_HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const unsigned char s_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F',  0,
                                       1,    1,    0,    0,    1, 0,    1,   0,   0,   0xff, 0xd9};
static const unsigned char s_gif[] = "GIF89a\x01\0\x01\0\0\0\0;";
static const unsigned char s_webp[] = "RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11";

typedef struct {
    const char *mime, *ext;
    const void *bytes;
    size_t len;
} image_t;

static const image_t s_images[] = {
    {"image/png", "png", pl_fx_png, 0}, //  length set by s_image
    {"image/jpeg", "jpg", s_jpeg, sizeof s_jpeg},
    {"image/gif", "gif", s_gif, sizeof s_gif - 1},
    {"image/webp", "webp", s_webp, sizeof s_webp - 1},
};

//  The i-th test image.
static image_t s_image(size_t i)
{
    image_t image = s_images[i];
    if (image.bytes == pl_fx_png)
        image.len = pl_fx_png_len;
    return image;
}

//  Signs up a new user; returns the token (caller frees).
static char *s_user(void)
{
    char *name = pl_fx_unique_name("upl");
    char *token = NULL;
    cr_assert_eq(pl_fx_signup(s_srv.port, name, "password1", NULL, &token, NULL), 201);
    free(name);
    return token;
}

//  POST /api/uploads with len bytes of body, token (NULL: none) and the header lines
//  in headers (NULL: none). Asserts an answer came.
static pl_http_response_t s_post(const char *token, const char *headers, const void *body,
                                 size_t len)
{
    char *extra = NULL;
    cr_assert(asprintf(&extra, "%s%s%s%s", headers ? headers : "",
                       token ? "Authorization: Bearer " : "", token ? token : "",
                       token ? "\r\n" : "") > 0);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "POST", "/api/uploads", extra, body, len, &r), 0,
                 "POST /api/uploads: no answer");
    free(extra);
    return r;
}

//  Asserts r is the error object with status and code, then frees r.
static void s_expect_error(pl_http_response_t *r, int status, const char *code, const char *what)
{
    cr_assert_eq(r->status, status, "%s: status %d, body %s", what, r->status, r->body);
    json_t *error = json_object_get(r->json, "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "code")), code, "%s: %s", what,
                     r->body);
    cr_assert(json_is_string(json_object_get(error, "message")), "%s: %s", what, r->body);
    pl_http_response_free(r);
}

//  "/uploads/<sha256 of bytes>.<ext>", in a static buffer.
static const char *s_url_of(const void *bytes, size_t len, const char *ext)
{
    static char url[128];
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    cr_assert_geq(sodium_init(), 0);
    crypto_hash_sha256(digest, bytes, len);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    snprintf(url, sizeof url, "/uploads/%s.%s", hex, ext);
    return url;
}

//  Uploads image, expecting 201 and the documented answer; returns the url (caller
//  frees).
static char *s_upload(const char *token, image_t image)
{
    char header[64];
    snprintf(header, sizeof header, "Content-Type: %s\r\n", image.mime);
    pl_http_response_t r = s_post(token, header, image.bytes, image.len);
    cr_assert_eq(r.status, 201, "%s: status %d, body %s", image.mime, r.status, r.body);
    const char *url = json_string_value(json_object_get(r.json, "url"));
    cr_assert_str_eq(url, s_url_of(image.bytes, image.len, image.ext), "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "type")), image.mime);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "bytes")), (json_int_t)image.len);
    char *copy = strdup(url);
    pl_http_response_free(&r);
    return copy;
}

//  len bytes in chunked transfer coding, in pieces of first bytes, then 3n + 1 of
//  the n before; *out_len gets its length. Caller frees.
static char *s_chunked(const void *bytes, size_t len, size_t first, size_t *out_len)
{
    char *out = malloc(len + 4096);
    cr_assert(out);
    size_t used = 0;
    for (size_t at = 0, piece = first; at < len; piece = piece * 3 + 1) {
        size_t n = piece < len - at ? piece : len - at;
        used += (size_t)sprintf(out + used, "%zx\r\n", n);
        memcpy(out + used, (const char *)bytes + at, n);
        used += n;
        used += (size_t)sprintf(out + used, "\r\n");
        at += n;
    }
    used += (size_t)sprintf(out + used, "0\r\n\r\n");
    *out_len = used;
    return out;
}

//  The number of files in <data_dir>/uploads, asserting that none is a temporary file
//  left behind.
static size_t s_stored(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/uploads", s_srv.data_dir);
    DIR *listing = opendir(dir);
    cr_assert(listing, "no %s", dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(listing))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        cr_assert(strncmp(entry->d_name, "tmp-", 4) != 0, "a temporary file was left: %s",
                  entry->d_name);
        count++;
    }
    closedir(listing);
    return count;
}

//  GETs (or HEADs) url and asserts a 200 serving image with the upload headers.
static void s_expect_served(const char *method, const char *url, image_t image)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, method, url, NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "%s %s: %d %s", method, url, r.status, r.body);
    cr_assert_str_eq(pl_http_header(&r, "Content-Type"), image.mime);
    cr_assert_str_eq(pl_http_header(&r, "X-Content-Type-Options"), "nosniff");
    cr_assert_str_eq(pl_http_header(&r, "Cache-Control"), "public, max-age=31536000, immutable");
    char length[32];
    snprintf(length, sizeof length, "%zu", image.len);
    cr_assert_str_eq(pl_http_header(&r, "Content-Length"), length);
    if (strcmp(method, "GET") == 0) {
        cr_assert_eq(r.body_len, image.len, "%s: %zu bytes served", url, r.body_len);
        cr_assert_eq(memcmp(r.body, image.bytes, image.len), 0, "%s: other bytes served", url);
    }
    pl_http_response_free(&r);
}

Test(e2e_uploads, every_image_type_is_stored_and_served_back_with_its_headers)
{
    char *token = s_user();
    for (size_t i = 0; i < sizeof s_images / sizeof s_images[0]; i++) {
        image_t image = s_image(i);
        char *url = s_upload(token, image);
        s_expect_served("GET", url, image);
        s_expect_served("HEAD", url, image);
        free(url);
    }
    cr_assert_eq(s_stored(), 4);
    free(token);
}

Test(e2e_uploads, a_large_image_streams_in_and_out_and_chunked_bodies_work)
{
    char *token = s_user();
    //  Several read and write chunks' worth, random past the PNG signature.
    image_t image = {"image/png", "png", NULL, 700 * 1000 + 3};
    unsigned char *bytes = malloc(image.len);
    cr_assert(bytes);
    cr_assert_geq(sodium_init(), 0);
    randombytes_buf(bytes, image.len);
    memcpy(bytes, pl_fx_png, 8);
    image.bytes = bytes;
    char *url = s_upload(token, image);
    s_expect_served("GET", url, image);

    //  The same bytes, chunked in uneven pieces: the same url, still one file.
    size_t used;
    char *chunked = s_chunked(bytes, image.len, 1, &used);
    pl_http_response_t r =
        s_post(token, "Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n", chunked, used);
    cr_assert_eq(r.status, 201, "%d %s", r.status, r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "url")), url);
    pl_http_response_free(&r);
    cr_assert_eq(s_stored(), 1);
    free(chunked);
    free(url);
    free(bytes);
    free(token);
}

Test(e2e_uploads, the_same_bytes_twice_give_the_same_url_and_one_file)
{
    char *alice = s_user(), *bob = s_user();
    char *first = s_upload(alice, s_image(1));
    char *second = s_upload(bob, s_image(1));
    cr_assert_str_eq(first, second);
    cr_assert_eq(s_stored(), 1);
    //  Different bytes, another file.
    char *other = s_upload(alice, s_image(2));
    cr_assert_str_neq(first, other);
    cr_assert_eq(s_stored(), 2);
    free(first);
    free(second);
    free(other);
    free(alice);
    free(bob);
}

Test(e2e_uploads, bytes_that_are_not_the_declared_type_are_415)
{
    char *token = s_user();
    static const char text[] = "just some text, not an image at all";
    const struct {
        const char *type;
        const void *bytes;
        size_t len;
    } cases[] = {
        {"image/gif", pl_fx_png, pl_fx_png_len},
        {"image/png", s_jpeg, sizeof s_jpeg},
        {"image/jpeg", s_webp, sizeof s_webp - 1},
        {"image/webp", s_gif, sizeof s_gif - 1},
        {"image/png", text, sizeof text - 1},
        {"image/webp", "RIFF", 4}, //  shorter than webp's signature
        {"image/png", pl_fx_png, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char header[64];
        snprintf(header, sizeof header, "Content-Type: %s\r\n", cases[i].type);
        pl_http_response_t r = s_post(token, header, cases[i].bytes, cases[i].len);
        s_expect_error(&r, 415, "unsupported_media_type", cases[i].type);
    }
    cr_assert_eq(s_stored(), 0);
    free(token);
}

Test(e2e_uploads, types_other_than_the_four_images_are_415)
{
    char *token = s_user();
    static const char *const headers[] = {
        NULL, //  no Content-Type at all
        "Content-Type: text/plain\r\n",
        "Content-Type: application/json\r\n",
        "Content-Type: image/svg+xml\r\n",
        "Content-Type: image/jpg\r\n",
        "Content-Type: image/pngx\r\n",
        "Content-Type: application/octet-stream\r\n",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        pl_http_response_t r = s_post(token, headers[i], pl_fx_png, pl_fx_png_len);
        s_expect_error(&r, 415, "unsupported_media_type", headers[i] ? headers[i] : "none");
    }
    //  Parameters and case do not matter.
    pl_http_response_t r =
        s_post(token, "Content-Type: IMAGE/PNG; q=1\r\n", pl_fx_png, pl_fx_png_len);
    cr_assert_eq(r.status, 201, "%d %s", r.status, r.body);
    pl_http_response_free(&r);
    cr_assert_eq(s_stored(), 1);
    free(token);
}

Test(e2e_uploads, bodies_over_upload_max_bytes_are_413_and_leave_nothing)
{
    const char *args[] = {"--upload-max-bytes", "1024", NULL};
    pl_e2e_restart_with(args);
    char *token = s_user();
    unsigned char bytes[4096];
    memset(bytes, 'x', sizeof bytes);
    memcpy(bytes, pl_fx_png, 8);

    //  Declared too long: refused from the header.
    pl_http_response_t r = s_post(token, "Content-Type: image/png\r\n", bytes, 1025);
    s_expect_error(&r, 413, "payload_too_large", "1025 bytes");
    r = s_post(token, "Content-Type: image/png\r\n", bytes, sizeof bytes);
    s_expect_error(&r, 413, "payload_too_large", "4096 bytes");

    //  Chunked, so only reading finds out: 1025 bytes in one chunk, then in two.
    for (size_t first = 1025; first >= 1024; first--) {
        size_t len;
        char *chunked = s_chunked(bytes, 1025, first, &len);
        r = s_post(token, "Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n", chunked,
                   len);
        free(chunked);
        s_expect_error(&r, 413, "payload_too_large", first == 1025 ? "one chunk" : "two chunks");
    }
    cr_assert_eq(s_stored(), 0);

    //  The limit itself is allowed.
    char *url = s_upload(token, (image_t){"image/png", "png", bytes, 1024});
    cr_assert_eq(s_stored(), 1);
    free(url);
    free(token);
}

Test(e2e_uploads, a_missing_or_truncated_body_is_400_and_leaves_nothing)
{
    //  A short request timeout, so that waiting for the rest of a body ends soon.
    const char *args[] = {"--request-timeout-ms", "300", NULL};
    pl_e2e_restart_with(args);
    char *token = s_user();
    pl_http_response_t r = s_post(token, "Content-Type: image/png\r\n", NULL, 0);
    s_expect_error(&r, 400, "bad_request", "no body");
    r = s_post(token, "Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n", 5);
    s_expect_error(&r, 400, "bad_request", "an empty chunked body");
    //  Content-Length promises more than ever comes.
    r = s_post(token, "Content-Type: image/png\r\nContent-Length: 100\r\n", pl_fx_png,
               pl_fx_png_len);
    s_expect_error(&r, 400, "bad_request", "a truncated body");
    cr_assert_eq(s_stored(), 0);
    free(token);
}

Test(e2e_uploads, uploading_needs_a_token)
{
    pl_http_response_t r = s_post(NULL, "Content-Type: image/png\r\n", pl_fx_png, pl_fx_png_len);
    s_expect_error(&r, 401, "unauthorized", "no token");
    r = s_post("not.a.token", "Content-Type: image/png\r\n", pl_fx_png, pl_fx_png_len);
    s_expect_error(&r, 401, "unauthorized", "a bad token");
    cr_assert_eq(s_stored(), 0);
}

Test(e2e_uploads, anything_but_a_stored_upload_name_is_404)
{
    char *token = s_user();
    char *url = s_upload(token, s_image(0));
    //  Files in the directory that are not uploads: a temporary file, and a link
    //  with an upload's name pointing out of the directory.
    char path[400];
    snprintf(path, sizeof path, "%s/uploads/tmp-planted", s_srv.data_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/uploads/%s.gif", s_srv.data_dir, UNUSED_HASH);
    char target[300];
    snprintf(target, sizeof target, "%s/server.log", s_srv.data_dir);
    cr_assert_eq(symlink(target, path), 0);

    char upper[128], longer[128], shorter[128], trailing[128], other_ext[128];
    snprintf(upper, sizeof upper, "/uploads/%.9s%s", "ABCDEF012", url + 18);
    snprintf(longer, sizeof longer, "/uploads/0%s", url + 9);
    snprintf(shorter, sizeof shorter, "/uploads/%s", url + 10);
    snprintf(trailing, sizeof trailing, "%s/x", url);
    snprintf(other_ext, sizeof other_ext, "%.*s.jpg", (int)(strlen(url) - 4), url);
    const char *const paths[] = {
        "/uploads/../x",
        "/uploads/../parley.db",
        "/uploads/..%2fparley.db",
        "/uploads/%2e%2e",
        "/uploads/",
        "/uploads",
        "/uploads/tmp-planted",
        "/uploads/" UNUSED_HASH ".png",
        "/uploads/" UNUSED_HASH ".gif", //  the link
        "/uploads/" UNUSED_HASH ".PNG",
        "/uploads/" UNUSED_HASH ".bmp",
        "/uploads/" UNUSED_HASH,
        upper,
        longer,
        shorter,
        trailing,
        other_ext,
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        for (int head = 0; head < 2; head++) {
            pl_http_response_t r;
            const char *method = head ? "HEAD" : "GET";
            cr_assert_eq(pl_http_request(s_srv.port, method, paths[i], NULL, NULL, 0, &r), 0);
            cr_assert_eq(r.status, 404, "%s %s: %d %s", method, paths[i], r.status, r.body);
            if (head)
                pl_http_response_free(&r);
            else
                s_expect_error(&r, 404, "not_found", paths[i]);
        }
    }
    //  And the real one still serves.
    s_expect_served("GET", url, s_image(0));
    free(url);
    free(token);
}

//  --- image messages ---------------------------------------------------------------

//  Sends an HTTP request with a JSON body; returns the response.
static pl_http_response_t s_json(const char *method, const char *path, const char *token,
                                 const char *body)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(s_srv.port, method, path, token, body, &r), 0);
    return r;
}

//  A new group room of token's user; returns its id.
static int64_t s_room(const char *token)
{
    pl_http_response_t r =
        s_json("POST", "/api/contents", token, "{\"kind\":\"book\",\"title\":\"A picture book\"}");
    cr_assert_eq(r.status, 201, "%s", r.body);
    char path[64];
    snprintf(path, sizeof path, "/api/contents/%lld/room",
             (long long)json_integer_value(json_object_get(r.json, "id")));
    pl_http_response_free(&r);
    r = s_json("POST", path, token, NULL);
    cr_assert_eq(r.status, 201, "%s", r.body);
    int64_t room = json_integer_value(json_object_get(r.json, "id"));
    pl_http_response_free(&r);
    return room;
}

//  Receives frames until one of type arrives; caller decrefs.
static json_t *s_frame(pl_ws_t *ws, const char *type)
{
    json_t *frame = pl_ws_recv_type(ws, type, FRAME_MS);
    cr_assert(frame, "no %s frame", type);
    return frame;
}

//  Expects the message frame of the image at url with seq and, when client_id is not
//  NULL, its ack, in either order (other frames are skipped).
static void s_expect_image(pl_ws_t *ws, int64_t seq, const char *url, const char *client_id)
{
    bool acked = !client_id, delivered = false;
    while (!acked || !delivered) {
        json_t *frame = pl_ws_recv_json(ws, FRAME_MS);
        cr_assert(frame, "acked %d, delivered %d", acked, delivered);
        const char *type = json_string_value(json_object_get(frame, "type"));
        if (type && strcmp(type, "message") == 0) {
            cr_assert_eq(json_integer_value(json_object_get(frame, "seq")), seq);
            cr_assert_str_eq(json_string_value(json_object_get(frame, "kind")), "image");
            cr_assert_str_eq(json_string_value(json_object_get(frame, "url")), url);
            delivered = true;
        } else if (type && strcmp(type, "ack") == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(frame, "client_id")), client_id);
            cr_assert_eq(json_integer_value(json_object_get(frame, "seq")), seq);
            acked = true;
        } else
            cr_assert(type && strcmp(type, "error") != 0, "an error frame");
        json_decref(frame);
    }
}

Test(e2e_uploads, image_messages_must_name_an_upload_that_exists)
{
    char *token = s_user();
    int64_t room = s_room(token);
    char *url = s_upload(token, s_image(3));
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, token, NULL);
    cr_assert(ws);
    char text[512];
    snprintf(text, sizeof text, "{\"type\":\"subscribe\",\"room\":%lld}", (long long)room);
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
    json_decref(s_frame(ws, "subscribed"));

    //  Over the WebSocket: an upload is acked and delivered, a never-uploaded url is not.
    snprintf(text, sizeof text,
             "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"missing\",\"kind\":\"image\","
             "\"url\":\"/uploads/" UNUSED_HASH ".webp\"}",
             (long long)room);
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
    json_t *error = s_frame(ws, "error");
    cr_assert_str_eq(json_string_value(json_object_get(error, "code")), "bad_request");
    cr_assert_str_eq(json_string_value(json_object_get(error, "ref")), "missing");
    cr_assert(strstr(json_string_value(json_object_get(error, "message")), "url"));
    json_decref(error);
    snprintf(text, sizeof text,
             "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"img-1\",\"kind\":\"image\","
             "\"url\":\"%s\",\"body\":\"a caption\"}",
             (long long)room, url);
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
    s_expect_image(ws, 1, url, "img-1");

    //  Over HTTP: the same rules, and the message reaches the subscriber.
    char path[64], body[256];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    pl_http_response_t r = s_json("POST", path, token,
                                  "{\"kind\":\"image\",\"url\":\"/uploads/" UNUSED_HASH ".webp\"}");
    cr_assert_eq(r.status, 400, "%s", r.body);
    cr_assert(strstr(r.body, "url"), "%s", r.body);
    pl_http_response_free(&r);
    snprintf(body, sizeof body, "{\"kind\":\"image\",\"url\":\"%s\"}", url);
    r = s_json("POST", path, token, body);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "seq")), 2);
    pl_http_response_free(&r);
    s_expect_image(ws, 2, url, NULL);

    //  Only those two were stored.
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    r = s_json("GET", path, token, NULL);
    cr_assert_eq(json_array_size(json_object_get(r.json, "messages")), 2, "%s", r.body);
    pl_http_response_free(&r);
    pl_ws_close(&ws);
    free(url);
    free(token);
}
