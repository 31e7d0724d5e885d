/*  The PostgreSQL backend's chat operations: contents and their likes, rooms,
    members and messages, answering exactly as the SQLite backend does (the store
    contract suite runs the same tests on both). Reads build PROTOCOL.md's JSON shapes
    from the rows; a room's one group room and a pair's one DM are found again after
    an insert that met another node's (ON CONFLICT DO NOTHING, then select). */
#include "postgres.h"

#include "parley/json_shapes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Most rooms one listing returns; a user in more sees the most recent ones.
#define ROOMS_LIST_MAX 500

//  A user's avatar_url as a Message's sender or a User shows it: null when empty.
static json_t *s_avatar(const PGresult *res, int row, int col)
{
    const char *avatar = pl__pg_col_text(res, row, col);
    return avatar[0] ? json_string(avatar) : json_null();
}

//  A Message from a row selecting PL__PG_MESSAGE_COLUMNS.
static json_t *s_message(const PGresult *res, int row)
{
    json_t *message = json_pack(
        "{s:I, s:I, s:o, s:{s:I, s:s, s:o}, s:s, s:s, s:I}", "room",
        (json_int_t)pl__pg_col_int(res, row, 0), "seq", (json_int_t)pl__pg_col_int(res, row, 1),
        "client_id", pl__pg_col_json_text(res, row, 2), "sender", "id",
        (json_int_t)pl__pg_col_int(res, row, 7), "display_name", pl__pg_col_text(res, row, 8),
        "avatar_url", s_avatar(res, row, 9), "kind", pl__pg_col_text(res, row, 3), "body",
        pl__pg_col_text(res, row, 4), "ts", (json_int_t)pl__pg_col_int(res, row, 6));
    if (!PQgetisnull(res, row, 5))
        json_object_set_new(message, "url", pl__pg_col_json_text(res, row, 5));
    return message;
}

//  A User from columns id, username, display_name, avatar_url, created_at.
static json_t *s_member(const PGresult *res, int row)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:I}", "id", (json_int_t)pl__pg_col_int(res, row, 0),
                     "username", pl__pg_col_text(res, row, 1), "display_name",
                     pl__pg_col_text(res, row, 2), "avatar_url", s_avatar(res, row, 3),
                     "created_at", (json_int_t)pl__pg_col_int(res, row, 4));
}

//  A User with its member's "read_seq" (column 5).
static json_t *s_member_with_read(const PGresult *res, int row)
{
    json_t *member = s_member(res, row);
    json_object_set_new(member, "read_seq", json_integer(pl__pg_col_int(res, row, 5)));
    return member;
}

json_t *pl__pg_content(const PGresult *res, int row)
{
    return json_pack(
        "{s:I, s:s, s:s, s:s, s:o, s:I, s:o}", "id", (json_int_t)pl__pg_col_int(res, row, 0),
        "kind", pl__pg_col_text(res, row, 1), "title", pl__pg_col_text(res, row, 2), "description",
        pl__pg_col_text(res, row, 3), "year", pl__pg_col_json_int(res, row, 4), "likes",
        (json_int_t)pl__pg_col_int(res, row, 6), "room_id", pl__pg_col_json_int(res, row, 5));
}

//  Runs a statement whose one row's first column is an id; OK with *id, NOT_FOUND
//  when it returned no row.
static pl_status_t s_id_of(pl__pg_t *self, pl__pg_stmt_id_t id_stmt, const pl__pg_params_t *params,
                           int64_t *id)
{
    PGresult *res;
    pl_status_t status = pl__pg_row(self, id_stmt, params, &res);
    if (status == PL_STATUS_OK) {
        *id = pl__pg_col_int(res, 0, 0);
        PQclear(res);
    }
    return status;
}

//  s_id_of with the integer parameters (a) or (a, b).
static pl_status_t s_find_id(pl__pg_t *self, pl__pg_stmt_id_t id_stmt, int params_count, int64_t a,
                             int64_t b, int64_t *id)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, a);
    if (params_count > 1)
        pl__pg_int(&params, b);
    return s_id_of(self, id_stmt, &params, id);
}

static pl_status_t s_content_insert(pl_store_t *base, pl_str_t kind, pl_str_t title,
                                    pl_str_t description, int64_t year, int64_t now, int64_t *id)
{
    pl__pg_params_t params = {0};
    pl__pg_str(&params, kind);
    pl__pg_str(&params, title);
    pl__pg_str(&params, description.ptr ? description : (pl_str_t){"", 0});
    pl__pg_int_or_null(&params, year);
    pl__pg_int(&params, now);
    return s_id_of((pl__pg_t *)base, PL__PG_CONTENT_INSERT, &params, id);
}

