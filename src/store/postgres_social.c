/*  The PostgreSQL backend's social operations and search: who follows whom, who likes
    a content, the notifications the notifier stores with the counter that numbers
    them, and GET /api/contents?q= over the contents' generated tsvector.

    Search: the query's words are cut out by pl__search_words, exactly as for SQLite,
    and go to the server as a text[] of plain strings; parley_search_query (the
    schema) folds each, quotes it as a lexeme and makes the last a prefix. No byte a
    client typed is ever read as tsquery syntax, so any text is a valid query. A word
    that is not valid UTF-8 is dropped here, as the server would refuse the array. */
#include "postgres.h"

#include "parley/json_shapes.h"
#include "parley/log.h"
#include "search_words.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

//  The text[] literal: each word in double quotes, commas between, braces, NUL.
#define SEARCH_ARRAY_SIZE (PL__SEARCH_WORDS_MAX * (PL__SEARCH_WORD_BYTES_MAX + 3) + 3)

static pl_status_t s_follow_add(pl_store_t *base, int64_t follower_id, int64_t followee_id,
                                int64_t now)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, follower_id);
    pl__pg_int(&params, followee_id);
    pl__pg_int(&params, now);
    int64_t added = 0;
    pl_status_t status = pl__pg_exec((pl__pg_t *)base, PL__PG_FOLLOW_INSERT, &params, &added);
    //  Nothing added: they already follow, or a user is missing (SQLite's foreign key
    //  answers CONFLICT too).
    return status == PL_STATUS_OK && added == 0 ? PL_STATUS_CONFLICT : status;
}

static pl_status_t s_follow_remove(pl_store_t *base, int64_t follower_id, int64_t followee_id)
{
    return pl__pg_exec_pair((pl__pg_t *)base, PL__PG_FOLLOW_DELETE, follower_id, followee_id);
}

static pl_status_t s_content_likers(pl_store_t *base, int64_t content_id, int64_t **ids,
                                    size_t *count)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, content_id);
    return pl__pg_ids((pl__pg_t *)base, PL__PG_CONTENT_LIKERS, &params, ids, count);
}

static pl_status_t s_notification_put(pl_store_t *base, const pl_notification_row_t *row)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, row->id);
    pl__pg_int(&params, row->user_id);
    pl__pg_str(&params, row->kind);
    pl__pg_int_or_null(&params, row->room_id);
    pl__pg_int(&params, row->count);
    pl__pg_int(&params, row->ts);
    pl__pg_str(&params, row->body);
    pl__pg_int(&params, row->version);
    return pl__pg_write((pl__pg_t *)base, PL__PG_NOTIFICATION_PUT, &params);
}

static pl_status_t s_notifications_read(pl_store_t *base, int64_t user_id, const int64_t *ids,
                                        size_t count)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, user_id);
    if (!ids)
        return pl__pg_write((pl__pg_t *)base, PL__PG_NOTIFICATIONS_READ_ALL, &params);
    //  The ids as a bigint[] literal, {1,2,3}: at most 20 digits and a comma each.
    size_t size = count * 21 + 3, used = 0;
    char *list = malloc(size);
    if (!list)
        return PL_STATUS_INTERNAL;
    list[used++] = '{';
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(list + used, size - used, "%s%" PRId64, i ? "," : "", ids[i]);
    snprintf(list + used, size - used, "}");
    pl__pg_literal(&params, list);
    //  Already read, or not theirs: nothing to do, as for SQLite.
    pl_status_t status = pl__pg_exec((pl__pg_t *)base, PL__PG_NOTIFICATIONS_READ, &params, NULL);
    free(list);
    return status;
}

//  A Notification from a row (id, read, body).
static json_t *s_notification(const PGresult *res, int row)
{
    return pl_json_notification(pl__pg_col_int(res, row, 0), pl__pg_col_bool(res, row, 1),
                                pl__pg_col_text(res, row, 2));
}

