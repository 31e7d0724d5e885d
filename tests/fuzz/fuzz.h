/*  parley's fuzz targets: one per edge that reads bytes from outside (a client, the
    network, an operator's file), each a plain function in targets/<name>.c that
    takes any bytes, drives that edge's code with them and checks what it answers.
    libFuzzer calls one through entry.c; tests/test_fuzz_corpus.c calls every one on
    each file of its committed corpus (corpus/<name>/), so what the fuzzers once
    found stays fixed. A target returns 0 and stops the process (PL_FUZZ_CHECK) when
    an answer breaks the edge's contract; libFuzzer then keeps the input as a crash.

    The helpers here hand the input out in pieces, always as exact-size heap copies,
    so a read one byte past a piece shows up under ASan. */
#ifndef PARLEY_FUZZ_H
#define PARLEY_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  int pl_fuzz_<name>(const uint8_t *data, size_t size) for every target.
#define PL_FUZZ_TARGET(name) int pl_fuzz_##name(const uint8_t *data, size_t size);
#include "fuzz_targets.inc"
#undef PL_FUZZ_TARGET

//  Stops the process with the failed condition and its place when cond is false.
#define PL_FUZZ_CHECK(cond) ((cond) ? (void)0 : pl_fuzz_fail(__FILE__, __LINE__, #cond))

void pl_fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

//  The input, read from the front.
typedef struct {
    const uint8_t *at, *end;
} pl_fuzz_input_t;

static inline pl_fuzz_input_t pl_fuzz_input(const uint8_t *data, size_t size)
{
    return (pl_fuzz_input_t){data, data + size};
}

//  The next byte, or 0 once the input is used up.
uint8_t pl_fuzz_byte(pl_fuzz_input_t *in);

//  The next piece: the bytes up to the next NUL (which is skipped) or the end, as a
//  NUL-terminated heap string of *len bytes (len may be NULL). NULL once the input
//  is used up. The caller frees it.
char *pl_fuzz_piece(pl_fuzz_input_t *in, size_t *len);

//  An exact-size heap copy of len bytes, with no NUL after them (a valid pointer
//  even for len 0). The caller frees it.
char *pl_fuzz_copy(const void *data, size_t len);

//  Reads each of the len bytes at p, so that a view past its storage shows up under
//  ASan even when nothing else reads it.
void pl_fuzz_touch(const void *p, size_t len);

//  True when the len bytes at a and b are the same (either may be NULL with len 0).
bool pl_fuzz_same(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
