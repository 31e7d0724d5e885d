/*  tests/support/sse_client.c
 *
 *  Owns the client side of an event stream: the GET and its response head
 *  (through the HTTP client's head reader and parser), the body of a refusal,
 *  and a block parser over a receive buffer. Bytes that arrived with the head
 *  are the start of that buffer. A block is only consumed once its blank line
 *  has arrived, so a timeout in the middle of one loses nothing: the next call
 *  continues where this one stopped.
 */
#include "sse_client.h"
#include "net.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)
//  Most body bytes kept from a refusal.
#define REFUSAL_MAX (1024 * 1024)

struct pl_sse {
    int fd;
    //  Received, not yet consumed bytes: buf[pos .. len), NUL-terminated.
    char *buf;
    size_t pos, len, cap;
    bool started; //  the first byte of the stream was looked at (a BOM skipped)
    bool closed;
    pl_http_response_t head;
    char last_id[64]; //  the last "id:" seen, as a browser keeps it for Last-Event-ID
};

//  Reads once more from fd into *buf (len, cap), keeping it NUL-terminated and
//  growing it up to about max bytes. Returns > 0, 0 on EOF, -1 on error or when
//  the buffer would pass max, -2 on timeout.
static ssize_t s_fill(int fd, char **buf, size_t *len, size_t *cap, size_t max, int64_t deadline_ms)
{
    if (*cap - *len < READ_SIZE + 1) {
        size_t grown = *cap ? *cap : READ_SIZE + 1;
        while (grown - *len < READ_SIZE + 1)
            grown *= 2;
        if (grown > max + READ_SIZE + 1)
            return -1;
        char *p = realloc(*buf, grown);
        if (!p)
            return -1;
        *buf = p;
        *cap = grown;
    }
    ssize_t n = pl_net_read_some(fd, *buf + *len, READ_SIZE, deadline_ms);
    if (n > 0)
        *len += (size_t)n;
    (*buf)[*len] = '\0';
    return n;
}

//  Reads a refusal's body after its head: Content-Length bytes, or until the
//  server closes. The bytes already read past the head are in buf[head_len ..).
static void s_read_refusal(int fd, char *buf, size_t buf_len, size_t head_len, int64_t deadline,
                           pl_http_response_t *out)
{
    size_t len = buf_len - head_len, cap = len + 1;
    char *body = malloc(cap);
    if (!body)
        return;
    memcpy(body, buf + head_len, len);
    body[len] = '\0';
    const char *cl = pl_http_header(out, "Content-Length");
    long long want = -1;
    if (cl) {
        char *end;
        errno = 0;
        want = strtoll(cl, &end, 10);
        if (end == cl || *end || errno || want < 0)
            want = -1;
    }
    while ((want < 0 || (long long)len < want) && len < REFUSAL_MAX &&
           s_fill(fd, &body, &len, &cap, REFUSAL_MAX, deadline) > 0)
        ;
    if (want >= 0 && (long long)len > want) {
        len = (size_t)want;
        body[len] = '\0';
    }
    out->body = body;
    out->body_len = len;
    if (len > 0)
        out->json = json_loadb(body, len, JSON_DECODE_ANY, NULL);
}

pl_sse_t *pl_sse_connect(int port, const char *path, const char *extra_headers,
                         pl_http_response_t *refused)
{
    pl_http_response_t dummy;
    if (!refused)
        refused = &dummy;
    memset(refused, 0, sizeof *refused);
    if (!path)
        return NULL;
    char *request = NULL;
    if (asprintf(&request,
                 "GET %s HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%d\r\n"
                 "Accept: text/event-stream\r\n"
                 "%s\r\n",
                 path, port, extra_headers ? extra_headers : "") < 0)
        return NULL;
    int64_t deadline = pl_net_now_ms() + PL_SSE_CONNECT_TIMEOUT_MS;
    char *buf = NULL;
    size_t buf_len = 0, head_len = 0;
    pl_http_response_t head;
    int fd = pl__http_open(port, request, deadline, &buf, &buf_len, &head_len, &head);
    free(request);
    if (fd < 0)
        return NULL;
    if (head.status != 200 || pl_http_header(&head, "Transfer-Encoding") ||
        pl_http_header(&head, "Content-Length")) {
        s_read_refusal(fd, buf, buf_len, head_len, deadline, &head);
        *refused = head;
        goto done;
    }
    pl_sse_t *sse = calloc(1, sizeof *sse);
    if (!sse) {
        pl_http_response_free(&head);
        goto done;
    }
    head.body = strdup("");
    sse->head = head;
    sse->fd = fd;
    sse->buf = buf;
    sse->cap = buf_len + 1;
    sse->pos = head_len;
    sse->len = buf_len;
    return sse;

done:
    free(buf);
    close(fd);
    return NULL;
}

