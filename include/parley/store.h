/*  The store: parley's system of record, behind a table of functions so the SQLite
    backend (the embedded default, src/store/sqlite*.c) and the PostgreSQL backend
    (src/store/postgres*.c, the store a cluster's nodes share) serve the same callers.
    pl_store_open picks the backend from a pl_store_config_t; nothing else knows
    which one is in use.

    A pl_store_t is one connection, used by one thread at a time. Exactly one writer
    connection exists per node, owned by the persister actor; it opens first and
    brings the schema up to date. Everyone else reads through a pl_store_pool_t of reader
    connections. Strings going in are pl_str_t views; strings coming out are copied
    into the caller's fixed-size structs, whose bounds the edge validation enforces. */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include "parley/password.h"
#include "parley/types.h"

#include <jansson.h>
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

//  A message as the room actor hands it to the persister.
typedef struct {
    int64_t room_id, seq, sender_id, ts;
    pl_str_t client_id, kind, body, url; //  client_id and url may be absent
} pl_message_row_t;

//  What a room actor needs to take charge of a room.
typedef struct {
    bool is_dm;
    int64_t last_seq;
    json_t *header;  //  owned: {"id", "kind", "title", "content_id" (group), "created_at"}
    json_t *members; //  owned: [User + "read_seq"], in joining order
    json_t *recent;  //  owned: the latest messages, oldest first, as PROTOCOL Messages
} pl_room_state_t;

//  A notification as the notifier stores it. body is the Notification as JSON without
//  its "id" and "read" (pl_json_notification puts them back). version is handed out
//  from the same counter as ids and grows with every write of the row: a new
//  notification's version is its id, a coalesced update gets a new one.
typedef struct {
    int64_t id, version, user_id;
    int64_t room_id; //  the room it is about, 0 for none
    int64_t count, ts;
    pl_str_t kind, body;
} pl_notification_row_t;

