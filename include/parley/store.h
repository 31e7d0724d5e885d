/*  The store: parley's system of record, behind a table of functions so the SQLite
    backend (the embedded default) and a MongoDB backend serve the same callers.

    A pl_store_t is one connection, used by one thread at a time. Exactly one writer
    connection exists, owned by the persister actor; it opens first and brings the
    schema up to date. Everyone else reads through a pl_store_pool_t of reader
    connections. Strings going in are pl_str_t views; strings coming out are copied
    into the caller's fixed-size structs, whose bounds the edge validation enforces. */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include "parley/password.h"
#include "parley/types.h"

#include <stdbool.h>
#include <stddef.h>

#define PL_USERNAME_MAX      32
#define PL_DISPLAY_NAME_MAX  64                            //  characters
#define PL_DISPLAY_NAME_SIZE (PL_DISPLAY_NAME_MAX * 4 + 1) //  bytes, as UTF-8, with the NUL
#define PL_URL_MAX           2048

typedef struct {
    int64_t id;
    char username[PL_USERNAME_MAX + 1];
    char display_name[PL_DISPLAY_NAME_SIZE];
    char avatar_url[PL_URL_MAX + 1]; //  "" when the user has none
    char password_hash[PL_PASSWORD_HASH_MAX];
    int64_t created_at; //  ms since the epoch
} pl_user_t;

typedef struct {
    int64_t followers, following;
    bool followed_by_viewer;
} pl_follow_stats_t;

typedef struct pl_store pl_store_t;

typedef struct {
    void (*close)(pl_store_t *self);
    pl_status_t (*begin)(pl_store_t *self);
    pl_status_t (*commit)(pl_store_t *self);
    pl_status_t (*rollback)(pl_store_t *self);
    //  Inserts a user and sets user->id. CONFLICT when the username is taken.
    pl_status_t (*user_insert)(pl_store_t *self, pl_str_t username, pl_str_t password_hash,
                               pl_str_t display_name, int64_t created_at, int64_t *id);
    //  Changes the fields whose ptr is not NULL (an empty avatar_url clears it).
    pl_status_t (*user_update)(pl_store_t *self, int64_t id, pl_str_t display_name,
                               pl_str_t avatar_url);
    pl_status_t (*user_get)(pl_store_t *self, int64_t id, pl_user_t *out);
    pl_status_t (*user_find)(pl_store_t *self, pl_str_t username, pl_user_t *out);
    //  Follower and following counts of user_id, and whether viewer_id follows them.
    pl_status_t (*follow_stats)(pl_store_t *self, int64_t user_id, int64_t viewer_id,
                                pl_follow_stats_t *out);
} pl_store_ops_t;

struct pl_store {
    const pl_store_ops_t *ops;
};

//  Opens a connection to the SQLite store in data_dir (created if missing). A writer
//  connection applies pending migrations. Returns NULL with a reason in err.
pl_store_t *pl_store_sqlite_open(const char *data_dir, bool writer, char *err, size_t err_len);

//  The schema version this build migrates to.
int pl_store_sqlite_schema_version(void);

static inline void pl_store_close(pl_store_t **self_p)
{
    if (*self_p)
        (*self_p)->ops->close(*self_p);
    *self_p = NULL;
}

typedef struct pl_store_pool pl_store_pool_t;

//  Opens `size` reader connections. Returns NULL with a reason in err.
pl_store_pool_t *pl_store_pool_new(const char *data_dir, int size, char *err, size_t err_len);
void pl_store_pool_destroy(pl_store_pool_t **self_p);

//  Borrows a reader, waiting while all are in use; give it back with pl_store_pool_give.
pl_store_t *pl_store_pool_take(pl_store_pool_t *self);
void pl_store_pool_give(pl_store_pool_t *self, pl_store_t *store);

#endif
