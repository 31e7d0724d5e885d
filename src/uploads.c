/*  Uploaded images on disk (see uploads.h): the type table, magic bytes, upload
    names, and the temp-file-then-rename writer. */
#include "parley/uploads.h"

#include "parley/log.h"
#include "parley/sodium_ready.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

//  Temporary files start with this, which no upload name does (names are hex).
#define TEMP_PREFIX "tmp-"

static const pl_image_type_t s_png = {"image/png", "png"};
static const pl_image_type_t s_jpeg = {"image/jpeg", "jpg"};
static const pl_image_type_t s_gif = {"image/gif", "gif"};
static const pl_image_type_t s_webp = {"image/webp", "webp"};
static const pl_image_type_t *const s_types[] = {&s_png, &s_jpeg, &s_gif, &s_webp};
#define TYPE_COUNT (sizeof s_types / sizeof s_types[0])

//  How a body of a type begins: len bytes that equal magic wherever mask is not 0.
typedef struct {
    const pl_image_type_t *type;
    const char *magic;
    const char *mask; //  NULL: every byte counts
    size_t len;
} signature_t;

static const signature_t s_signatures[] = {
    {&s_png, "\x89PNG\r\n\x1a\n", NULL, 8},
    {&s_jpeg, "\xff\xd8\xff", NULL, 3},
    {&s_gif, "GIF87a", NULL, 6},
    {&s_gif, "GIF89a", NULL, 6},
    //  A RIFF container (its size in bytes 4-7) holding WEBP.
    {&s_webp, "RIFF\0\0\0\0WEBP", "\xff\xff\xff\xff\0\0\0\0\xff\xff\xff\xff", 12},
};

const pl_image_type_t *pl_image_type_of_mime(const char *content_type)
{
    if (!content_type)
        return NULL;
    content_type += strspn(content_type, " \t");
    for (size_t i = 0; i < TYPE_COUNT; i++) {
        size_t len = strlen(s_types[i]->mime);
        if (strncasecmp(content_type, s_types[i]->mime, len) != 0)
            continue;
        const char *rest = content_type + len;
        rest += strspn(rest, " \t");
        if (*rest == '\0' || *rest == ';')
            return s_types[i];
    }
    return NULL;
}

bool pl_image_matches(const pl_image_type_t *type, const uint8_t *head, size_t len)
{
    for (size_t s = 0; s < sizeof s_signatures / sizeof s_signatures[0]; s++) {
        const signature_t *sig = &s_signatures[s];
        if (sig->type != type || len < sig->len)
            continue;
        size_t i = 0;
        while (i < sig->len && (head[i] == (uint8_t)sig->magic[i] || (sig->mask && !sig->mask[i])))
            i++;
        if (i == sig->len)
            return true;
    }
    return false;
}

bool pl_image_head_add(pl_image_head_t *head, const void *piece, size_t len)
{
    size_t missing = sizeof head->bytes - head->len;
    if (missing == 0)
        return false;
    size_t taken = len < missing ? len : missing;
    memcpy(head->bytes + head->len, piece, taken);
    head->len += taken;
    return head->len == sizeof head->bytes;
}

