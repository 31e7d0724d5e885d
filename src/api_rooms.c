/*  Rooms over HTTP (PROTOCOL.md "Rooms"): DMs, joining and leaving, my room list, a
    room with its members, message history, publishing and read pointers.

    Reads use the reader pool. Membership changes go through the persister, which
    tells the room's actor once they are committed. Publishing and read pointers go
    to the room's actor, exactly as a WebSocket `send` or `read` does, so both
    channels follow one set of rules (ordering, de-duplication, durability). */
#include "parley/http.h"

#include "parley/json_shapes.h"
#include "parley/log.h"
#include "parley/room.h"
#include "parley/uploads.h"
#include "parley/validate.h"

#include <stdlib.h>

#define HISTORY_DEFAULT_LIMIT 50
#define HISTORY_MAX_LIMIT     200
//  Longest a join or leave waits for its room to apply it (see pl_http_member_event).
#define MEMBER_EVENT_TIMEOUT_MS 2000

//  Answers 404 or 403 for a room the caller cannot see; returns the room JSON (owned)
//  when the caller is a member, else NULL.
static json_t *s_member_room(pl_req_t *req)
{
    json_t *room = NULL;
    int64_t read;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->room_get(reader, req->path_id, req->user_id, &room);
    pl_status_t member = status == PL_STATUS_OK ? reader->ops->member_read_seq(reader, req->path_id,
                                                                               req->user_id, &read)
                                                : status;
    pl_store_pool_give(req->app->readers, reader);
    if (status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "room_not_found", "room %" PRId64 " does not exist",
                      req->path_id);
    else if (status != PL_STATUS_OK || member == PL_STATUS_INTERNAL)
        pl_http_error(req->conn, 500, "internal", "the store failed");
    else if (member == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 403, "forbidden", "you are not a member of room %" PRId64,
                      req->path_id);
    else
        return room;
    json_decref(room);
    return NULL;
}

void pl_http_room_notice(pl_req_t *req, int64_t room_id, int64_t user_id)
{
    json_t *room = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    reader->ops->room_get(reader, room_id, user_id, &room);
    pl_store_pool_give(req->app->readers, reader);
    if (!room)
        return;
    int64_t pair[2] = {user_id, json_integer_value(json_object_get(room, "unread"))};
    json_object_del(room, "unread");
    char *text = json_dumps(room, JSON_COMPACT);
    json_decref(room);
    pl_msg_t msg = {
        .type = PL_MSG_CONN_ROOM_NOTICE,
        .as.conn_room_notice = {{(const char *)pair, sizeof pair}, {NULL, 0}, pl_str_of(text)}};
    for (int w = 0; text && w < req->app->writer_count; w++)
        pl_ingress_send(req->app->writers[w], &msg);
    //  The user's connections on other nodes.
    if (text && req->app->bridge)
        pl_ingress_send(req->app->bridge, &msg);
    free(text);
}

void pl_http_member_event(pl_req_t *req, int64_t room_id, int64_t user_id, int event)
{
    pl_user_t user;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->user_get(reader, user_id, &user);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK)
        return;
    json_t *json = pl_json_user(&user);
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    pl_msg_t msg = {.type = PL_MSG_ROOM_MEMBER,
                    .as.room_member = {room_id, user_id, event, pl_str_of(text)}};
    //  Waits until the room has applied it, so that a subscribe sent after the answer
    //  finds the member even when the room is served by another node. Past the
    //  timeout the change still stands: it is stored, and the room reads it when loaded.
    pl_msg_frame_t reply;
    if (text && pl_ingress_request(pl_app_room_ingress(req->app, room_id), req->thread->waiter,
                                   &msg, &msg.as.room_member.waiter, &msg.as.room_member.req_id,
                                   MEMBER_EVENT_TIMEOUT_MS, &reply) == 0)
        pl_msg_frame_close(&reply);
    free(text);
}

//  Answers with room_id as the caller sees it, status 201 when created else 200.
static void s_reply_room(pl_req_t *req, int64_t room_id, bool created)
{
    json_t *room = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    reader->ops->room_get(reader, room_id, req->user_id, &room);
    pl_store_pool_give(req->app->readers, reader);
    if (room)
        pl_http_reply(req->conn, created ? 201 : 200, room, NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

static void s_dm(pl_req_t *req)
{
    if (req->path_id == req->user_id) {
        pl_http_error(req->conn, 400, "bad_request", "you cannot open a DM with yourself");
        return;
    }
    pl_user_t peer;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->user_get(reader, req->path_id, &peer);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK) {
        pl_http_error(req->conn, status == PL_STATUS_NOT_FOUND ? 404 : 500,
                      status == PL_STATUS_NOT_FOUND ? "user_not_found" : "internal",
                      "user %" PRId64 " does not exist", req->path_id);
        return;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_ENSURE_DM,
                    .as.room_ensure_dm = {.user_id = req->user_id, .peer_id = req->path_id}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.room_ensure_dm.waiter, &msg.as.room_ensure_dm.req_id,
                        &reply))
        return;
    if (reply.status != PL_STATUS_OK) {
        pl_http_error(req->conn, 500, "internal", "the room could not be made");
        return;
    }
    if (reply.created) {
        pl_http_room_notice(req, reply.id, req->path_id);
        pl_http_room_notice(req, reply.id, req->user_id);
    }
    s_reply_room(req, reply.id, reply.created);
}

