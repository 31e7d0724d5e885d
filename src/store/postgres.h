/*  Internal to the PostgreSQL backend (src/store/postgres*.c): the connection struct,
    every prepared statement (declared once in PL__PG_STATEMENTS, prepared when a
    connection opens) and the helpers that run them. Not part of the store interface.

    Parameters go as text for integers and literals (arrays) and as binary for
    strings, so a pl_str_t view is sent as its bytes without a NUL. Rows are read
    back as text. */
#ifndef PARLEY_STORE_POSTGRES_INTERNAL_H
#define PARLEY_STORE_POSTGRES_INTERNAL_H

#include "parley/store.h"

#include <libpq-fe.h>

#define PL__PG_MESSAGE_COLUMNS                                                                     \
    "m.room_id, m.seq, m.client_id, m.kind, m.body, m.url, m.ts, u.id, u.display_name,"            \
    " u.avatar_url FROM messages m JOIN users u ON u.id = m.sender_id"

//  A Content's columns (read by pl__pg_content), from contents c and its room r.
#define PL__PG_CONTENT_COLUMNS                                                                     \
    "c.id, c.kind, c.title, c.description, c.year, r.id,"                                          \
    " (SELECT count(*) FROM likes WHERE content_id = c.id)"
#define PL__PG_CONTENT_ROOM " LEFT JOIN rooms r ON r.content_id = c.id"

//  A title match weighs ten description matches (weights are {D, C, B, A}; the title
//  is A, the description B), as bm25(10, 1) does for SQLite.
#define PL__PG_SEARCH_RANK "ts_rank('{0.1, 0.1, 0.1, 1.0}', c.search, q, 1)"

