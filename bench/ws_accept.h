/*  Base64 and the WebSocket accept value (ws_accept.c), for parley-bench and the raw
    baseline server alike. */
#ifndef BENCH_WS_ACCEPT_H
#define BENCH_WS_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

size_t bn_base64(const uint8_t *in, size_t len, char *out);
//  The Sec-WebSocket-Accept for a Sec-WebSocket-Key (at most 60 characters).
void bn_ws_accept_of(const char *key, char out[32]);

#endif