static pl_status_t s_content_get(pl_store_t *base, int64_t id, json_t **out)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, id);
    PGresult *res;
    *out = NULL;
    pl_status_t status = pl__pg_row((pl__pg_t *)base, PL__PG_CONTENT_GET, &params, &res);
    if (status == PL_STATUS_OK) {
        *out = pl__pg_content(res, 0);
        PQclear(res);
    }
    return status;
}

static pl_status_t s_content_find(pl_store_t *base, pl_str_t kind, pl_str_t title, int64_t year,
                                  int64_t *id)
{
    pl__pg_params_t params = {0};
    pl__pg_str(&params, title);
    pl__pg_str(&params, kind);
    pl__pg_int_or_null(&params, year);
    return s_id_of((pl__pg_t *)base, PL__PG_CONTENT_FIND, &params, id);
}

//  Inserts a room unless one for the same content or pair exists (or its content or
//  users do not); *room_id is the inserted one, or the one found by find_stmt.
static pl_status_t s_room_ensure(pl__pg_t *self, pl__pg_stmt_id_t insert_stmt,
                                 const pl__pg_params_t *insert, pl__pg_stmt_id_t find_stmt,
                                 int find_params, int64_t a, int64_t b, int64_t *room_id,
                                 bool *created)
{
    *created = false;
    pl_status_t status = s_find_id(self, find_stmt, find_params, a, b, room_id);
    if (status != PL_STATUS_NOT_FOUND)
        return status;
    status = s_id_of(self, insert_stmt, insert, room_id);
    *created = status == PL_STATUS_OK;
    if (status != PL_STATUS_NOT_FOUND)
        return status;
    //  Nothing inserted: another node's insert won the race, or a reference is missing.
    return s_find_id(self, find_stmt, find_params, a, b, room_id);
}

static pl_status_t s_room_ensure_group(pl_store_t *base, int64_t content_id, int64_t now,
                                       int64_t *room_id, bool *created)
{
    pl__pg_params_t insert = {0};
    pl__pg_int(&insert, content_id);
    pl__pg_int(&insert, now);
    return s_room_ensure((pl__pg_t *)base, PL__PG_ROOM_INSERT_GROUP, &insert,
                         PL__PG_ROOM_BY_CONTENT, 1, content_id, 0, room_id, created);
}

static pl_status_t s_member_add(pl_store_t *base, int64_t room_id, int64_t user_id, int64_t now,
                                bool *added)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    pl__pg_int(&params, user_id);
    pl__pg_int(&params, now);
    int64_t changed = 0;
    pl_status_t status = pl__pg_exec((pl__pg_t *)base, PL__PG_MEMBER_INSERT, &params, &changed);
    *added = status == PL_STATUS_OK && changed == 1;
    if (status != PL_STATUS_OK || *added)
        return status;
    //  Nothing inserted: already a member, or no such room.
    int64_t read;
    return base->ops->member_read_seq(base, room_id, user_id, &read);
}

static pl_status_t s_room_ensure_dm(pl_store_t *base, int64_t user_a, int64_t user_b, int64_t now,
                                    int64_t *room_id, bool *created)
{
    int64_t low = user_a < user_b ? user_a : user_b, high = user_a < user_b ? user_b : user_a;
    pl__pg_params_t insert = {0};
    pl__pg_int(&insert, low);
    pl__pg_int(&insert, high);
    pl__pg_int(&insert, now);
    pl_status_t status = s_room_ensure((pl__pg_t *)base, PL__PG_ROOM_INSERT_DM, &insert,
                                       PL__PG_ROOM_BY_PAIR, 2, low, high, room_id, created);
    //  No room, and none inserted: a user is missing (SQLite's foreign key answers so).
    if (status == PL_STATUS_NOT_FOUND)
        return PL_STATUS_CONFLICT;
    bool added;
    if (status == PL_STATUS_OK && *created)
        status = s_member_add(base, *room_id, low, now, &added);
    if (status == PL_STATUS_OK && *created)
        status = s_member_add(base, *room_id, high, now, &added);
    return status;
}

static pl_status_t s_like_add(pl_store_t *base, int64_t content_id, int64_t user_id, int64_t now)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, content_id);
    pl__pg_int(&params, user_id);
    pl__pg_int(&params, now);
    PGresult *res;
    pl_status_t status = pl__pg_row((pl__pg_t *)base, PL__PG_LIKE_INSERT, &params, &res);
    if (status != PL_STATUS_OK)
        return status == PL_STATUS_NOT_FOUND ? PL_STATUS_INTERNAL : status;
    //  (contents found, likes added): no content, or a like already there.
    if (pl__pg_col_int(res, 0, 0) == 0)
        status = PL_STATUS_NOT_FOUND;
    else if (pl__pg_col_int(res, 0, 1) == 0)
        status = PL_STATUS_CONFLICT;
    PQclear(res);
    return status;
}

