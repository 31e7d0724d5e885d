/*  tests/support/sha1.h
 *
 *  A small SHA-1 (RFC 3174), used only by the WebSocket test client to check
 *  the server's Sec-WebSocket-Accept header. Not for anything security
 *  related: SHA-1 is broken for collision resistance.
 */
#ifndef PARLEY_TEST_SHA1_H
#define PARLEY_TEST_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define PL_SHA1_DIGEST_SIZE 20

//  Writes the SHA-1 digest of len bytes at data into out.
void pl_sha1(const void *data, size_t len, uint8_t out[PL_SHA1_DIGEST_SIZE]);

#endif
