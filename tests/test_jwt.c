/*  Tests for jwt.c: round trips, a known-answer vector computed outside parley
    (python3 hmac/hashlib/base64), every check in pl_jwt_verify's order, and hostile
    input. Tokens the signer would never produce are built here by hand with
    libsodium so each check can be reached on its own. */
#include "parley/jwt.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TestSuite(jwt, .timeout = 10);

static const uint8_t s_key[] = "0123456789abcdef0123456789abcdef";
static const size_t s_key_len = 32;
static const uint8_t s_other_key[] = "fedcba9876543210fedcba9876543210";

#define S_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static char *s_b64(const void *bin, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, S_VARIANT);
    char *out = malloc(size);
    cr_assert_not_null(out);
    sodium_bin2base64(out, size, bin, len, S_VARIANT);
    return out;
}

//  "b64(header).b64(payload).sig" where sig is given as text.
static char *s_join(const char *header_json, const char *payload_json, const char *sig)
{
    char *header = s_b64(header_json, strlen(header_json));
    char *payload = s_b64(payload_json, strlen(payload_json));
    size_t size = strlen(header) + strlen(payload) + strlen(sig) + 3;
    char *token = malloc(size);
    cr_assert_not_null(token);
    snprintf(token, size, "%s.%s.%s", header, payload, sig);
    free(header);
    free(payload);
    return token;
}

//  A token over arbitrary JSON, correctly HMAC-SHA256 signed with key.
static char *s_forge(const char *header_json, const char *payload_json, const uint8_t *key,
                     size_t key_len)
{
    char *unsigned_token = s_join(header_json, payload_json, "");
    size_t signed_len = strlen(unsigned_token) - 1; //  drop the trailing '.'
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, key, key_len);
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)unsigned_token, signed_len);
    crypto_auth_hmacsha256_final(&state, mac);
    char *sig = s_b64(mac, sizeof mac);
    size_t size = strlen(unsigned_token) + strlen(sig) + 1;
    char *token = malloc(size);
    cr_assert_not_null(token);
    snprintf(token, size, "%s%s", unsigned_token, sig);
    free(unsigned_token);
    free(sig);
    return token;
}

static pl_jwt_status_t s_verify(const char *token, int64_t now_s, int64_t *user_id)
{
    return pl_jwt_verify(s_key, s_key_len, token, strlen(token), now_s, user_id);
}

static void s_expect(const char *token, size_t token_len, pl_jwt_status_t want, const char *what)
{
    int64_t user_id = -7;
    pl_jwt_status_t got = pl_jwt_verify(s_key, s_key_len, token, token_len, 1000, &user_id);
    cr_expect_eq(got, want, "%s: got %s, want %s", what, pl_jwt_status_name(got),
                 pl_jwt_status_name(want));
    if (want != PL_JWT_OK)
        cr_expect_eq(user_id, -7, "%s: user_id written on failure", what);
}

static void s_expect_str(const char *token, pl_jwt_status_t want, const char *what)
{
    s_expect(token, strlen(token), want, what);
}

static const char *const s_header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char *const s_payload = "{\"sub\":\"42\",\"iat\":900,\"exp\":2000}";

Test(jwt, round_trip)
{
    char *token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    cr_assert_not_null(token);
    int64_t user_id = 0;
    cr_assert_eq(s_verify(token, 1000, &user_id), PL_JWT_OK);
    cr_assert_eq(user_id, 42);
    cr_assert_eq(s_verify(token, 1059, NULL), PL_JWT_OK, "NULL user_id is allowed");
    free(token);

    token = pl_jwt_sign(s_key, s_key_len, INT64_MAX, 0, 1);
    cr_assert_not_null(token);
    cr_assert_eq(s_verify(token, 0, &user_id), PL_JWT_OK);
    cr_assert_eq(user_id, INT64_MAX);
    free(token);
}