const pl_image_type_t *pl_upload_name_type(const char *name, size_t len)
{
    if (len < PL_UPLOAD_HASH_HEX + 2 || name[PL_UPLOAD_HASH_HEX] != '.')
        return NULL;
    for (size_t i = 0; i < PL_UPLOAD_HASH_HEX; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return NULL;
    const char *ext = name + PL_UPLOAD_HASH_HEX + 1;
    size_t ext_len = len - PL_UPLOAD_HASH_HEX - 1;
    for (size_t i = 0; i < TYPE_COUNT; i++)
        if (strlen(s_types[i]->ext) == ext_len && memcmp(ext, s_types[i]->ext, ext_len) == 0)
            return s_types[i];
    return NULL;
}

const pl_image_type_t *pl_upload_url_type(const char *url, size_t len)
{
    size_t prefix = sizeof PL_UPLOADS_URL_PREFIX - 1;
    if (len < prefix || memcmp(url, PL_UPLOADS_URL_PREFIX, prefix) != 0)
        return NULL;
    return pl_upload_name_type(url + prefix, len - prefix);
}

//  Writes "<data_dir>/uploads" and then suffix into path. Returns 0, or -1 when it
//  does not fit.
static int s_path(char *path, size_t size, const char *data_dir, const char *suffix)
{
    int n = snprintf(path, size, "%s/" PL_UPLOADS_DIR "%s", data_dir, suffix);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int pl_uploads_prepare(const char *data_dir, char *err, size_t err_len)
{
    char dir[PATH_MAX];
    if (s_path(dir, sizeof dir, data_dir, "")) {
        snprintf(err, err_len, "data_dir: too long");
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "data_dir: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    DIR *listing = opendir(dir);
    if (!listing) {
        snprintf(err, err_len, "data_dir: cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)))
        if (strncmp(entry->d_name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) == 0 &&
            unlinkat(dirfd(listing), entry->d_name, 0) == 0)
            removed++;
    closedir(listing);
    if (removed)
        pl_info("uploads: removed %d unfinished uploads from %s", removed, dir);
    return 0;
}

const char *pl_uploads_check_url(const char *data_dir, const char *url, size_t len)
{
    static const char *const missing = "must be the url of an upload of this server";
    size_t prefix = sizeof PL_UPLOADS_URL_PREFIX - 1;
    if (!pl_upload_url_type(url, len))
        return missing;
    char name[PL_UPLOAD_NAME_MAX + 2] = "/";
    memcpy(name + 1, url + prefix, len - prefix);
    char path[PATH_MAX];
    struct stat st;
    if (s_path(path, sizeof path, data_dir, name) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return missing;
    return NULL;
}

struct pl_upload {
    char dir[PATH_MAX];  //  <data_dir>/uploads
    char temp[PATH_MAX]; //  the temporary file in it
    int fd;
    crypto_hash_sha256_state hash;
    uint64_t size;
    bool committed; //  temp has been renamed: nothing to remove
};

pl_upload_t *pl_upload_new(const char *data_dir)
{
    pl_upload_t *self = calloc(1, sizeof *self);
    if (!self || !pl_sodium_ready()) {
        pl_error("uploads: out of memory or no libsodium");
        free(self);
        return NULL;
    }
    self->fd = -1;
    if (s_path(self->dir, sizeof self->dir, data_dir, "") ||
        s_path(self->temp, sizeof self->temp, data_dir, "/" TEMP_PREFIX "XXXXXX")) {
        pl_error("uploads: data_dir is too long");
        free(self);
        return NULL;
    }
    self->fd = mkostemp(self->temp, O_CLOEXEC);
    if (self->fd < 0) {
        pl_error("uploads: cannot create a file in %s: %s", self->dir, strerror(errno));
        free(self);
        return NULL;
    }
    crypto_hash_sha256_init(&self->hash);
    return self;
}

int pl_upload_write(pl_upload_t *self, const void *data, size_t len)
{
    crypto_hash_sha256_update(&self->hash, data, len);
    self->size += len;
    for (const char *at = data; len > 0;) {
        ssize_t n = write(self->fd, at, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            pl_error("uploads: cannot write %s: %s", self->temp, strerror(errno));
            return -1;
        }
        at += n;
        len -= (size_t)n;
    }
    return 0;
}

uint64_t pl_upload_size(const pl_upload_t *self)
{
    return self->size;
}

//  fsyncs the directory, so that a rename in it survives a crash.
static int s_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 ? fsync(fd) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

int pl_upload_commit(pl_upload_t *self, const pl_image_type_t *type, char *url)
{
    //  Served to anyone who has the url, and by whatever else serves the directory.
    if (fchmod(self->fd, 0644) != 0 || fsync(self->fd) != 0) {
        pl_error("uploads: cannot sync %s: %s", self->temp, strerror(errno));
        return -1;
    }
    uint8_t digest[crypto_hash_sha256_BYTES];
    char hex[PL_UPLOAD_HASH_HEX + 1];
    crypto_hash_sha256_final(&self->hash, digest);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    snprintf(url, PL_UPLOAD_URL_MAX + 1, PL_UPLOADS_URL_PREFIX "%s.%s", hex, type->ext);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s.%s", self->dir, hex, type->ext) >= (int)sizeof path) {
        pl_error("uploads: data_dir is too long");
        return -1;
    }
    //  The same bytes under the same name: replacing an earlier copy is harmless, and
    //  a reader that has it open keeps reading the old one.
    if (rename(self->temp, path) != 0) {
        pl_error("uploads: cannot rename %s to %s: %s", self->temp, path, strerror(errno));
        return -1;
    }
    self->committed = true;
    if (s_sync_dir(self->dir) != 0) {
        pl_error("uploads: cannot sync %s: %s", self->dir, strerror(errno));
        return -1;
    }
    return 0;
}

void pl_upload_destroy(pl_upload_t **self_p)
{
    pl_upload_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    if (!self->committed && unlink(self->temp) != 0)
        pl_error("uploads: cannot remove %s: %s", self->temp, strerror(errno));
    free(self);
    *self_p = NULL;
}