//  Join (join true) or leave a group room.
static void s_membership(pl_req_t *req, bool join)
{
    json_t *room = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->room_get(reader, req->path_id, req->user_id, &room);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK) {
        pl_http_error(req->conn, status == PL_STATUS_NOT_FOUND ? 404 : 500,
                      status == PL_STATUS_NOT_FOUND ? "room_not_found" : "internal",
                      "room %" PRId64 " does not exist", req->path_id);
        return;
    }
    bool is_dm = strcmp(json_string_value(json_object_get(room, "kind")), "dm") == 0;
    json_decref(room);
    if (is_dm) {
        pl_http_error(req->conn, 403, "forbidden", "DM rooms cannot be joined or left");
        return;
    }
    pl_msg_t msg = {.type = join ? PL_MSG_MEMBER_ADD : PL_MSG_MEMBER_REMOVE};
    pl_msg_reply_t reply;
    int rc;
    if (join) {
        msg.as.member_add.room_id = req->path_id;
        msg.as.member_add.user_id = req->user_id;
        rc = pl_http_persist(req, &msg, &msg.as.member_add.waiter, &msg.as.member_add.req_id,
                             &reply);
    } else {
        msg.as.member_remove.room_id = req->path_id;
        msg.as.member_remove.user_id = req->user_id;
        rc = pl_http_persist(req, &msg, &msg.as.member_remove.waiter, &msg.as.member_remove.req_id,
                             &reply);
    }
    if (rc)
        return;
    if (reply.status == PL_STATUS_OK) {
        if (!join || (reply.created & PL_REPLY_MEMBER_ADDED))
            pl_http_member_event(req, req->path_id, req->user_id,
                                 join ? PL_MEMBER_JOINED : PL_MEMBER_LEFT);
        if (join)
            pl_http_room_notice(req, req->path_id, req->user_id);
        pl_http_reply(req->conn, 204, NULL, NULL);
    } else if (reply.status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 403, "forbidden", "you are not a member of room %" PRId64,
                      req->path_id);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

static void s_join(pl_req_t *req)
{
    s_membership(req, true);
}

static void s_leave(pl_req_t *req)
{
    s_membership(req, false);
}

