/*  A minimal blocking HTTP/1.1 client over one keep-alive connection to 127.0.0.1,
    used for setup (signup, contents, rooms) and the /healthz check. Reads answers
    framed by Content-Length or chunked encoding; every read and write times out
    after 30 s, and a connection the server closed is reopened once. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void bn_http_init(bn_http_t *h, int port)
{
    *h = (bn_http_t){.fd = -1, .port = port};
}

void bn_http_close(bn_http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    free(h->buf);
    h->buf = NULL;
    h->len = h->cap = 0;
}

static int s_open(bn_http_t *h)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    inet_pton(AF_INET, BN_HOST, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    h->fd = fd;
    h->len = 0;
    return 0;
}

static int s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

//  Reads more bytes into h->buf; -1 on error or EOF.
static int s_fill(bn_http_t *h)
{
    if (h->cap - h->len < 4096) {
        size_t cap = h->cap ? h->cap * 2 : 16384;
        char *grown = realloc(h->buf, cap);
        if (!grown)
            return -1;
        h->buf = grown;
        h->cap = cap;
    }
    ssize_t r;
    do
        r = recv(h->fd, h->buf + h->len, h->cap - h->len - 1, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    h->len += (size_t)r;
    h->buf[h->len] = '\0';
    return 0;
}

//  Reads one whole response; returns its status and sets *resp to its body.
static int s_read_response(bn_http_t *h, char **resp)
{
    char *head_end;
    while (!(h->len && (head_end = strstr(h->buf, "\r\n\r\n"))))
        if (s_fill(h) < 0)
            return -1;
    int status = 0;
    if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t head_len = (size_t)(head_end - h->buf) + 4;
    long long content_length = -1;
    bool chunked = false, closes = false;
    for (char *line = strstr(h->buf, "\r\n") + 2; line < head_end;
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = strtoll(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
            chunked = true;
        else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close") &&
                 strcasestr(line, "close") < strstr(line, "\r\n"))
            closes = true;
    }
    size_t body_len = 0;
    char *body = NULL;
    if (chunked) {
        //  Decode in place after the head: [size CRLF data CRLF]... 0 CRLF CRLF.
        size_t at = head_len;
        body = malloc(1);
        for (int chunks = 0; body && chunks < 100000; chunks++) {
            char *crlf;
            while (!(crlf = strstr(h->buf + at, "\r\n")))
                if (s_fill(h) < 0)
                    goto fail;
            size_t size = strtoull(h->buf + at, NULL, 16);
            size_t data = (size_t)(crlf - h->buf) + 2;
            while (h->len < data + size + 2)
                if (s_fill(h) < 0)
                    goto fail;
            if (size == 0) {
                at = data + 2;
                break;
            }
            char *grown = realloc(body, body_len + size + 1);
            if (!grown)
                goto fail;
            body = grown;
            memcpy(body + body_len, h->buf + data, size);
            body_len += size;
            at = data + size + 2;
        }
        head_len = at; //  consumed
    } else {
        size_t want = content_length < 0 ? 0 : (size_t)content_length;
        while (h->len < head_len + want)
            if (s_fill(h) < 0)
                return -1;
        body = malloc(want + 1);
        if (body)
            memcpy(body, h->buf + head_len, want);
        body_len = want;
        head_len += want;
    }
    if (!body)
        return -1;
    body[body_len] = '\0';
    memmove(h->buf, h->buf + head_len, h->len - head_len);
    h->len -= head_len;
    if (h->buf)
        h->buf[h->len] = '\0';
    if (closes) {
        close(h->fd);
        h->fd = -1;
    }
    *resp = body;
    return status;
fail:
    free(body);
    return -1;
}

int bn_http_request(bn_http_t *h, const char *method, const char *path, const char *token,
                    const char *body, char **resp)
{
    char head[1024];
    size_t body_len = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: " BN_HOST ":%d\r\nConnection: keep-alive\r\n"
                     "%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, h->port, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "", body_len);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (h->fd < 0 && s_open(h) < 0)
            return -1;
        if (s_write_all(h->fd, head, (size_t)n) == 0 &&
            (!body_len || s_write_all(h->fd, body, body_len) == 0)) {
            int status = s_read_response(h, resp);
            if (status > 0)
                return status;
        }
        //  The server may have closed an idle keep-alive connection: reopen once.
        close(h->fd);
        h->fd = -1;
        h->len = 0;
    }
    return -1;
}