//  Expected tokens from:
//    python3: b64 = urlsafe_b64encode(...).rstrip(b'='); json.dumps(..., separators=(',',':'))
//    sig = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
Test(jwt, known_answer)
{
    static const uint8_t key[] = "parley-known-answer-key-32-bytes";
    char *token = pl_jwt_sign(key, 32, 42, 1700000000, 3600);
    cr_assert_not_null(token);
    cr_assert_str_eq(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
                            ".eyJzdWIiOiI0MiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ"
                            ".BtfgQDTxmnfkyLzH6pUO4tPkwnCV3Nv64gQcIJJaLiY");
    int64_t user_id = 0;
    cr_assert_eq(pl_jwt_verify(key, 32, token, strlen(token), 1700000000, &user_id), PL_JWT_OK);
    cr_assert_eq(user_id, 42);
    free(token);

    //  A 40-byte key (not the 32 the one-shot libsodium API wants) and the largest id.
    static const uint8_t long_key[] = "a-longer-key-of-forty-bytes-for-hmac-kat";
    token = pl_jwt_sign(long_key, 40, INT64_MAX, 0, 60);
    cr_assert_not_null(token);
    cr_assert_str_eq(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
                            ".eyJzdWIiOiI5MjIzMzcyMDM2ODU0Nzc1ODA3IiwiaWF0IjowLCJleHAiOjYwfQ"
                            ".tXr67ZArn3DWoS32exyXkbKdLfs3FzlEOtmvN23NdcQ");
    free(token);
}

Test(jwt, forged_helper_matches_signer)
{
    //  Guards the tests below: s_forge signs exactly as pl_jwt_sign does.
    char *forged =
        s_forge(s_header, "{\"sub\":\"42\",\"iat\":1000,\"exp\":1060}", s_key, s_key_len);
    char *signed_token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    cr_assert_str_eq(forged, signed_token);
    free(forged);
    free(signed_token);
}

Test(jwt, tampered_payload_is_bad_signature)
{
    char *good = s_forge(s_header, s_payload, s_key, s_key_len);
    s_expect_str(good, PL_JWT_OK, "untampered");

    //  Same header and signature, payload with one character changed (sub 42 -> 43).
    char *bad = s_forge(s_header, "{\"sub\":\"43\",\"iat\":900,\"exp\":2000}", s_key, s_key_len);
    const char *good_sig = strrchr(good, '.');
    char *bad_sig = strrchr(bad, '.');
    cr_assert_eq(strlen(good_sig), strlen(bad_sig));
    memcpy(bad_sig, good_sig, strlen(good_sig));
    s_expect_str(bad, PL_JWT_BAD_SIGNATURE, "sub changed under the old signature");
    free(bad);

    //  Header and signature from our key, payload from a token signed by another key.
    char *other = s_forge(s_header, "{\"sub\":\"1\",\"iat\":900,\"exp\":2000}", s_other_key, 32);
    s_expect_str(other, PL_JWT_BAD_SIGNATURE, "token signed by another key");
    const char *good_dot1 = strchr(good, '.');
    const char *other_dot1 = strchr(other, '.');
    const char *other_dot2 = strrchr(other, '.');
    char spliced[512];
    snprintf(spliced, sizeof spliced, "%.*s%.*s%s", (int)(good_dot1 - good), good,
             (int)(other_dot2 - other_dot1), other_dot1, good_sig);
    s_expect_str(spliced, PL_JWT_BAD_SIGNATURE, "payload swapped in from another key's token");
    free(other);
    free(good);
}

Test(jwt, any_single_character_change_is_rejected)
{
    char *token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    size_t len = strlen(token);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x80\xc1\xff";
    for (size_t i = 0; i < len; i++) {
        char saved = token[i];
        for (const char *c = alphabet; *c; c++) {
            if (*c == saved)
                continue;
            token[i] = *c;
            pl_jwt_status_t got = s_verify(token, 1000, NULL);
            cr_assert_neq(got, PL_JWT_OK, "position %zu set to '%c' still verifies", i, *c);
        }
        token[i] = saved;
    }
    cr_assert_eq(s_verify(token, 1000, NULL), PL_JWT_OK);
    free(token);
}

