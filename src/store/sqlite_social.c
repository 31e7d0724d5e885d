/*  The SQLite backend's social operations: who follows whom, who likes a content,
    and the notifications the notifier actor stores. Notification rows keep the
    rendered Notification (body), so a listing, a replay and a live push all show
    the same object. */
#include "sqlite.h"

#include "parley/json_shapes.h"
#include "parley/log.h"

#include <stdlib.h>

static pl_status_t s_follow_add(pl_store_t *base, int64_t follower_id, int64_t followee_id,
                                int64_t now)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_FOLLOW_INSERT);
    sqlite3_bind_int64(stmt, 1, follower_id);
    sqlite3_bind_int64(stmt, 2, followee_id);
    sqlite3_bind_int64(stmt, 3, now);
    return pl__sqlite_exec(self, stmt);
}

static pl_status_t s_follow_remove(pl_store_t *base, int64_t follower_id, int64_t followee_id)
{
    return pl__sqlite_exec_pair((pl__sqlite_t *)base, PL__STMT_FOLLOW_DELETE, follower_id,
                                followee_id);
}

static pl_status_t s_content_likers(pl_store_t *base, int64_t content_id, int64_t **ids,
                                    size_t *count)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_LIKERS);
    sqlite3_bind_int64(stmt, 1, content_id);
    return pl__sqlite_ids(self, stmt, ids, count);
}

static pl_status_t s_notification_put(pl_store_t *base, const pl_notification_row_t *row)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATION_PUT);
    sqlite3_bind_int64(stmt, 1, row->id);
    sqlite3_bind_int64(stmt, 2, row->user_id);
    sqlite3_bind_int64(stmt, 8, row->version);
    pl__sqlite_bind_str(stmt, 3, row->kind);
    if (row->room_id)
        sqlite3_bind_int64(stmt, 4, row->room_id);
    sqlite3_bind_int64(stmt, 5, row->count);
    sqlite3_bind_int64(stmt, 6, row->ts);
    pl__sqlite_bind_str(stmt, 7, row->body);
    return pl__sqlite_exec(self, stmt);
}

static pl_status_t s_notifications_read(pl_store_t *base, int64_t user_id, const int64_t *ids,
                                        size_t count)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    if (!ids) {
        sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATIONS_READ_ALL);
        sqlite3_bind_int64(stmt, 1, user_id);
        return pl__sqlite_exec(self, stmt);
    }
    for (size_t i = 0; i < count; i++) {
        pl_status_t status =
            pl__sqlite_exec_pair(self, PL__STMT_NOTIFICATION_READ, user_id, ids[i]);
        //  Already read, or not theirs: nothing to do.
        if (status != PL_STATUS_OK && status != PL_STATUS_NOT_FOUND)
            return status;
    }
    return PL_STATUS_OK;
}

//  A Notification from a row (id, read, body).
static json_t *s_notification(sqlite3_stmt *stmt)
{
    const char *body = (const char *)sqlite3_column_text(stmt, 2);
    return pl_json_notification(sqlite3_column_int64(stmt, 0), sqlite3_column_int(stmt, 1) != 0,
                                body ? body : "");
}

static pl_status_t s_notifications_page(pl_store_t *base, int64_t user_id, int64_t before,
                                        int64_t limit, json_t **out, int64_t *unread)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATIONS_UNREAD);
    sqlite3_bind_int64(stmt, 1, user_id);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status == PL_STATUS_NOT_FOUND ? PL_STATUS_INTERNAL : status;
    *unread = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATIONS_BEFORE);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, before);
    sqlite3_bind_int64(stmt, 3, limit);
    return pl__sqlite_rows(self, stmt, s_notification, false, out);
}

static pl_status_t s_notifications_after(pl_store_t *base, int64_t user_id, int64_t after,
                                         int64_t limit,
                                         void (*each)(void *arg, int64_t version, json_t *n),
                                         void *arg)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATIONS_AFTER);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, after);
    sqlite3_bind_int64(stmt, 3, limit);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        each(arg, sqlite3_column_int64(stmt, 3), s_notification(stmt));
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return PL_STATUS_OK;
    pl_error("sqlite: replaying notifications: %s", sqlite3_errmsg(self->db));
    return PL_STATUS_INTERNAL;
}

static pl_status_t s_notifications_open(pl_store_t *base, pl_open_notification_t **out,
                                        size_t *count)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = NULL;
    *count = 0;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATIONS_OPEN);
    size_t capacity = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            pl_open_notification_t *grown = realloc(*out, capacity * sizeof *grown);
            if (!grown)
                break;
            *out = grown;
        }
        (*out)[(*count)++] =
            (pl_open_notification_t){sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                                     sqlite3_column_int64(stmt, 2), sqlite3_column_int64(stmt, 3)};
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return PL_STATUS_OK;
    free(*out);
    *out = NULL;
    *count = 0;
    pl_error("sqlite: loading unread notifications: %s", sqlite3_errmsg(self->db));
    return PL_STATUS_INTERNAL;
}

//  One node writes a SQLite store, and only its notifier asks: the counter starts
//  past the greatest version stored and then counts in this connection's memory.
static pl_status_t s_next_id(pl_store_t *base, int64_t *id)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    if (!self->last_id_loaded) {
        sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_NOTIFICATION_MAX_ID);
        pl_status_t status = pl__sqlite_row(self, stmt);
        if (status != PL_STATUS_OK)
            return status == PL_STATUS_NOT_FOUND ? PL_STATUS_INTERNAL : status;
        self->last_id = sqlite3_column_int64(stmt, 0);
        self->last_id_loaded = true;
        sqlite3_reset(stmt);
    }
    *id = ++self->last_id;
    return PL_STATUS_OK;
}

void pl__sqlite_social_ops(pl_store_ops_t *ops)
{
    ops->follow_add = s_follow_add;
    ops->follow_remove = s_follow_remove;
    ops->content_likers = s_content_likers;
    ops->notification_put = s_notification_put;
    ops->notifications_read = s_notifications_read;
    ops->notifications_page = s_notifications_page;
    ops->notifications_after = s_notifications_after;
    ops->notifications_open = s_notifications_open;
    ops->next_id = s_next_id;
}
