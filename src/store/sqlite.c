/*  The SQLite backend of the store. The database is <data_dir>/parley.db in WAL mode,
    so the persister's one writer and the readers never block each other. The writer
    runs with synchronous=FULL: a committed transaction is on disk before the
    persister acknowledges anything in it, and the persister commits whole batches,
    so the fsync is paid once per batch rather than once per write.

    The schema is a list of migrations; PRAGMA user_version records how many have
    run, and each runs in its own transaction. This file holds the connection, the
    schema and the account operations; sqlite_chat.c the chat ones and
    sqlite_search.c the full-text search. */
#include "sqlite.h"

#include "parley/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

//  How long a connection waits for a lock another holds before it gives up.
#define BUSY_TIMEOUT_MS 5000
//  The pause between two attempts to enter WAL mode (s_enter_wal).
#define WAL_RETRY_MS 10
//  The writer's page cache. A batch of messages across many rooms dirties a leaf page
//  per room (messages are keyed by room, then seq), so the default 2 MiB cache keeps
//  re-reading them. Its checkpoints are sqlite_wal.c's. Neither touches durability:
//  synchronous stays FULL.
#define WRITER_TUNING " PRAGMA cache_size = -65536;"

static const char *const s_migrations[] = {
    //  1: accounts and who follows whom
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  avatar_url TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE follows ("
    "  follower_id INTEGER NOT NULL REFERENCES users(id),"
    "  followee_id INTEGER NOT NULL REFERENCES users(id),"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (follower_id, followee_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX follows_by_followee ON follows (followee_id, follower_id);",

    //  2: contents and their likes, rooms, members and messages. content_id and the DM pair are
    //  unique:
    //  the store itself makes a second room for one content impossible.
    "CREATE TABLE contents ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('movie', 'book')),"
    "  title TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  year INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE rooms ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('group', 'dm')),"
    "  title TEXT NOT NULL,"
    "  content_id INTEGER UNIQUE REFERENCES contents(id),"
    "  dm_low INTEGER REFERENCES users(id),"
    "  dm_high INTEGER REFERENCES users(id),"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  last_activity INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (dm_low, dm_high),"
    "  CHECK ((kind = 'group' AND content_id IS NOT NULL AND dm_low IS NULL)"
    "      OR (kind = 'dm' AND content_id IS NULL AND dm_low < dm_high))"
    ");"
    "CREATE TABLE members ("
    "  room_id INTEGER NOT NULL REFERENCES rooms(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  joined_at INTEGER NOT NULL,"
    "  last_read_seq INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (room_id, user_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX members_by_user ON members (user_id, room_id);"
    "CREATE TABLE messages ("
    "  room_id INTEGER NOT NULL REFERENCES rooms(id),"
    "  seq INTEGER NOT NULL,"
    "  sender_id INTEGER NOT NULL REFERENCES users(id),"
    "  client_id TEXT,"
    "  kind TEXT NOT NULL CHECK (kind IN ('text', 'image')),"
    "  body TEXT NOT NULL DEFAULT '',"
    "  url TEXT,"
    "  ts INTEGER NOT NULL,"
    "  PRIMARY KEY (room_id, seq)"
    ") WITHOUT ROWID;"
    "CREATE TABLE likes ("
    "  content_id INTEGER NOT NULL REFERENCES contents(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (content_id, user_id)"
    ") WITHOUT ROWID;",

    //  3: full-text search over contents' title and description (sqlite_search.c).
    //  An external-content FTS5 table: the text lives once, in contents, and triggers
    //  keep the index in step with every insert, update and delete; 'rebuild' indexes
    //  the rows that existed before. unicode61 with remove_diacritics 2 folds case and
    //  accents ("amelie" finds "Amélie") and splits on Unicode punctuation; prefix
    //  indexes of 2 and 3 characters serve the prefix match of the last word typed.
    //  The index on (title, kind, year) serves the import's already-there check.
    "CREATE VIRTUAL TABLE contents_fts USING fts5("
    "  title, description, content='contents', content_rowid='id',"
    "  tokenize='unicode61 remove_diacritics 2', prefix='2 3'"
    ");"
    "CREATE TRIGGER contents_fts_insert AFTER INSERT ON contents BEGIN"
    "  INSERT INTO contents_fts (rowid, title, description)"
    "  VALUES (new.id, new.title, new.description);"
    "END;"
    "CREATE TRIGGER contents_fts_delete AFTER DELETE ON contents BEGIN"
    "  INSERT INTO contents_fts (contents_fts, rowid, title, description)"
    "  VALUES ('delete', old.id, old.title, old.description);"
    "END;"
    "CREATE TRIGGER contents_fts_update AFTER UPDATE OF title, description ON contents BEGIN"
    "  INSERT INTO contents_fts (contents_fts, rowid, title, description)"
    "  VALUES ('delete', old.id, old.title, old.description);"
    "  INSERT INTO contents_fts (rowid, title, description)"
    "  VALUES (new.id, new.title, new.description);"
    "END;"
    "INSERT INTO contents_fts (contents_fts) VALUES ('rebuild');"
    "CREATE INDEX contents_by_title ON contents (title, kind, year);",

    //  4: notifications. The notifier hands out ids and writes a row again while it
    //  coalesces (count, ts, body change), so the id is the key and body is the
    //  rendered Notification without its id and read flag. version orders the writes
    //  (it is the SSE event id, see notifier.h): it grows with every write.
    "CREATE TABLE notifications ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('follow', 'room_created', 'dm', 'group_message')),"
    "  room_id INTEGER REFERENCES rooms(id),"
    "  count INTEGER NOT NULL DEFAULT 1,"
    "  ts INTEGER NOT NULL,"
    "  read INTEGER NOT NULL DEFAULT 0,"
    "  version INTEGER NOT NULL,"
    "  body TEXT NOT NULL"
    ");"
    "CREATE INDEX notifications_by_user ON notifications (user_id, id);"
    "CREATE INDEX notifications_by_version ON notifications (user_id, version);"
    "CREATE INDEX notifications_unread ON notifications (user_id) WHERE read = 0;",
};
#define MIGRATION_COUNT ((int)(sizeof s_migrations / sizeof s_migrations[0]))

static const char *const s_statements[PL__STMT_COUNT] = {
#define STMT_SQL(name, sql) [PL__STMT_##name] = sql,
    PL__SQLITE_STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

int pl_store_sqlite_schema_version(void)
{
    return MIGRATION_COUNT;
}

sqlite3_stmt *pl__sqlite_stmt(pl__sqlite_t *self, pl__stmt_id_t id)
{
    sqlite3_stmt *stmt = self->stmts[id];
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

void pl__sqlite_bind_str(sqlite3_stmt *stmt, int index, pl_str_t value)
{
    if (value.ptr)
        sqlite3_bind_text(stmt, index, value.ptr, (int)value.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

pl_status_t pl__sqlite_exec(pl__sqlite_t *self, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return PL_STATUS_OK;
    if (rc == SQLITE_CONSTRAINT)
        return PL_STATUS_CONFLICT;
    pl_error("sqlite: %s: %s", sqlite3_sql(stmt), sqlite3_errmsg(self->db));
    return PL_STATUS_INTERNAL;
}

pl_status_t pl__sqlite_exec_pair(pl__sqlite_t *self, pl__stmt_id_t id, int64_t a, int64_t b)
{
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, id);
    sqlite3_bind_int64(stmt, 1, a);
    sqlite3_bind_int64(stmt, 2, b);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    if (status == PL_STATUS_OK && sqlite3_changes(self->db) == 0)
        return PL_STATUS_NOT_FOUND;
    return status;
}

pl_status_t pl__sqlite_rows(pl__sqlite_t *self, sqlite3_stmt *stmt,
                            json_t *(*row_fn)(sqlite3_stmt *), bool reverse, json_t **out)
{
    json_t *rows = json_array();
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (reverse)
            json_array_insert_new(rows, 0, row_fn(stmt));
        else
            json_array_append_new(rows, row_fn(stmt));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        pl_error("sqlite: %s: %s", sqlite3_sql(stmt), sqlite3_errmsg(self->db));
        json_decref(rows);
        return PL_STATUS_INTERNAL;
    }
    *out = rows;
    return PL_STATUS_OK;
}

pl_status_t pl__sqlite_ids(pl__sqlite_t *self, sqlite3_stmt *stmt, int64_t **ids, size_t *count)
{
    size_t capacity = 0;
    int rc;
    *ids = NULL;
    *count = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            int64_t *grown = realloc(*ids, capacity * sizeof *grown);
            if (!grown)
                break;
            *ids = grown;
        }
        (*ids)[(*count)++] = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return PL_STATUS_OK;
    free(*ids);
    *ids = NULL;
    *count = 0;
    pl_error("sqlite: %s: %s", sqlite3_sql(stmt), sqlite3_errmsg(self->db));
    return PL_STATUS_INTERNAL;
}

static void s_copy_column(sqlite3_stmt *stmt, int col, char *out, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

pl_status_t pl__sqlite_row(pl__sqlite_t *self, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return PL_STATUS_OK;
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return PL_STATUS_NOT_FOUND;
    pl_error("sqlite: %s: %s", sqlite3_sql(stmt), sqlite3_errmsg(self->db));
    return PL_STATUS_INTERNAL;
}

static pl_status_t s_read_user(pl__sqlite_t *self, sqlite3_stmt *stmt, pl_user_t *out)
{
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status;
    out->id = sqlite3_column_int64(stmt, 0);
    s_copy_column(stmt, 1, out->username, sizeof out->username);
    s_copy_column(stmt, 2, out->password_hash, sizeof out->password_hash);
    s_copy_column(stmt, 3, out->display_name, sizeof out->display_name);
    s_copy_column(stmt, 4, out->avatar_url, sizeof out->avatar_url);
    out->created_at = sqlite3_column_int64(stmt, 5);
    sqlite3_reset(stmt);
    return PL_STATUS_OK;
}

static pl_status_t s_begin(pl_store_t *base)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    pl_status_t status = pl__sqlite_exec(self, pl__sqlite_stmt(self, PL__STMT_BEGIN));
    if (status == PL_STATUS_OK)
        pl__sqlite_wal_keep_ahead(self); //  the write lock is held: see sqlite_wal.c
    return status;
}

static pl_status_t s_commit(pl_store_t *base)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    return pl__sqlite_exec(self, pl__sqlite_stmt(self, PL__STMT_COMMIT));
}

static pl_status_t s_rollback(pl_store_t *base)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    return pl__sqlite_exec(self, pl__sqlite_stmt(self, PL__STMT_ROLLBACK));
}

static pl_status_t s_user_insert(pl_store_t *base, pl_str_t username, pl_str_t password_hash,
                                 pl_str_t display_name, int64_t created_at, int64_t *id)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_USER_INSERT);
    pl__sqlite_bind_str(stmt, 1, username);
    pl__sqlite_bind_str(stmt, 2, password_hash);
    pl__sqlite_bind_str(stmt, 3, display_name);
    sqlite3_bind_int64(stmt, 4, created_at);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    if (status == PL_STATUS_OK)
        *id = sqlite3_last_insert_rowid(self->db);
    return status;
}