static pl_status_t s_notifications_page(pl_store_t *base, int64_t user_id, int64_t before,
                                        int64_t limit, json_t **out, int64_t *unread)
{
    pl__pg_t *self = (pl__pg_t *)base;
    pl__pg_params_t params = {0};
    pl__pg_int(&params, user_id);
    PGresult *res;
    pl_status_t status = pl__pg_row(self, PL__PG_NOTIFICATIONS_UNREAD, &params, &res);
    if (status != PL_STATUS_OK)
        return status == PL_STATUS_NOT_FOUND ? PL_STATUS_INTERNAL : status;
    *unread = pl__pg_col_int(res, 0, 0);
    PQclear(res);
    pl__pg_int(&params, before);
    pl__pg_int(&params, limit);
    return pl__pg_rows(self, PL__PG_NOTIFICATIONS_BEFORE, &params, s_notification, false, out);
}

static pl_status_t s_notifications_after(pl_store_t *base, int64_t user_id, int64_t after,
                                         int64_t limit,
                                         void (*each)(void *arg, int64_t version, json_t *n),
                                         void *arg)
{
    pl__pg_params_t params = {0};
    pl__pg_int(&params, user_id);
    pl__pg_int(&params, after);
    pl__pg_int(&params, limit);
    pl_status_t status;
    PGresult *res = pl__pg_query((pl__pg_t *)base, PL__PG_NOTIFICATIONS_AFTER, &params, &status);
    for (int row = 0, count = res ? PQntuples(res) : 0; row < count; row++)
        each(arg, pl__pg_col_int(res, row, 3), s_notification(res, row));
    PQclear(res);
    return status;
}

static pl_status_t s_notifications_open(pl_store_t *base, pl_open_notification_t **out,
                                        size_t *count)
{
    pl__pg_params_t none = {0};
    pl_status_t status;
    *out = NULL;
    *count = 0;
    PGresult *res = pl__pg_query((pl__pg_t *)base, PL__PG_NOTIFICATIONS_OPEN, &none, &status);
    size_t rows = res ? (size_t)PQntuples(res) : 0;
    if (rows && !(*out = malloc(rows * sizeof **out)))
        status = PL_STATUS_INTERNAL;
    for (size_t i = 0; *out && i < rows; i++) {
        int row = (int)i;
        (*out)[i] =
            (pl_open_notification_t){pl__pg_col_int(res, row, 0), pl__pg_col_int(res, row, 1),
                                     pl__pg_col_int(res, row, 2), pl__pg_col_int(res, row, 3)};
    }
    if (*out)
        *count = rows;
    PQclear(res);
    return status;
}

//  Every node numbers notifications from the database's one sequence. A reader runs
//  read-only transactions by default, and nextval writes, so it asks in a
//  READ WRITE transaction of its own: the three statements in one round trip.
static pl_status_t s_next_id(pl_store_t *base, int64_t *id)
{
    pl__pg_t *self = (pl__pg_t *)base;
    if (self->pipelined || !pl__pg_connected(self) ||
        !PQsendQuery(self->conn, "BEGIN READ WRITE; SELECT nextval('notification_ids'); COMMIT")) {
        pl_error("postgres: cannot ask for a notification id: %s", PQerrorMessage(self->conn));
        return PL_STATUS_INTERNAL;
    }
    pl_status_t status = PL_STATUS_INTERNAL;
    PGresult *res;
    while ((res = PQgetResult(self->conn))) {
        ExecStatusType result = PQresultStatus(res);
        if (result == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            *id = pl__pg_col_int(res, 0, 0);
            status = PL_STATUS_OK;
        } else if (result != PGRES_COMMAND_OK) {
            pl_error("postgres: next notification id: %s", PQresultErrorMessage(res));
            status = PL_STATUS_INTERNAL;
        }
        PQclear(res);
    }
    return status;
}