Test(jwt, signature_of_wrong_length_is_bad_signature)
{
    char *token = s_forge(s_header, s_payload, s_key, s_key_len);
    char *sig = strrchr(token, '.') + 1;
    cr_assert_eq(strlen(sig), 43);
    sig[40] = '\0'; //  30 bytes: valid base64url, too short for a MAC
    s_expect_str(token, PL_JWT_BAD_SIGNATURE, "truncated signature");
    sig[0] = '\0';
    s_expect_str(token, PL_JWT_BAD_SIGNATURE, "empty signature with HS256");
    free(token);
}

Test(jwt, non_ascii_bytes_in_signature)
{
    //  libsodium 1.0.18 decodes any byte >= 0x80 as '_'; a signature ending in '_'
    //  spelled with such a byte must still be refused.
    char *token = NULL;
    for (int64_t id = 1; token == NULL; id++) {
        token = pl_jwt_sign(s_key, s_key_len, id, 1000, 60);
        char *sig = strrchr(token, '.') + 1;
        if (strchr(sig, '_') == NULL) {
            free(token);
            token = NULL;
        }
    }
    cr_assert_eq(s_verify(token, 1000, NULL), PL_JWT_OK);
    char *underscore = strchr(strrchr(token, '.'), '_');
    static const char high[] = {(char)0x80, (char)0xc1, (char)0xdf, (char)0xff};
    for (size_t i = 0; i < sizeof high; i++) {
        *underscore = high[i];
        s_expect_str(token, PL_JWT_MALFORMED, "byte >= 0x80 in place of '_'");
    }
    free(token);
}

Test(jwt, expired)
{
    char *token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    cr_assert_eq(s_verify(token, 1059, NULL), PL_JWT_OK);
    cr_assert_eq(s_verify(token, 1060, NULL), PL_JWT_EXPIRED, "exp == now");
    cr_assert_eq(s_verify(token, 1061, NULL), PL_JWT_EXPIRED, "exp < now");
    cr_assert_eq(s_verify(token, INT64_MAX, NULL), PL_JWT_EXPIRED);
    free(token);

    token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 0);
    cr_assert_eq(s_verify(token, 1000, NULL), PL_JWT_EXPIRED, "ttl 0");
    free(token);
    token = pl_jwt_sign(s_key, s_key_len, 42, 1000, -5);
    cr_assert_eq(s_verify(token, 1000, NULL), PL_JWT_EXPIRED, "negative ttl");
    free(token);
}

Test(jwt, wrong_alg)
{
    char *token = s_join("{\"alg\":\"none\",\"typ\":\"JWT\"}", s_payload, "");
    s_expect_str(token, PL_JWT_BAD_ALG, "alg none, empty signature");
    free(token);

    //  Even correctly HMAC-SHA256 signed, a header that does not say HS256 is refused.
    static const char *const headers[] = {
        "{\"alg\":\"none\"}",    "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"typ\":\"JWT\"}",     "{}",
        "{\"alg\":\"hs256\"}",   "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"HS25\"}",    "{\"alg\":\"RS256\"}",
        "{\"alg\":256}",         "{\"alg\":null}",
        "{\"alg\":[\"HS256\"]}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        token = s_forge(headers[i], s_payload, s_key, s_key_len);
        s_expect_str(token, PL_JWT_BAD_ALG, headers[i]);
        free(token);
    }

    //  HS512 with a real HMAC-SHA512 signature.
    char *unsigned_token = s_join("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", s_payload, "");
    uint8_t mac[crypto_auth_hmacsha512_BYTES];
    crypto_auth_hmacsha512_state state;
    crypto_auth_hmacsha512_init(&state, s_key, s_key_len);
    crypto_auth_hmacsha512_update(&state, (const unsigned char *)unsigned_token,
                                  strlen(unsigned_token) - 1);
    crypto_auth_hmacsha512_final(&state, mac);
    char *sig = s_b64(mac, sizeof mac);
    char full[1024];
    snprintf(full, sizeof full, "%s%s", unsigned_token, sig);
    s_expect_str(full, PL_JWT_BAD_ALG, "HS512 signed with HMAC-SHA512");
    free(sig);
    free(unsigned_token);
}

