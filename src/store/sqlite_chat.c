/*  The SQLite backend's chat operations: contents and their likes, rooms, members and
    messages. Reads build PROTOCOL.md's JSON shapes straight from the rows, so every
    endpoint that shows a Content, a Room or a Message shows the same one. */
#include "sqlite.h"

#include "parley/json_shapes.h"
#include "parley/log.h"

#include <stdint.h>
#include <stdlib.h>

//  Most rooms one listing returns; a user in more sees the most recent ones.
#define ROOMS_LIST_MAX 500

static json_t *s_text_or_null(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? json_string((const char *)text) : json_null();
}

//  A Message from the current row of a statement selecting PL__MESSAGE_COLUMNS.
static json_t *s_message(sqlite3_stmt *stmt)
{
    const unsigned char *avatar = sqlite3_column_text(stmt, 9);
    json_t *message = json_pack(
        "{s:I, s:I, s:o, s:{s:I, s:s, s:o}, s:s, s:s, s:I}", "room",
        (json_int_t)sqlite3_column_int64(stmt, 0), "seq", (json_int_t)sqlite3_column_int64(stmt, 1),
        "client_id", s_text_or_null(stmt, 2), "sender", "id",
        (json_int_t)sqlite3_column_int64(stmt, 7), "display_name", sqlite3_column_text(stmt, 8),
        "avatar_url", avatar && *avatar ? json_string((const char *)avatar) : json_null(), "kind",
        sqlite3_column_text(stmt, 3), "body", sqlite3_column_text(stmt, 4), "ts",
        (json_int_t)sqlite3_column_int64(stmt, 6));
    if (sqlite3_column_type(stmt, 5) != SQLITE_NULL)
        json_object_set_new(message, "url", s_text_or_null(stmt, 5));
    return message;
}

//  A User from columns id, username, display_name, avatar_url, created_at.
static json_t *s_member(sqlite3_stmt *stmt)
{
    const unsigned char *avatar = sqlite3_column_text(stmt, 3);
    return json_pack("{s:I, s:s, s:s, s:o, s:I}", "id", (json_int_t)sqlite3_column_int64(stmt, 0),
                     "username", sqlite3_column_text(stmt, 1), "display_name",
                     sqlite3_column_text(stmt, 2), "avatar_url",
                     avatar && *avatar ? json_string((const char *)avatar) : json_null(),
                     "created_at", (json_int_t)sqlite3_column_int64(stmt, 4));
}

//  A User with its member's "read_seq" (column 5).
static json_t *s_member_with_read(sqlite3_stmt *stmt)
{
    json_t *member = s_member(stmt);
    json_object_set_new(member, "read_seq", json_integer(sqlite3_column_int64(stmt, 5)));
    return member;
}

static pl_status_t s_content_insert(pl_store_t *base, pl_str_t kind, pl_str_t title,
                                    pl_str_t description, int64_t year, int64_t now, int64_t *id)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_INSERT);
    pl__sqlite_bind_str(stmt, 1, kind);
    pl__sqlite_bind_str(stmt, 2, title);
    pl__sqlite_bind_str(stmt, 3, description.ptr ? description : (pl_str_t){"", 0});
    if (year)
        sqlite3_bind_int64(stmt, 4, year);
    sqlite3_bind_int64(stmt, 5, now);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    if (status == PL_STATUS_OK)
        *id = sqlite3_last_insert_rowid(self->db);
    return status;
}

json_t *pl__sqlite_content(sqlite3_stmt *stmt)
{
    json_t *year = sqlite3_column_type(stmt, 4) == SQLITE_NULL
                       ? json_null()
                       : json_integer(sqlite3_column_int64(stmt, 4));
    json_t *room = sqlite3_column_type(stmt, 5) == SQLITE_NULL
                       ? json_null()
                       : json_integer(sqlite3_column_int64(stmt, 5));
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:o}", "id",
                     (json_int_t)sqlite3_column_int64(stmt, 0), "kind",
                     sqlite3_column_text(stmt, 1), "title", sqlite3_column_text(stmt, 2),
                     "description", sqlite3_column_text(stmt, 3), "year", year, "likes",
                     (json_int_t)sqlite3_column_int64(stmt, 6), "room_id", room);
}

