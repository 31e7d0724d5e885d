/*  tests/support/ws_client.c
 *
 *  Owns the client side of RFC 6455: the opening handshake (a random
 *  Sec-WebSocket-Key, checked against Sec-WebSocket-Accept with SHA-1),
 *  masked outgoing frames, and an incoming frame parser over a receive
 *  buffer. Bytes that arrived with the handshake answer are the start of that
 *  buffer. A frame is only consumed once it is complete, so a timeout in the
 *  middle of a frame or of a fragmented message loses nothing: the next call
 *  continues where this one stopped. Control frames are handled inside
 *  pl_ws_recv: pings are answered, pongs dropped, a close is echoed.
 */
#include "ws_client.h"
#include "http_client.h"
#include "net.h"
#include "sha1.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_TIMEOUT_MS 5000
#define WS_CLOSE_WAIT 2000
#define READ_SIZE     (64 * 1024)

struct pl_ws {
    int fd;
    //  Received, not yet consumed bytes: data[pos .. len).
    char *rbuf;
    size_t rpos;
    size_t rlen;
    size_t rcap;
    //  A fragmented message being reassembled (frag_opcode 0 = none).
    int frag_opcode;
    char *frag;
    size_t frag_len;
    bool close_sent;
    bool closed; //  close frame received or connection ended
};

//  One parsed frame; payload points into the receive buffer.
typedef struct {
    bool fin;
    int opcode;
    const char *payload;
    size_t len;
} frame_t;

//  Writes the Sec-WebSocket-Accept value expected for key into out (29 bytes).
static void s_expected_accept(const char *key, char out[29])
{
    char joined[128];
    int n = snprintf(joined, sizeof joined, "%s%s", key, WS_GUID);
    uint8_t digest[PL_SHA1_DIGEST_SIZE];
    pl_sha1(joined, (size_t)n, digest);
    sodium_bin2base64(out, 29, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
}

//  True if the comma-separated header value contains token (case-insensitive).
static bool s_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (strncasecmp(p, token, tlen) == 0 &&
            (p[tlen] == '\0' || p[tlen] == ',' || p[tlen] == ' ' || p[tlen] == '\t'))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

static void s_destroy(pl_ws_t *ws)
{
    if (ws->fd >= 0)
        close(ws->fd);
    free(ws->rbuf);
    free(ws->frag);
    free(ws);
}

pl_ws_t *pl_ws_connect(int port, const char *path, const char *extra_headers, int *http_status)
{
    int status_dummy;
    if (!http_status)
        http_status = &status_dummy;
    *http_status = 0;
    if (!path || sodium_init() < 0)
        return NULL;

    uint8_t raw_key[16];
    char key[25];
    randombytes_buf(raw_key, sizeof raw_key);
    sodium_bin2base64(key, sizeof key, raw_key, sizeof raw_key, sodium_base64_VARIANT_ORIGINAL);

    char *request = NULL;
    if (asprintf(&request,
                 "GET %s HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%d\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s\r\n",
                 path, port, key, extra_headers ? extra_headers : "") < 0)
        return NULL;

    char *buf = NULL;
    size_t buf_len = 0, head_len = 0;
    pl_http_response_t head;
    int fd = pl__http_open(port, request, pl_net_now_ms() + WS_TIMEOUT_MS, &buf, &buf_len,
                           &head_len, &head);
    free(request);
    if (fd < 0)
        return NULL;
    if (head.status != 101) {
        *http_status = head.status;
        goto fail;
    }
    char expected[29];
    s_expected_accept(key, expected);
    const char *upgrade = pl_http_header(&head, "Upgrade");
    const char *accept = pl_http_header(&head, "Sec-WebSocket-Accept");
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !accept ||
        strcmp(accept, expected) != 0 ||
        !s_has_token(pl_http_header(&head, "Connection"), "upgrade"))
        goto fail;

    pl_ws_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        goto fail;
    ws->fd = fd;
    //  Whatever followed the head is the start of the frame stream.
    ws->rbuf = buf;
    ws->rcap = buf_len + 1;
    ws->rpos = head_len;
    ws->rlen = buf_len;
    pl_http_response_free(&head);
    *http_status = 101;
    return ws;

fail:
    pl_http_response_free(&head);
    free(buf);
    close(fd);
    return NULL;
}

int pl_ws_send_raw(pl_ws_t *ws, const void *bytes, size_t len)
{
    if (!ws || ws->fd < 0)
        return -1;
    return pl_net_write_all(ws->fd, bytes, len, pl_net_now_ms() + WS_TIMEOUT_MS);
}

