/*  The WebSocket handshake's Sec-WebSocket-Accept (RFC 6455 section 4.2.2) and the
    base64 it needs, for parley-bench and the raw baseline server alike. SHA-1 itself
    is the test client's (tests/support/sha1.c): one implementation in the tree. */
#include "ws_accept.h"

#include "sha1.h"

#include <string.h>

size_t bn_base64(const uint8_t *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

void bn_ws_accept_of(const char *key, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[128];
    size_t klen = strnlen(key, 60);
    memcpy(joined, key, klen);
    memcpy(joined + klen, guid, sizeof guid - 1);
    uint8_t digest[20];
    pl_sha1(joined, klen + sizeof guid - 1, digest);
    bn_base64(digest, 20, out);
}