//  X(NAME, SQL). Inserts that may meet a row already there say ON CONFLICT DO
//  NOTHING and report it by the rows they return: a statement that fails aborts the
//  whole PostgreSQL transaction, where SQLite undoes only the statement.
#define PL__PG_STATEMENTS(X)                                                                       \
    X(USER_INSERT, "INSERT INTO users (username, password_hash, display_name, created_at)"         \
                   " VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id")      \
    X(USER_UPDATE, "UPDATE users SET display_name = coalesce($2::text, display_name),"             \
                   " avatar_url = coalesce($3::text, avatar_url) WHERE id = $1")                   \
    X(USER_GET, "SELECT id, username, password_hash, display_name, avatar_url, created_at"         \
                " FROM users WHERE id = $1")                                                       \
    X(USER_FIND, "SELECT id, username, password_hash, display_name, avatar_url, created_at"        \
                 " FROM users WHERE username = $1")                                                \
    X(FOLLOW_STATS, "SELECT (SELECT count(*) FROM follows WHERE followee_id = $1),"                \
                    " (SELECT count(*) FROM follows WHERE follower_id = $1),"                      \
                    " EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1)") \
    X(CONTENT_INSERT, "INSERT INTO contents (kind, title, description, year, created_at)"          \
                      " VALUES ($1, $2, $3, $4, $5) RETURNING id")                                 \
    X(CONTENT_GET,                                                                                 \
      "SELECT " PL__PG_CONTENT_COLUMNS " FROM contents c" PL__PG_CONTENT_ROOM " WHERE c.id = $1")  \
    X(CONTENT_FIND, "SELECT id FROM contents WHERE title = $1 AND kind = $2"                       \
                    " AND year IS NOT DISTINCT FROM $3::bigint ORDER BY id LIMIT 1")               \
    X(CONTENT_SEARCH, "SELECT " PL__PG_CONTENT_COLUMNS " FROM parley_search_query($1::text[]) q,"  \
                      " contents c" PL__PG_CONTENT_ROOM " WHERE c.search @@ q"                     \
                      " AND ($2::text IS NULL OR c.kind = $2::text)"                               \
                      " ORDER BY " PL__PG_SEARCH_RANK " DESC, c.id DESC LIMIT $3")                 \
    X(CONTENT_LIST, "SELECT " PL__PG_CONTENT_COLUMNS " FROM contents c" PL__PG_CONTENT_ROOM        \
                    " WHERE $1::text IS NULL OR c.kind = $1::text ORDER BY c.id DESC LIMIT $2")    \
    X(LIKE_INSERT, "WITH c AS (SELECT id FROM contents WHERE id = $1),"                            \
                   " added AS (INSERT INTO likes (content_id, user_id, created_at)"                \
                   " SELECT id, $2::bigint, $3::bigint FROM c ON CONFLICT DO NOTHING RETURNING 1)" \
                   " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM added)")               \
    X(LIKE_DELETE, "DELETE FROM likes WHERE content_id = $1 AND user_id = $2")                     \
    X(ROOM_BY_CONTENT, "SELECT id FROM rooms WHERE content_id = $1")                               \
    X(ROOM_BY_PAIR, "SELECT id FROM rooms WHERE dm_low = $1 AND dm_high = $2")                     \
    X(ROOM_INSERT_GROUP, "INSERT INTO rooms (kind, title, content_id, last_activity, created_at)"  \
                         " SELECT 'group', title, id, $2::bigint, $2::bigint FROM contents"        \
                         " WHERE id = $1 ON CONFLICT (content_id) DO NOTHING RETURNING id")        \
    X(ROOM_INSERT_DM, "INSERT INTO rooms (kind, title, dm_low, dm_high, last_activity,"            \
                      " created_at) SELECT 'dm', '', $1::bigint, $2::bigint, $3::bigint,"          \
                      " $3::bigint WHERE (SELECT count(*) FROM users WHERE id IN ($1, $2)) = 2"    \
                      " ON CONFLICT (dm_low, dm_high) DO NOTHING RETURNING id")                    \
    X(MEMBER_INSERT, "INSERT INTO members (room_id, user_id, joined_at, last_read_seq)"            \
                     " SELECT id, $2::bigint, $3::bigint, last_seq FROM rooms WHERE id = $1"       \
                     " AND EXISTS (SELECT 1 FROM users WHERE id = $2) ON CONFLICT DO NOTHING")     \
    X(MEMBER_DELETE, "DELETE FROM members WHERE room_id = $1 AND user_id = $2")                    \
    X(MEMBER_ROOMS, "SELECT room_id FROM members WHERE user_id = $1")                              \
    X(MEMBER_READ, "SELECT last_read_seq FROM members WHERE room_id = $1 AND user_id = $2")        \
    X(MESSAGE_INSERT, "INSERT INTO messages (room_id, seq, sender_id, client_id, kind, body, url," \
                      " ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"                               \
                      " ON CONFLICT (room_id, seq) DO NOTHING")                                    \
    X(ROOM_ADVANCE, "UPDATE rooms SET last_seq = greatest(last_seq, $2),"                          \
                    " last_activity = greatest(last_activity, $3) WHERE id = $1")                  \
    X(READ_ADVANCE, "UPDATE members SET last_read_seq = greatest(last_read_seq, $3)"               \
                    " WHERE room_id = $1 AND user_id = $2")                                        \
    X(ROOM_ADVANCES, "UPDATE rooms r SET last_seq = greatest(r.last_seq, v.seq),"                  \
                     " last_activity = greatest(r.last_activity, v.ts) FROM (SELECT id,"           \
                     " max(seq) AS seq, max(ts) AS ts FROM unnest($1::bigint[], $2::bigint[],"     \
                     " $3::bigint[]) AS t(id, seq, ts) GROUP BY id) v WHERE r.id = v.id")          \
    X(READ_ADVANCES, "UPDATE members m SET last_read_seq = greatest(m.last_read_seq, v.seq)"       \
                     " FROM (SELECT room_id, user_id, max(seq) AS seq FROM unnest($1::bigint[],"   \
                     " $2::bigint[], $3::bigint[]) AS t(room_id, user_id, seq)"                    \
                     " GROUP BY room_id, user_id) v"                                               \
                     " WHERE m.room_id = v.room_id AND m.user_id = v.user_id")                     \
    X(ROOM_GET, "SELECT r.id, r.kind, r.title, r.content_id, r.dm_low, r.dm_high, r.last_seq,"     \
                " r.created_at, (SELECT count(*) FROM members WHERE room_id = r.id)"               \
                " FROM rooms r WHERE r.id = $1")                                                   \
    X(ROOMS_OF_USER, "SELECT r.id FROM members m JOIN rooms r ON r.id = m.room_id"                 \
                     " WHERE m.user_id = $1 ORDER BY r.last_activity DESC, r.id DESC LIMIT $2")    \
    X(ROOM_MEMBERS, "SELECT u.id, u.username, u.display_name, u.avatar_url, u.created_at,"         \
                    " m.last_read_seq"                                                             \
                    " FROM members m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1"        \
                    " ORDER BY m.joined_at, u.id")                                                 \
    X(MESSAGE_GET, "SELECT " PL__PG_MESSAGE_COLUMNS " WHERE m.room_id = $1 AND m.seq = $2")        \
    X(MESSAGES_AFTER, "SELECT " PL__PG_MESSAGE_COLUMNS " WHERE m.room_id = $1 AND m.seq > $2"      \
                      " AND m.seq < $3 ORDER BY m.seq LIMIT $4")                                   \
    X(MESSAGES_BEFORE, "SELECT " PL__PG_MESSAGE_COLUMNS " WHERE m.room_id = $1 AND m.seq > $2"     \
                       " AND m.seq < $3 ORDER BY m.seq DESC LIMIT $4")                             \
    X(FOLLOW_INSERT, "INSERT INTO follows (follower_id, followee_id, created_at)"                  \
                     " SELECT $1::bigint, id, $3::bigint FROM users WHERE id = $2"                 \
                     " AND EXISTS (SELECT 1 FROM users WHERE id = $1)"                             \
                     " ON CONFLICT DO NOTHING RETURNING 1")                                        \
    X(FOLLOW_DELETE, "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")            \
    X(CONTENT_LIKERS, "SELECT user_id FROM likes WHERE content_id = $1")                           \
    X(NOTIFICATION_PUT, "INSERT INTO notifications (id, user_id, kind, room_id, count, ts, body,"  \
                        " version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id)"       \
                        " DO UPDATE SET count = excluded.count, ts = excluded.ts,"                 \
                        " body = excluded.body, version = excluded.version")                       \
    X(NOTIFICATIONS_READ, "UPDATE notifications SET read = true"                                   \
                          " WHERE user_id = $1 AND id = ANY ($2::bigint[]) AND NOT read")          \
    X(NOTIFICATIONS_READ_ALL, "UPDATE notifications SET read = true"                               \
                              " WHERE user_id = $1 AND NOT read")                                  \
    X(NOTIFICATIONS_BEFORE, "SELECT id, read, body FROM notifications"                             \
                            " WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")           \
    X(NOTIFICATIONS_AFTER, "SELECT id, read, body, version FROM notifications"                     \
                           " WHERE user_id = $1 AND version > $2 ORDER BY version LIMIT $3")       \
    X(NOTIFICATIONS_UNREAD, "SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read")  \
    X(NOTIFICATIONS_OPEN, "SELECT id, user_id, room_id, count FROM notifications"                  \
                          " WHERE NOT read AND room_id IS NOT NULL")                               \
    X(UPLOAD_PUT, "INSERT INTO uploads (name, mime, bytes) VALUES ($1, $2, $3)"                    \
                  " ON CONFLICT (name) DO NOTHING")                                                \
    X(UPLOAD_GET, "SELECT bytes FROM uploads WHERE name = $1")                                     \
    X(UPLOAD_EXISTS, "SELECT 1 FROM uploads WHERE name = $1")

