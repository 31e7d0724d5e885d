/*  Target jwt: JWT parsing and verification (src/jwt.c). The first byte picks how
    the rest is used:
      0: as a token, verified as it is; without our key's MAC it must never be OK.
      1: as a header and a payload (JSON or not, split at a NUL), each base64url-
         encoded and signed with our key, so that the fuzzer gets past the MAC to the
         claims: a correctly signed token is never BAD_SIGNATURE, and an OK one names
         a positive user.
      2: as a user id, a time and a lifetime for pl_jwt_sign: what it signs verifies
         as that user until it expires, and never under another key. */
#include "fuzz.h"

#include "parley/jwt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NOW_S 1700000000

static const uint8_t s_key[] = "a fuzzing key of at least thirty-two bytes";
static const uint8_t s_other_key[] = "another key, also thirty-two bytes or more";

static void s_verify_as_is(const uint8_t *data, size_t size)
{
    char *token = pl_fuzz_copy(data, size);
    int64_t user = -7;
    pl_jwt_status_t status = pl_jwt_verify(s_key, sizeof s_key - 1, token, size, NOW_S, &user);
    PL_FUZZ_CHECK(status != PL_JWT_OK && user == -7);
    PL_FUZZ_CHECK(strcmp(pl_jwt_status_name(status), "unknown") != 0);
    free(token);
}

//  Appends the base64url of len bytes to out at *at.
static void s_append_b64(char *out, size_t *at, const void *bytes, size_t len)
{
    size_t room = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(out + *at, room, bytes, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *at += strlen(out + *at);
}

static void s_verify_signed(pl_fuzz_input_t *in)
{
    size_t header_len, payload_len;
    char *header = pl_fuzz_piece(in, &header_len);
    char *payload = pl_fuzz_piece(in, &payload_len);
    if (!header || !payload)
        goto done;
    size_t size = 2 * (header_len + payload_len) + 128;
    char *token = malloc(size);
    if (!token)
        abort();
    size_t len = 0;
    s_append_b64(token, &len, header, header_len);
    token[len++] = '.';
    s_append_b64(token, &len, payload, payload_len);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, s_key, sizeof s_key - 1);
    crypto_auth_hmacsha256_update(&state, (const uint8_t *)token, len);
    crypto_auth_hmacsha256_final(&state, mac);
    token[len++] = '.';
    s_append_b64(token, &len, mac, sizeof mac);
    char *exact = pl_fuzz_copy(token, len);
    int64_t user = -7;
    pl_jwt_status_t status = pl_jwt_verify(s_key, sizeof s_key - 1, exact, len, NOW_S, &user);
    PL_FUZZ_CHECK(status != PL_JWT_BAD_SIGNATURE || len > PL_JWT_MAX_LEN);
    PL_FUZZ_CHECK(status == PL_JWT_OK ? user > 0 : user == -7);
    free(exact);
    free(token);
done:
    free(header);
    free(payload);
}

static int64_t s_int64(pl_fuzz_input_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | pl_fuzz_byte(in);
    return (int64_t)value;
}

static void s_sign_and_verify(pl_fuzz_input_t *in)
{
    int64_t user = s_int64(in), now = s_int64(in), ttl = s_int64(in);
    char *token = pl_jwt_sign(s_key, sizeof s_key - 1, user, now, ttl);
    if (!token)
        return;
    size_t len = strlen(token);
    int64_t got = 0;
    pl_jwt_status_t status = pl_jwt_verify(s_key, sizeof s_key - 1, token, len, now, &got);
    PL_FUZZ_CHECK(ttl > 0 ? status == PL_JWT_OK && got == user : status == PL_JWT_EXPIRED);
    PL_FUZZ_CHECK(pl_jwt_verify(s_key, sizeof s_key - 1, token, len, now + ttl, NULL) ==
                  PL_JWT_EXPIRED);
    PL_FUZZ_CHECK(pl_jwt_verify(s_other_key, sizeof s_other_key - 1, token, len, now, NULL) ==
                  PL_JWT_BAD_SIGNATURE);
    free(token);
}

int pl_fuzz_jwt(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    switch (pl_fuzz_byte(&in) % 3) {
    case 0:
        s_verify_as_is(in.at, (size_t)(in.end - in.at));
        break;
    case 1:
        s_verify_signed(&in);
        break;
    default:
        s_sign_and_verify(&in);
    }
    return 0;
}