//  Whether a word is UTF-8 the server takes: no stray continuation byte, no
//  overlong form, no surrogate, nothing past U+10FFFF.
static bool s_valid_utf8(pl_str_t word)
{
    const unsigned char *s = (const unsigned char *)word.ptr;
    for (size_t i = 0; i < word.len;) {
        unsigned char c = s[i];
        size_t extra = c < 0x80 ? 0 : c < 0xc2 ? 9 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : c < 0xf5 ? 3 : 9;
        if (extra > word.len - i - 1)
            return false;
        //  The second byte's range, narrower after E0, ED, F0 and F4.
        unsigned char low = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        unsigned char high = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        for (size_t k = 1; k <= extra; k++)
            if (s[i + k] < (k == 1 ? low : 0x80) || s[i + k] > (k == 1 ? high : 0xbf))
                return false;
        i += extra + 1;
    }
    return true;
}

//  Writes the text[] literal of query's valid words into out (SEARCH_ARRAY_SIZE
//  bytes) and returns how many it holds. A word holds no '"' or '\\' (no ASCII
//  punctuation at all), so quoting needs no escape.
static int s_word_array(pl_str_t query, char *out)
{
    pl_str_t words[PL__SEARCH_WORDS_MAX];
    int count = pl__search_words(query, words), kept = 0;
    size_t used = 0;
    out[used++] = '{';
    for (int i = 0; i < count; i++) {
        if (!s_valid_utf8(words[i]))
            continue;
        if (kept++ > 0)
            out[used++] = ',';
        out[used++] = '"';
        memcpy(out + used, words[i].ptr, words[i].len);
        used += words[i].len;
        out[used++] = '"';
    }
    out[used++] = '}';
    out[used] = '\0';
    return kept;
}

static pl_status_t s_content_search(pl_store_t *base, pl_str_t query, pl_str_t kind, int64_t limit,
                                    json_t **out)
{
    char words[SEARCH_ARRAY_SIZE];
    pl__pg_params_t params = {0};
    pl__pg_stmt_id_t id = PL__PG_CONTENT_LIST;
    if (s_word_array(query, words) > 0) {
        id = PL__PG_CONTENT_SEARCH;
        pl__pg_literal(&params, words);
    }
    pl__pg_str(&params, kind);
    pl__pg_int(&params, limit);
    return pl__pg_rows((pl__pg_t *)base, id, &params, pl__pg_content, false, out);
}

static pl_status_t s_upload_put(pl_store_t *base, pl_str_t name, pl_str_t mime, pl_str_t bytes)
{
    pl__pg_params_t params = {0};
    pl__pg_str(&params, name);
    pl__pg_str(&params, mime);
    pl__pg_str(&params, bytes);
    return pl__pg_write((pl__pg_t *)base, PL__PG_UPLOAD_PUT, &params);
}

static pl_status_t s_upload_get(pl_store_t *base, pl_str_t name, char **bytes, size_t *len)
{
    pl__pg_params_t params = {0};
    pl__pg_str(&params, name);
    PGresult *res;
    pl_status_t status = pl__pg_row(
        (pl__pg_t *)base, bytes ? PL__PG_UPLOAD_GET : PL__PG_UPLOAD_EXISTS, &params, &res);
    if (status != PL_STATUS_OK || !bytes) {
        PQclear(res);
        return status;
    }
    //  bytea comes back as text ("\x" and hex); libpq turns it back into bytes.
    unsigned char *raw = PQunescapeBytea((const unsigned char *)pl__pg_col_text(res, 0, 0), len);
    PQclear(res);
    *bytes = raw ? malloc(*len ? *len : 1) : NULL;
    if (*bytes)
        memcpy(*bytes, raw, *len);
    PQfreemem(raw);
    return *bytes ? PL_STATUS_OK : PL_STATUS_INTERNAL;
}

void pl__pg_social_ops(pl_store_ops_t *ops)
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
    ops->content_search = s_content_search;
    ops->upload_put = s_upload_put;
    ops->upload_get = s_upload_get;
}
