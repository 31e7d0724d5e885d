/*  Internal to the SQLite backend (src/store/sqlite*.c): the connection struct and every
    prepared statement, declared once in PL__SQLITE_STATEMENTS. Statements are
    prepared once per connection when it opens. Not part of the store interface. */
#ifndef PARLEY_STORE_SQLITE_INTERNAL_H
#define PARLEY_STORE_SQLITE_INTERNAL_H

#include "parley/store.h"

#include <sqlite3.h>

#define PL__MESSAGE_COLUMNS                                                                        \
    "m.room_id, m.seq, m.client_id, m.kind, m.body, m.url, m.ts, u.id, u.display_name,"            \
    " u.avatar_url FROM messages m JOIN users u ON u.id = m.sender_id"

//  A Content's columns (read by pl__sqlite_content), from contents c and its room r.
#define PL__CONTENT_COLUMNS                                                                        \
    "c.id, c.kind, c.title, c.description, c.year, r.id,"                                          \
    " (SELECT count(*) FROM likes WHERE content_id = c.id)"
#define PL__CONTENT_ROOM " LEFT JOIN rooms r ON r.content_id = c.id"

//  Search ranks with bm25, a title match weighing ten description matches: a content
//  named after the words beats one that only mentions them.
#define PL__SEARCH_RANK "bm25(contents_fts, 10.0, 1.0)"

