/*  Contents, their likes, search and group rooms (PROTOCOL.md "Users, follows,
    contents, likes" and "Rooms"). Likes are written by the persister like every
    write; search reads through the reader pool (the store turns any q into a safe
    full-text query). A content's room comes from the creation-queue worker, which
    makes sure exactly one exists however many callers race for it; a caller it
    cannot answer within room_creation_timeout_ms gets 503 room_creation_timeout. */
#include "parley/http.h"

#include "parley/log.h"
#include "parley/room.h"
#include "parley/validate.h"

#include <stdlib.h>

//  GET /api/contents: how many contents an answer holds by default, and at most.
#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX     100

static void s_content_create(pl_req_t *req)
{
    json_t *body = pl_http_read_json(req);
    if (!body)
        return;
    pl_content_input_t input;
    const char *field, *problem = pl_check_content(body, &input, &field);
    if (problem) {
        pl_http_error(req->conn, 400, "bad_request", "%s: %s", field, problem);
        goto done;
    }
    pl_msg_t msg = {.type = PL_MSG_CONTENT_CREATE,
                    .as.content_create = {.kind = input.kind,
                                          .title = input.title,
                                          .description = input.description,
                                          .year = input.year}};
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
    pl_http_room_notice(req, reply.id, req->user_id);
    pl_http_reply(req->conn, reply.created & PL_REPLY_ROOM_CREATED ? 201 : 200, room, NULL);
}

//  Answers a like or unlike the store refused as NOT_FOUND: the content does not
//  exist (content_not_found), or the caller does not like it (not_found).
static void s_like_not_found(pl_req_t *req)
{
    json_t *content = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->content_get(reader, req->path_id, &content);
    pl_store_pool_give(req->app->readers, reader);
    json_decref(content);
    if (status == PL_STATUS_OK)
        pl_http_error(req->conn, 404, "not_found", "you do not like content %" PRId64,
                      req->path_id);
    else if (status == PL_STATUS_NOT_FOUND)
        pl_http_error(req->conn, 404, "content_not_found", "content %" PRId64 " does not exist",
                      req->path_id);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

//  POST or DELETE /api/contents/{id}/like: the persister adds or removes the like.
static void s_like(pl_req_t *req, pl_msg_type_t type)
{
    //  LIKE_ADD and LIKE_REMOVE share one field list, so either view fills both.
    pl_msg_t msg = {.type = type,
                    .as.like_add = {.content_id = req->path_id, .user_id = req->user_id}};
    pl_msg_reply_t reply;
    if (pl_http_persist(req, &msg, &msg.as.like_add.waiter, &msg.as.like_add.req_id, &reply))
        return;
    if (reply.status == PL_STATUS_OK)
        pl_http_reply(req->conn, 204, NULL, NULL);
    else if (reply.status == PL_STATUS_CONFLICT)
        pl_http_error(req->conn, 409, "conflict", "you already like content %" PRId64,
                      req->path_id);
    else if (reply.status == PL_STATUS_NOT_FOUND)
        s_like_not_found(req);
    else
        pl_http_error(req->conn, 500, "internal", "the like could not be stored");
}

static void s_like_add(pl_req_t *req)
{
    s_like(req, PL_MSG_LIKE_ADD);
}

static void s_like_remove(pl_req_t *req)
{
    s_like(req, PL_MSG_LIKE_REMOVE);
}

//  GET /api/contents?q=&kind=&limit=: search, or the newest contents without q.
//  An empty kind= means any kind, as an empty q= means no search.
static void s_content_search(pl_req_t *req)
{
    const char *query = req->info->query_string ? req->info->query_string : "";
    size_t query_len = strlen(query);
    int64_t limit = SEARCH_LIMIT_DEFAULT;
    bool present;
    if (pl_http_query_int(req, "limit", 1, SEARCH_LIMIT_MAX, &limit, &present))
        return;
    char kind[8];
    int kind_len = mg_get_var(query, query_len, "kind", kind, sizeof kind);
    if (kind_len == -2 || (kind_len > 0 && pl_check_content_kind(kind, (size_t)kind_len))) {
        pl_http_error(req->conn, 400, "bad_request", "kind: must be movie or book");
        return;
    }
    //  A decoded value is never longer than the query string, so q always fits.
    char *q = malloc(query_len + 1);
    if (!q) {
        pl_http_error(req->conn, 500, "internal", "out of memory");
        return;
    }
    int q_len = mg_get_var(query, query_len, "q", q, query_len + 1);
    json_t *contents = NULL;
    pl_store_t *reader = pl_store_pool_take(req->app->readers);
    pl_status_t status = reader->ops->content_search(
        reader, q_len > 0 ? (pl_str_t){q, (uint32_t)q_len} : (pl_str_t){NULL, 0},
        kind_len > 0 ? (pl_str_t){kind, (uint32_t)kind_len} : (pl_str_t){NULL, 0}, limit,
        &contents);
    pl_store_pool_give(req->app->readers, reader);
    free(q);
    if (status == PL_STATUS_OK)
        pl_http_reply(req->conn, 200, json_pack("{s:o}", "contents", contents), NULL);
    else
        pl_http_error(req->conn, 500, "internal", "the store failed");
}

const pl_route_t pl_content_routes[] = {
    {"POST", "/api/contents", true, s_content_create},
    {"GET", "/api/contents", true, s_content_search},
    {"POST", "/api/contents/{id}/like", true, s_like_add},
    {"DELETE", "/api/contents/{id}/like", true, s_like_remove},
    {"GET", "/api/contents/{id}", true, s_content_get},
    {"POST", "/api/contents/{id}/room", true, s_content_room},
    {NULL, NULL, false, NULL},
};