static pl_status_t s_user_update(pl_store_t *base, int64_t id, pl_str_t display_name,
                                 pl_str_t avatar_url)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_USER_UPDATE);
    sqlite3_bind_int64(stmt, 1, id);
    pl__sqlite_bind_str(stmt, 2, display_name);
    pl__sqlite_bind_str(stmt, 3, avatar_url);
    pl_status_t status = pl__sqlite_exec(self, stmt);
    if (status == PL_STATUS_OK && sqlite3_changes(self->db) == 0)
        return PL_STATUS_NOT_FOUND;
    return status;
}

static pl_status_t s_user_get(pl_store_t *base, int64_t id, pl_user_t *out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_USER_GET);
    sqlite3_bind_int64(stmt, 1, id);
    return s_read_user(self, stmt, out);
}

static pl_status_t s_user_find(pl_store_t *base, pl_str_t username, pl_user_t *out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_USER_FIND);
    pl__sqlite_bind_str(stmt, 1, username);
    return s_read_user(self, stmt, out);
}

static pl_status_t s_follow_stats(pl_store_t *base, int64_t user_id, int64_t viewer_id,
                                  pl_follow_stats_t *out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    sqlite3_stmt *stmt = pl__sqlite_stmt(self, PL__STMT_FOLLOW_STATS);
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, viewer_id);
    pl_status_t status = pl__sqlite_row(self, stmt);
    if (status != PL_STATUS_OK)
        return status;
    out->followers = sqlite3_column_int64(stmt, 0);
    out->following = sqlite3_column_int64(stmt, 1);
    out->followed_by_viewer = sqlite3_column_int(stmt, 2) != 0;
    sqlite3_reset(stmt);
    return PL_STATUS_OK;
}

