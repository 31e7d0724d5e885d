/*  Image uploads over HTTP (PROTOCOL.md "Rooms"): POST /api/uploads stores a body,
    GET and HEAD /uploads/<sha256>.<ext> serve it (static files: no token needed).

    An upload is judged by its headers first (Content-Type one of the four image
    types, else 415; Content-Length over upload_max_bytes, 413; zero, 400), then
    streamed in CHUNK_BYTES pieces into a temporary file while it is hashed
    (uploads.h), so memory stays bounded whatever the limit. The limit is enforced
    again while reading, for chunked bodies. A body whose first bytes are not an
    image of the declared type gets 415 too: RFC 9110 allows 415 for a format found
    by inspecting the data, and to a client both mean "not an image type you take".
    Answers given before the body was read whole say Connection: close. Every path
    that does not commit destroys the upload, which removes its temporary file.

    The file is this node's copy. The bytes then go to the store too (UPLOAD_STORE
    through the persister, answered after the commit), which keeps them where every
    node can serve them when it is shared (PostgreSQL); an upload this node has no
    file of is served, and accepted in an image message, from the store. */
#include "parley/http.h"

#include "parley/log.h"
#include "parley/uploads.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

//  Bytes read from a request or a file, and written to the client, at a time.
#define CHUNK_BYTES (64 * 1024)

//  An upload never changes under its name, so clients and proxies may keep it.
#define UPLOAD_CACHE_CONTROL "public, max-age=31536000, immutable"

//  An answer refusing an upload, decided before it is sent: the temporary file goes
//  first, so a client holding the answer finds nothing left behind.
typedef struct {
    int status; //  0: the answer has been given
    const char *code;
    char message[160];
    bool close; //  given before the body was read whole
} refusal_t;

static int s_refuse(refusal_t *refusal, int status, const char *code, bool close, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

//  Fills refusal; returns -1.
static int s_refuse(refusal_t *refusal, int status, const char *code, bool close, const char *fmt,
                    ...)
{
    refusal->status = status;
    refusal->code = code;
    refusal->close = close;
    va_list args;
    va_start(args, fmt);
    vsnprintf(refusal->message, sizeof refusal->message, fmt, args);
    va_end(args);
    return -1;
}

//  Reads the body into upload, checking its size and its first bytes against type.
//  Returns 0 when it was read whole, else -1 with the answer in refusal.
static int s_read_body(pl_req_t *req, const pl_image_type_t *type, pl_upload_t *upload, char *chunk,
                       refusal_t *refusal)
{
    uint64_t limit = (uint64_t)req->app->config->upload_max_bytes;
    pl_image_head_t head = {.len = 0};
    int got;
    //  Reads one byte past the limit, to tell a body of exactly the limit from a
    //  larger chunked one.
    for (;;) {
        uint64_t room = limit + 1 - pl_upload_size(upload);
        if ((got = mg_read(req->conn, chunk, room < CHUNK_BYTES ? room : CHUNK_BYTES)) <= 0)
            break;
        if (pl_upload_size(upload) + (uint64_t)got > limit)
            return s_refuse(refusal, 413, "payload_too_large", true,
                            "the body is over %" PRIu64 " bytes", limit);
        if (pl_image_head_add(&head, chunk, (size_t)got) &&
            !pl_image_matches(type, head.bytes, head.len))
            return s_refuse(refusal, 415, "unsupported_media_type", true,
                            "the body is not an image of type %s", type->mime);
        if (pl_upload_write(upload, chunk, (size_t)got))
            return s_refuse(refusal, 500, "internal", true, "the upload could not be stored");
    }
    long long declared = req->info->content_length;
    if (got < 0 || (declared >= 0 && pl_upload_size(upload) != (uint64_t)declared)) {
        pl_debug("uploads: a body ended after %" PRIu64 " of %lld bytes", pl_upload_size(upload),
                 declared);
        return s_refuse(refusal, 400, "bad_request", true, "the body ended early");
    }
    if (pl_upload_size(upload) == 0)
        return s_refuse(refusal, 400, "bad_request", false, "the body is empty");
    //  A body shorter than the sniffing window is judged on what there is.
    if (head.len < sizeof head.bytes && !pl_image_matches(type, head.bytes, head.len))
        return s_refuse(refusal, 415, "unsupported_media_type", false,
                        "the body is not an image of type %s", type->mime);
    return 0;
}

//  Reads the committed file of url back and hands its bytes to the store; 0, or -1
//  with the answer to give in refusal.
static int s_keep_in_store(pl_req_t *req, const char *url, const pl_image_type_t *type,
                           refusal_t *refusal)
{
    const char *name = url + sizeof PL_UPLOADS_URL_PREFIX - 1;
    char path[PATH_MAX];
    struct stat st;
    char *bytes = NULL;
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/" PL_UPLOADS_DIR "/%s", req->app->config->data_dir, name) <
        (int)sizeof path)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    bool read_whole = fd >= 0 && fstat(fd, &st) == 0 && (bytes = malloc((size_t)st.st_size + 1)) &&
                      read(fd, bytes, (size_t)st.st_size) == st.st_size;
    if (fd >= 0)
        close(fd);
    pl_msg_t msg = {.type = PL_MSG_UPLOAD_STORE,
                    .as.upload_store = {.name = pl_str_of(name),
                                        .mime = pl_str_of(type->mime),
                                        .bytes = {bytes, read_whole ? (uint32_t)st.st_size : 0}}};
    pl_msg_reply_t reply;
    int rc = -1;
    if (!read_whole)
        pl_error("uploads: cannot read %s back for the store", path);
    //  pl_http_persist has answered when it fails: nothing is left to say.
    else if (pl_http_persist(req, &msg, &msg.as.upload_store.waiter, &msg.as.upload_store.req_id,
                             &reply))
        refusal->status = 0;
    else
        rc = reply.status == PL_STATUS_OK ? 0 : -1;
    free(bytes);
    return rc;
}

