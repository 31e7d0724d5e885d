/*  Password hashing with Argon2id. Owns the choice of algorithm and the shape of
    the stored string; the cost comes from the caller (the config), the salt from
    libsodium's CSPRNG. Verification reads the algorithm and cost back out of the
    stored string, which is why old hashes survive a cost change. */
#include "parley/password.h"

#include "parley/sodium_ready.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

_Static_assert(PL_PASSWORD_HASH_MAX >= crypto_pwhash_STRBYTES,
               "PL_PASSWORD_HASH_MAX must hold crypto_pwhash_str output");

const pl_password_cost_t pl_password_cost_default = {.ops = 2, .mem_kib = 64 * 1024};
const pl_password_cost_t pl_password_cost_min = {.ops = crypto_pwhash_argon2id_OPSLIMIT_MIN,
                                                 .mem_kib =
                                                     crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024};

int pl_password_hash(const char *password, size_t len, const pl_password_cost_t *cost,
                     char out[PL_PASSWORD_HASH_MAX])
{
    out[0] = '\0';
    if (cost == NULL)
        cost = &pl_password_cost_default;
    //  libsodium checks its own limits; this only guards the KiB -> bytes product.
    if (!pl_sodium_ready() || cost->mem_kib > SIZE_MAX / 1024)
        return -1;
    if (crypto_pwhash_str_alg(out, password, len, cost->ops, cost->mem_kib * 1024,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

bool pl_password_verify(const char *stored, const char *password, size_t len)
{
    //  libsodium reads stored up to its NUL with strlen(); refuse anything that
    //  could not have come from pl_password_hash before it gets there.
    if (stored == NULL || stored[0] == '\0' ||
        strnlen(stored, PL_PASSWORD_HASH_MAX) >= PL_PASSWORD_HASH_MAX)
        return false;
    if (!pl_sodium_ready())
        return false;
    return crypto_pwhash_str_verify(stored, password, len) == 0;
}