Test(jwt, malformed)
{
    s_expect(NULL, 0, PL_JWT_MALFORMED, "NULL");
    s_expect(NULL, 10, PL_JWT_MALFORMED, "NULL with a length");
    s_expect_str("", PL_JWT_MALFORMED, "empty");
    s_expect_str("a.b", PL_JWT_MALFORMED, "two parts");
    s_expect_str("a.b.c.d", PL_JWT_MALFORMED, "four parts");
    s_expect_str("abc", PL_JWT_MALFORMED, "one part");
    s_expect_str("..", PL_JWT_MALFORMED, "three empty parts");
    s_expect_str("...", PL_JWT_MALFORMED, "four empty parts");
    s_expect_str("!!!.@@@.###", PL_JWT_MALFORMED, "not base64");

    char *good = s_forge(s_header, s_payload, s_key, s_key_len);
    s_expect_str(good, PL_JWT_OK, "control");
    const char *dot1 = strchr(good, '.');
    const char *dot2 = strrchr(good, '.');
    char buf[1024];

    //  Base64 spellings that are not strict unpadded base64url.
    snprintf(buf, sizeof buf, "%.*s=%s", (int)(dot1 - good), good, dot1);
    s_expect_str(buf, PL_JWT_MALFORMED, "padding in header");
    snprintf(buf, sizeof buf, "%s=", good);
    s_expect_str(buf, PL_JWT_MALFORMED, "padding in signature");
    snprintf(buf, sizeof buf, " %s", good);
    s_expect_str(buf, PL_JWT_MALFORMED, "leading space");
    snprintf(buf, sizeof buf, "%s\n", good);
    s_expect_str(buf, PL_JWT_MALFORMED, "trailing newline");
    snprintf(buf, sizeof buf, "%.*s.%s", (int)(dot2 - good), good, good);
    s_expect_str(buf, PL_JWT_MALFORMED, "extra part");

    //  Embedded NUL: the whole buffer is the token, so the NUL is part of it.
    size_t len = strlen(good);
    memcpy(buf, good, len + 1);
    buf[5] = '\0';
    s_expect(buf, len, PL_JWT_MALFORMED, "NUL inside the header");
    memcpy(buf, good, len + 1);
    memcpy(buf + len, "\0xyz", 4);
    s_expect(buf, len + 4, PL_JWT_MALFORMED, "NUL and garbage after the signature");
    memcpy(buf, good, len + 1);
    buf[dot2 - good] = '\0';
    s_expect(buf, len, PL_JWT_MALFORMED, "NUL instead of the second dot");
    free(good);

    //  Header or payload that is not a JSON object, or not JSON at all.
    static const char *const not_objects[] = {
        "[1]", "\"HS256\"", "42", "null", "{", "{\"alg\":\"HS256\"} x", "", "{\"alg\":\"HS256\",}",
    };
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        char *token = s_forge(not_objects[i], s_payload, s_key, s_key_len);
        s_expect_str(token, PL_JWT_MALFORMED, not_objects[i]);
        free(token);
        token = s_forge(s_header, not_objects[i], s_key, s_key_len);
        s_expect_str(token, PL_JWT_MALFORMED, not_objects[i]);
        free(token);
    }

    //  Duplicate keys would let two JSON readers disagree on what was signed.
    char *token = s_forge("{\"alg\":\"none\",\"alg\":\"HS256\"}", s_payload, s_key, s_key_len);
    s_expect_str(token, PL_JWT_MALFORMED, "duplicate alg");
    free(token);
    token = s_forge(s_header, "{\"sub\":\"1\",\"sub\":\"42\",\"exp\":2000}", s_key, s_key_len);
    s_expect_str(token, PL_JWT_MALFORMED, "duplicate sub");
    free(token);

    //  \u0000 inside a JSON string.
    token = s_forge("{\"alg\":\"HS256\\u0000x\"}", s_payload, s_key, s_key_len);
    s_expect_str(token, PL_JWT_MALFORMED, "escaped NUL in alg");
    free(token);
}