static void s_upload(pl_req_t *req)
{
    const pl_config_t *cfg = req->app->config;
    const pl_image_type_t *type = pl_image_type_of_mime(mg_get_header(req->conn, "Content-Type"));
    if (!type) {
        pl_http_error_close(req->conn, 415, "unsupported_media_type",
                            "Content-Type must be image/png, image/jpeg, image/gif or image/webp");
        return;
    }
    long long declared = req->info->content_length;
    if (declared > cfg->upload_max_bytes) {
        pl_http_error_close(req->conn, 413, "payload_too_large",
                            "the body is over %" PRId64 " bytes", cfg->upload_max_bytes);
        return;
    }
    if (declared == 0) {
        pl_http_error(req->conn, 400, "bad_request", "the body is empty");
        return;
    }
    char *chunk = malloc(CHUNK_BYTES);
    pl_upload_t *upload = chunk ? pl_upload_new(cfg->data_dir) : NULL;
    refusal_t refusal = {500, "internal", "the upload could not be stored", true};
    char url[PL_UPLOAD_URL_MAX + 1];
    uint64_t size = 0;
    bool stored = false;
    if (upload && s_read_body(req, type, upload, chunk, &refusal) == 0) {
        refusal.close = false;
        stored = pl_upload_commit(upload, type, url) == 0;
        size = pl_upload_size(upload);
    }
    pl_upload_destroy(&upload);
    free(chunk);
    if (stored && s_keep_in_store(req, url, type, &refusal)) {
        stored = false;
        refusal.close = false;
    }
    if (stored) {
        pl_info("uploads: user %" PRId64 " stored %s (%" PRIu64 " bytes)", req->user_id, url, size);
        pl_http_reply(
            req->conn, 201,
            json_pack("{s:s, s:s, s:I}", "url", url, "type", type->mime, "bytes", (json_int_t)size),
            NULL);
    } else if (refusal.status == 0)
        return; //  answered already (the store did not answer in time, or was away)
    else if (refusal.close)
        pl_http_error_close(req->conn, refusal.status, refusal.code, "%s", refusal.message);
    else
        pl_http_error(req->conn, refusal.status, refusal.code, "%s", refusal.message);
}

