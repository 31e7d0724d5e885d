/*  SHA-1, base64 and the WebSocket accept value (sha1.c), for parley-bench and the
    raw baseline server alike. */
#ifndef BENCH_SHA1_H
#define BENCH_SHA1_H

#include <stddef.h>
#include <stdint.h>

void bn_sha1(const void *data, size_t len, uint8_t out[20]);
size_t bn_base64(const uint8_t *in, size_t len, char *out);
//  The Sec-WebSocket-Accept for a Sec-WebSocket-Key (at most 60 characters).
void bn_ws_accept_of(const char *key, char out[32]);

#endif