Test(jwt, huge_inputs)
{
    char *dots = malloc(10001);
    memset(dots, '.', 10000);
    dots[10000] = '\0';
    s_expect(dots, 10000, PL_JWT_MALFORMED, "10k dots");
    s_expect(dots, 4000, PL_JWT_MALFORMED, "4000 dots (under the length cap)");
    free(dots);

    char *big = malloc(5001);
    memset(big, 'A', 5000);
    big[5000] = '\0';
    s_expect(big, 5000, PL_JWT_MALFORMED, "5000 bytes, no dots");
    free(big);

    //  A correctly signed 5000-byte token is refused for its length alone.
    char payload[4000];
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":2000,\"pad\":\"%03600d\"}", 0);
    char *token = s_forge(s_header, payload, s_key, s_key_len);
    cr_assert_gt(strlen(token), 4096);
    s_expect_str(token, PL_JWT_MALFORMED, "signed token over 4096 bytes");
    free(token);

    //  Nesting deep enough to hit jansson's depth limit, within the length cap.
    char nested[3001];
    memset(nested, '[', 3000);
    nested[3000] = '\0';
    token = s_forge(nested, "{}", s_key, s_key_len);
    cr_assert_leq(strlen(token), 4096);
    s_expect_str(token, PL_JWT_MALFORMED, "3000 nested arrays");
    free(token);
}

Test(jwt, length_cap_is_4096_inclusive)
{
    //  Pad header and payload until the signed token is exactly 4096 bytes long
    //  (not every length is reachable by the payload alone: base64 skips 4k+1).
    char *exact = NULL;
    for (int header_pad = 0; header_pad < 3 && exact == NULL; header_pad++) {
        char header[64];
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%.*s\"}", header_pad, "xxx");
        for (int pad = 2900; pad < 3100 && exact == NULL; pad++) {
            char payload[3300];
            snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":2000,\"pad\":\"%0*d\"}", pad,
                     0);
            char *token = s_forge(header, payload, s_key, s_key_len);
            if (strlen(token) == 4096)
                exact = token;
            else
                free(token);
        }
    }
    cr_assert_not_null(exact, "could not build a 4096-byte token");
    s_expect(exact, 4096, PL_JWT_OK, "exactly 4096 bytes");
    free(exact);
}

Test(jwt, token_need_not_be_nul_terminated)
{
    char *token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    size_t len = strlen(token);
    //  An exactly-sized heap copy: the sanitizer build catches any read past it.
    char *exact = malloc(len);
    memcpy(exact, token, len);
    int64_t user_id = 0;
    cr_assert_eq(pl_jwt_verify(s_key, s_key_len, exact, len, 1000, &user_id), PL_JWT_OK);
    cr_assert_eq(user_id, 42);
    free(exact);

    //  A token followed by more text, as in "Bearer <token>; other=1", verifies on its length.
    char with_tail[512];
    snprintf(with_tail, sizeof with_tail, "%s; other=1", token);
    cr_assert_eq(pl_jwt_verify(s_key, s_key_len, with_tail, len, 1000, NULL), PL_JWT_OK);
    cr_assert_neq(pl_jwt_verify(s_key, s_key_len, with_tail, len - 1, 1000, NULL), PL_JWT_OK,
                  "one byte short");
    free(token);
}

