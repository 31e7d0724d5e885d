/*  The caller's own account, other users' public profiles and follows (PROTOCOL.md
    "Users, follows"). Reads go through the reader pool; a profile change or a follow
    goes through the persister and is answered after the commit. A new follow is
    then handed to the notifier, which tells the followed user. */
#include "parley/http.h"

#include "parley/json_shapes.h"
#include "parley/log.h"
#include "parley/validate.h"

#include <stdlib.h>

//  Reads user `id` into *user; answers and returns -1 when it cannot.
static int s_load_user(pl_req_t *req, int64_t id, pl_user_t *user)
{
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->user_get(reader, id, user);
    pl_store_pool_give(req->app->readers, reader);
    if (status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "user_not_found", "user %" PRId64 " does not exist", id);
    else if (status != PL_STATUS_OK)
        pl_http_error(req->conn, 500, "internal", "the store failed");
    return status == PL_STATUS_OK ? 0 : -1;
}

static void s_me_get(pl_req_t *req)
{
    pl_user_t user;
    if (s_load_user(req, req->user_id, &user) == 0)
        pl_http_reply(req->conn, 200, pl_json_user(&user), NULL);
}

static void s_me_patch(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_str_t display_name, avatar_url;
    if (pl_http_string_field(req, body, "display_name", false, pl_check_display_name,
                             &display_name) ||
        pl_http_string_field(req, body, "avatar_url", false, pl_check_avatar_url, &avatar_url))
        goto done;
    //  "avatar_url": null removes the avatar; the store keeps "" for none.
    json_t *avatar = json_object_get(body, "avatar_url");
    if (avatar && json_is_null(avatar))
        avatar_url = (pl_str_t){"", 0};
    if (!display_name.ptr && !avatar_url.ptr) {
        pl_http_error(req->conn, 400, "bad_request", "expected display_name or avatar_url");
        goto done;
    }
    pl_msg_t msg = {.type = PL_MSG_USER_UPDATE,
                    .as.user_update = {.user_id = req->user_id,
                                       .display_name = display_name,
                                       .avatar_url = avatar_url}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.user_update.waiter, &msg.as.user_update.req_id, &reply))
        goto done;
    if (reply.status != PL_STATUS_OK)
        pl_http_error(req->conn, 500, "internal", "the profile could not be stored");
    else
        s_me_get(req);
done:
    json_decref(body);
}

static void s_user_get(pl_req_t *req)
{
    pl_user_t user;
    if (s_load_user(req, req->path_id, &user))
        return;
    pl_follow_stats_t stats;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->follow_stats(reader, user.id, req->user_id, &stats);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK) {
        pl_http_error(req->conn, 500, "internal", "the store failed");
        return;
    }
    json_t *body = pl_json_user(&user);
    json_object_set_new(body, "followers", json_integer(stats.followers));
    json_object_set_new(body, "following", json_integer(stats.following));
    json_object_set_new(body, "followed_by_me", json_boolean(stats.followed_by_viewer));
    pl_http_reply(req->conn, 200, body, NULL);
}

//  Follows (follow) or unfollows the user in the path.
static void s_follow_change(pl_req_t *req, bool follow)
{
    if (req->path_id == req->user_id) {
        pl_http_error(req->conn, 400, "bad_request", "you cannot %s yourself",
                      follow ? "follow" : "unfollow");
        return;
    }
    pl_user_t user;
    if (s_load_user(req, req->path_id, &user))
        return;
    pl_msg_t msg = {.type = PL_MSG_FOLLOW_STORE,
                    .as.follow_store = {.follower_id = req->user_id,
                                        .followee_id = req->path_id,
                                        .follow = follow}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.follow_store.waiter, &msg.as.follow_store.req_id,
                        &reply))
        return;
    if (reply.status == PL_STATUS_CONFLICT)
        pl_http_error(req->conn, 409, "conflict", "you already follow user %" PRId64, req->path_id);
    else if (reply.status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "not_found", "you do not follow user %" PRId64, req->path_id);
    else if (reply.status != PL_STATUS_OK)
        pl_http_error(req->conn, 500, "internal", "the follow could not be stored");
    else {
        pl_http_reply(req->conn, 204, NULL, NULL);
        if (follow) {
            pl_msg_t notify = {.type = PL_MSG_NOTIFY_FOLLOW,
                               .as.notify_follow = {req->user_id, req->path_id}};
            pl_ingress_send(pl_app_notifier_ingress(req->app, req->path_id), &notify);
        }
    }
}

static void s_follow(pl_req_t *req)
{
    s_follow_change(req, true);
}

static void s_unfollow(pl_req_t *req)
{
    s_follow_change(req, false);
}

const pl_route_t pl_user_routes[] = {
    {"GET", "/api/me", true, s_me_get},
    {"PATCH", "/api/me", true, s_me_patch},
    {"GET", "/api/users/{id}", true, s_user_get},
    {"POST", "/api/users/{id}/follow", true, s_follow},
    {"DELETE", "/api/users/{id}/follow", true, s_unfollow},
    {NULL, NULL, false, NULL},
};