const pl_http_response_t *pl_sse_response(const pl_sse_t *sse)
{
    return sse ? &sse->head : NULL;
}

//  The length of the line ending at p[i] (a CR, LF or CRLF), 0 when p[i] ends no
//  line, or -1 when it is a CR whose next byte has not arrived.
static int s_eol(const char *p, size_t i, size_t n)
{
    if (p[i] == '\n')
        return 1;
    if (p[i] != '\r')
        return 0;
    if (i + 1 >= n)
        return -1;
    return p[i + 1] == '\n' ? 2 : 1;
}

//  The number of bytes of p[0 .. n) through the blank line that ends the first
//  block, or 0 when that line has not arrived yet.
static size_t s_block_end(const char *p, size_t n)
{
    size_t line_start = 0;
    for (size_t i = 0; i < n;) {
        int eol = s_eol(p, i, n);
        if (eol < 0)
            return 0;
        if (eol == 0) {
            i++;
            continue;
        }
        if (i == line_start)
            return i + (size_t)eol;
        i += (size_t)eol;
        line_start = i;
    }
    return 0;
}

//  Appends "\n" (unless *joined is NULL) and value to *joined. Returns 0 or -1.
static int s_join(char **joined, const char *value, size_t len)
{
    size_t old = *joined ? strlen(*joined) : 0;
    size_t extra = (*joined ? 1 : 0) + len;
    char *p = realloc(*joined, old + extra + 1);
    if (!p)
        return -1;
    if (*joined)
        p[old++] = '\n';
    memcpy(p + old, value, len);
    p[old + len] = '\0';
    *joined = p;
    return 0;
}

//  Replaces *field by a copy of value. Returns 0 or -1.
static int s_set(char **field, const char *value, size_t len)
{
    free(*field);
    *field = strndup(value, len);
    return *field ? 0 : -1;
}

//  Handles one non-empty line of a block. Returns 0 or -1 (out of memory).
static int s_line(pl_sse_block_t *block, const char *line, size_t len, bool *has_field)
{
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len > 0 && *value == ' ')
        value++, value_len--;
    if (name_len == 0)
        return s_join(&block->comment, value, value_len);
    *has_field = true;
    if (name_len == 5 && memcmp(line, "event", 5) == 0)
        return s_set(&block->event, value, value_len);
    if (name_len == 4 && memcmp(line, "data", 4) == 0)
        return s_join(&block->data, value, value_len);
    if (name_len == 2 && memcmp(line, "id", 2) == 0)
        return s_set(&block->id, value, value_len);
    if (name_len == 5 && memcmp(line, "retry", 5) == 0 && value_len > 0 && value_len < 19 &&
        strspn(value, "0123456789") >= value_len)
        block->retry = strtoll(value, NULL, 10);
    return 0;
}

//  Parses the complete block p[0 .. n) into *block. Returns 0 or -1.
static int s_parse(const char *p, size_t n, pl_sse_block_t *block)
{
    bool has_field = false;
    size_t line_start = 0;
    for (size_t i = 0; i < n;) {
        int eol = s_eol(p, i, n);
        if (eol == 0) {
            i++;
            continue;
        }
        if (i > line_start && s_line(block, p + line_start, i - line_start, &has_field) < 0)
            return -1;
        i += (size_t)(eol > 0 ? eol : 1);
        line_start = i;
    }
    block->comment_only = !has_field && block->comment;
    return 0;
}

