/*  `parley copy-store` (see copy_store.h): SQLite rows read through the source's
    own connection, written to PostgreSQL through the target writer's, both opened
    by the store backends (so the source must be at this build's schema and the
    target is migrated first). The tables share their column names in both schemas;
    rows go as text, which PostgreSQL reads into each column's type. */
#include "parley/copy_store.h"

#include "parley/config.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/uploads.h"
#include "postgres.h"
#include "sqlite.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

//  Rows written per PostgreSQL transaction: what an interruption can take back.
#define CHUNK_ROWS  1000
#define COLUMNS_MAX 9

typedef struct {
    const char *name;
    const char *columns; //  as both schemas name them, in this order
    const char *key;     //  the order rows are read in
    const char *id;      //  an identity column whose sequence must pass the ids, or NULL
} table_t;

//  In the order the foreign keys need.
static const table_t s_tables[] = {
    {"users", "id, username, password_hash, display_name, avatar_url, created_at", "id", "id"},
    {"follows", "follower_id, followee_id, created_at", "follower_id, followee_id", NULL},
    {"contents", "id, kind, title, description, year, created_at", "id", "id"},
    {"likes", "content_id, user_id, created_at", "content_id, user_id", NULL},
    {"rooms", "id, kind, title, content_id, dm_low, dm_high, last_seq, last_activity, created_at",
     "id", "id"},
    {"members", "room_id, user_id, joined_at, last_read_seq", "room_id, user_id", NULL},
    {"messages", "room_id, seq, sender_id, client_id, kind, body, url, ts", "room_id, seq", NULL},
    {"notifications", "id, user_id, kind, room_id, count, ts, read, version, body", "id", NULL},
};
#define TABLE_COUNT (sizeof s_tables / sizeof s_tables[0])

//  Runs sql on the target; false (reason on report) when it failed.
static bool s_pg(PGconn *conn, const char *sql, int count, const char *const *values, FILE *report,
                 int64_t *changed)
{
    PGresult *res = PQexecParams(conn, sql, count, NULL, values, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(report, "copy-store: %s\n", PQresultErrorMessage(res));
    else if (changed)
        *changed = status == PGRES_TUPLES_OK && PQntuples(res) == 1
                       ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                       : strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return ok;
}

//  The number of rows of a table on the source; -1 when it cannot be read.
static int64_t s_sqlite_count(sqlite3 *db, const char *table)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *stmt = NULL;
    int64_t count = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

//  Ends the chunk's transaction and, unless the table is done, begins the next.
static bool s_next_chunk(PGconn *conn, bool more, FILE *report)
{
    return s_pg(conn, "COMMIT", 0, NULL, report, NULL) &&
           (!more || s_pg(conn, "BEGIN", 0, NULL, report, NULL));
}

//  Copies one table's rows; *copied counts those the target did not have.
static bool s_copy_table(sqlite3 *db, PGconn *conn, const table_t *table, FILE *report,
                         int64_t *copied)
{
    char select[256], insert[512], marks[64] = "";
    snprintf(select, sizeof select, "SELECT %s FROM %s ORDER BY %s", table->columns, table->name,
             table->key);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, select, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(report, "copy-store: %s: %s\n", table->name, sqlite3_errmsg(db));
        return false;
    }
    int columns = sqlite3_column_count(stmt);
    for (int i = 0; i < columns && columns <= COLUMNS_MAX; i++)
        snprintf(marks + strlen(marks), sizeof marks - strlen(marks), "%s$%d", i ? ", " : "",
                 i + 1);
    snprintf(insert, sizeof insert, "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING",
             table->name, table->columns, marks);
    bool ok = columns <= COLUMNS_MAX && s_pg(conn, "BEGIN", 0, NULL, report, NULL);
    int rc = SQLITE_DONE;
    for (int64_t rows = 0; ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW;) {
        const char *values[COLUMNS_MAX];
        for (int i = 0; i < columns; i++)
            values[i] = (const char *)sqlite3_column_text(stmt, i);
        int64_t added = 0;
        ok = s_pg(conn, insert, columns, values, report, &added);
        *copied += added;
        if (ok && ++rows % CHUNK_ROWS == 0)
            ok = s_next_chunk(conn, true, report);
    }
    if (ok && rc != SQLITE_DONE) {
        fprintf(report, "copy-store: reading %s: %s\n", table->name, sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(stmt);
    if (ok)
        return s_next_chunk(conn, false, report);
    s_pg(conn, "ROLLBACK", 0, NULL, report, NULL);
    return false;
}

//  Reads a whole upload file into a new buffer; NULL when it cannot.
static char *s_read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rbe");
    char *bytes = NULL;
    long size = -1;
    if (file && fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 &&
        fseek(file, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)size + 1)) &&
        fread(bytes, 1, (size_t)size, file) != (size_t)size) {
        free(bytes);
        bytes = NULL;
    }
    if (file)
        fclose(file);
    *len = bytes ? (size_t)size : 0;
    return bytes;
}

