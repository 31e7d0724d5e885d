/*  The client side of Server-Sent Events for parley-bench: the GET of a stream, the
    check of its answer (200), and the splitting of the stream into events, whose
    data lines go to the scenario as text messages. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bn_sse_request(bn_conn_t *c, const char *path)
{
    size_t need = strlen(path) + 128;
    if (c->out_cap < c->out_len + need) {
        char *grown = realloc(c->out, c->out_len + need);
        if (!grown)
            return;
        c->out = grown;
        c->out_cap = c->out_len + need;
    }
    int n =
        snprintf(c->out + c->out_len, need,
                 "GET %s HTTP/1.1\r\nHost: " BN_HOST "\r\nAccept: text/event-stream\r\n\r\n", path);
    if (n > 0 && (size_t)n < need)
        c->out_len += (size_t)n;
}

int bn_sse_head_done(bn_conn_t *c)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len > 16384 ? -1 : 1;
    int status = 0;
    if (sscanf(c->in, "HTTP/1.1 %d", &status) != 1 || status <= 0)
        return -1;
    if (status != 200)
        return status;
    size_t head = (size_t)(end - c->in) + 4;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    return 0;
}

void bn_sse_read_events(bn_conn_t *c, const bn_handlers_t *h)
{
    size_t done = 0;
    for (;;) {
        char *block = c->in + done;
        char *end = memmem(block, c->in_len - done, "\n\n", 2);
        if (!end)
            break;
        for (char *line = block; line < end;) {
            char *eol = memchr(line, '\n', (size_t)(end - line));
            if (!eol)
                eol = end;
            if ((size_t)(eol - line) > 6 && memcmp(line, "data: ", 6) == 0)
                h->on_text(c, line + 6, (size_t)(eol - line - 6));
            line = eol + 1;
        }
        done = (size_t)(end - c->in) + 2;
        if (c->state != BN_OPEN)
            return;
    }
    memmove(c->in, c->in + done, c->in_len - done);
    c->in_len -= done;
}