static pl_status_t s_like_remove(pl_store_t *base, int64_t content_id, int64_t user_id)
{
    return pl__pg_exec_pair((pl__pg_t *)base, PL__PG_LIKE_DELETE, content_id, user_id);
}

static pl_status_t s_member_remove(pl_store_t *base, int64_t room_id, int64_t user_id)
{
    return pl__pg_exec_pair((pl__pg_t *)base, PL__PG_MEMBER_DELETE, room_id, user_id);
}

static pl_status_t s_member_rooms(pl_store_t *base, int64_t user_id, int64_t **ids, size_t *count)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, user_id);
    return pl__pg_ids((pl__pg_t *)base, PL__PG_MEMBER_ROOMS, &params, ids, count);
}

static pl_status_t s_member_read_seq(pl_store_t *base, int64_t room_id, int64_t user_id,
                                     int64_t *seq)
{
    return s_find_id((pl__pg_t *)base, PL__PG_MEMBER_READ, 2, room_id, user_id, seq);
}

static pl_status_t s_message_insert(pl_store_t *base, const pl_message_row_t *m)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, m->room_id);
    pl__pg_int(&params, m->seq);
    pl__pg_int(&params, m->sender_id);
    pl__pg_str(&params, m->client_id);
    pl__pg_str(&params, m->kind);
    pl__pg_str(&params, m->body);
    pl__pg_str(&params, m->url);
    pl__pg_int(&params, m->ts);
    return pl__pg_write_message((pl__pg_t *)base, &params);
}

static pl_status_t s_room_advance(pl_store_t *base, int64_t room_id, int64_t seq, int64_t ts)
{
    return pl__pg_write_advance((pl__pg_t *)base, PL__PG_ROOM_ADVANCE, room_id, seq, ts);
}

static pl_status_t s_read_advance(pl_store_t *base, int64_t room_id, int64_t user_id, int64_t seq)
{
    return pl__pg_write_advance((pl__pg_t *)base, PL__PG_READ_ADVANCE, room_id, user_id, seq);
}

//  The message of a room with seq, or JSON null.
static json_t *s_message_at(pl__pg_t *self, int64_t room_id, int64_t seq)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    pl__pg_int(&params, seq);
    PGresult *res;
    if (pl__pg_row(self, PL__PG_MESSAGE_GET, &params, &res) != PL_STATUS_OK)
        return json_null();
    json_t *message = s_message(res, 0);
    PQclear(res);
    return message;
}

//  The ROOM_GET row of a room: OK with *out (PQclear it), or NOT_FOUND.
static pl_status_t s_room_row(pl__pg_t *self, int64_t room_id, PGresult **out)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    return pl__pg_row(self, PL__PG_ROOM_GET, &params, out);
}

//  A room's header, {"id", "kind", "title", "created_at"} and a group's "content_id",
//  from its ROOM_GET row.
static json_t *s_room_header(const PGresult *res, bool is_dm)
{
    json_t *header = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)pl__pg_col_int(res, 0, 0),
                               "kind", is_dm ? "dm" : "group", "title", pl__pg_col_text(res, 0, 2),
                               "created_at", (json_int_t)pl__pg_col_int(res, 0, 7));
    if (!is_dm)
        json_object_set_new(header, "content_id", json_integer(pl__pg_col_int(res, 0, 3)));
    return header;
}

static pl_status_t s_room_get(pl_store_t *base, int64_t room_id, int64_t viewer, json_t **out)
{
    pl__pg_t *self = (pl__pg_t *)base;
    *out = NULL;
    PGresult *res;
    pl_status_t status = s_room_row(self, room_id, &res);
    if (status != PL_STATUS_OK)
        return status;
    bool is_dm = strcmp(pl__pg_col_text(res, 0, 1), "dm") == 0;
    int64_t low = pl__pg_col_int(res, 0, 4), high = pl__pg_col_int(res, 0, 5);
    int64_t last_seq = pl__pg_col_int(res, 0, 6);
    json_t *room = s_room_header(res, is_dm);
    json_object_set_new(room, "members", json_integer(pl__pg_col_int(res, 0, 8)));
    json_object_set_new(room, "last_seq", json_integer(last_seq));
    PQclear(res);
    if (is_dm) {
        pl_user_t peer;
        if (base->ops->user_get(base, viewer == low ? high : low, &peer) == PL_STATUS_OK) {
            json_object_set_new(room, "peer", pl_json_user(&peer));
            json_object_set_new(room, "title", json_string(peer.display_name));
        }
    }
    json_object_set_new(room, "last_message",
                        last_seq ? s_message_at(self, room_id, last_seq) : json_null());
    int64_t read = last_seq;
    base->ops->member_read_seq(base, room_id, viewer, &read);
    json_object_set_new(room, "unread", json_integer(last_seq > read ? last_seq - read : 0));
    *out = room;
    return PL_STATUS_OK;
}