//  Uploads are the files in <data_dir>/uploads (see store.h).
static pl_status_t s_upload_put(pl_store_t *base, pl_str_t name, pl_str_t mime, pl_str_t bytes)
{
    return PL_STATUS_OK;
}

static pl_status_t s_upload_get(pl_store_t *base, pl_str_t name, char **bytes, size_t *len)
{
    return PL_STATUS_NOT_FOUND;
}

//  The file is this process's to open: nothing to lose or reach again.
static pl_status_t s_ping(pl_store_t *base)
{
    return PL_STATUS_OK;
}

static void s_close(pl_store_t *base)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    for (int i = 0; i < PL__STMT_COUNT; i++)
        sqlite3_finalize(self->stmts[i]);
    sqlite3_close(self->db);
    free(self);
}

//  The accounts half is listed here; the chat, social and search halves are added by
//  sqlite_chat.c, sqlite_social.c and sqlite_search.c, once, before
//  the first connection
//  uses the table.
static pl_store_ops_t s_ops = {
    .close = s_close,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .user_insert = s_user_insert,
    .user_update = s_user_update,
    .user_get = s_user_get,
    .user_find = s_user_find,
    .follow_stats = s_follow_stats,
    .ping = s_ping,
    .upload_put = s_upload_put,
    .upload_get = s_upload_get,
};