static pl_status_t s_content_get(pl_store_t *base, int64_t id, json_t **out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = NULL;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_GET);
    sqlite3_bind_int64(stmt, 1, id);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status;
    *out = pl__sqlite_content(stmt);
    sqlite3_reset(stmt);
    return PL_STATUS_OK;
}

//  Runs a one-column id lookup; OK with *id, or NOT_FOUND.
static pl_status_t s_find_id(pl__sqlite_t *self, pl__stmt_id_t id_stmt, int64_t a, int64_t b,
                             int64_t *id)
{
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, id_stmt);
    sqlite3_bind_int64(stmt, 1, a);
    if (sqlite3_bind_parameter_count(stmt) > 1)
        sqlite3_bind_int64(stmt, 2, b);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status == PL_STATUS_OK) {
        *id = sqlite3_column_int64(stmt, 0);
        sqlite3_reset(stmt);
    }
    return status;
}

static pl_status_t s_content_find(pl_store_t *base, pl_str_t kind, pl_str_t title, int64_t year,
                                  int64_t *id)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_FIND);
    pl__sqlite_bind_str(stmt, 1, title);
    pl__sqlite_bind_str(stmt, 2, kind);
    if (year)
        sqlite3_bind_int64(stmt, 3, year);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status == PL_STATUS_OK) {
        *id = sqlite3_column_int64(stmt, 0);
        sqlite3_reset(stmt);
    }
    return status;
}

static pl_status_t s_room_insert(pl__sqlite_t *self, const char *kind, pl_str_t title,
                                 int64_t content_id, int64_t low, int64_t high, int64_t now,
                                 int64_t *room_id)
{
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_ROOM_INSERT);
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    pl__sqlite_bind_str(stmt, 2, title);
    if (content_id)
        sqlite3_bind_int64(stmt, 3, content_id);
    if (low) {
        sqlite3_bind_int64(stmt, 4, low);
        sqlite3_bind_int64(stmt, 5, high);
    }
    sqlite3_bind_int64(stmt, 6, now);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    if (status == PL_STATUS_OK)
        *room_id = sqlite3_last_insert_rowid(self->db);
    return status;
}

static pl_status_t s_room_ensure_group(pl_store_t *base, int64_t content_id, int64_t now,
                                       int64_t *room_id, bool *created)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *created = false;
    pl_status_t status = s_find_id(self, PL__STMT_ROOM_BY_CONTENT, content_id, 0, room_id);
    if (status != PL_STATUS_NOT_FOUND)
        return status;
    sqlite3_stmt *content = pl__sqlite_stmt(self, PL__STMT_CONTENT_GET);
    sqlite3_bind_int64(content, 1, content_id);
    if ((status = pl__sqlite_row(self, content)) != PL_STATUS_OK)
        return status;
    //  The title is copied before the statement is reset: the text lives in it.
    json_t *title = json_string((const char *)sqlite3_column_text(content, 2));
    sqlite3_reset(content);
    status = s_room_insert(self, "group", pl_str_of(json_string_value(title)), content_id, 0, 0,
                           now, room_id);
    json_decref(title);
    *created = status == PL_STATUS_OK;
    return status;
}

static pl_status_t s_member_add(pl_store_t *base, int64_t room_id, int64_t user_id, int64_t now,
                                bool *added)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_MEMBER_INSERT);
    sqlite3_bind_int64(stmt, 1, room_id);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int64(stmt, 3, now);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    *added = status == PL_STATUS_OK && sqlite3_changes(self->db) == 1;
    if (status != PL_STATUS_OK || *added)
        return status;
    //  Nothing inserted: already a member, or no such room.
    int64_t read;
    status = base->ops->member_read_seq(base, room_id, user_id, &read);
    return status;
}

static pl_status_t s_room_ensure_dm(pl_store_t *base, int64_t user_a, int64_t user_b, int64_t now,
                                    int64_t *room_id, bool *created)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    int64_t low = user_a < user_b ? user_a : user_b, high = user_a < user_b ? user_b : user_a;
    *created = false;
    pl_status_t status = s_find_id(self, PL__STMT_ROOM_BY_PAIR, low, high, room_id);
    if (status != PL_STATUS_NOT_FOUND)
        return status;
    status = s_room_insert(self, "dm", (pl_str_t){"", 0}, 0, low, high, now, room_id);
    bool added;
    if (status == PL_STATUS_OK)
        status = s_member_add(base, *room_id, low, now, &added);
    if (status == PL_STATUS_OK)
        status = s_member_add(base, *room_id, high, now, &added);
    *created = status == PL_STATUS_OK;
    return status;
}

