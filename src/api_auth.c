/*  Sign-up, login and logout (PROTOCOL.md "Auth"). Sign-up and login answer {"user",
    "token"} and set the parley_token cookie, so a browser's EventSource and WebSocket,
    which cannot send headers, are authenticated too; logout expires that cookie,
    which a page cannot do itself since it is HttpOnly.

    Both are throttled per client address, and logins per username too, before any
    password is hashed (PROTOCOL.md "Browser security"): a failed login counts, a
    successful one clears its username's count.

    Password hashing is slow on purpose and runs here, on the request's own thread,
    never in an actor; app->hash_slots bounds how many run at once. A sign-up is
    written by the persister and answered only once it is committed. */
#include "parley/http.h"

#include "parley/json_shapes.h"
#include "parley/jwt.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/validate.h"

#include <stdlib.h>
#include <time.h>

//  Runs pl_password_hash or pl_password_verify inside a hashing slot.
static int s_hash(pl_app_t *app, pl_str_t password, char out[PL_PASSWORD_HASH_MAX])
{
    sem_wait(&app->hash_slots);
    int rc = pl_password_hash(password.ptr, password.len, &app->password_cost, out);
    sem_post(&app->hash_slots);
    return rc;
}

static bool s_verify(pl_app_t *app, const char *stored, pl_str_t password)
{
    sem_wait(&app->hash_slots);
    bool ok = pl_password_verify(stored, password.ptr, password.len);
    sem_post(&app->hash_slots);
    return ok;
}

//  What the per-client limits count against: the client's address (its /64 for IPv6).
static void s_client_key(const pl_req_t *req, char out[PL_CLIENT_ADDR_SIZE])
{
    char address[PL_CLIENT_ADDR_SIZE];
    pl_http_client_address(req->conn, req->app, address);
    pl_client_limit_key(address, out);
}

//  Answers 429 rate_limited, with Retry-After in whole seconds for a wait of wait_ms.
static void s_too_many(pl_req_t *req, int64_t wait_ms, const char *what)
{
    pl_metrics_count(PL_COUNTER_AUTH_THROTTLED, 1);
    int64_t seconds = (wait_ms + 999) / 1000;
    char retry_after[64], message[128];
    snprintf(retry_after, sizeof retry_after, "Retry-After: %" PRId64 "\r\n", seconds);
    snprintf(message, sizeof message, "too many %s; try again in %" PRId64 " s", what, seconds);
    pl_http_reply(req->conn, 429, pl_json_error("rate_limited", message), retry_after);
}

//  Answers {"user", "token"} with the session cookie.
static void s_reply_session(pl_req_t *req, int status, const pl_user_t *user)
{
    const pl_config_t *cfg = req->app->config;
    char *token = pl_jwt_sign(req->app->jwt_key, req->app->jwt_key_len, user->id, time(NULL),
                              cfg->token_ttl_s);
    if (!token) {
        pl_http_error(req->conn, 500, "internal", "could not issue a token");
        return;
    }
    char cookie[PL_JWT_MAX_LEN + 128];
    snprintf(cookie, sizeof cookie,
             "Set-Cookie: parley_token=%s; Path=/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Lax\r\n",
             token, cfg->token_ttl_s);
    json_t *body = json_pack("{s:o, s:s}", "user", pl_json_user(user), "token", token);
    free(token);
    pl_http_reply(req->conn, status, body, cookie);
}

//  True when the username is already taken, as far as a reader can tell now; the
//  unique index decides races.
static bool s_username_taken(pl_app_t *app, pl_str_t username)
{
    pl_user_t *found = malloc(sizeof *found);
    if (!found)
        return false;
    pl_store_t *reader = pl_store_pool_take(app->readers);
    bool taken = reader->ops->user_find(reader, username, found) == PL_STATUS_OK;
    pl_store_pool_give(app->readers, reader);
    free(found);
    return taken;
}

