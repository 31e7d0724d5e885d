/*  A sliding-window limiter for rare, costly attempts keyed by a string: failed
    logins per username or per address, sign-ups per address (PROTOCOL.md "Browser
    security"). The window slides in steps of 1/32 of its length. It remembers at
    most `entries` keys, so an attacker cycling names cannot grow it: the stalest key
    is forgotten to make room. Keys are identified by a keyed hash (SipHash) of their
    bytes, never stored. Thread-safe: one lock, held for a few dozen instructions, on
    paths that then spend milliseconds hashing a password. */
#ifndef PARLEY_THROTTLE_H
#define PARLEY_THROTTLE_H

#include "parley/types.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pl_throttle pl_throttle_t;

//  A limiter of `limit` attempts per window_ms for up to `entries` keys. Returns NULL
//  when out of memory or an argument is out of range.
pl_throttle_t *pl_throttle_new(size_t entries, int64_t limit, int64_t window_ms);
void pl_throttle_destroy(pl_throttle_t **self_p);

//  Counts an attempt of key at now (ms) and returns 0, unless key already made
//  `limit` attempts within the window: then counts nothing and returns how many ms
//  remain until it may try again.
int64_t pl_throttle_acquire(pl_throttle_t *self, pl_str_t key, int64_t now);

//  How many ms remain until key may try again (0: it may now); counts nothing.
int64_t pl_throttle_wait(pl_throttle_t *self, pl_str_t key, int64_t now);

//  Takes back the attempt of key counted at `at` (an attempt that turned out fine).
void pl_throttle_cancel(pl_throttle_t *self, pl_str_t key, int64_t at);

//  Forgets every attempt of key.
void pl_throttle_forget(pl_throttle_t *self, pl_str_t key);

#endif
