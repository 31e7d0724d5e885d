/*  The helpers every fuzz target shares (fuzz.h): reading the input in pieces and
    stopping on a broken contract. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pl_fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

uint8_t pl_fuzz_byte(pl_fuzz_input_t *in)
{
    return in->at < in->end ? *in->at++ : 0;
}

char *pl_fuzz_copy(const void *data, size_t len)
{
    //  malloc(0) may answer NULL; a piece of nothing is still a piece.
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    return copy;
}

char *pl_fuzz_piece(pl_fuzz_input_t *in, size_t *len)
{
    if (in->at >= in->end)
        return NULL;
    const uint8_t *nul = memchr(in->at, '\0', (size_t)(in->end - in->at));
    size_t n = (size_t)((nul ? nul : in->end) - in->at);
    char *piece = malloc(n + 1);
    if (!piece)
        abort();
    memcpy(piece, in->at, n);
    piece[n] = '\0';
    in->at += n + (nul != NULL);
    if (len)
        *len = n;
    return piece;
}

bool pl_fuzz_same(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

void pl_fuzz_touch(const void *p, size_t len)
{
    const volatile uint8_t *bytes = p;
    for (size_t i = 0; i < len; i++)
        (void)bytes[i];
}
