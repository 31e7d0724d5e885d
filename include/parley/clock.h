/*  Wall-clock time as PROTOCOL.md states it: milliseconds since the Unix epoch. */
#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H

#include <stdint.h>

int64_t pl_now_ms(void);

#endif