static void s_list(pl_req_t *req)
{
    json_t *rooms = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->rooms_of_user(reader, req->user_id, &rooms);
    pl_store_pool_give(req->app->readers, reader);
    if (status == PL_STATUS_OK)
        pl_http_reply(req->conn, 200, rooms, NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

static void s_get(pl_req_t *req)
{
    json_t *room = s_member_room(req);
    if (!room)
        return;
    json_t *members = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->room_members(reader, req->path_id, &members);
    pl_store_pool_give(req->app->readers, reader);
    if (status != PL_STATUS_OK) {
        json_decref(room);
        pl_http_error(req->conn, 500, "internal", "the store failed");
        return;
    }
    json_object_set_new(room, "member_list", members);
    pl_http_reply(req->conn, 200, room, NULL);
}

static void s_history(pl_req_t *req)
{
    int64_t before = INT64_MAX, after = 0, limit = HISTORY_DEFAULT_LIMIT;
    bool has_before, has_after, has_limit;
    if (pl_http_query_int(req, "before", 1, INT64_MAX, &before, &has_before) ||
        pl_http_query_int(req, "after", 0, INT64_MAX, &after, &has_after) ||
        pl_http_query_int(req, "limit", 1, HISTORY_MAX_LIMIT, &limit, &has_limit))
        return;
    json_t *room = s_member_room(req);
    if (!room)
        return;
    json_decref(room);
    json_t *messages = NULL;
    bool has_more = false;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    //  With `after`, the page starts right after it; otherwise it ends right before
    //  `before` (or at the latest message).
    pl_status_t status = reader->ops->messages_page(reader, req->path_id, after, before, limit,
                                                    has_after, &messages, &has_more);
    pl_store_pool_give(req->app->readers, reader);
    if (status == PL_STATUS_OK)
        pl_http_reply(req->conn, 200,
                      json_pack("{s:o, s:b}", "messages", messages, "has_more", has_more), NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

//  Answers a refusal from a room actor.
static void s_room_refusal(pl_req_t *req, pl_status_t status)
{
    if (status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "room_not_found", "room %" PRId64 " does not exist",
                      req->path_id);
    else if (status == PL_STATUS_FORBIDDEN)
        pl_http_error(req->conn, 403, "forbidden", "you are not a member of room %" PRId64,
                      req->path_id);
    else if (status == PL_STATUS_UNAVAILABLE)
        pl_http_error(req->conn, 503, "unavailable", "the store cannot be reached: try again");
    else
        pl_http_error(req->conn, 500, "internal", "the room could not take the request");
}

static pl_ingress_t *s_room_actor(const pl_req_t *req)
{
    return pl_app_room_ingress(req->app, req->path_id);
}

static void s_publish(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_str_t client_id, kind, text, url;
    if (pl_http_string_field(req, body, "client_id", false, pl_check_client_id, &client_id) ||
        pl_http_string_field(req, body, "kind", false, NULL, &kind) ||
        pl_http_string_field(req, body, "body", false, NULL, &text) ||
        pl_http_string_field(req, body, "url", false, NULL, &url))
        goto done;
    const char *field;
    const char *problem = pl_check_message(kind.ptr, kind.len, text.ptr, text.len, url.ptr, url.len,
                                           (size_t)req->app->config->max_message_chars, &field);
    if (!problem && url.ptr && (problem = pl_http_check_upload_url(req->app, url)))
        field = "url";
    if (problem) {
        pl_http_error(req->conn, 400, "bad_request", "%s: %s", field, problem);
        goto done;
    }
    pl_msg_t msg = {.type = PL_MSG_ROOM_SEND,
                    .as.room_send = {.user_id = req->user_id,
                                     .room_id = req->path_id,
                                     .client_id = client_id,
                                     .kind = kind.ptr ? kind : pl_str_of("text"),
                                     .body = text.ptr ? text : pl_str_of(""),
                                     .url = url}};
    pl_msg_reply_t reply;
    char *message = NULL;
    if (pl_http_ask(req, s_room_actor(req), &msg, &msg.as.room_send.waiter,
                    &msg.as.room_send.req_id, PL_HTTP_ACTOR_TIMEOUT_MS, "unavailable", &reply,
                    &message))
        goto done;
    json_t *json = message ? json_loads(message, 0, NULL) : NULL;
    free(message);
    if (reply.status == PL_STATUS_CONFLICT) {
        //  A retry of a send older than the room's window: it was stored with seq
        //  reply.id, which the store still holds.
        json_t *page = NULL;
        bool more;
        pl_store_t *reader = pl_store_pool_take(req->app->readers);
        if (reader->ops->messages_page(reader, req->path_id, reply.id - 1, reply.id + 1, 1, true,
                                       &page, &more) == PL_STATUS_OK &&
            json_array_size(page) == 1) {
            reply.status = PL_STATUS_OK;
            json = json_incref(json_array_get(page, 0));
        }
        pl_store_pool_give(req->app->readers, reader);
        json_decref(page);
    }
    if (reply.status == PL_STATUS_OK && json)
        pl_http_reply(req->conn, 201, json, NULL);
    else {
        json_decref(json);
        s_room_refusal(req, (pl_status_t)reply.status);
    }
done:
    json_decref(body);
}

static void s_read(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    int64_t seq;
    if (pl_http_int_field(req, body, "seq", true, 0, INT64_MAX, &seq, NULL) == 0) {
        pl_msg_t msg = {
            .type = PL_MSG_ROOM_READ,
            .as.room_read = {.user_id = req->user_id, .room_id = req->path_id, .seq = seq}};
        pl_msg_reply_t reply;
        if (pl_http_ask(req, s_room_actor(req), &msg, &msg.as.room_read.waiter,
                        &msg.as.room_read.req_id, PL_HTTP_ACTOR_TIMEOUT_MS, "unavailable", &reply,
                        NULL) == 0) {
            if (reply.status == PL_STATUS_OK)
                pl_http_reply(req->conn, 204, NULL, NULL);
            else
                s_room_refusal(req, (pl_status_t)reply.status);
        }
    }
    json_decref(body);
}

const pl_route_t pl_room_routes[] = {
    {"POST", "/api/users/{id}/dm", true, s_dm},
    {"POST", "/api/rooms/{id}/join", true, s_join},
    {"POST", "/api/rooms/{id}/leave", true, s_leave},
    {"GET", "/api/rooms", true, s_list},
    {"GET", "/api/rooms/{id}", true, s_get},
    {"GET", "/api/rooms/{id}/messages", true, s_history},
    {"POST", "/api/rooms/{id}/messages", true, s_publish},
    {"POST", "/api/rooms/{id}/read", true, s_read},
    {NULL, NULL, false, NULL},
};
