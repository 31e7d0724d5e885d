/*  tests/support/http_client.c
 *
 *  Owns the HTTP/1.1 request/response exchange of the test client: building
 *  the request, reading and parsing the response head, and reading the body
 *  framed by Content-Length, chunked transfer coding, or connection close.
 *  Everything runs under one deadline per request; any malformed, truncated or
 *  late response is an error (-1), never an abort. The head reader and parser
 *  are shared with the WebSocket client's handshake.
 */
#include "http_client.h"
#include "net.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEAD_MAX  (64 * 1024)
#define BODY_MAX  (64 * 1024 * 1024)
#define READ_SIZE (64 * 1024)

typedef enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE } body_mode_t;

//  A growable byte buffer; data is kept NUL-terminated.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

static int s_buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int s_buf_append(buf_t *b, const void *data, size_t len)
{
    if (s_buf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

//  Reads once more from fd into b. Returns bytes read, 0 on EOF, -1 on error
//  or timeout.
static ssize_t s_buf_read(buf_t *b, int fd, int64_t deadline_ms)
{
    if (s_buf_reserve(b, READ_SIZE) < 0)
        return -1;
    ssize_t n = pl_net_read_some(fd, b->data + b->len, READ_SIZE, deadline_ms);
    if (n < 0)
        return -1;
    b->len += (size_t)n;
    b->data[b->len] = '\0';
    return n;
}

//  Finds "\r\n\r\n" in data; returns the length through it, or 0.
static size_t s_find_head_end(const char *data, size_t len)
{
    if (len < 4)
        return 0;
    const char *p = memmem(data, len, "\r\n\r\n", 4);
    return p ? (size_t)(p - data) + 4 : 0;
}

int pl__http_read_head(int fd, int64_t deadline_ms, char **buf, size_t *buf_len, size_t *head_len)
{
    buf_t b = {0};
    size_t end;
    while ((end = s_find_head_end(b.data, b.len)) == 0) {
        if (b.len > HEAD_MAX || s_buf_read(&b, fd, deadline_ms) <= 0) {
            free(b.data);
            return -1;
        }
    }
    *buf = b.data;
    *buf_len = b.len;
    *head_len = end;
    return 0;
}

int pl__http_open(int port, const char *request, int64_t deadline_ms, char **buf, size_t *buf_len,
                  size_t *head_len, pl_http_response_t *head)
{
    memset(head, 0, sizeof *head);
    *buf = NULL;
    int fd = pl_net_connect(pl_net_stream_port(port), deadline_ms);
    if (fd < 0)
        return -1;
    bool timed_out =
        pl_net_write_all(fd, request, strlen(request), deadline_ms) < 0 && errno == ETIMEDOUT;
    if (timed_out || pl__http_read_head(fd, deadline_ms, buf, buf_len, head_len) < 0) {
        close(fd);
        return -1;
    }
    if (pl__http_parse_head(*buf, *head_len, head) < 0) {
        pl_http_response_free(head);
        free(*buf);
        *buf = NULL;
        close(fd);
        return -1;
    }
    return fd;
}

//  Adds one "name: value" field to r, trimming blanks around the value.
static int s_add_field(pl_http_response_t *r, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;

    char **fields = realloc(r->fields_, (r->field_count_ + 1) * 2 * sizeof *fields);
    if (!fields)
        return -1;
    r->fields_ = fields;
    char *name = strndup(line, name_len);
    char *value = strndup(v, (size_t)(end - v));
    if (!name || !value) {
        free(name);
        free(value);
        return -1;
    }
    fields[2 * r->field_count_] = name;
    fields[2 * r->field_count_ + 1] = value;
    r->field_count_++;
    return 0;
}

int pl__http_parse_head(const char *head, size_t head_len, pl_http_response_t *out)
{
    if (head_len < 4 || memcmp(head + head_len - 4, "\r\n\r\n", 4) != 0)
        return -1;
    //  Status line: "HTTP/1.x NNN reason".
    if (head_len < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return -1;
    if (!isdigit((unsigned char)head[9]) || !isdigit((unsigned char)head[10]) ||
        !isdigit((unsigned char)head[11]))
        return -1;
    out->status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');

    out->headers = strndup(head, head_len - 2);
    if (!out->headers)
        return -1;
    const char *line = (const char *)memchr(head, '\n', head_len) + 1;
    const char *stop = head + head_len - 2;
    while (line < stop) {
        const char *nl = memchr(line, '\n', (size_t)(stop - line));
        if (!nl)
            return -1;
        size_t len = (size_t)(nl - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len > 0 && s_add_field(out, line, len) < 0)
            return -1;
        line = nl + 1;
    }
    return 0;
}

const char *pl_http_header_n(const pl_http_response_t *r, const char *name, size_t index)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->field_count_; i++) {
        if (strcasecmp(r->fields_[2 * i], name) == 0 && index-- == 0)
            return r->fields_[2 * i + 1];
    }
    return NULL;
}

const char *pl_http_header(const pl_http_response_t *r, const char *name)
{
    return pl_http_header_n(r, name, 0);
}

void pl_http_response_free(pl_http_response_t *r)
{
    if (!r)
        return;
    free(r->headers);
    free(r->body);
    if (r->json)
        json_decref(r->json);
    for (size_t i = 0; i < 2 * r->field_count_; i++)
        free(r->fields_[i]);
    free(r->fields_);
    memset(r, 0, sizeof *r);
}

//  True if the header block (lines "Name: value\r\n") has a field called name.
static bool s_block_has(const char *block, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *line = block; line && *line;) {
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':')
            return true;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

//  Decodes as many complete chunks of raw (from *pos) as are available,
//  appending their data to body. Returns 1 once the last chunk and trailers
//  are complete, 0 if more bytes are needed, -1 if malformed or too large.
static int s_dechunk(const buf_t *raw, size_t *pos, buf_t *body)
{
    for (;;) {
        const char *p = raw->data + *pos;
        size_t avail = raw->len - *pos;
        const char *eol = memmem(p, avail, "\r\n", 2);
        if (!eol)
            return avail > 1024 ? -1 : 0;
        char *num_end;
        errno = 0;
        unsigned long long size = strtoull(p, &num_end, 16);
        if (num_end == p || errno != 0 || size > BODY_MAX)
            return -1;
        //  Chunk extensions (";name=value") are allowed and ignored.
        if (num_end != eol && *num_end != ';' && *num_end != ' ' && *num_end != '\t')
            return -1;
        size_t line_len = (size_t)(eol - p) + 2;

        if (size == 0) {
            //  Trailer section: zero or more header lines, then a blank line.
            const char *t = p + line_len;
            size_t t_avail = avail - line_len;
            if (t_avail >= 2 && t[0] == '\r' && t[1] == '\n')
                return 1;
            if (memmem(t, t_avail, "\r\n\r\n", 4))
                return 1;
            return t_avail > HEAD_MAX ? -1 : 0;
        }
        if (avail < line_len + size + 2)
            return 0;
        if (memcmp(p + line_len + size, "\r\n", 2) != 0)
            return -1;
        if (body->len + size > BODY_MAX || s_buf_append(body, p + line_len, size) < 0)
            return -1;
        *pos += line_len + size + 2;
    }
}

//  Chooses how the body of a response to method is framed.
static body_mode_t s_body_mode(const pl_http_response_t *r, const char *method,
                               unsigned long long *length)
{
    if (strcasecmp(method, "HEAD") == 0 || r->status == 204 || r->status == 304 ||
        (r->status >= 100 && r->status < 200))
        return BODY_NONE;
    const char *te = pl_http_header(r, "Transfer-Encoding");
    if (te && strcasestr(te, "chunked"))
        return BODY_CHUNKED;
    const char *cl = pl_http_header(r, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        *length = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || errno != 0)
            return BODY_UNTIL_CLOSE;
        return BODY_LENGTH;
    }
    return BODY_UNTIL_CLOSE;
}

