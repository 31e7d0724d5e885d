/*  The client side of RFC 6455 for parley-bench: the upgrade request and the check of
    its answer (status 101 and the right Sec-WebSocket-Accept), masked frames out, and
    the parsing of server frames in (7, 16 and 64-bit lengths, fragmented messages
    reassembled, pings answered, a close echoed). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t bn_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static bool s_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need)
        cap2 *= 2;
    char *grown = realloc(*buf, cap2);
    if (!grown)
        return false;
    *buf = grown;
    *cap = cap2;
    return true;
}

void bn_ws_handshake(bn_conn_t *c, const char *path)
{
    uint8_t nonce[16];
    uint64_t a = bn_rand(&c->th->rng), b = bn_rand(&c->th->rng);
    memcpy(nonce, &a, 8);
    memcpy(nonce + 8, &b, 8);
    char key[32];
    bn_base64(nonce, sizeof nonce, key);
    bn_ws_accept_of(key, c->accept);
    size_t need = strlen(path) + 512;
    if (!s_reserve(&c->out, &c->out_cap, c->out_len + need))
        return;
    int n = snprintf(c->out + c->out_len, need,
                     "GET %s HTTP/1.1\r\nHost: " BN_HOST "\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, key);
    if (n > 0 && (size_t)n < need)
        c->out_len += (size_t)n;
}

int bn_ws_handshake_done(bn_conn_t *c)
{
    if (c->in_len < 12)
        return 1;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len > 16384 ? -1 : 1;
    size_t head = (size_t)(end - c->in) + 4;
    int status = 0;
    if (sscanf(c->in, "HTTP/1.1 %d", &status) != 1 || status <= 0)
        return -1;
    if (status != 101)
        return status;
    bool accepted = false;
    for (char *line = memmem(c->in, head, "\r\n", 2) + 2; line < end;) {
        char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0) {
            char *v = line + 21;
            while (*v == ' ')
                v++;
            size_t alen = strlen(c->accept);
            accepted = (size_t)(eol - v) >= alen && memcmp(v, c->accept, alen) == 0;
        }
        line = eol + 2;
    }
    if (!accepted)
        return -1;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    return 0;
}

size_t bn_ws_frame(uint8_t *buf, int opcode, const char *payload, size_t len, uint64_t *rng)
{
    size_t h = 0;
    buf[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        buf[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        buf[h++] = 0x80 | 126;
        buf[h++] = (uint8_t)(len >> 8);
        buf[h++] = (uint8_t)len;
    } else {
        buf[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            buf[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t mask32 = (uint32_t)bn_rand(rng);
    uint8_t mask[4];
    memcpy(mask, &mask32, 4);
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = (uint8_t)payload[i] ^ mask[i & 3];
    return h + len;
}

//  Queues a control frame (pong, close) with the given payload.
static void s_control(bn_conn_t *c, int opcode, const char *payload, size_t len)
{
    if (len > 125)
        len = 125;
    if (!s_reserve(&c->out, &c->out_cap, c->out_len + len + 14))
        return;
    c->out_len += bn_ws_frame((uint8_t *)c->out + c->out_len, opcode, payload, len, &c->th->rng);
    bn_conn_flush(c);
}

static int s_message(bn_conn_t *c, const bn_handlers_t *h, int opcode, const char *p, size_t n)
{
    if (opcode == 1 && c->th->run->o->proto == BN_SOCKETIO)
        bn_sio_packet(c, h, p, n);
    else if (opcode == 1)
        h->on_text(c, p, n);
    return 0; //  binary messages are not part of the protocol; ignore them
}

int bn_ws_read_frames(bn_conn_t *c, const bn_handlers_t *h)
{
    size_t at = 0;
    int rc = 0;
    while (c->in_len - at >= 2) {
        const uint8_t *p = (const uint8_t *)c->in + at;
        size_t avail = c->in_len - at;
        bool fin = p[0] & 0x80;
        int opcode = p[0] & 0x0f;
        bool masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7f;
        size_t head = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            head = 10;
        }
        if (len > BN_MAX_FRAME || masked) {
            bn_stat_error(c->th, "conn %d: server frame of %llu bytes%s", c->idx,
                          (unsigned long long)len, masked ? " masked" : "");
            return -1;
        }
        if (avail < head + len)
            break;
        const char *payload = (const char *)p + head;
        at += head + len;
        if (opcode >= 8) {
            if (opcode == 8) { //  close: echo the status code, then we are done
                c->close_code = len >= 2 ? (uint8_t)payload[0] << 8 | (uint8_t)payload[1] : 1005;
                s_control(c, 8, payload, len >= 2 ? 2 : 0);
                rc = -1;
                break;
            }
            if (opcode == 9)
                s_control(c, 10, payload, len);
            continue;
        }
        if (opcode != 0 && c->msg_len == 0 && fin) {
            s_message(c, h, opcode, payload, len);
            continue;
        }
        if ((opcode == 0) != (c->msg_opcode != 0) || c->msg_len + len > BN_MAX_FRAME) {
            bn_stat_error(c->th, "conn %d: bad fragment (opcode %d)", c->idx, opcode);
            return -1;
        }
        if (opcode != 0)
            c->msg_opcode = opcode;
        if (!s_reserve(&c->msg, &c->msg_cap, c->msg_len + len))
            return -1;
        memcpy(c->msg + c->msg_len, payload, len);
        c->msg_len += len;
        if (fin) {
            s_message(c, h, c->msg_opcode, c->msg, c->msg_len);
            c->msg_len = 0;
            c->msg_opcode = 0;
        }
    }
    if (at) {
        memmove(c->in, c->in + at, c->in_len - at);
        c->in_len -= at;
    }
    return rc;
}