//  Copies every upload file of <data_dir>/uploads (a temporary one has no upload's
//  name and is passed over); *files counts them, *copied those the target lacked.
static bool s_copy_uploads(const char *data_dir, PGconn *conn, FILE *report, int64_t *files,
                           int64_t *copied)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/" PL_UPLOADS_DIR, data_dir);
    DIR *listing = opendir(dir);
    if (!listing)
        return errno == ENOENT; //  a data dir that never took an upload
    bool ok = true;
    for (struct dirent *entry; ok && (entry = readdir(listing));) {
        const pl_image_type_t *type = pl_upload_name_type(entry->d_name, strlen(entry->d_name));
        if (!type)
            continue;
        char path[4400];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        char *bytes = s_read_file(path, &len);
        const char *values[] = {entry->d_name, type->mime, bytes};
        const int lengths[] = {0, 0, (int)len}, formats[] = {0, 0, 1};
        PGresult *res = bytes ? PQexecParams(conn,
                                             "INSERT INTO uploads (name, mime, bytes)"
                                             " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                             3, NULL, values, lengths, formats, 0)
                              : NULL;
        ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (ok) {
            (*files)++;
            *copied += strtoll(PQcmdTuples(res), NULL, 10);
        } else
            fprintf(report, "copy-store: upload %s: %s\n", entry->d_name,
                    res ? PQresultErrorMessage(res) : "cannot be read");
        PQclear(res);
        free(bytes);
    }
    closedir(listing);
    return ok;
}

//  Moves the target's id sequences past every id copied, so new rows (and
//  notification ids and versions) never take one of them.
static bool s_move_sequences(PGconn *conn, FILE *report)
{
    char sql[256];
    for (size_t i = 0; i < TABLE_COUNT; i++) {
        if (!s_tables[i].id)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
                 " greatest((SELECT max(%s) FROM %s), 1))",
                 s_tables[i].name, s_tables[i].id, s_tables[i].id, s_tables[i].name);
        if (!s_pg(conn, sql, 0, NULL, report, NULL))
            return false;
    }
    return s_pg(conn,
                "SELECT setval('notification_ids', greatest((SELECT max(version) FROM"
                " notifications), (SELECT last_value FROM notification_ids)))",
                0, NULL, report, NULL);
}

int pl_copy_store(const char *data_dir, const char *postgres_url, FILE *report)
{
    char err[512] = "";
    pl_store_t *source = pl_store_sqlite_open(data_dir, false, err, sizeof err);
    pl_store_t *target =
        source ? pl_store_postgres_open(postgres_url, true, err, sizeof err) : NULL;
    if (!target) {
        fprintf(report, "copy-store: %s\n", err);
        pl_store_close(&source);
        return -1;
    }
    sqlite3 *db = ((pl__sqlite_t *)source)->db;
    PGconn *conn = ((pl__pg_t *)target)->conn;
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < TABLE_COUNT; i++) {
        const table_t *table = &s_tables[i];
        int64_t copied = 0, there = -1;
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table->name);
        if (!s_copy_table(db, conn, table, report, &copied) ||
            !s_pg(conn, sql, 0, NULL, report, &there)) {
            rc = -1;
            break;
        }
        int64_t here = s_sqlite_count(db, table->name);
        fprintf(report,
                "%s: copied %" PRId64 ", %" PRId64 " in SQLite, %" PRId64 " in PostgreSQL%s\n",
                table->name, copied, here, there, here == there ? "" : " (they differ)");
        if (here != there)
            rc = 1;
    }
    int64_t files = 0, copied = 0, there = -1;
    if (rc >= 0 && (!s_copy_uploads(data_dir, conn, report, &files, &copied) ||
                    !s_pg(conn, "SELECT count(*) FROM uploads", 0, NULL, report, &there)))
        rc = -1;
    else if (rc >= 0) {
        fprintf(report,
                "uploads: copied %" PRId64 ", %" PRId64 " files, %" PRId64 " in PostgreSQL%s\n",
                copied, files, there, files == there ? "" : " (they differ)");
        if (files != there)
            rc = 1;
    }
    if (rc >= 0 && !s_move_sequences(conn, report))
        rc = -1;
    pl_store_close(&target);
    pl_store_close(&source);
    return rc;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: parley copy-store [--config FILE] [--key value ...]\n"
                 "  Copies the SQLite store of data_dir into the PostgreSQL database of\n"
                 "  postgres_url: users, contents, likes, follows, rooms, members,\n"
                 "  messages, read pointers and notifications, with their ids. Rows\n"
                 "  already there are kept, so it may be run again, or after an\n"
                 "  interruption, and copies only what is missing; then the uploads\n"
                 "  of <data_dir>/uploads.\n"
                 "  Exit status: 0 copied and every table counted equal on both sides,\n"
                 "  1 a store failed or counts differ, 2 usage.\n\n");
}

int pl_copy_store_main(int argc, char *const *argv, char *const *envp)
{
    if (pl_config_wants_help(argc, argv)) {
        s_usage(stdout);
        pl_config_print_help(stdout);
        return 0;
    }
    pl_config_t cfg;
    char err[512] = "";
    if (pl_config_load(&cfg, argc, argv, envp, err, sizeof err) || !cfg.postgres_url[0]) {
        fprintf(stderr, "parley copy-store: %s\n", err[0] ? err : "postgres_url: needed");
        s_usage(stderr);
        pl_config_clear(&cfg);
        return 2;
    }
    pl_log_set_level((pl_log_level_t)pl_log_level_parse(cfg.log_level));
    int rc = pl_copy_store(cfg.data_dir, cfg.postgres_url, stdout);
    pl_config_clear(&cfg);
    return rc == 0 ? 0 : 1;
}