//  Reads the rest of the response from fd; raw already holds the bytes read
//  so far (head included). Fills out. Returns 0 or -1.
static int s_read_response(int fd, const char *method, buf_t *raw, int64_t deadline_ms,
                           pl_http_response_t *out)
{
    size_t head_len;
    for (;;) {
        while ((head_len = s_find_head_end(raw->data, raw->len)) == 0) {
            if (raw->len > HEAD_MAX || s_buf_read(raw, fd, deadline_ms) <= 0)
                return -1;
        }
        if (pl__http_parse_head(raw->data, head_len, out) < 0)
            return -1;
        //  Skip interim responses (100 Continue, 103 Early Hints).
        if (out->status >= 100 && out->status < 200 && out->status != 101) {
            pl_http_response_free(out);
            memmove(raw->data, raw->data + head_len, raw->len - head_len + 1);
            raw->len -= head_len;
            continue;
        }
        break;
    }

    unsigned long long length = 0;
    body_mode_t mode = s_body_mode(out, method, &length);
    buf_t body = {0};
    if (s_buf_append(&body, "", 0) < 0)
        return -1;
    size_t chunk_pos = head_len;
    int rc = -1;
    for (;;) {
        size_t have = raw->len - head_len;
        if (mode == BODY_NONE) {
            rc = 0;
            break;
        }
        if (mode == BODY_LENGTH && have >= length) {
            rc = s_buf_append(&body, raw->data + head_len, (size_t)length);
            break;
        }
        if (mode == BODY_CHUNKED) {
            int done = s_dechunk(raw, &chunk_pos, &body);
            if (done != 0) {
                rc = done > 0 ? 0 : -1;
                break;
            }
        }
        if ((mode == BODY_LENGTH && length > BODY_MAX) || have > BODY_MAX + (size_t)HEAD_MAX)
            break;
        ssize_t n = s_buf_read(raw, fd, deadline_ms);
        if (n < 0)
            break;
        if (n == 0) {
            //  EOF: the end of the body only when framed by close.
            if (mode == BODY_UNTIL_CLOSE)
                rc = s_buf_append(&body, raw->data + head_len, have);
            break;
        }
    }
    if (rc < 0) {
        free(body.data);
        return -1;
    }
    out->body = body.data;
    out->body_len = body.len;
    if (body.len > 0)
        out->json = json_loadb(body.data, body.len, JSON_DECODE_ANY, NULL);
    return 0;
}