int pl_sse_next(pl_sse_t *sse, int timeout_ms, pl_sse_block_t *block)
{
    if (!block)
        return -1;
    memset(block, 0, sizeof *block);
    block->retry = -1;
    if (!sse || sse->closed)
        return -1;
    int64_t deadline = pl_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (!sse->started && sse->len - sse->pos >= 3) {
            //  A UTF-8 byte order mark may open the stream.
            if (memcmp(sse->buf + sse->pos, "\xEF\xBB\xBF", 3) == 0)
                sse->pos += 3;
            sse->started = true;
        }
        size_t end = sse->started ? s_block_end(sse->buf + sse->pos, sse->len - sse->pos) : 0;
        if (end > 0) {
            int rc = s_parse(sse->buf + sse->pos, end, block);
            sse->pos += end;
            if (rc < 0) {
                pl_sse_block_free(block);
                sse->closed = true;
                return -1;
            }
            if (block->id)
                snprintf(sse->last_id, sizeof sse->last_id, "%s", block->id);
            return 1;
        }
        //  Compact, then read more.
        if (sse->pos > 0) {
            memmove(sse->buf, sse->buf + sse->pos, sse->len - sse->pos + 1);
            sse->len -= sse->pos;
            sse->pos = 0;
        }
        ssize_t n = s_fill(sse->fd, &sse->buf, &sse->len, &sse->cap, PL_SSE_MAX_BLOCK, deadline);
        if (n == -2)
            return 0;
        if (n <= 0) {
            sse->closed = true;
            return -1;
        }
        //  Fewer than 3 bytes at the start may still be a BOM: look again later,
        //  unless what came can no longer be one.
        if (!sse->started && sse->len < 3 && memcmp(sse->buf, "\xEF\xBB\xBF", sse->len) != 0)
            sse->started = true;
    }
}

int pl_sse_next_data(pl_sse_t *sse, int timeout_ms, pl_sse_block_t *block)
{
    int64_t deadline = pl_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int rc = pl_sse_next(sse, pl_net_remaining_ms(deadline), block);
        if (rc != 1 || block->data)
            return rc;
        pl_sse_block_free(block);
    }
}

//  Writes a reason into why, if set; returns NULL.
static json_t *s_refuse(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *s_refuse(char *why, size_t why_size, const char *fmt, ...)
{
    if (why && why_size) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(why, why_size, fmt, args);
        va_end(args);
    }
    return NULL;
}

//  The block as a parley notification, or NULL with the reason in why.
static json_t *s_notification(const pl_sse_block_t *block, char *why, size_t why_size)
{
    const char *data = block->data;
    if (!block->event || strcmp(block->event, "notification") != 0)
        return s_refuse(why, why_size, "an event '%s' came, not a notification: %s",
                        block->event ? block->event : "(none)", data);
    json_t *json = json_loads(data, 0, NULL);
    json_t *id = json_object_get(json, "id");
    if (!json_is_object(json) || !json_is_integer(id)) {
        json_decref(json);
        return s_refuse(why, why_size, "the data is not a JSON object with an id: %s", data);
    }
    //  The event id is the version of this write: the notification's id when it is
    //  new, a later number when a coalesced notification is pushed again.
    char *end = NULL;
    long long event_id = block->id ? strtoll(block->id, &end, 10) : -1;
    if (!block->id || !*block->id || *end || event_id < json_integer_value(id)) {
        json_decref(json);
        return s_refuse(why, why_size, "the event's id '%s' is below the notification's: %s",
                        block->id ? block->id : "(none)", data);
    }
    return json;
}

json_t *pl_sse_next_notification(pl_sse_t *sse, int timeout_ms, char *why, size_t why_size)
{
    pl_sse_block_t block;
    int rc = pl_sse_next_data(sse, timeout_ms, &block);
    if (rc == 0)
        return s_refuse(why, why_size, "no notification within %d ms", timeout_ms);
    if (rc < 0)
        return s_refuse(why, why_size, "the stream ended");
    json_t *json = s_notification(&block, why, why_size);
    pl_sse_block_free(&block);
    return json;
}

const char *pl_sse_last_event_id(const pl_sse_t *sse)
{
    return sse->last_id;
}

bool pl_sse_is_closed(const pl_sse_t *sse)
{
    return !sse || sse->closed;
}

void pl_sse_block_free(pl_sse_block_t *block)
{
    if (!block)
        return;
    free(block->event);
    free(block->id);
    free(block->data);
    free(block->comment);
    memset(block, 0, sizeof *block);
    block->retry = -1;
}

void pl_sse_close(pl_sse_t **sse_p)
{
    if (!sse_p || !*sse_p)
        return;
    pl_sse_t *sse = *sse_p;
    if (sse->fd >= 0)
        close(sse->fd);
    free(sse->buf);
    pl_http_response_free(&sse->head);
    free(sse);
    *sse_p = NULL;
}
