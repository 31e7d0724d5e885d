/*  Time: the wall clock as PROTOCOL.md states it (milliseconds since the Unix
    epoch), and a monotonic clock for measuring how long something took. */
#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H

#include <stdint.h>

int64_t pl_now_ms(void);

//  Nanoseconds on a clock that never jumps; only differences mean anything.
int64_t pl_now_ns(void);

//  pl_now_ns in milliseconds: for windows and budgets, which a wall clock stepped back
//  would stretch.
static inline int64_t pl_mono_ms(void)
{
    return pl_now_ns() / 1000000;
}

#endif
