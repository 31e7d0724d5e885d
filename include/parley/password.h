/*  Password hashing: Argon2id (libsodium crypto_pwhash, ALG_ARGON2ID13) stored as
    libsodium's self-describing string "$argon2id$v=19$m=...,t=...,p=1$salt$hash".
    The string carries its own salt and cost, so raising the cost later still
    verifies every old hash. Thread-safe; each hash or verify allocates mem_kib KiB
    for its duration, so concurrent logins multiply that figure. Never log a
    password or copy it anywhere: these functions only read it. */
#ifndef PARLEY_PASSWORD_H
#define PARLEY_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

//  Size of the buffer a hash string is written to, NUL included; password.c
//  static-asserts it is at least crypto_pwhash_STRBYTES.
#define PL_PASSWORD_HASH_MAX 128

//  Argon2id cost: ops passes over mem_kib KiB of memory.
typedef struct {
    unsigned long long ops;
    size_t mem_kib;
} pl_password_cost_t;

//  The production cost: ops 2, 64 MiB (libsodium's "interactive" level is ops 2,
//  64 MiB too).
extern const pl_password_cost_t pl_password_cost_default;

//  The floor the config may lower the cost to, for benchmarks and tests: ops 1,
//  8 KiB, libsodium's minimum. Far too cheap for real passwords.
extern const pl_password_cost_t pl_password_cost_min;

//  Hashes password (len bytes, any bytes including NUL) with a fresh random salt at
//  cost (NULL means pl_password_cost_default). Returns 0 with a NUL-terminated hash
//  string in out; -1 on failure (out of memory, cost outside libsodium's limits,
//  libsodium not initialisable), in which case out holds the empty string.
int pl_password_hash(const char *password, size_t len, const pl_password_cost_t *cost,
                     char out[PL_PASSWORD_HASH_MAX]);

//  True when password (len bytes) matches stored, a string from pl_password_hash at
//  any cost. False on mismatch, and on a NULL, empty, malformed or over-long stored
//  string. stored comes from our own database and is trusted not to name an absurd
//  cost: a forged "m=4194304" would make this call allocate 4 GiB.
//
//  For a login with an unknown username, call this on a dummy hash made once at
//  start-up with the current cost and ignore the result: the reply and its timing
//  then match a wrong password for a real user.
bool pl_password_verify(const char *stored, const char *password, size_t len);

#endif
