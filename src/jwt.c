/*  HS256 JSON Web Tokens. Owns the token wire format: base64url (no padding) of a
    compact JSON header, the same of a compact JSON payload, and the base64url
    HMAC-SHA256 of the first two parts joined by a dot.

    Verification treats the token as hostile bytes of a known length: it never relies
    on a terminating NUL, refuses any byte outside the base64url alphabet and '.'
    before decoding, decodes into one fixed stack buffer (decoded parts are never
    longer than their text, and the text is capped at PL_JWT_MAX_LEN), and parses JSON
    with duplicate keys rejected so that no two readers can disagree on "alg" or "sub".
    The header is only parsed, not trusted, before the MAC is checked; nothing from the
    payload is believed until the MAC matches. */
#include "parley/jwt.h"

#include "parley/sodium_ready.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static void s_mac(uint8_t out[crypto_auth_hmacsha256_BYTES], const uint8_t *key, size_t key_len,
                  const char *msg, size_t msg_len)
{
    //  The one-shot crypto_auth_hmacsha256() only takes 32-byte keys; the streaming
    //  form takes any length, as RFC 2104 does.
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, key, key_len);
    crypto_auth_hmacsha256_update(&state, (const unsigned char *)msg, msg_len);
    crypto_auth_hmacsha256_final(&state, out);
    sodium_memzero(&state, sizeof state);
}

//  Base64url text of a compact JSON dump of value, or NULL. Consumes value.
static char *s_encode_json(json_t *value)
{
    if (value == NULL)
        return NULL;
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (text == NULL)
        return NULL;
    size_t text_len = strlen(text);
    size_t b64_size = sodium_base64_ENCODED_LEN(text_len, S_VARIANT);
    char *b64 = malloc(b64_size);
    if (b64 != NULL)
        sodium_bin2base64(b64, b64_size, (const unsigned char *)text, text_len, S_VARIANT);
    free(text);
    return b64;
}

char *pl_jwt_sign(const uint8_t *key, size_t key_len, int64_t user_id, int64_t now_s, int64_t ttl_s)
{
    if (!pl_sodium_ready() || key == NULL || key_len < PL_JWT_KEY_MIN || user_id <= 0)
        return NULL;
    if ((ttl_s > 0 && now_s > INT64_MAX - ttl_s) || (ttl_s < 0 && now_s < INT64_MIN - ttl_s))
        return NULL;

    //  sub is a string because RFC 7519 defines it as a StringOrURI, and because
    //  JavaScript clients would round ids above 2^53 if it were a number.
    char sub[24];
    snprintf(sub, sizeof sub, "%" PRId64, user_id);
    char *header = s_encode_json(json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT"));
    char *payload = s_encode_json(json_pack("{s:s, s:I, s:I}", "sub", sub, "iat", (json_int_t)now_s,
                                            "exp", (json_int_t)(now_s + ttl_s)));
    char *token = NULL;
    if (header == NULL || payload == NULL)
        goto done;

    size_t header_len = strlen(header);
    size_t payload_len = strlen(payload);
    size_t sig_size = sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, S_VARIANT);
    token = malloc(header_len + 1 + payload_len + 1 + sig_size);
    if (token == NULL)
        goto done;
    size_t signed_len = header_len + 1 + payload_len;
    memcpy(token, header, header_len);
    token[header_len] = '.';
    memcpy(token + header_len + 1, payload, payload_len);

    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    s_mac(mac, key, key_len, token, signed_len);
    token[signed_len] = '.';
    sodium_bin2base64(token + signed_len + 1, sig_size, mac, sizeof mac, S_VARIANT);

done:
    free(header);
    free(payload);
    return token;
}