typedef enum {
#define PL__PG_STMT_ENUM(name, sql) PL__PG_##name,
    PL__PG_STATEMENTS(PL__PG_STMT_ENUM)
#undef PL__PG_STMT_ENUM
        PL__PG_STMT_COUNT
} pl__pg_stmt_id_t;

#define PL__PG_PARAMS_MAX 8

//  The parameters of one statement, filled in order by pl__pg_int / pl__pg_str.
typedef struct {
    int count;
    const char *values[PL__PG_PARAMS_MAX];
    int lengths[PL__PG_PARAMS_MAX];
    int formats[PL__PG_PARAMS_MAX];
    char ints[PL__PG_PARAMS_MAX][24];
} pl__pg_params_t;

//  Messages one multi-row insert stores (MESSAGE_INSERT's 8 parameters each).
#define PL__PG_MESSAGE_ROWS 64

//  Rows of three integers for a statement that takes them as three arrays: each
//  column a "{1,2,3}" literal being written.
typedef struct {
    char *text[3]; //  owned
    size_t len[3], cap[3];
    int rows;
} pl__pg_int_rows_t;

typedef struct {
    pl_store_t base;
    PGconn *conn;
    //  Inside begin..commit the writer pipelines: statements whose answer nobody
    //  waits for are only sent (pl__pg_write), and the batch costs one round trip.
    bool pipelined;
    int pending; //  statements sent in the pipeline whose results are not read yet
    bool failed; //  a statement of the open transaction failed: it cannot commit
    bool writer;
    //  A lost server is tried again after retry_delay_ms (doubling), not before retry_at_ms.
    int retry_delay_ms;
    int64_t retry_at_ms;
    //  Messages of the open transaction not sent yet (pl__pg_write_message): a full
    //  set goes as one multi-row insert, fewer row by row before any other statement.
    pl__pg_params_t queued[PL__PG_MESSAGE_ROWS];
    char *queued_strings[PL__PG_MESSAGE_ROWS]; //  owned: each row's strings, copied
    int queued_count;
    //  Pointer moves of the open transaction not sent yet: one statement each, sent
    //  with the queued messages (the greatest seq of a room or member wins).
    pl__pg_int_rows_t room_advances, read_advances;
} pl__pg_t;