static void s_signup(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_str_t username, password, display_name;
    if (pl_http_string_field(req, body, "username", true, pl_check_username, &username) ||
        pl_http_string_field(req, body, "password", true, pl_check_password, &password) ||
        pl_http_string_field(req, body, "display_name", true, pl_check_display_name, &display_name))
        goto done;
    char address[PL_CLIENT_ADDR_SIZE];
    s_client_key(req, address);
    int64_t wait = pl_throttle_acquire(req->app->signups_by_addr, pl_str_of(address), pl_mono_ms());
    if (wait) {
        pl_info("auth: sign-ups from %s are throttled", address);
        s_too_many(req, wait, "sign-ups from this address");
        goto done;
    }
    //  Checked before hashing so a taken name costs no hash.
    if (s_username_taken(req->app, username)) {
        pl_http_error(req->conn, 409, "username_taken", "username '%.*s' is taken",
                      (int)username.len, username.ptr);
        goto done;
    }
    pl_user_t user = {.created_at = pl_now_ms()};
    if (s_hash(req->app, password, user.password_hash)) {
        pl_http_error(req->conn, 500, "internal", "could not hash the password");
        goto done;
    }
    pl_msg_t msg = {.type = PL_MSG_USER_CREATE,
                    .as.user_create = {.username = username,
                                       .password_hash = pl_str_of(user.password_hash),
                                       .display_name = display_name,
                                       .created_at = user.created_at}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.user_create.waiter, &msg.as.user_create.req_id, &reply))
        goto done;
    user.id = reply.id;
    if (reply.status == PL_STATUS_CONFLICT)
        pl_http_error(req->conn, 409, "username_taken", "username '%.*s' is taken",
                      (int)username.len, username.ptr);
    else if (reply.status != PL_STATUS_OK)
        pl_http_error(req->conn, 500, "internal", "the account could not be stored");
    else {
        snprintf(user.username, sizeof user.username, "%.*s", (int)username.len, username.ptr);
        snprintf(user.display_name, sizeof user.display_name, "%.*s", (int)display_name.len,
                 display_name.ptr);
        pl_info("auth: user %" PRId64 " signed up", user.id);
        s_reply_session(req, 201, &user);
    }
done:
    json_decref(body);
}

static void s_login(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_str_t username, password;
    if (pl_http_string_field(req, body, "username", true, NULL, &username) ||
        pl_http_string_field(req, body, "password", true, NULL, &password))
        goto done;
    //  Each attempt counts as a failure until it succeeds, so concurrent guesses
    //  cannot all pass the check before any is counted.
    pl_app_t *app = req->app;
    char address[PL_CLIENT_ADDR_SIZE];
    s_client_key(req, address);
    pl_str_t address_key = pl_str_of(address);
    int64_t now = pl_mono_ms();
    int64_t wait = pl_throttle_acquire(app->login_fails_by_addr, address_key, now);
    if (wait == 0 && (wait = pl_throttle_acquire(app->login_fails_by_user, username, now)))
        pl_throttle_cancel(app->login_fails_by_addr, address_key, now);
    if (wait) {
        pl_info("auth: logins from %s or for the username it sent are throttled", address);
        s_too_many(req, wait, "failed logins");
        goto done;
    }
    pl_user_t *user = calloc(1, sizeof *user);
    if (!user) {
        pl_http_error(req->conn, 500, "internal", "out of memory");
        goto done;
    }
    pl_status_t found = PL_STATUS_NOT_FOUND;
    if (password.len <= PL_PASSWORD_MAX_BYTES) {
        pl_store_t *reader = pl_store_pool_take(req->app->readers);
        found = reader->ops->user_find(reader, username, user);
        pl_store_pool_give(req->app->readers, reader);
    }
    //  An unknown user still costs one verify, so the timing tells nothing either.
    const char *stored = found == PL_STATUS_OK ? user->password_hash : req->app->dummy_hash;
    bool ok = password.len <= PL_PASSWORD_MAX_BYTES && s_verify(req->app, stored, password) &&
              found == PL_STATUS_OK;
    if (ok || found == PL_STATUS_INTERNAL)
        pl_throttle_cancel(app->login_fails_by_addr, address_key, now);
    if (ok)
        pl_throttle_forget(app->login_fails_by_user, username);
    else if (found == PL_STATUS_INTERNAL)
        pl_throttle_cancel(app->login_fails_by_user, username, now);
    if (found == PL_STATUS_INTERNAL)
        pl_http_error(req->conn, 500, "internal", "the store failed");
    else if (!ok)
        pl_http_error(req->conn, 401, "unauthorized", "wrong username or password");
    else
        s_reply_session(req, 200, user);
    free(user);
done:
    json_decref(body);
}

//  Tokens are not stored, so there is nothing to revoke: the token stays valid until
//  its exp for whoever kept a copy, and logging out is forgetting the cookie. It
//  needs a token so that only a page the cookie is for can end its session.
static void s_logout(pl_req_t *req)
{
    pl_http_reply(req->conn, 204, NULL,
                  "Set-Cookie: parley_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\r\n");
}

const pl_route_t pl_auth_routes[] = {
    {"POST", "/api/auth/signup", false, s_signup},
    {"POST", "/api/auth/login", false, s_login},
    {"POST", "/api/auth/logout", true, s_logout},
    {NULL, NULL, false, NULL},
};