size_t pl_ws_frame_encode(uint8_t *out, int opcode, const void *data, size_t len, bool fin)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4];
    randombytes_buf(mask, sizeof mask);
    memcpy(out + n, mask, 4);
    n += 4;
    const uint8_t *src = data;
    for (size_t i = 0; i < len; i++)
        out[n + i] = src[i] ^ mask[i & 3];
    return n + len;
}

int pl_ws_send_frame(pl_ws_t *ws, int opcode, const void *data, size_t len, bool fin)
{
    if (!ws || ws->fd < 0 || opcode < 0 || opcode > 15 || (len > 0 && !data))
        return -1;
    uint8_t *frame = malloc(PL_WS_FRAME_HEAD_MAX + len);
    if (!frame)
        return -1;
    int rc = pl_ws_send_raw(ws, frame, pl_ws_frame_encode(frame, opcode, data, len, fin));
    free(frame);
    return rc;
}

int pl_ws_send_text(pl_ws_t *ws, const char *text, size_t len)
{
    return pl_ws_send_frame(ws, PL_WS_TEXT, text, len, true);
}

int pl_ws_send_json(pl_ws_t *ws, const json_t *msg)
{
    if (!msg)
        return -1;
    char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    int rc = pl_ws_send_text(ws, text, strlen(text));
    free(text);
    return rc;
}

//  Parses the frame at the start of the receive buffer. Returns 1 with *f
//  filled (consumed; payload valid until the next read), 0 if it is not
//  complete yet, -1 on a protocol violation.
static int s_parse_frame(pl_ws_t *ws, frame_t *f)
{
    const uint8_t *p = (const uint8_t *)ws->rbuf + ws->rpos;
    size_t avail = ws->rlen - ws->rpos;
    if (avail < 2)
        return 0;
    if (p[0] & 0x70)
        return -1; //  reserved bits: no extension was negotiated
    if (p[1] & 0x80)
        return -1; //  a server must not mask
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0F;
    uint64_t len = p[1] & 0x7F;
    size_t head = 2;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        head = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        head = 10;
    }
    if (len > PL_WS_MAX_MESSAGE)
        return -1;
    if (f->opcode >= 8 && (len > 125 || !f->fin))
        return -1; //  control frames are short and never fragmented
    if (avail < head + len)
        return 0;
    f->payload = (const char *)p + head;
    f->len = (size_t)len;
    ws->rpos += head + (size_t)len;
    return 1;
}

//  Reads more bytes into the receive buffer by deadline_ms, compacting it
//  first. Returns > 0, 0 on EOF, -1 on error, -2 on timeout.
static ssize_t s_fill(pl_ws_t *ws, int64_t deadline_ms)
{
    if (ws->rpos > 0) {
        memmove(ws->rbuf, ws->rbuf + ws->rpos, ws->rlen - ws->rpos);
        ws->rlen -= ws->rpos;
        ws->rpos = 0;
    }
    if (ws->rcap - ws->rlen < READ_SIZE) {
        size_t cap = ws->rcap ? ws->rcap : READ_SIZE;
        while (cap - ws->rlen < READ_SIZE)
            cap *= 2;
        char *p = realloc(ws->rbuf, cap);
        if (!p)
            return -1;
        ws->rbuf = p;
        ws->rcap = cap;
    }
    ssize_t n = pl_net_read_some(ws->fd, ws->rbuf + ws->rlen, ws->rcap - ws->rlen, deadline_ms);
    if (n > 0)
        ws->rlen += (size_t)n;
    return n;
}

//  Hands a message to the caller as a NUL-terminated copy.
static int s_deliver(int opcode, const char *payload, size_t len, char **data, size_t *len_out)
{
    if (data) {
        char *copy = malloc(len + 1);
        if (!copy)
            return -1;
        if (len > 0)
            memcpy(copy, payload, len);
        copy[len] = '\0';
        *data = copy;
    }
    if (len_out)
        *len_out = len;
    return opcode;
}

//  Handles a control frame. Returns 8 for a close, 0 to go on, -1 on error.
static int s_control(pl_ws_t *ws, const frame_t *f, int *close_code)
{
    if (f->opcode == PL_WS_PING) {
        //  A failed pong is not fatal here: a close frame may still be
        //  waiting in the buffer, and the next read reports the end anyway.
        pl_ws_send_frame(ws, PL_WS_PONG, f->payload, f->len, true);
        return 0;
    }
    if (f->opcode == PL_WS_PONG)
        return 0;
    if (f->opcode != PL_WS_CLOSE || f->len == 1)
        return -1;
    int code = 1005;
    if (f->len >= 2)
        code = (uint8_t)f->payload[0] << 8 | (uint8_t)f->payload[1];
    ws->closed = true;
    if (!ws->close_sent) {
        //  Echo the code, as RFC 6455 section 5.5.1 asks.
        ws->close_sent = true;
        pl_ws_send_frame(ws, PL_WS_CLOSE, f->payload, f->len >= 2 ? 2 : 0, true);
    }
    if (close_code)
        *close_code = code;
    return PL_WS_CLOSE;
}

