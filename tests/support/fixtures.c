/*  tests/support/fixtures.c
 *
 *  Owns the repeated set-up steps of end-to-end tests, built on the HTTP and
 *  WebSocket clients: request bodies are built with jansson (so any name is
 *  escaped correctly) and the {"user", "token"} answer of signup and login is
 *  unpacked for the caller.
 */
#include "fixtures.h"
#include "http_client.h"
#include "net.h"

#include <ctype.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 32

//  Posts body (stolen) to path and unpacks {"user": {"id"}, "token"} when the
//  status is ok_status. Returns the status or -1.
static int s_auth_call(int port, const char *path, json_t *body, int ok_status, char **token_out,
                       int64_t *user_id_out)
{
    if (token_out)
        *token_out = NULL;
    if (user_id_out)
        *user_id_out = 0;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return -1;
    pl_http_response_t r;
    int rc = pl_http_json(port, "POST", path, NULL, text, &r);
    free(text);
    if (rc < 0)
        return -1;
    int status = r.status;
    if (status == ok_status) {
        const char *token = json_string_value(json_object_get(r.json, "token"));
        json_t *id = json_object_get(json_object_get(r.json, "user"), "id");
        if (token_out && token)
            *token_out = strdup(token);
        if (user_id_out && json_is_integer(id))
            *user_id_out = (int64_t)json_integer_value(id);
    }
    pl_http_response_free(&r);
    return status;
}

int pl_fx_signup(int port, const char *username, const char *password, const char *display_name,
                 char **token_out, int64_t *user_id_out)
{
    json_t *body = NULL;
    if (username && password)
        body = json_pack("{s:s, s:s, s:s}", "username", username, "password", password,
                         "display_name", display_name ? display_name : username);
    return s_auth_call(port, "/api/auth/signup", body, 201, token_out, user_id_out);
}

int pl_fx_login(int port, const char *username, const char *password, char **token_out,
                int64_t *user_id_out)
{
    json_t *body = NULL;
    if (username && password)
        body = json_pack("{s:s, s:s}", "username", username, "password", password);
    return s_auth_call(port, "/api/auth/login", body, 200, token_out, user_id_out);
}

//  Appends v in base 36 to out at *n (at most 13 digits for 64 bits).
static void s_base36(char *out, size_t *n, uint64_t v)
{
    char digits[16];
    size_t k = 0;
    do {
        digits[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v > 0);
    while (k > 0)
        out[(*n)++] = digits[--k];
}

char *pl_fx_unique_name(const char *prefix)
{
    static atomic_uint_fast64_t counter;
    if (sodium_init() < 0)
        return NULL;

    //  Suffix: pid, a per-process counter and two random characters.
    char suffix[40];
    size_t s = 0;
    s_base36(suffix, &s, (uint64_t)getpid());
    suffix[s++] = '_';
    s_base36(suffix, &s, atomic_fetch_add(&counter, 1));
    for (int i = 0; i < 2; i++)
        suffix[s++] = "0123456789abcdefghijklmnopqrstuvwxyz"[randombytes_uniform(36)];
    suffix[s] = '\0';

    char *name = malloc(NAME_MAX_LEN + 1);
    if (!name)
        return NULL;
    size_t n = 0;
    size_t room = NAME_MAX_LEN - 1 - s;
    for (const char *p = prefix ? prefix : ""; *p && n < room; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        name[n++] = (isdigit(c) || (c >= 'a' && c <= 'z')) ? (char)c : '_';
    }
    if (n > 0)
        name[n++] = '_';
    memcpy(name + n, suffix, s + 1);
    return name;
}

pl_ws_t *pl_fx_ws_connect(int port, const char *token, int *http_status)
{
    char *path = NULL;
    if (!token || asprintf(&path, "/ws?token=%s", token) < 0) {
        if (http_status)
            *http_status = 0;
        return NULL;
    }
    pl_ws_t *ws = pl_ws_connect(port, path, NULL, http_status);
    free(path);
    return ws;
}

pl_ws_t *pl_fx_ws_connect_when_free(int port, const char *token, int timeout_ms, int *http_status)
{
    int64_t deadline = pl_net_now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pl_ws_t *ws = pl_fx_ws_connect(port, token, &status);
        if (http_status)
            *http_status = status;
        if (ws || status != 503 || pl_net_now_ms() >= deadline)
            return ws;
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
}

const unsigned char pl_fx_png[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',  'H',  'D',  'R',  0,
    0,    0,   1,   0,   0,    0,    1,    8,    6, 0, 0, 0,  0x1f, 0x15, 0xc4, 0x89,
};
const size_t pl_fx_png_len = sizeof pl_fx_png;

int pl_fx_upload(int port, const char *token, const char *content_type, const void *body,
                 size_t len, char **url_out)
{
    if (url_out)
        *url_out = NULL;
    char *extra = NULL;
    if (asprintf(&extra, "Content-Type: %s\r\n%s%s%s", content_type,
                 token ? "Authorization: Bearer " : "", token ? token : "",
                 token ? "\r\n" : "") < 0)
        return -1;
    pl_http_response_t r;
    int rc = pl_http_request(port, "POST", "/api/uploads", extra, body, len, &r);
    free(extra);
    if (rc < 0)
        return -1;
    const char *url = json_string_value(json_object_get(r.json, "url"));
    if (r.status == 201 && url && url_out)
        *url_out = strdup(url);
    int status = r.status;
    pl_http_response_free(&r);
    return status;
}

bool pl_fx_titles_are(const json_t *contents, va_list titles, char *why, size_t why_size)
{
    size_t i = 0;
    for (const char *title; (title = va_arg(titles, const char *)); i++) {
        const char *got = json_string_value(json_object_get(json_array_get(contents, i), "title"));
        if (!got || strcmp(got, title) != 0) {
            snprintf(why, why_size, "result %zu is %s, expected %s", i, got ? got : "missing",
                     title);
            return false;
        }
    }
    if (json_array_size(contents) != i) {
        snprintf(why, why_size, "%zu results, expected %zu", json_array_size(contents), i);
        return false;
    }
    return true;
}
