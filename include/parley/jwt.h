/*  JSON Web Tokens for login sessions: HS256 only (RFC 7519 with RFC 7518 section
    3.2), payload {"sub", "iat", "exp"}. Pure functions with no global state beyond
    libsodium's one-time initialisation, so any thread may call them at any time.
    Never log a token: it is a bearer credential. */
#ifndef PARLEY_JWT_H
#define PARLEY_JWT_H

#include <stddef.h>
#include <stdint.h>

//  Shortest key accepted. RFC 7518 3.2 requires a key at least as long as the hash
//  output; the jwt_secret config option enforces the same bound.
#define PL_JWT_KEY_MIN 32

//  Longest token pl_jwt_verify will look at; anything longer is PL_JWT_MALFORMED.
//  Our own tokens are about 150 bytes.
#define PL_JWT_MAX_LEN 4096

typedef enum {
    PL_JWT_OK = 0,
    PL_JWT_MALFORMED,     //  not three base64url parts of JSON objects, or bad claims
    PL_JWT_BAD_ALG,       //  header alg is not exactly "HS256"
    PL_JWT_BAD_SIGNATURE, //  MAC mismatch (or key shorter than PL_JWT_KEY_MIN)
    PL_JWT_EXPIRED        //  exp <= now
} pl_jwt_status_t;

//  Signs header {"alg":"HS256","typ":"JWT"} and payload
//  {"sub":"<user_id as decimal string>","iat":now_s,"exp":now_s+ttl_s}.
//  Returns a malloc'd NUL-terminated token; the caller owns it and frees it with free().
//  Returns NULL on allocation failure, when key_len < PL_JWT_KEY_MIN, when user_id is
//  not positive, when now_s + ttl_s overflows, or if libsodium cannot initialise.
char *pl_jwt_sign(const uint8_t *key, size_t key_len, int64_t user_id, int64_t now_s,
                  int64_t ttl_s);

//  Verifies token (token_len bytes; it need not be NUL-terminated and may hold any
//  bytes). Checks, in this order, and returns the first that fails:
//    - structure: at most PL_JWT_MAX_LEN bytes, exactly three base64url parts (no
//      padding), header and payload JSON objects without duplicate keys -> MALFORMED
//    - header "alg" is exactly "HS256" ("none", "HS512", missing...) -> BAD_ALG
//    - HMAC-SHA256 of "header.payload" under key, compared in constant time; a key
//      shorter than PL_JWT_KEY_MIN never verifies -> BAD_SIGNATURE
//    - payload "exp" is a JSON integer and "sub" is a positive int64, either as a
//      canonical decimal string ("42", not "042" or "+42") or a JSON integer
//      -> MALFORMED
//    - exp <= now_s -> EXPIRED
//  On PL_JWT_OK writes the user id to *user_id (if user_id is not NULL); otherwise
//  leaves *user_id untouched. Safe on any input; a NULL token is MALFORMED.
pl_jwt_status_t pl_jwt_verify(const uint8_t *key, size_t key_len, const char *token,
                              size_t token_len, int64_t now_s, int64_t *user_id);

//  A short stable name for logs and metrics: "ok", "malformed", "bad_alg",
//  "bad_signature", "expired"; "unknown" for a value outside the enum.
const char *pl_jwt_status_name(pl_jwt_status_t status);

#endif