static pthread_once_t s_ops_once = PTHREAD_ONCE_INIT;

static void s_complete_ops(void)
{
    pl__sqlite_chat_ops(&s_ops);
    pl__sqlite_social_ops(&s_ops);
    pl__sqlite_search_ops(&s_ops);
}

//  Runs one SQL script; returns 0 or -1 with the SQLite message in err.
static int s_run(sqlite3 *db, const char *sql, char *err, size_t err_len)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK)
        return 0;
    snprintf(err, err_len, "sqlite: %s", message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return -1;
}

bool pl__sqlite_pragma(sqlite3 *db, const char *name, char *out, size_t size)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s", name);
    sqlite3_stmt *stmt = NULL;
    bool ok = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
              sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0);
    if (ok)
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return ok;
}

static int s_user_version(sqlite3 *db)
{
    char version[32];
    return pl__sqlite_pragma(db, "user_version", version, sizeof version) ? atoi(version) : -1;
}

//  Puts the database in WAL mode. Switching a new database takes an exclusive lock,
//  and of two connections switching at once (a server and an import starting together
//  on a new data dir) SQLite answers one BUSY at once, without waiting, rather than
//  let them deadlock: that one tries again, within the busy timeout.
static int s_enter_wal(sqlite3 *db, char *err, size_t err_len)
{
    for (int waited_ms = 0;; waited_ms += WAL_RETRY_MS) {
        int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if (rc != SQLITE_BUSY || waited_ms >= BUSY_TIMEOUT_MS) {
            snprintf(err, err_len, "sqlite: cannot enter WAL mode: %s", sqlite3_errmsg(db));
            return -1;
        }
        nanosleep(&(struct timespec){0, WAL_RETRY_MS * 1000000L}, NULL);
    }
}

//  Applies every migration past the file's user_version, each in a transaction. The
//  version is read inside the write transaction: another process on the same data
//  dir (an import beside a running server) may have migrated in the meantime.
static int s_migrate(sqlite3 *db, char *err, size_t err_len)
{
    for (;;) {
        if (s_run(db, "BEGIN IMMEDIATE;", err, err_len))
            return -1;
        int version = s_user_version(db);
        if (version < 0 || version >= MIGRATION_COUNT) {
            s_run(db, "ROLLBACK;", err, 0);
            if (version < 0)
                snprintf(err, err_len, "sqlite: cannot read the schema version");
            else if (version > MIGRATION_COUNT)
                snprintf(err, err_len,
                         "store: the database has schema version %d, newer than this build (%d)",
                         version, MIGRATION_COUNT);
            return version == MIGRATION_COUNT ? 0 : -1;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", version + 1);
        if (s_run(db, s_migrations[version], err, err_len) || s_run(db, bump, err, err_len) ||
            s_run(db, "COMMIT;", err, err_len)) {
            s_run(db, "ROLLBACK;", err, 0);
            return -1;
        }
        pl_info("store: migrated the schema to version %d", version + 1);
    }
}

pl_store_t *pl_store_sqlite_open(const char *data_dir, bool writer, char *err, size_t err_len)
{
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "data_dir: cannot create %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/parley.db", data_dir);
    pl__sqlite_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_len, "store: out of memory");
        return NULL;
    }
    pthread_once(&s_ops_once, s_complete_ops);
    self->base.ops = &s_ops;
    //  NOMUTEX: a connection is only ever used by one thread at a time, by design.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "store: cannot open %s: %s", path, sqlite3_errmsg(self->db));
        goto fail;
    }
    sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
    const char *setup = writer
                            ? "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;" WRITER_TUNING
                            : "PRAGMA query_only = 1; PRAGMA foreign_keys = ON;";
    if ((writer && s_enter_wal(self->db, err, err_len)) || s_run(self->db, setup, err, err_len))
        goto fail;
    if (writer && s_migrate(self->db, err, err_len))
        goto fail;
    if (writer && !pl__sqlite_wal_watch(self)) {
        snprintf(err, err_len, "store: cannot watch the write-ahead log: %s",
                 sqlite3_errmsg(self->db));
        goto fail;
    }
    if (!writer && s_user_version(self->db) != MIGRATION_COUNT) {
        snprintf(err, err_len, "store: reader opened before the schema was migrated");
        goto fail;
    }
    for (int i = 0; i < PL__STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(self->db, s_statements[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &self->stmts[i], NULL) != SQLITE_OK) {
            snprintf(err, err_len, "store: preparing '%s': %s", s_statements[i],
                     sqlite3_errmsg(self->db));
            goto fail;
        }
    }
    return &self->base;
fail:
    s_close(&self->base);
    return NULL;
}