//  An unread notification about a room, as the notifier reloads them at start.
typedef struct {
    int64_t id, user_id, room_id, count;
} pl_open_notification_t;

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

    //  Chat. Rows come back as new JSON objects in PROTOCOL.md's shapes (Content, Room,
    //  Message, User), which the caller owns; *out is NULL on any status but OK.

    //  Inserts a content; year 0 means none.
    pl_status_t (*content_insert)(pl_store_t *self, pl_str_t kind, pl_str_t title,
                                  pl_str_t description, int64_t year, int64_t now, int64_t *id);
    pl_status_t (*content_get)(pl_store_t *self, int64_t id, json_t **out);
    //  The id of the first content with exactly this kind, title and year (0: none);
    //  NOT_FOUND when there is none.
    pl_status_t (*content_find)(pl_store_t *self, pl_str_t kind, pl_str_t title, int64_t year,
                                int64_t *id);
    //  Contents as a new array, at most `limit`, of one kind (kind.ptr NULL: any).
    //  With words in query: those whose title or description hold every word (the
    //  last one as a prefix), best match first; any text is a valid query, its
    //  punctuation and operators are only separators. Without: the newest first.
    pl_status_t (*content_search)(pl_store_t *self, pl_str_t query, pl_str_t kind, int64_t limit,
                                  json_t **out);
    //  user_id likes content_id. CONFLICT: they already do; NOT_FOUND: no such content.
    pl_status_t (*like_add)(pl_store_t *self, int64_t content_id, int64_t user_id, int64_t now);
    //  NOT_FOUND when user_id does not like content_id.
    pl_status_t (*like_remove)(pl_store_t *self, int64_t content_id, int64_t user_id);
    //  The group room of a content, created if absent (NOT_FOUND: no such content).
    //  At most one can ever exist: the schema makes content_id unique.
    pl_status_t (*room_ensure_group)(pl_store_t *self, int64_t content_id, int64_t now,
                                     int64_t *room_id, bool *created);
    //  The DM room of two users, created with both as members if absent.
    pl_status_t (*room_ensure_dm)(pl_store_t *self, int64_t user_a, int64_t user_b, int64_t now,
                                  int64_t *room_id, bool *created);
    //  Adds a member (reading from the room's current last message on); *added is
    //  false when they already were one. NOT_FOUND: no such room.
    pl_status_t (*member_add)(pl_store_t *self, int64_t room_id, int64_t user_id, int64_t now,
                              bool *added);
    //  NOT_FOUND when the user is not a member.
    pl_status_t (*member_remove)(pl_store_t *self, int64_t room_id, int64_t user_id);
    //  The rooms user_id is a member of, as a new array of *count ids (free() it).
    pl_status_t (*member_rooms)(pl_store_t *self, int64_t user_id, int64_t **ids, size_t *count);
    //  The member's last read seq; NOT_FOUND when not a member.
    pl_status_t (*member_read_seq)(pl_store_t *self, int64_t room_id, int64_t user_id,
                                   int64_t *seq);
    //  Stores a message (a second store of the same room and seq changes nothing).
    //  It moves no pointer: the caller advances the room (room_advance) and the
    //  sender's read pointer (read_advance) before anything reads them, once for
    //  many messages if it likes, since both only move forward.
    pl_status_t (*message_insert)(pl_store_t *self, const pl_message_row_t *message);
    //  Advances a room's last seq and last activity (each never moves back).
    pl_status_t (*room_advance)(pl_store_t *self, int64_t room_id, int64_t seq, int64_t ts);
    //  Advances a member's read pointer (never moves it back).
    pl_status_t (*read_advance)(pl_store_t *self, int64_t room_id, int64_t user_id, int64_t seq);
    //  Room as seen by viewer (unread, and peer for a DM).
    pl_status_t (*room_get)(pl_store_t *self, int64_t room_id, int64_t viewer, json_t **out);
    //  {"rooms": [...]} of user, most recent activity first.
    pl_status_t (*rooms_of_user)(pl_store_t *self, int64_t user_id, json_t **out);
    //  [User...] of a room, in joining order.
    pl_status_t (*room_members)(pl_store_t *self, int64_t room_id, json_t **out);
    //  Messages with after < seq < before in ascending order: the first `limit` of
    //  them when from_start, else the last `limit`. *has_more tells whether more
    //  matched.
    pl_status_t (*messages_page)(pl_store_t *self, int64_t room_id, int64_t after, int64_t before,
                                 int64_t limit, bool from_start, json_t **out, bool *has_more);
    //  Social. follower follows followee; CONFLICT when they already do.
    pl_status_t (*follow_add)(pl_store_t *self, int64_t follower_id, int64_t followee_id,
                              int64_t now);
    //  NOT_FOUND when follower does not follow followee.
    pl_status_t (*follow_remove)(pl_store_t *self, int64_t follower_id, int64_t followee_id);
    //  The users who like a content, as a new array of *count ids (free() it).
    pl_status_t (*content_likers)(pl_store_t *self, int64_t content_id, int64_t **ids,
                                  size_t *count);

    //  Notifications. Inserts the row, or replaces count, ts and body of row->id.
    pl_status_t (*notification_put)(pl_store_t *self, const pl_notification_row_t *row);
    //  Marks the listed notifications of user_id read (ids NULL: all of them); ids of
    //  other users are ignored.
    pl_status_t (*notifications_read)(pl_store_t *self, int64_t user_id, const int64_t *ids,
                                      size_t count);
    //  Up to limit Notifications of user_id with id < before, newest first, and how
    //  many of theirs are unread.
    pl_status_t (*notifications_page)(pl_store_t *self, int64_t user_id, int64_t before,
                                      int64_t limit, json_t **out, int64_t *unread);
    //  Calls each(arg, version, Notification) for up to limit notifications of user_id
    //  written with a version > after, in version order (each owns the Notification).
    pl_status_t (*notifications_after)(pl_store_t *self, int64_t user_id, int64_t after,
                                       int64_t limit,
                                       void (*each)(void *arg, int64_t version, json_t *n),
                                       void *arg);
    //  The unread notifications about rooms, as a new array (free() it).
    pl_status_t (*notifications_open)(pl_store_t *self, pl_open_notification_t **out,
                                      size_t *count);
    //  The next number of the one counter that hands out notification ids and
    //  versions: greater than every number it handed out before, to whichever node
    //  asked (so it lives in the store), and so than every id and version stored.
    //  Works on a reader too.
    pl_status_t (*next_id)(pl_store_t *self, int64_t *id);

    //  Uploads, named "<sha256>.<ext>". Keeps an upload's bytes where the backend
    //  keeps uploads itself, so that every node serves them (PostgreSQL); a second
    //  put of a name changes nothing. SQLite's one node keeps them as the files in
    //  <data_dir>/uploads, and its put does nothing.
    pl_status_t (*upload_put)(pl_store_t *self, pl_str_t name, pl_str_t mime, pl_str_t bytes);
    //  An upload's bytes as a new buffer (free() it) of *len bytes; with bytes NULL,
    //  only whether it is there. NOT_FOUND when the store keeps none of that name
    //  (SQLite: always).
    pl_status_t (*upload_get)(pl_store_t *self, pl_str_t name, char **bytes, size_t *len);

    //  OK when the store answers now (GET /healthz asks); a lost connection is
    //  re-established first, no more often than a backoff allows.
    pl_status_t (*ping)(pl_store_t *self);

    //  Loads what a room actor needs, with up to `window` recent messages.
    pl_status_t (*room_state)(pl_store_t *self, int64_t room_id, int64_t window,
                              pl_room_state_t *out);
} pl_store_ops_t;