static pl_status_t s_like_add(pl_store_t *base, int64_t content_id, int64_t user_id, int64_t now)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_LIKE_INSERT);
    sqlite3_bind_int64(stmt, 1, content_id);
    sqlite3_bind_int64(stmt, 2, user_id);
    sqlite3_bind_int64(stmt, 3, now);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    //  The insert selects the content: no row means no such content.
    if (status == PL_STATUS_OK && sqlite3_changes(self->db) == 0)
        return PL_STATUS_NOT_FOUND;
    return status;
}

static pl_status_t s_like_remove(pl_store_t *base, int64_t content_id, int64_t user_id)
{
    return pl__sqlite_exec_pair((pl__sqlite_t *)base, PL__STMT_LIKE_DELETE, content_id, user_id);
}

static pl_status_t s_member_remove(pl_store_t *base, int64_t room_id, int64_t user_id)
{
    return pl__sqlite_exec_pair((pl__sqlite_t *)base, PL__STMT_MEMBER_DELETE, room_id, user_id);
}

static pl_status_t s_member_rooms(pl_store_t *base, int64_t user_id, int64_t **ids, size_t *count)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_MEMBER_ROOMS);
    sqlite3_bind_int64(stmt, 1, user_id);
    return pl__sqlite_ids(self, stmt, ids, count);
}

static pl_status_t s_member_read_seq(pl_store_t *base, int64_t room_id, int64_t user_id,
                                     int64_t *seq)
{
    return s_find_id((pl__sqlite_t *)base, PL__STMT_MEMBER_READ, room_id, user_id, seq);
}

//  Advances rooms.last_seq/last_activity or members.last_read_seq: three int64s.
static pl_status_t s_advance(pl__sqlite_t *self, pl__stmt_id_t id, int64_t a, int64_t b, int64_t c)
{
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, id);
    sqlite3_bind_int64(stmt, 1, a);
    sqlite3_bind_int64(stmt, 2, b);
    sqlite3_bind_int64(stmt, 3, c);
    return pl__sqlite_exec(self, stmt);
}

static pl_status_t s_message_insert(pl_store_t *base, const pl_message_row_t *m)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_MESSAGE_INSERT);
    sqlite3_bind_int64(stmt, 1, m->room_id);
    sqlite3_bind_int64(stmt, 2, m->seq);
    sqlite3_bind_int64(stmt, 3, m->sender_id);
    pl__sqlite_bind_str(stmt, 4, m->client_id);
    pl__sqlite_bind_str(stmt, 5, m->kind);
    pl__sqlite_bind_str(stmt, 6, m->body);
    pl__sqlite_bind_str(stmt, 7, m->url);
    sqlite3_bind_int64(stmt, 8, m->ts);
    return pl__sqlite_exec(self, stmt);
}

static pl_status_t s_room_advance(pl_store_t *base, int64_t room_id, int64_t seq, int64_t ts)
{
    return s_advance((pl__sqlite_t *)base, PL__STMT_ROOM_ADVANCE, room_id, seq, ts);
}

static pl_status_t s_read_advance(pl_store_t *base, int64_t room_id, int64_t user_id, int64_t seq)
{
    return s_advance((pl__sqlite_t *)base, PL__STMT_READ_ADVANCE, room_id, user_id, seq);
}

//  The message of a room with seq, or JSON null.
static json_t *s_message_at(pl__sqlite_t *self, int64_t room_id, int64_t seq)
{
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_MESSAGE_GET);
    sqlite3_bind_int64(stmt, 1, room_id);
    sqlite3_bind_int64(stmt, 2, seq);
    if (pl__sqlite_row(self, stmt) != PL_STATUS_OK)
        return json_null();
    json_t *message = s_message(stmt);
    sqlite3_reset(stmt);
    return message;
}

