/*  libsodium initialisation, once per process. sodium_init() takes a global lock on
    every call; this takes it only the first time, so hot paths (every authenticated
    request verifies a token) stay lock-free. */
#ifndef PARLEY_SODIUM_READY_H
#define PARLEY_SODIUM_READY_H

#include <stdbool.h>

//  True once libsodium is initialised; false if it cannot be (then fail closed).
bool pl_sodium_ready(void);

#endif
