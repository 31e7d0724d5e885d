/*  Tests for password.c. Every test hashes at pl_password_cost_min (ops 1, 8 KiB) to
    stay fast, except default_cost, which checks the production cost once. */
#include "parley/password.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

TestSuite(password, .timeout = 10);

static const pl_password_cost_t s_low = {.ops = 1, .mem_kib = 8};

static void s_hash(const char *password, const pl_password_cost_t *cost,
                   char out[PL_PASSWORD_HASH_MAX])
{
    cr_assert_eq(pl_password_hash(password, strlen(password), cost, out), 0);
}

static bool s_verify(const char *stored, const char *password)
{
    return pl_password_verify(stored, password, strlen(password));
}

Test(password, min_cost_is_libsodium_minimum)
{
    cr_assert_eq(pl_password_cost_min.ops, 1);
    cr_assert_eq(pl_password_cost_min.mem_kib, 8);
    cr_assert_eq(pl_password_cost_default.ops, 2);
    cr_assert_eq(pl_password_cost_default.mem_kib, 64 * 1024);
}

Test(password, hash_and_verify)
{
    char hash[PL_PASSWORD_HASH_MAX];
    s_hash("correct horse battery staple", &s_low, hash);
    cr_assert(strncmp(hash, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0, "hash is %s", hash);
    cr_assert_lt(strlen(hash), PL_PASSWORD_HASH_MAX);
    cr_assert(s_verify(hash, "correct horse battery staple"));
}

Test(password, wrong_password)
{
    char hash[PL_PASSWORD_HASH_MAX];
    s_hash("hunter22", &s_low, hash);
    cr_assert_not(s_verify(hash, "hunter23"));
    cr_assert_not(s_verify(hash, "hunter2"));
    cr_assert_not(s_verify(hash, "Hunter22"));
    cr_assert_not(s_verify(hash, ""));
    cr_assert_not(pl_password_verify(hash, "hunter22", 7), "a prefix is not the password");
}

Test(password, length_is_honoured_not_nul)
{
    //  The password is len bytes; an embedded NUL does not end it.
    static const char with_nul[] = "abc\0def";
    char hash[PL_PASSWORD_HASH_MAX];
    cr_assert_eq(pl_password_hash(with_nul, 7, &s_low, hash), 0);
    cr_assert(pl_password_verify(hash, with_nul, 7));
    cr_assert_not(pl_password_verify(hash, "abc", 3));
    cr_assert_not(pl_password_verify(hash, "abc\0xyz", 7));

    cr_assert_eq(pl_password_hash("", 0, &s_low, hash), 0, "empty password still hashes");
    cr_assert(pl_password_verify(hash, "", 0));
}

Test(password, salted)
{
    char first[PL_PASSWORD_HASH_MAX], second[PL_PASSWORD_HASH_MAX];
    s_hash("same password", &s_low, first);
    s_hash("same password", &s_low, second);
    cr_assert_str_neq(first, second);
    cr_assert(s_verify(first, "same password"));
    cr_assert(s_verify(second, "same password"));
}

Test(password, garbage_stored_string)
{
    char hash[PL_PASSWORD_HASH_MAX];
    s_hash("hunter22", &s_low, hash);

    static const char *const garbage[] = {
        "",
        "garbage",
        "hunter22",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$",
        "$argon2id$v=19$m=8,t=1,p=1$$",
        "$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        cr_assert_not(s_verify(garbage[i], "hunter22"), "stored \"%s\"", garbage[i]);
    cr_assert_not(s_verify(NULL, "hunter22"));

    //  The real hash, cut short or with one character changed.
    char broken[PL_PASSWORD_HASH_MAX];
    size_t len = strlen(hash);
    for (size_t cut = 0; cut < len; cut += 7) {
        memcpy(broken, hash, cut);
        broken[cut] = '\0';
        cr_assert_not(s_verify(broken, "hunter22"), "cut at %zu", cut);
    }
    memcpy(broken, hash, len + 1);
    broken[len - 2] = broken[len - 2] == 'A' ? 'B' : 'A';
    cr_assert_not(s_verify(broken, "hunter22"), "changed digest");

    //  Longer than any hash we write: refused before libsodium reads it.
    char long_stored[300];
    memset(long_stored, 'a', sizeof long_stored - 1);
    memcpy(long_stored, hash, len);
    long_stored[sizeof long_stored - 1] = '\0';
    cr_assert_not(s_verify(long_stored, "hunter22"));
}

Test(password, cost_out_of_range)
{
    char hash[PL_PASSWORD_HASH_MAX] = "sentinel";
    pl_password_cost_t cost = {.ops = 0, .mem_kib = 8};
    cr_assert_eq(pl_password_hash("hunter22", 8, &cost, hash), -1, "ops 0");
    cr_assert_str_empty(hash, "out is emptied on failure");

    cost = (pl_password_cost_t){.ops = 1, .mem_kib = 7};
    cr_assert_eq(pl_password_hash("hunter22", 8, &cost, hash), -1, "below 8 KiB");
    cost = (pl_password_cost_t){.ops = 1, .mem_kib = SIZE_MAX};
    cr_assert_eq(pl_password_hash("hunter22", 8, &cost, hash), -1, "KiB -> bytes overflows");
    cost = (pl_password_cost_t){.ops = 1, .mem_kib = SIZE_MAX / 1024};
    cr_assert_eq(pl_password_hash("hunter22", 8, &cost, hash), -1, "above libsodium's maximum");
    cr_assert_str_empty(hash);
}

Test(password, old_cost_still_verifies)
{
    //  A hash from an older, lower cost carries that cost in its string; raising the
    //  configured cost must not lock its owner out.
    char old_hash[PL_PASSWORD_HASH_MAX], other_hash[PL_PASSWORD_HASH_MAX];
    s_hash("hunter22", &pl_password_cost_min, old_hash);
    pl_password_cost_t other = {.ops = 3, .mem_kib = 16};
    s_hash("hunter22", &other, other_hash);
    cr_assert(strstr(other_hash, "$m=16,t=3,p=1$") != NULL, "hash is %s", other_hash);
    cr_assert(s_verify(old_hash, "hunter22"));
    cr_assert(s_verify(other_hash, "hunter22"));
    cr_assert_not(s_verify(old_hash, "hunter23"));
}

Test(password, default_cost)
{
    char hash[PL_PASSWORD_HASH_MAX];
    s_hash("correct horse battery staple", NULL, hash);
    cr_assert(strncmp(hash, "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0, "hash is %s", hash);
    cr_assert(s_verify(hash, "correct horse battery staple"));
    cr_assert_not(s_verify(hash, "correct horse battery stapler"));
}