//  True when text holds only base64url characters and dots. libsodium 1.0.18's
//  decoder reads input through a signed char and takes every byte >= 0x80 for '_',
//  which would give one signature many spellings; this check comes first.
static bool s_is_token_text(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

//  Decodes strict unpadded base64url of text already passed by s_is_token_text.
//  libsodium rejects non-zero trailing bits, so every byte string has exactly one
//  accepted spelling.
static bool s_b64_decode(uint8_t *out, size_t out_max, const char *in, size_t in_len,
                         size_t *out_len)
{
    return sodium_base642bin(out, out_max, in, in_len, NULL, out_len, NULL, S_VARIANT) == 0;
}

static json_t *s_parse_object(const uint8_t *bytes, size_t len)
{
    json_error_t error;
    json_t *value = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &error);
    if (value != NULL && !json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

static bool s_alg_is_hs256(const json_t *header)
{
    const json_t *alg = json_object_get(header, "alg");
    return json_is_string(alg) && json_string_length(alg) == 5 &&
           memcmp(json_string_value(alg), "HS256", 5) == 0;
}

//  A positive int64, either a JSON integer or the canonical decimal string we sign.
//  Leading zeros and signs are refused so that one id has exactly one spelling.
static bool s_parse_sub(const json_t *sub, int64_t *out)
{
    if (json_is_integer(sub)) {
        json_int_t value = json_integer_value(sub);
        if (value <= 0 || value > INT64_MAX)
            return false;
        *out = (int64_t)value;
        return true;
    }
    if (!json_is_string(sub))
        return false;
    const char *text = json_string_value(sub);
    size_t len = json_string_length(sub);
    if (len == 0 || len > 19 || text[0] == '0')
        return false;
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        int digit = text[i] - '0';
        if (value > (INT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

pl_jwt_status_t pl_jwt_verify(const uint8_t *key, size_t key_len, const char *token,
                              size_t token_len, int64_t now_s, int64_t *user_id)
{
    if (token == NULL || token_len == 0 || token_len > PL_JWT_MAX_LEN ||
        !s_is_token_text(token, token_len))
        return PL_JWT_MALFORMED;
    const char *end = token + token_len;
    const char *dot1 = memchr(token, '.', token_len);
    if (dot1 == NULL)
        return PL_JWT_MALFORMED;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        return PL_JWT_MALFORMED;

    //  All three decoded parts fit one after another: each is shorter than its text.
    uint8_t bin[PL_JWT_MAX_LEN];
    size_t header_len, payload_len, sig_len;
    uint8_t *header_bin = bin;
    if (!s_b64_decode(header_bin, sizeof bin, token, (size_t)(dot1 - token), &header_len))
        return PL_JWT_MALFORMED;
    uint8_t *payload_bin = header_bin + header_len;
    if (!s_b64_decode(payload_bin, sizeof bin - header_len, dot1 + 1, (size_t)(dot2 - dot1 - 1),
                      &payload_len))
        return PL_JWT_MALFORMED;
    uint8_t *sig_bin = payload_bin + payload_len;
    if (!s_b64_decode(sig_bin, sizeof bin - header_len - payload_len, dot2 + 1,
                      (size_t)(end - dot2 - 1), &sig_len))
        return PL_JWT_MALFORMED;

    pl_jwt_status_t status = PL_JWT_MALFORMED;
    json_t *header = s_parse_object(header_bin, header_len);
    json_t *payload = s_parse_object(payload_bin, payload_len);
    if (header == NULL || payload == NULL)
        goto done;

    status = PL_JWT_BAD_ALG;
    if (!s_alg_is_hs256(header))
        goto done;

    //  Fail closed: a short key or an uninitialised libsodium never yields OK.
    status = PL_JWT_BAD_SIGNATURE;
    if (!pl_sodium_ready() || key == NULL || key_len < PL_JWT_KEY_MIN ||
        sig_len != crypto_auth_hmacsha256_BYTES)
        goto done;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    s_mac(mac, key, key_len, token, (size_t)(dot2 - token));
    if (sodium_memcmp(mac, sig_bin, sizeof mac) != 0)
        goto done;

    status = PL_JWT_MALFORMED;
    const json_t *exp = json_object_get(payload, "exp");
    int64_t sub;
    if (!json_is_integer(exp) || !s_parse_sub(json_object_get(payload, "sub"), &sub))
        goto done;

    status = PL_JWT_EXPIRED;
    if ((int64_t)json_integer_value(exp) <= now_s)
        goto done;

    status = PL_JWT_OK;
    if (user_id != NULL)
        *user_id = sub;

done:
    json_decref(header);
    json_decref(payload);
    return status;
}

const char *pl_jwt_status_name(pl_jwt_status_t status)
{
    switch (status) {
    case PL_JWT_OK:
        return "ok";
    case PL_JWT_MALFORMED:
        return "malformed";
    case PL_JWT_BAD_ALG:
        return "bad_alg";
    case PL_JWT_BAD_SIGNATURE:
        return "bad_signature";
    case PL_JWT_EXPIRED:
        return "expired";
    }
    return "unknown";
}