struct pl_store {
    const pl_store_ops_t *ops;
};

//  Which store to open: the options store, data_dir and postgres_url.
typedef struct {
    const char *backend;      //  "sqlite" (also when NULL) or "postgres"
    const char *data_dir;     //  sqlite: the directory of parley.db
    const char *postgres_url; //  postgres: a libpq connection URI or key=value string
} pl_store_config_t;

//  Opens a connection to the configured store. A writer connection brings the schema
//  up to date first; a reader is refused before that. Returns NULL with a reason in
//  err, which never holds a password.
pl_store_t *pl_store_open(const pl_store_config_t *where, bool writer, char *err, size_t err_len);

//  Opens a connection to the SQLite store in data_dir (created if missing).
pl_store_t *pl_store_sqlite_open(const char *data_dir, bool writer, char *err, size_t err_len);

//  The schema version this build migrates to.
int pl_store_sqlite_schema_version(void);

//  Opens a connection to the PostgreSQL database at url. A writer migrates under an
//  advisory lock, so nodes starting at once migrate once.
pl_store_t *pl_store_postgres_open(const char *url, bool writer, char *err, size_t err_len);

//  The schema version this build migrates a PostgreSQL database to.
int pl_store_postgres_schema_version(void);

//  Writes url into out (size bytes) with its password, if any, replaced by "***":
//  the form of a url fit for a log line or an error.
void pl_store_url_redact(const char *url, char *out, size_t size);

static inline void pl_store_close(pl_store_t **self_p)
{
    if (*self_p)
        (*self_p)->ops->close(*self_p);
    *self_p = NULL;
}

typedef struct pl_store_pool pl_store_pool_t;

//  Opens `size` reader connections. Returns NULL with a reason in err.
pl_store_pool_t *pl_store_pool_new(const pl_store_config_t *where, int size, char *err,
                                   size_t err_len);
void pl_store_pool_destroy(pl_store_pool_t **self_p);

//  Borrows a reader, waiting while all are in use; give it back with pl_store_pool_give.
pl_store_t *pl_store_pool_take(pl_store_pool_t *self);
void pl_store_pool_give(pl_store_pool_t *self, pl_store_t *store);

#endif