void pl__pg_int(pl__pg_params_t *params, int64_t value);
//  A NULL ptr is SQL NULL.
void pl__pg_str(pl__pg_params_t *params, pl_str_t value);
//  A literal in PostgreSQL's text form (an array, {1,2}), NUL-terminated.
void pl__pg_literal(pl__pg_params_t *params, const char *text);
//  An integer, or SQL NULL when it is 0 (a year, a room none).
void pl__pg_int_or_null(pl__pg_params_t *params, int64_t value);

//  Whether the connection works, re-establishing a lost one first (session settings
//  and statements included); while the server stays away, attempts back off.
bool pl__pg_connected(pl__pg_t *self);

//  How a statement that failed is answered: UNAVAILABLE when the connection is
//  gone, else INTERNAL.
pl_status_t pl__pg_failure(const pl__pg_t *self);

//  Runs a statement and returns its result, which the caller PQclears; NULL on
//  failure (logged), with *status INTERNAL.
PGresult *pl__pg_query(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params,
                       pl_status_t *status);

//  Runs a statement expected to return one row: OK with *out (PQclear it), NOT_FOUND
//  when it returned none, or INTERNAL.
pl_status_t pl__pg_row(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params,
                       PGresult **out);

//  Runs a statement that returns no rows; *changed (may be NULL) gets how many rows
//  it changed.
pl_status_t pl__pg_exec(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params,
                        int64_t *changed);

//  A write whose outcome nobody reads before the commit: inside a transaction it is
//  only sent, and a failure fails the commit; outside one it runs at once.
pl_status_t pl__pg_write(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params);

//  pl__pg_write of MESSAGE_INSERT, whose rows a transaction sends many at a time.
pl_status_t pl__pg_write_message(pl__pg_t *self, const pl__pg_params_t *params);

//  pl__pg_write of ROOM_ADVANCE or READ_ADVANCE (a, b, c), whose rows a transaction
//  sends in one statement each (ROOM_ADVANCES, READ_ADVANCES).
pl_status_t pl__pg_write_advance(pl__pg_t *self, pl__pg_stmt_id_t id, int64_t a, int64_t b,
                                 int64_t c);

//  Runs a statement binding (a, b) and reports NOT_FOUND when it changed no row.
pl_status_t pl__pg_exec_pair(pl__pg_t *self, pl__pg_stmt_id_t id, int64_t a, int64_t b);

//  Collects every row into a new array with row_fn (reverse: in the opposite order).
pl_status_t pl__pg_rows(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params,
                        json_t *(*row_fn)(const PGresult *, int row), bool reverse, json_t **out);

//  Collects the first column of every row as a new array of *count ids (free() it).
pl_status_t pl__pg_ids(pl__pg_t *self, pl__pg_stmt_id_t id, const pl__pg_params_t *params,
                       int64_t **ids, size_t *count);

//  Column readers: an integer (0 for NULL), a text ("" for NULL), a boolean.
int64_t pl__pg_col_int(const PGresult *res, int row, int col);
const char *pl__pg_col_text(const PGresult *res, int row, int col);
bool pl__pg_col_bool(const PGresult *res, int row, int col);
//  The column as a JSON integer or string, or JSON null for SQL NULL.
json_t *pl__pg_col_json_int(const PGresult *res, int row, int col);
json_t *pl__pg_col_json_text(const PGresult *res, int row, int col);

//  A Content from a row selecting PL__PG_CONTENT_COLUMNS.
json_t *pl__pg_content(const PGresult *res, int row);

//  The halves of the backend, each filling its part of the ops table.
void pl__pg_chat_ops(pl_store_ops_t *ops);
void pl__pg_social_ops(pl_store_ops_t *ops);

#endif