Test(jwt, sub_forms)
{
    char *token = s_forge(s_header, "{\"sub\":42,\"exp\":2000}", s_key, s_key_len);
    int64_t user_id = 0;
    cr_assert_eq(s_verify(token, 1000, &user_id), PL_JWT_OK, "sub as JSON integer");
    cr_assert_eq(user_id, 42);
    free(token);

    token = s_forge(s_header, "{\"sub\":\"9223372036854775807\",\"exp\":2000}", s_key, s_key_len);
    cr_assert_eq(s_verify(token, 1000, &user_id), PL_JWT_OK, "largest int64 as string");
    cr_assert_eq(user_id, INT64_MAX);
    free(token);

    token = s_forge(s_header, "{\"exp\":2000,\"sub\":\"7\",\"extra\":[1,{}]}", s_key, s_key_len);
    cr_assert_eq(s_verify(token, 1000, &user_id), PL_JWT_OK, "unknown claims are ignored");
    cr_assert_eq(user_id, 7);
    free(token);

    static const char *const bad_payloads[] = {
        "{\"sub\":\"-5\",\"exp\":2000}",
        "{\"sub\":\"abc\",\"exp\":2000}",
        "{\"sub\":\"0\",\"exp\":2000}",
        "{\"sub\":\"\",\"exp\":2000}",
        "{\"sub\":\"042\",\"exp\":2000}",
        "{\"sub\":\"+42\",\"exp\":2000}",
        "{\"sub\":\" 42\",\"exp\":2000}",
        "{\"sub\":\"42 \",\"exp\":2000}",
        "{\"sub\":\"4x2\",\"exp\":2000}",
        "{\"sub\":\"9223372036854775808\",\"exp\":2000}",
        "{\"sub\":\"99999999999999999999\",\"exp\":2000}",
        "{\"sub\":0,\"exp\":2000}",
        "{\"sub\":-1,\"exp\":2000}",
        "{\"sub\":42.0,\"exp\":2000}",
        "{\"sub\":true,\"exp\":2000}",
        "{\"sub\":null,\"exp\":2000}",
        "{\"sub\":[\"42\"],\"exp\":2000}",
        "{\"exp\":2000}",
        "{\"sub\":\"42\"}",
        "{\"sub\":\"42\",\"exp\":\"2000\"}",
        "{\"sub\":\"42\",\"exp\":2000.5}",
        "{\"sub\":\"42\",\"exp\":null}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad_payloads / sizeof bad_payloads[0]; i++) {
        token = s_forge(s_header, bad_payloads[i], s_key, s_key_len);
        s_expect_str(token, PL_JWT_MALFORMED, bad_payloads[i]);
        free(token);
    }
}

Test(jwt, check_order)
{
    //  Bad alg wins over a bad signature; a bad signature wins over bad or expired claims.
    char *token = s_forge("{\"alg\":\"none\"}", s_payload, s_other_key, 32);
    s_expect_str(token, PL_JWT_BAD_ALG, "bad alg and bad signature");
    free(token);
    token = s_forge(s_header, "{\"sub\":\"-1\",\"exp\":1}", s_other_key, 32);
    s_expect_str(token, PL_JWT_BAD_SIGNATURE, "bad signature, bad sub, expired");
    free(token);
    token = s_forge(s_header, "{\"sub\":\"-1\",\"exp\":1}", s_key, s_key_len);
    s_expect_str(token, PL_JWT_MALFORMED, "bad sub wins over expired");
    free(token);
}