static pl_status_t s_rooms_of_user(pl_store_t *base, int64_t user_id, json_t **out)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, user_id);
    pl__pg_int(&params, ROOMS_LIST_MAX);
    int64_t *ids;
    size_t count;
    *out = NULL;
    pl_status_t status = pl__pg_ids((pl__pg_t *)base, PL__PG_ROOMS_OF_USER, &params, &ids, &count);
    if (status != PL_STATUS_OK)
        return status;
    json_t *rooms = json_array();
    for (size_t i = 0; status == PL_STATUS_OK && i < count; i++) {
        json_t *room;
        if ((status = s_room_get(base, ids[i], user_id, &room)) == PL_STATUS_OK)
            json_array_append_new(rooms, room);
    }
    free(ids);
    if (status != PL_STATUS_OK) {
        json_decref(rooms);
        return status;
    }
    *out = json_pack("{s:o}", "rooms", rooms);
    return PL_STATUS_OK;
}

static pl_status_t s_room_members(pl_store_t *base, int64_t room_id, json_t **out)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    return pl__pg_rows((pl__pg_t *)base, PL__PG_ROOM_MEMBERS, &params, s_member, false, out);
}

static pl_status_t s_messages_page(pl_store_t *base, int64_t room_id, int64_t after, int64_t before,
                                   int64_t limit, bool from_start, json_t **out, bool *has_more)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    pl__pg_int(&params, after);
    pl__pg_int(&params, before);
    //  One more than asked tells whether there is more.
    pl__pg_int(&params, limit + 1);
    pl_status_t status =
        pl__pg_rows((pl__pg_t *)base, from_start ? PL__PG_MESSAGES_AFTER : PL__PG_MESSAGES_BEFORE,
                    &params, s_message, !from_start, out);
    if (status != PL_STATUS_OK)
        return status;
    *has_more = (int64_t)json_array_size(*out) > limit;
    if (*has_more)
        json_array_remove(*out, from_start ? json_array_size(*out) - 1 : 0);
    return PL_STATUS_OK;
}

static pl_status_t s_room_state(pl_store_t *base, int64_t room_id, int64_t window,
                                pl_room_state_t *out)
{
    pl__pg_t *self = (pl__pg_t *)base;
    *out = (pl_room_state_t){0};
    PGresult *res;
    pl_status_t status = s_room_row(self, room_id, &res);
    if (status != PL_STATUS_OK)
        return status;
    out->is_dm = strcmp(pl__pg_col_text(res, 0, 1), "dm") == 0;
    out->last_seq = pl__pg_col_int(res, 0, 6);
    out->header = s_room_header(res, out->is_dm);
    PQclear(res);
    pl__pg_params_t params = {0};
    pl__pg_int(&params, room_id);
    bool more;
    status =
        pl__pg_rows(self, PL__PG_ROOM_MEMBERS, &params, s_member_with_read, false, &out->members);
    if (status == PL_STATUS_OK)
        status = s_messages_page(base, room_id, 0, INT64_MAX, window, false, &out->recent, &more);
    if (status != PL_STATUS_OK) {
        json_decref(out->header);
        json_decref(out->members);
        *out = (pl_room_state_t){0};
    }
    return status;
}

void pl__pg_chat_ops(pl_store_ops_t *ops)
{
    ops->content_insert = s_content_insert;
    ops->content_get = s_content_get;
    ops->content_find = s_content_find;
    ops->like_add = s_like_add;
    ops->like_remove = s_like_remove;
    ops->room_ensure_group = s_room_ensure_group;
    ops->room_ensure_dm = s_room_ensure_dm;
    ops->member_add = s_member_add;
    ops->member_remove = s_member_remove;
    ops->member_read_seq = s_member_read_seq;
    ops->member_rooms = s_member_rooms;
    ops->message_insert = s_message_insert;
    ops->room_advance = s_room_advance;
    ops->read_advance = s_read_advance;
    ops->room_get = s_room_get;
    ops->rooms_of_user = s_rooms_of_user;
    ops->room_members = s_room_members;
    ops->messages_page = s_messages_page;
    ops->room_state = s_room_state;
}