//  X(NAME, SQL)
#define PL__SQLITE_STATEMENTS(X)                                                                   \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(USER_INSERT, "INSERT INTO users (username, password_hash, display_name, created_at)"         \
                   " VALUES (?1, ?2, ?3, ?4)")                                                     \
    X(USER_UPDATE, "UPDATE users SET display_name = coalesce(?2, display_name),"                   \
                   " avatar_url = coalesce(?3, avatar_url) WHERE id = ?1")                         \
    X(USER_GET, "SELECT id, username, password_hash, display_name, avatar_url, created_at"         \
                " FROM users WHERE id = ?1")                                                       \
    X(USER_FIND, "SELECT id, username, password_hash, display_name, avatar_url, created_at"        \
                 " FROM users WHERE username = ?1")                                                \
    X(FOLLOW_STATS, "SELECT (SELECT count(*) FROM follows WHERE followee_id = ?1),"                \
                    " (SELECT count(*) FROM follows WHERE follower_id = ?1),"                      \
                    " EXISTS (SELECT 1 FROM follows WHERE follower_id = ?2 AND followee_id = ?1)") \
    X(CONTENT_INSERT, "INSERT INTO contents (kind, title, description, year, created_at)"          \
                      " VALUES (?1, ?2, ?3, ?4, ?5)")                                              \
    X(CONTENT_GET,                                                                                 \
      "SELECT " PL__CONTENT_COLUMNS " FROM contents c" PL__CONTENT_ROOM " WHERE c.id = ?1")        \
    X(CONTENT_FIND, "SELECT id FROM contents WHERE title = ?1 AND kind = ?2 AND year IS ?3"        \
                    " ORDER BY id LIMIT 1")                                                        \
    X(CONTENT_SEARCH, "SELECT " PL__CONTENT_COLUMNS " FROM contents_fts"                           \
                      " JOIN contents c ON c.id = contents_fts.rowid" PL__CONTENT_ROOM             \
                      " WHERE contents_fts MATCH ?1 AND (?2 IS NULL OR c.kind = ?2)"               \
                      " ORDER BY " PL__SEARCH_RANK ", c.id DESC LIMIT ?3")                         \
    X(CONTENT_LIST, "SELECT " PL__CONTENT_COLUMNS " FROM contents c" PL__CONTENT_ROOM              \
                    " WHERE ?1 IS NULL OR c.kind = ?1 ORDER BY c.id DESC LIMIT ?2")                \
    X(LIKE_INSERT, "INSERT INTO likes (content_id, user_id, created_at)"                           \
                   " SELECT id, ?2, ?3 FROM contents WHERE id = ?1")                               \
    X(LIKE_DELETE, "DELETE FROM likes WHERE content_id = ?1 AND user_id = ?2")                     \
    X(ROOM_BY_CONTENT, "SELECT id FROM rooms WHERE content_id = ?1")                               \
    X(ROOM_BY_PAIR, "SELECT id FROM rooms WHERE dm_low = ?1 AND dm_high = ?2")                     \
    X(ROOM_INSERT, "INSERT INTO rooms (kind, title, content_id, dm_low, dm_high, last_activity,"   \
                   " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)")                             \
    X(MEMBER_INSERT, "INSERT OR IGNORE INTO members (room_id, user_id, joined_at, last_read_seq)"  \
                     " SELECT ?1, ?2, ?3, last_seq FROM rooms WHERE id = ?1")                      \
    X(MEMBER_DELETE, "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")                    \
    X(MEMBER_ROOMS, "SELECT room_id FROM members WHERE user_id = ?1")                              \
    X(MEMBER_READ, "SELECT last_read_seq FROM members WHERE room_id = ?1 AND user_id = ?2")        \
    X(MESSAGE_INSERT, "INSERT OR IGNORE INTO messages (room_id, seq, sender_id, client_id, kind,"  \
                      " body, url, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                   \
    X(ROOM_ADVANCE, "UPDATE rooms SET last_seq = max(last_seq, ?2),"                               \
                    " last_activity = max(last_activity, ?3) WHERE id = ?1")                       \
    X(READ_ADVANCE, "UPDATE members SET last_read_seq = max(last_read_seq, ?3)"                    \
                    " WHERE room_id = ?1 AND user_id = ?2")                                        \
    X(ROOM_GET, "SELECT r.id, r.kind, r.title, r.content_id, r.dm_low, r.dm_high, r.last_seq,"     \
                " r.created_at, (SELECT count(*) FROM members WHERE room_id = r.id)"               \
                " FROM rooms r WHERE r.id = ?1")                                                   \
    X(ROOMS_OF_USER, "SELECT r.id FROM members m JOIN rooms r ON r.id = m.room_id"                 \
                     " WHERE m.user_id = ?1 ORDER BY r.last_activity DESC, r.id DESC LIMIT ?2")    \
    X(ROOM_MEMBERS, "SELECT u.id, u.username, u.display_name, u.avatar_url, u.created_at,"         \
                    " m.last_read_seq"                                                             \
                    " FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?1"        \
                    " ORDER BY m.joined_at, u.id")                                                 \
    X(MESSAGE_GET, "SELECT " PL__MESSAGE_COLUMNS " WHERE m.room_id = ?1 AND m.seq = ?2")           \
    X(MESSAGES_AFTER, "SELECT " PL__MESSAGE_COLUMNS " WHERE m.room_id = ?1 AND m.seq > ?2"         \
                      " AND m.seq < ?3 ORDER BY m.seq LIMIT ?4")                                   \
    X(MESSAGES_BEFORE, "SELECT " PL__MESSAGE_COLUMNS " WHERE m.room_id = ?1 AND m.seq > ?2"        \
                       " AND m.seq < ?3 ORDER BY m.seq DESC LIMIT ?4")                             \
    X(FOLLOW_INSERT, "INSERT INTO follows (follower_id, followee_id, created_at)"                  \
                     " VALUES (?1, ?2, ?3)")                                                       \
    X(FOLLOW_DELETE, "DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2")            \
    X(CONTENT_LIKERS, "SELECT user_id FROM likes WHERE content_id = ?1")                           \
    X(NOTIFICATION_PUT, "INSERT INTO notifications (id, user_id, kind, room_id, count, ts, body,"  \
                        " version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id)"       \
                        " DO UPDATE SET count = excluded.count, ts = excluded.ts,"                 \
                        " body = excluded.body, version = excluded.version")                       \
    X(NOTIFICATION_READ, "UPDATE notifications SET read = 1"                                       \
                         " WHERE id = ?2 AND user_id = ?1 AND read = 0")                           \
    X(NOTIFICATIONS_READ_ALL, "UPDATE notifications SET read = 1 WHERE user_id = ?1 AND read = 0") \
    X(NOTIFICATIONS_BEFORE, "SELECT id, read, body FROM notifications"                             \
                            " WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3")           \
    X(NOTIFICATIONS_AFTER, "SELECT id, read, body, version FROM notifications"                     \
                           " WHERE user_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3")       \
    X(NOTIFICATIONS_UNREAD, "SELECT count(*) FROM notifications WHERE user_id = ?1 AND read = 0")  \
    X(NOTIFICATIONS_OPEN, "SELECT id, user_id, room_id, count FROM notifications"                  \
                          " WHERE read = 0 AND room_id IS NOT NULL")                               \
    X(NOTIFICATION_MAX_ID, "SELECT coalesce(max(version), 0) FROM notifications")

typedef enum {
#define PL__STMT_ENUM(name, sql) PL__STMT_##name,
    PL__SQLITE_STATEMENTS(PL__STMT_ENUM)
#undef PL__STMT_ENUM
        PL__STMT_COUNT
} pl__stmt_id_t;

typedef struct {
    pl_store_t base;
    sqlite3 *db;
    sqlite3_stmt *stmts[PL__STMT_COUNT];
    int64_t last_id; //  the last number next_id handed out, once last_id_loaded
    bool last_id_loaded;
    //  The writer's log (sqlite_wal.c): frames in it after the last commit, and the
    //  bytes of one frame (0: not watched, as on a reader).
    int64_t wal_frames, wal_frame_bytes;
} pl__sqlite_t;

//  The value of PRAGMA name (its one row) as text into out; false when it has none.
bool pl__sqlite_pragma(sqlite3 *db, const char *name, char *out, size_t size);

//  Watches the writer's write-ahead log: checkpoints it, and learns where it ends, for
//  pl__sqlite_wal_keep_ahead. False when the database is not in WAL mode.
bool pl__sqlite_wal_watch(pl__sqlite_t *self);

//  Zero-fills the log's file ahead of the log's end when little is left; to be called
//  holding the write lock (after BEGIN IMMEDIATE). Does nothing on an unwatched one.
void pl__sqlite_wal_keep_ahead(pl__sqlite_t *self);

//  The statement, reset and with its bindings cleared, ready to bind and step.
sqlite3_stmt *pl__sqlite_stmt(pl__sqlite_t *self, pl__stmt_id_t id);

//  Binds a pl_str_t (NULL ptr binds SQL NULL).
void pl__sqlite_bind_str(sqlite3_stmt *stmt, int index, pl_str_t value);

//  Steps a statement that returns no rows; constraint failures are CONFLICT.
pl_status_t pl__sqlite_exec(pl__sqlite_t *self, sqlite3_stmt *stmt);

//  Steps a statement expected to return one row; NOT_FOUND when it returns none.
//  On OK the row is current: read its columns, then sqlite3_reset.
pl_status_t pl__sqlite_row(pl__sqlite_t *self, sqlite3_stmt *stmt);

//  Runs a statement binding (a, b) and reports NOT_FOUND when it changed no row.
pl_status_t pl__sqlite_exec_pair(pl__sqlite_t *self, pl__stmt_id_t id, int64_t a, int64_t b);

//  Collects every row of stmt into a new array with row_fn; reverse puts them in the
//  opposite order. Returns OK with *out, or INTERNAL.
pl_status_t pl__sqlite_rows(pl__sqlite_t *self, sqlite3_stmt *stmt,
                            json_t *(*row_fn)(sqlite3_stmt *), bool reverse, json_t **out);

//  Collects the first column of every row of stmt as a new array of *count ids
//  (free() it). Returns OK, or INTERNAL with *ids NULL.
pl_status_t pl__sqlite_ids(pl__sqlite_t *self, sqlite3_stmt *stmt, int64_t **ids, size_t *count);
//  A Content from the current row of a statement selecting PL__CONTENT_COLUMNS.
json_t *pl__sqlite_content(sqlite3_stmt *stmt);

//  The chat half of the backend (sqlite_chat.c), filling the ops table.
void pl__sqlite_chat_ops(pl_store_ops_t *ops);

//  Follows, likers and notifications (sqlite_social.c), filling the ops table.
void pl__sqlite_social_ops(pl_store_ops_t *ops);
//  Full-text search over contents (sqlite_search.c), filling the ops table.
void pl__sqlite_search_ops(pl_store_ops_t *ops);

#endif