Test(jwt, short_or_missing_key)
{
    static const uint8_t short_key[] = "only-31-bytes-of-key-material!!";
    cr_assert_null(pl_jwt_sign(short_key, 31, 42, 1000, 60));
    cr_assert_null(pl_jwt_sign(NULL, 32, 42, 1000, 60));
    cr_assert_null(pl_jwt_sign(s_key, 0, 42, 1000, 60));

    //  A token really signed with the short key still never verifies under it.
    char *token = s_forge(s_header, s_payload, short_key, 31);
    cr_assert_eq(pl_jwt_verify(short_key, 31, token, strlen(token), 1000, NULL),
                 PL_JWT_BAD_SIGNATURE);
    cr_assert_eq(pl_jwt_verify(NULL, 0, token, strlen(token), 1000, NULL), PL_JWT_BAD_SIGNATURE);
    free(token);
}

Test(jwt, sign_rejects_bad_arguments)
{
    cr_assert_null(pl_jwt_sign(s_key, s_key_len, 0, 1000, 60), "user id 0");
    cr_assert_null(pl_jwt_sign(s_key, s_key_len, -1, 1000, 60), "negative user id");
    cr_assert_null(pl_jwt_sign(s_key, s_key_len, 42, INT64_MAX, 1), "exp overflows");
    cr_assert_null(pl_jwt_sign(s_key, s_key_len, 42, INT64_MIN, -1), "exp underflows");
    char *token = pl_jwt_sign(s_key, s_key_len, 42, INT64_MAX - 60, 60);
    cr_assert_not_null(token, "exp == INT64_MAX is representable");
    cr_assert_eq(s_verify(token, INT64_MAX - 1, NULL), PL_JWT_OK);
    free(token);
}

//  xorshift64: a fixed seed keeps any failure reproducible.
static uint32_t s_rand(uint64_t *state, uint32_t bound)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state % bound);
}

Test(jwt, random_garbage_never_verifies)
{
    uint64_t rng = 0x9e3779b97f4a7c15u;
    //  Bytes drawn mostly from the token alphabet so many inputs get past the first checks.
    static const char pool[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                               "....eyJ{}\":,\0\xff";
    char buf[600];
    for (int round = 0; round < 20000; round++) {
        size_t len = s_rand(&rng, sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = pool[s_rand(&rng, sizeof pool - 1)];
        int64_t user_id = -7;
        pl_jwt_status_t got = pl_jwt_verify(s_key, s_key_len, buf, len, 1000, &user_id);
        cr_assert_neq(got, PL_JWT_OK);
        cr_assert_eq(user_id, -7);
    }

    //  Random mutations of a valid token: swaps, deletions and duplications.
    char *token = pl_jwt_sign(s_key, s_key_len, 42, 1000, 60);
    size_t token_len = strlen(token);
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, token, token_len);
        size_t len = token_len;
        size_t at = s_rand(&rng, (uint32_t)len);
        switch (s_rand(&rng, 3)) {
        case 0:
            buf[at] = (char)s_rand(&rng, 256);
            break;
        case 1:
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
            break;
        default:
            memmove(buf + at + 1, buf + at, len - at);
            len++;
            break;
        }
        bool same = len == token_len && memcmp(buf, token, len) == 0;
        pl_jwt_status_t got = pl_jwt_verify(s_key, s_key_len, buf, len, 1000, NULL);
        cr_assert(same ? got == PL_JWT_OK : got != PL_JWT_OK, "mutation %d (same %d) gave %s",
                  round, same, pl_jwt_status_name(got));
    }
    free(token);
}

Test(jwt, status_names)
{
    cr_assert_str_eq(pl_jwt_status_name(PL_JWT_OK), "ok");
    cr_assert_str_eq(pl_jwt_status_name(PL_JWT_MALFORMED), "malformed");
    cr_assert_str_eq(pl_jwt_status_name(PL_JWT_BAD_ALG), "bad_alg");
    cr_assert_str_eq(pl_jwt_status_name(PL_JWT_BAD_SIGNATURE), "bad_signature");
    cr_assert_str_eq(pl_jwt_status_name(PL_JWT_EXPIRED), "expired");
    cr_assert_str_eq(pl_jwt_status_name((pl_jwt_status_t)99), "unknown");
}