int pl_ws_recv(pl_ws_t *ws, int timeout_ms, char **data, size_t *len, int *close_code)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!ws || ws->fd < 0 || ws->closed)
        return -1;
    int64_t deadline = pl_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        frame_t f;
        int rc = s_parse_frame(ws, &f);
        if (rc < 0) {
            ws->closed = true;
            return -1;
        }
        if (rc == 0) {
            ssize_t n = s_fill(ws, deadline);
            if (n == -2)
                return 0;
            if (n <= 0) {
                ws->closed = true;
                return -1;
            }
            continue;
        }
        if (f.opcode >= 8) {
            int crc = s_control(ws, &f, close_code);
            if (crc != 0) {
                ws->closed = true;
                return crc;
            }
            continue;
        }
        if (f.opcode == PL_WS_TEXT || f.opcode == PL_WS_BINARY) {
            if (ws->frag_opcode != 0)
                break; //  a new message inside a fragmented one
            if (f.fin)
                return s_deliver(f.opcode, f.payload, f.len, data, len);
            ws->frag_opcode = f.opcode;
        } else if (f.opcode != PL_WS_CONTINUATION || ws->frag_opcode == 0) {
            break; //  unknown opcode, or a continuation of nothing
        }
        if (ws->frag_len + f.len > PL_WS_MAX_MESSAGE)
            break;
        char *grown = realloc(ws->frag, ws->frag_len + f.len + 1);
        if (!grown)
            break;
        ws->frag = grown;
        if (f.len > 0)
            memcpy(ws->frag + ws->frag_len, f.payload, f.len);
        ws->frag_len += f.len;
        if (f.fin) {
            int opcode = ws->frag_opcode;
            ws->frag_opcode = 0;
            int drc = s_deliver(opcode, ws->frag, ws->frag_len, data, len);
            ws->frag_len = 0;
            return drc;
        }
    }
    ws->closed = true;
    return -1;
}

json_t *pl_ws_recv_json(pl_ws_t *ws, int timeout_ms)
{
    char *data = NULL;
    size_t len = 0;
    int op = pl_ws_recv(ws, timeout_ms, &data, &len, NULL);
    json_t *msg = NULL;
    if (op == PL_WS_TEXT)
        msg = json_loadb(data, len, 0, NULL);
    free(data);
    return msg;
}

json_t *pl_ws_recv_type(pl_ws_t *ws, const char *type, int timeout_ms)
{
    if (!type)
        return NULL;
    int64_t deadline = pl_net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        char *data = NULL;
        size_t len = 0;
        int op = pl_ws_recv(ws, pl_net_remaining_ms(deadline), &data, &len, NULL);
        if (op != PL_WS_TEXT && op != PL_WS_BINARY)
            return NULL;
        json_t *msg = op == PL_WS_TEXT ? json_loadb(data, len, 0, NULL) : NULL;
        free(data);
        const char *got = json_string_value(json_object_get(msg, "type"));
        if (got && strcmp(got, type) == 0)
            return msg;
        json_decref(msg);
    }
}

bool pl_ws_is_closed(const pl_ws_t *ws)
{
    return !ws || ws->closed;
}

void pl_ws_close(pl_ws_t **ws_p)
{
    if (!ws_p || !*ws_p)
        return;
    pl_ws_t *ws = *ws_p;
    if (ws->fd >= 0 && !ws->closed) {
        if (!ws->close_sent) {
            const uint8_t normal[2] = {1000 >> 8, 1000 & 0xFF};
            ws->close_sent = true;
            if (pl_ws_send_frame(ws, PL_WS_CLOSE, normal, sizeof normal, true) < 0)
                ws->closed = true;
        }
        //  Wait for the server's close so it has seen ours before we go.
        int64_t deadline = pl_net_now_ms() + WS_CLOSE_WAIT;
        while (!ws->closed) {
            char *data = NULL;
            int rc = pl_ws_recv(ws, pl_net_remaining_ms(deadline), &data, NULL, NULL);
            free(data);
            if (rc <= 0 || rc == PL_WS_CLOSE)
                break;
        }
    }
    s_destroy(ws);
    *ws_p = NULL;
}

void pl_ws_abort(pl_ws_t **ws_p)
{
    if (!ws_p || !*ws_p)
        return;
    s_destroy(*ws_p);
    *ws_p = NULL;
}