int pl_http_request_timeout(int port, const char *method, const char *path,
                            const char *extra_headers, const char *body, size_t body_len,
                            int timeout_ms, pl_http_response_t *out)
{
    if (!out)
        return -1;
    memset(out, 0, sizeof *out);
    if (!method || !path)
        return -1;
    int64_t deadline = pl_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    const char *extra = extra_headers ? extra_headers : "";

    bool wants_length = body || strcasecmp(method, "POST") == 0 || strcasecmp(method, "PUT") == 0 ||
                        strcasecmp(method, "PATCH") == 0;
    char host[64] = "", length[64] = "";
    if (!s_block_has(extra, "Host"))
        snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", port);
    //  A chunked body frames itself: no Content-Length beside it.
    if (wants_length && !s_block_has(extra, "Content-Length") &&
        !s_block_has(extra, "Transfer-Encoding"))
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", body ? body_len : 0);
    char *head = NULL;
    if (asprintf(&head, "%s %s HTTP/1.1\r\n%s%s%s%s\r\n", method, path, host,
                 s_block_has(extra, "Connection") ? "" : "Connection: close\r\n", length,
                 extra) < 0)
        return -1;

    int fd = pl_net_connect(port, deadline);
    if (fd < 0) {
        free(head);
        return -1;
    }
    //  Stop writing as soon as the server answers (e.g. 413 before the whole
    //  body); if the write fails, the answer may still be readable.
    int wrc = pl_net_write_or_readable(fd, head, strlen(head), deadline);
    if (wrc == 0 && body && body_len > 0)
        wrc = pl_net_write_or_readable(fd, body, body_len, deadline);
    bool timed_out = wrc < 0 && errno == ETIMEDOUT;
    free(head);
    if (timed_out) {
        close(fd);
        return -1;
    }

    buf_t raw = {0};
    int rc = s_read_response(fd, method, &raw, deadline, out);
    free(raw.data);
    close(fd);
    if (rc < 0)
        pl_http_response_free(out);
    return rc;
}

int pl_http_request(int port, const char *method, const char *path, const char *extra_headers,
                    const char *body, size_t body_len, pl_http_response_t *out)
{
    return pl_http_request_timeout(port, method, path, extra_headers, body, body_len,
                                   PL_HTTP_TIMEOUT_MS, out);
}

int pl_http_json(int port, const char *method, const char *path, const char *token,
                 const char *json_body, pl_http_response_t *out)
{
    char *extra = NULL;
    if (asprintf(&extra, "%s%s%s%s", json_body ? "Content-Type: application/json\r\n" : "",
                 token ? "Authorization: Bearer " : "", token ? token : "",
                 token ? "\r\n" : "") < 0) {
        if (out)
            memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = pl_http_request(port, method, path, extra, json_body,
                             json_body ? strlen(json_body) : 0, out);
    free(extra);
    return rc;
}
