/*  Contents and their group rooms (PROTOCOL.md "Users, follows, contents, likes" and
    "Rooms"). A content's room comes from the creation-queue worker, which makes sure
    exactly one exists however many callers race for it; a caller it cannot answer
    within room_creation_timeout_ms gets 503 room_creation_timeout. */
#include "parley/http.h"

#include "parley/log.h"
#include "parley/room.h"
#include "parley/validate.h"

#include <stdlib.h>

static void s_content_create(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_str_t kind, title, description;
    int64_t year = 0;
    if (pl_http_string_field(req, body, "kind", true, NULL, &kind) ||
        pl_http_string_field(req, body, "title", true, pl_check_title, &title) ||
        pl_http_string_field(req, body, "description", false, pl_check_description, &description) ||
        pl_http_int_field(req, body, "year", false, 1, 9999, &year, NULL))
        goto done;
    if (strcmp(kind.ptr, "movie") != 0 && strcmp(kind.ptr, "book") != 0) {
        pl_http_error(req->conn, 400, "bad_request", "kind: must be movie or book");
        goto done;
    }
    pl_msg_t msg = {.type = PL_MSG_CONTENT_CREATE,
                    .as.content_create = {
                        .kind = kind, .title = title, .description = description, .year = year}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.content_create.waiter, &msg.as.content_create.req_id,
                        &reply))
        goto done;
    json_t *content = NULL;
    if (reply.status == PL_STATUS_OK) {
        pl_store_t *reader = pl_store_pool_take(req->app->readers);
        reader->ops->content_get(reader, reply.id, &content);
        pl_store_pool_give(req->app->readers, reader);
    }
    if (content)
        pl_http_reply(req->conn, 201, content, NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the content could not be stored");
done:
    json_decref(body);
}

static void s_content_get(pl_req_t *req)
{
    json_t *content = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->content_get(reader, req->path_id, &content);
    pl_store_pool_give(req->app->readers, reader);
    if (status == PL_STATUS_OK)
        pl_http_reply(req->conn, 200, content, NULL);
    else if (status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "content_not_found", "content %" PRId64 " does not exist",
                      req->path_id);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

static void s_content_room(pl_req_t *req)
{
    pl_msg_t msg = {.type = PL_MSG_GROUP_ROOM,
                    .as.group_room = {.content_id = req->path_id, .user_id = req->user_id}};
    pl_msg_reply_t reply;
    if (pl_http_ask(req, req->app->creator, &msg, &msg.as.group_room.waiter,
                    &msg.as.group_room.req_id, (int)req->app->config->room_creation_timeout_ms,
                    "room_creation_timeout", &reply, NULL))
        return;
    if (reply.status == PL_STATUS_NOT_FOUND) {
        pl_http_error(req->conn, 404, "content_not_found", "content %" PRId64 " does not exist",
                      req->path_id);
        return;
    }
    json_t *room = NULL;
    if (reply.status == PL_STATUS_OK) {
        pl_store_t *reader = pl_store_pool_take(req->app->readers);
        reader->ops->room_get(reader, reply.id, req->user_id, &room);
        pl_store_pool_give(req->app->readers, reader);
    }
    if (!room) {
        pl_http_error(req->conn, 500, "internal", "the room could not be made");
        return;
    }
    if (reply.created & PL_REPLY_MEMBER_ADDED)
        pl_http_member_event(req, reply.id, req->user_id, PL_MEMBER_JOINED);
    pl_http_reply(req->conn, reply.created & PL_REPLY_ROOM_CREATED ? 201 : 200, room, NULL);
    pl_http_room_notice(req, reply.id, req->user_id);
}

const pl_route_t pl_content_routes[] = {
    {"POST", "/api/contents", true, s_content_create},
    {"GET", "/api/contents/{id}", true, s_content_get},
    {"POST", "/api/contents/{id}/room", true, s_content_room},
    {NULL, NULL, false, NULL},
};