//  Writes up to length bytes of fd to the client, a chunk at a time.
static void s_send_file(struct mg_connection *conn, int fd, uint64_t length, const char *name)
{
    char *chunk = malloc(CHUNK_BYTES);
    while (chunk && length > 0) {
        ssize_t got = read(fd, chunk, length < CHUNK_BYTES ? length : CHUNK_BYTES);
        if (got <= 0) {
            //  The head promised length more bytes: the client sees a short body.
            pl_error("uploads: %s ended %" PRIu64 " bytes early", name, length);
            break;
        }
        if (mg_write(conn, chunk, (size_t)got) != got)
            break; //  the client has gone
        length -= (uint64_t)got;
    }
    if (!chunk)
        pl_error("uploads: out of memory serving %s", name);
    free(chunk);
}

//  Serves an upload this node has no file of from the store; -1 when it has none.
static int s_serve_from_store(pl_req_t *req, const pl_image_type_t *type)
{
    char *bytes = NULL;
    size_t len = 0;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->upload_get(
        reader, (pl_str_t){req->path_name, (uint32_t)req->path_name_len}, &bytes, &len);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK)
        return -1;
    if (pl_http_write_head(req->conn, 200, type->mime, len, UPLOAD_CACHE_CONTROL,
                           "X-Content-Type-Options: nosniff\r\n") == 0 &&
        strcmp(req->info->request_method, "HEAD") != 0)
        mg_write(req->conn, bytes, len);
    free(bytes);
    return 0;
}

const char *pl_http_check_upload_url(pl_app_t *app, pl_str_t url)
{
    const char *problem = pl_uploads_check_url(app->config->data_dir, url.ptr, url.len);
    if (!problem)
        return NULL;
    size_t prefix = sizeof PL_UPLOADS_URL_PREFIX - 1;
    //  Not on this node's disk: maybe another node's, in the store they share.
    if (!pl_upload_url_type(url.ptr, url.len))
        return problem;
    pl_store_t *reader = pl_store_pool_take(app->readers);
    pl_status_t status = reader->ops->upload_get(
        reader, (pl_str_t){url.ptr + prefix, url.len - (uint32_t)prefix}, NULL, NULL);
    pl_store_pool_give(app->readers, reader);
    return status == PL_STATUS_OK ? NULL : problem;
}

//  GET or HEAD /uploads/{name}.
static void s_serve(pl_req_t *req)
{
    const pl_image_type_t *type = pl_upload_name_type(req->path_name, req->path_name_len);
    char path[PATH_MAX];
    int fd = -1;
    struct stat st;
    if (type &&
        snprintf(path, sizeof path, "%s/" PL_UPLOADS_DIR "/%.*s", req->app->config->data_dir,
                 (int)req->path_name_len, req->path_name) < (int)sizeof path)
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        if (!type || s_serve_from_store(req, type))
            pl_http_error(req->conn, 404, "not_found", "no such upload");
        return;
    }
    if (pl_http_write_head(req->conn, 200, type->mime, (uint64_t)st.st_size, UPLOAD_CACHE_CONTROL,
                           "X-Content-Type-Options: nosniff\r\n") == 0 &&
        strcmp(req->info->request_method, "HEAD") != 0)
        s_send_file(req->conn, fd, (uint64_t)st.st_size, path);
    close(fd);
}

const pl_route_t pl_upload_routes[] = {
    {"POST", "/api/uploads", true, s_upload},
    {"GET", "/uploads/{name}", false, s_serve},
    {"HEAD", "/uploads/{name}", false, s_serve},
    {NULL, NULL, false, NULL},
};
