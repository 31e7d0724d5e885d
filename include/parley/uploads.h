/*  Uploaded images on disk: the four image types parley accepts, how a body proves
    its type (magic bytes), the names uploads are stored and served under, and the
    writer that stores one body.

    Uploads are content-addressed: <data_dir>/uploads/<sha256 hex>.<ext>, served at
    /uploads/<sha256 hex>.<ext>. A body is written to a temporary file in the same
    directory (named "tmp-*", which no url can name) while it is hashed, then fsynced
    and renamed to its final name, so a reader never sees half a file and the same
    bytes uploaded twice end as one file. No civetweb here: the HTTP glue is
    api_uploads.c, and tests call these directly. */
#ifndef PARLEY_UPLOADS_H
#define PARLEY_UPLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The directory under data_dir, and the url prefix it is served at.
#define PL_UPLOADS_DIR        "uploads"
#define PL_UPLOADS_URL_PREFIX "/uploads/"

//  Hex digits of the sha256 in an upload's name.
#define PL_UPLOAD_HASH_HEX 64

//  Longest name: the hash, a dot, the longest extension ("webp").
#define PL_UPLOAD_NAME_MAX (PL_UPLOAD_HASH_HEX + 1 + 4)

//  Longest url: the prefix and the longest name.
#define PL_UPLOAD_URL_MAX (sizeof PL_UPLOADS_URL_PREFIX - 1 + PL_UPLOAD_NAME_MAX)

//  Leading bytes pl_image_matches needs to decide (the longest signature, webp's).
#define PL_IMAGE_SNIFF_BYTES 12

typedef struct {
    const char *mime; //  "image/png"
    const char *ext;  //  "png", without the dot
} pl_image_type_t;

//  The image type a Content-Type header value names, or NULL for any other (or
//  NULL) value. Case-insensitive; parameters after ';' and blanks are ignored.
const pl_image_type_t *pl_image_type_of_mime(const char *content_type);

//  True when head, the first len bytes of a body, starts as an image of type does.
//  len is PL_IMAGE_SNIFF_BYTES, or less only when the whole body is shorter.
bool pl_image_matches(const pl_image_type_t *type, const uint8_t *head, size_t len);

//  The first PL_IMAGE_SNIFF_BYTES of a body that arrives in pieces.
typedef struct {
    uint8_t bytes[PL_IMAGE_SNIFF_BYTES];
    size_t len;
} pl_image_head_t;

//  Keeps the bytes of the next piece of a body (len bytes) that head still lacks.
//  Returns true when this piece completed head: the body can be judged now.
bool pl_image_head_add(pl_image_head_t *head, const void *piece, size_t len);

//  The type of an upload name "<64 lowercase hex>.<ext>", or NULL for anything else
//  (so a name that passes cannot climb out of the uploads directory).
const pl_image_type_t *pl_upload_name_type(const char *name, size_t len);

//  The type of an upload url "/uploads/<name>", or NULL for anything else.
const pl_image_type_t *pl_upload_url_type(const char *url, size_t len);

//  Creates <data_dir>/uploads (mode 0755) when missing and removes the temporary
//  files a crash in the middle of an upload left behind. Returns 0, or -1 with the
//  reason in err.
int pl_uploads_prepare(const char *data_dir, char *err, size_t err_len);

//  Returns NULL when url (already valid for pl_upload_url_type) names an upload
//  stored in data_dir, else the reason for a bad_request naming the url field.
//  One stat(): cheap enough for an HTTP or WebSocket worker, never for an actor.
const char *pl_uploads_check_url(const char *data_dir, const char *url, size_t len);

//  One body being stored.
typedef struct pl_upload pl_upload_t;

//  Opens a temporary file in <data_dir>/uploads for a body. Returns NULL (logged)
//  when the file cannot be made. Caller destroys it.
pl_upload_t *pl_upload_new(const char *data_dir);

//  Appends len bytes to the body, hashing them. Returns 0, or -1 (logged).
int pl_upload_write(pl_upload_t *self, const void *data, size_t len);

//  Bytes written so far.
uint64_t pl_upload_size(const pl_upload_t *self);

//  Makes the body durable (fsync) and gives it its final name, <sha256>.<ext of
//  type>, replacing an identical file that may be there already. Writes its url
//  ("/uploads/<name>", NUL-terminated) into url, of at least PL_UPLOAD_URL_MAX + 1
//  bytes. Returns 0, or -1 (logged). Call at most once.
int pl_upload_commit(pl_upload_t *self, const pl_image_type_t *type, char *url);

//  Closes the body and, unless it was committed, removes its temporary file; NULLs
//  *self_p. Safe on NULL.
void pl_upload_destroy(pl_upload_t **self_p);

#endif
