/*  The SQLite backend's content search: GET /api/contents?q=&kind=&limit=.

    Whatever a client types must neither break the query nor steer it, so no byte
    of it reaches MATCH as FTS5 syntax. The words are cut out of it by
    pl__search_words (search_words.c): a word is a run of ASCII letters and digits or
    of non-ASCII bytes, and every other byte only separates words. Each word becomes
    a quoted phrase, which FTS5 reads as plain text whatever it holds (AND, NEAR and
    title are then words like any other), and the last one gets '*', so results
    follow the user as they type. Phrases side by side must all match.
    A word cannot contain '"', so quoting needs no escape. Non-ASCII runs are
    tokenized again by FTS5 itself (unicode61), which splits them at Unicode
    punctuation and ignores what is not a letter or a digit (an emoji matches
    nothing). A query without any word lists the newest contents instead. */
#include "search_words.h"
#include "sqlite.h"

#include <string.h>

//  The expression: each word quoted, a space between, '*' after the last, and NUL.
#define SEARCH_EXPRESSION_SIZE (PL__SEARCH_WORDS_MAX * (PL__SEARCH_WORD_BYTES_MAX + 3) + 2)

//  Writes the FTS5 expression of query's words into out (SEARCH_EXPRESSION_SIZE
//  bytes) and returns how many words it holds; out is "" when none.
static int s_expression(pl_str_t query, char *out)
{
    pl_str_t words[PL__SEARCH_WORDS_MAX];
    int count = pl__search_words(query, words);
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        if (i > 0)
            out[used++] = ' ';
        out[used++] = '"';
        memcpy(out + used, words[i].ptr, words[i].len);
        used += words[i].len;
        out[used++] = '"';
    }
    if (count > 0)
        out[used++] = '*';
    out[used] = '\0';
    return count;
}

static pl_status_t s_content_search(pl_store_t *base, pl_str_t query, pl_str_t kind, int64_t limit,
                                    json_t **out)
{
    pl__sqlite_t *self = (pl__sqlite_t *)base;
    *out = NULL;
    char expression[SEARCH_EXPRESSION_SIZE];
    sqlite3_stmt *stmt;
    if (s_expression(query, expression) > 0) {
        stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_SEARCH);
        sqlite3_bind_text(stmt, 1, expression, -1, SQLITE_STATIC);
        pl__sqlite_bind_str(stmt, 2, kind);
        sqlite3_bind_int64(stmt, 3, limit);
    } else {
        stmt = pl__sqlite_stmt(self, PL__STMT_CONTENT_LIST);
        pl__sqlite_bind_str(stmt, 1, kind);
        sqlite3_bind_int64(stmt, 2, limit);
    }
    pl_status_t status = pl__sqlite_rows(self, stmt, pl__sqlite_content, false, out);
    //  The expression lives on this stack: the statement must not keep it.
    sqlite3_clear_bindings(stmt);
    return status;
}

void pl__sqlite_search_ops(pl_store_ops_t *ops)
{
    ops->content_search = s_content_search;
}