static pl_status_t s_room_get(pl_store_t *base, int64_t room_id, int64_t viewer, json_t **out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = NULL;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_ROOM_GET);
    sqlite3_bind_int64(stmt, 1, room_id);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status;
    bool is_dm = strcmp((const char *)sqlite3_column_text(stmt, 1), "dm") == 0;
    int64_t low = sqlite3_column_int64(stmt, 4), high = sqlite3_column_int64(stmt, 5);
    int64_t last_seq = sqlite3_column_int64(stmt, 6);
    json_t *room = json_pack(
        "{s:I, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)room_id, "kind", is_dm ? "dm" : "group",
        "title", sqlite3_column_text(stmt, 2), "members", (json_int_t)sqlite3_column_int64(stmt, 8),
        "last_seq", (json_int_t)last_seq, "created_at", (json_int_t)sqlite3_column_int64(stmt, 7));
    if (!is_dm)
        json_object_set_new(room, "content_id", json_integer(sqlite3_column_int64(stmt, 3)));
    sqlite3_reset(stmt);
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
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = NULL;
    int64_t ids[ROOMS_LIST_MAX];
    int count = 0, rc;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_ROOMS_OF_USER);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, ROOMS_LIST_MAX);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && count < ROOMS_LIST_MAX)
        ids[count++] = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        pl_error("sqlite: listing rooms: %s", sqlite3_errmsg(self->db));
        return PL_STATUS_INTERNAL;
    }
    json_t *rooms = json_array();
    for (int i = 0; i < count; i++) {
        json_t *room;
        pl_status_t status = s_room_get(base, ids[i], user_id, &room);
        if (status != PL_STATUS_OK) {
            json_decref(rooms);
            return status;
        }
        json_array_append_new(rooms, room);
    }
    *out = json_pack("{s:o}", "rooms", rooms);
    return PL_STATUS_OK;
}

static pl_status_t s_room_members(pl_store_t *base, int64_t room_id, json_t **out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_ROOM_MEMBERS);
    sqlite3_bind_int64(stmt, 1, room_id);
    return pl__sqlite_rows(self, stmt, s_member, false, out);
}

static pl_status_t s_messages_page(pl_store_t *base, int64_t room_id, int64_t after, int64_t before,
                                   int64_t limit, bool from_start, json_t **out, bool *has_more)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt =
        pl__sqlite_stmt(self, from_start ? PL__STMT_MESSAGES_AFTER : PL__STMT_MESSAGES_BEFORE);
    sqlite3_bind_int64(stmt, 1, room_id);
    sqlite3_bind_int64(stmt, 2, after);
    sqlite3_bind_int64(stmt, 3, before);
    //  One more than asked tells whether there is more.
    sqlite3_bind_int64(stmt, 4, limit + 1);
    pl_status_t status = pl__sqlite_rows(self, stmt, s_message, !from_start, out);
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
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = (pl_room_state_t){0};
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_ROOM_GET);
    sqlite3_bind_int64(stmt, 1, room_id);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status;
    out->is_dm = strcmp((const char *)sqlite3_column_text(stmt, 1), "dm") == 0;
    out->last_seq = sqlite3_column_int64(stmt, 6);
    out->header = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)room_id, "kind",
                            out->is_dm ? "dm" : "group", "title", sqlite3_column_text(stmt, 2),
                            "created_at", (json_int_t)sqlite3_column_int64(stmt, 7));
    if (!out->is_dm)
        json_object_set_new(out->header, "content_id", json_integer(sqlite3_column_int64(stmt, 3)));
    sqlite3_reset(stmt);
    bool more;
    sqlite3_stmt *members = pl__sqlite_stmt(self, PL__STMT_ROOM_MEMBERS);
    sqlite3_bind_int64(members, 1, room_id);
    status = pl__sqlite_rows(self, members, s_member_with_read, false, &out->members);
    if (status == PL_STATUS_OK)
        status = s_messages_page(base, room_id, 0, INT64_MAX, window, false, &out->recent, &more);
    if (status != PL_STATUS_OK) {
        json_decref(out->header);
        json_decref(out->members);
        *out = (pl_room_state_t){0};
    }
    return status;
}

void pl__sqlite_chat_ops(pl_store_ops_t *ops)
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
