/*  Target upload_sniff: how an upload proves its type (src/uploads.c): the
    Content-Type it declares (pl_image_type_of_mime), the first bytes of a body that
    arrives in pieces of any size (pl_image_head_add, as api_uploads.c reads it), the
    magic bytes (pl_image_matches), and the upload urls a message may carry
    (pl_upload_url_type). The input is a Content-Type, piece sizes, and a body. The
    head kept must be the body's first bytes however the body was cut, so the verdict
    on it is the verdict on the whole body; and a url taken must be exactly
    "/uploads/<64 lowercase hex>.<its type's extension>". */
#include "fuzz.h"

#include "parley/uploads.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Most piece sizes one input gives; the sizes repeat until the body ends.
#define SIZES_MAX 8

static void s_check_mime(const char *content_type)
{
    const pl_image_type_t *type = pl_image_type_of_mime(content_type);
    if (type)
        PL_FUZZ_CHECK(strcasestr(content_type, type->mime) != NULL);
}

//  Feeds the body to a head in pieces of the given sizes (0 counts as 1).
static void s_check_head(const uint8_t *body, size_t len, const uint8_t *sizes, size_t size_count)
{
    pl_image_head_t head = {.len = 0};
    size_t fed = 0, completions = 0;
    for (size_t i = 0; fed < len; i++) {
        size_t n = size_count ? sizes[i % size_count] : len;
        n = n == 0 ? 1 : n > len - fed ? len - fed : n;
        char *piece = pl_fuzz_copy(body + fed, n);
        completions += pl_image_head_add(&head, piece, n);
        free(piece);
        fed += n;
    }
    size_t want = len < PL_IMAGE_SNIFF_BYTES ? len : PL_IMAGE_SNIFF_BYTES;
    PL_FUZZ_CHECK(completions == (len >= PL_IMAGE_SNIFF_BYTES));
    PL_FUZZ_CHECK(pl_fuzz_same(head.bytes, head.len, body, want));
    static const char *const mimes[] = {"image/png", "image/jpeg", "image/gif", "image/webp"};
    for (size_t i = 0; i < sizeof mimes / sizeof mimes[0]; i++) {
        const pl_image_type_t *type = pl_image_type_of_mime(mimes[i]);
        PL_FUZZ_CHECK(type != NULL);
        PL_FUZZ_CHECK(pl_image_matches(type, head.bytes, head.len) ==
                      pl_image_matches(type, body, want));
    }
}

static void s_check_url(const uint8_t *bytes, size_t len)
{
    char *url = pl_fuzz_copy(bytes, len);
    const pl_image_type_t *type = pl_upload_url_type(url, len);
    if (type) {
        size_t prefix = strlen(PL_UPLOADS_URL_PREFIX), ext = strlen(type->ext);
        PL_FUZZ_CHECK(len == prefix + PL_UPLOAD_HASH_HEX + 1 + ext);
        PL_FUZZ_CHECK(strspn(url + prefix, "0123456789abcdef") >= PL_UPLOAD_HASH_HEX);
        PL_FUZZ_CHECK(url[prefix + PL_UPLOAD_HASH_HEX] == '.' &&
                      memcmp(url + len - ext, type->ext, ext) == 0);
    }
    free(url);
}

int pl_fuzz_upload_sniff(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    char *content_type = pl_fuzz_piece(&in, NULL);
    if (content_type)
        s_check_mime(content_type);
    uint8_t sizes[SIZES_MAX];
    size_t size_count = pl_fuzz_byte(&in) % (SIZES_MAX + 1);
    for (size_t i = 0; i < size_count; i++)
        sizes[i] = pl_fuzz_byte(&in);
    size_t body_len = (size_t)(in.end - in.at);
    s_check_head(in.at, body_len, sizes, size_count);
    s_check_url(in.at, body_len);
    free(content_type);
    return 0;
}
