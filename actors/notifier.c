/*  Notifier actor (see notifier.h for the contract).

    State: the next notification id (ids are handed out here, so a notification has
    its id before it is written), how many SSE streams each user has open on each
    writer shard (a push goes only to the shards that hold one), the open (unread,
    coalescing) notification of each user about each room, what the latest message
    of each such room says, and the notifications written but not yet committed
    ("flights").

    Each inbox batch is handled whole, then the open notifications it changed are
    written: one NOTIFICATION_STORE per notification per batch. A notification that is
    still being committed is not written again until its commit is reported; the
    changes made meanwhile are written then, in one go. These writes keep within a
    budget per second (a token bucket); what the budget does not cover waits in the
    dirty list, oldest first, and the actor wakes when the budget has refilled. Every
    push follows the commit, so a client never sees a notification a crash could take
    back. */
#include "parley/notifier.h"

#include "parley/actor.h"
#include "parley/clock.h"
#include "parley/cluster.h"
#include "parley/conn.h"
#include "parley/idmap.h"
#include "parley/json_shapes.h"
#include "parley/json_writer.h"
#include "parley/log.h"
#include "parley/persister.h"
#include "parley/store.h"

#include <jansson.h>
#include <stdlib.h>

//  Shortest wait for the write budget to refill.
#define WAKE_MIN_MS 10

//  Characters of a message shown in a notification's text.
#define PREVIEW_CHARS 100

//  A user's unread notification about one room.
typedef struct {
    int64_t id, count;
    bool written;   //  stored at least once: a new write needs a new version
    bool dirty;     //  changed since it was last written
    bool in_flight; //  a write of it is not committed yet
} open_t;

//  The latest message of a room that has open notifications: what they show.
typedef struct {
    bool is_dm;
    char *title;       //  owned: the group room's title
    char *sender;      //  owned: the sender as the message shows it, JSON
    char *sender_name; //  owned: its display_name
    char *preview;     //  owned: the message's first characters, or "[image]"
    int64_t ts;
} news_t;

//  A notification written and not committed yet.
typedef struct {
    int64_t user_id, room_id, version;
    char *body;      //  owned: pushed once committed
    bool suppressed; //  read meanwhile: do not push it
} flight_t;

typedef struct {
    int64_t user_id, room_id;
} open_key_t;

typedef struct {
    zsock_t *inbox;     //  owned
    zsock_t *persister; //  owned: outlet
    zsock_t **writers;  //  owned: outlets, one per writer shard
    zsock_t *bridge;    //  owned: outlet, in a cluster (streams on other nodes), else NULL
    int writer_count;
    pl_store_t *reader;  //  owned: replays, likers, profiles, ids and versions
    pl_idmap_t *streams; //  user id -> the user's open SSE streams, where (int32_t[], owned)
    pl_idmap_t *open;    //  user id -> pl_idmap_t (owned): room id -> open_t (owned)
    pl_idmap_t *news;    //  room id -> news_t (owned)
    pl_idmap_t *flights; //  notification id -> flight_t (owned)
    pl_jw_t jw;          //  owned: builds notification bodies
    open_key_t *dirty;   //  owned: open notifications to write, oldest change first
    size_t dirty_head, dirty_count, dirty_capacity; //  waiting: dirty[dirty_head..dirty_count)
    bool unlimited;                                 //  no budget (writes_per_s 0)
    int64_t writes_per_s;                           //  the budget of those writes, a token bucket
    double budget;                                  //  writes it may make now
    int64_t budget_at;                              //  ms when budget was last refilled
} self_t;

char *pl_sse_event(int64_t id, const char *json)
{
    size_t size = strlen(json) + 64;
    char *event = malloc(size);
    if (event)
        snprintf(event, size, "event: notification\nid: %" PRId64 "\ndata: %s\n\n", id, json);
    return event;
}

static void s_open_free(uint64_t id, void *value, void *arg)
{
    free(value);
}

static void s_user_open_free(uint64_t id, void *value, void *arg)
{
    pl_idmap_t *rooms = value;
    pl_idmap_each(rooms, s_open_free, NULL);
    pl_idmap_destroy(&rooms);
}

static void s_news_free(uint64_t id, void *value, void *arg)
{
    news_t *news = value;
    free(news->title);
    free(news->preview);
    free(news->sender);
    free(news->sender_name);
    free(news);
}

static void s_flight_free(uint64_t id, void *value, void *arg)
{
    flight_t *flight = value;
    free(flight->body);
    free(flight);
}

static void s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    if (self->open)
        pl_idmap_each(self->open, s_user_open_free, NULL);
    if (self->news)
        pl_idmap_each(self->news, s_news_free, NULL);
    if (self->flights)
        pl_idmap_each(self->flights, s_flight_free, NULL);
    if (self->streams)
        pl_idmap_each(self->streams, s_open_free, NULL);
    pl_idmap_destroy(&self->streams);
    pl_idmap_destroy(&self->open);
    pl_idmap_destroy(&self->news);
    pl_idmap_destroy(&self->flights);
    pl_store_close(&self->reader);
    pl_actor_inbox_destroy(&self->inbox);
    zsock_destroy(&self->persister);
    for (int i = 0; self->writers && i < self->writer_count; i++)
        zsock_destroy(&self->writers[i]);
    zsock_destroy(&self->bridge);
    free(self->writers);
    free(self->dirty);
    pl_jw_release(&self->jw);
    free(self);
    *self_p = NULL;
}

//  The open notification of user_id about room_id, made (empty) when create is set.
static open_t *s_open(self_t *self, int64_t user_id, int64_t room_id, bool create)
{
    pl_idmap_t *rooms = pl_idmap_get(self->open, (uint64_t)user_id);
    if (!rooms && create) {
        rooms = pl_idmap_new();
        if (rooms && pl_idmap_put(self->open, (uint64_t)user_id, rooms))
            pl_idmap_destroy(&rooms);
    }
    open_t *open = rooms ? pl_idmap_get(rooms, (uint64_t)room_id) : NULL;
    if (!open && rooms && create) {
        open = calloc(1, sizeof *open);
        if (open && pl_idmap_put(rooms, (uint64_t)room_id, open)) {
            free(open);
            open = NULL;
        }
    }
    return open;
}

//  The next notification id or version from the store's counter, or 0 when the
//  store cannot give one (the notification is then not written).
static int64_t s_next_id(self_t *self)
{
    int64_t id = 0;
    if (self->reader->ops->next_id(self->reader, &id) != PL_STATUS_OK) {
        pl_error("notifier: the store handed out no notification id");
        return 0;
    }
    return id;
}

//  Loads the unread notifications about rooms, so that they go on coalescing; with
//  missing_only, those of the users it serves that it does not hold yet (in a cluster,
//  users whose notifier moved here).
static bool s_load_open(self_t *self, bool missing_only)
{
    pl_open_notification_t *rows;
    size_t count;
    if (self->reader->ops->notifications_open(self->reader, &rows, &count) != PL_STATUS_OK)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        if (missing_only && (!pl_cluster_owns(rows[i].user_id) ||
                             s_open(self, rows[i].user_id, rows[i].room_id, false)))
            continue;
        open_t *open = s_open(self, rows[i].user_id, rows[i].room_id, true);
        if (open)
            *open = (open_t){.id = rows[i].id, .count = rows[i].count, .written = true};
        ok = open != NULL;
    }
    free(rows);
    if (count)
        pl_info("notifier: %zu unread notifications about rooms go on coalescing", count);
    return ok;
}

static self_t *s_self_new(pl_notifier_args_t *args)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char err[256] = "";
    self->writer_count = args->writer_count;
    self->unlimited = args->writes_per_s <= 0;
    self->writes_per_s = self->unlimited ? 1 : args->writes_per_s;
    self->budget = (double)self->writes_per_s;
    self->budget_at = pl_mono_ms();
    self->inbox = pl_actor_inbox(PL_NOTIFIER_INBOX);
    self->persister = pl_actor_outlet(PL_PERSISTER_INBOX);
    self->writers = calloc((size_t)args->writer_count, sizeof *self->writers);
    self->reader = pl_store_open(&args->store, false, err, sizeof err);
    self->streams = pl_idmap_new();
    self->open = pl_idmap_new();
    self->news = pl_idmap_new();
    self->flights = pl_idmap_new();
    if (pl_cluster_self())
        self->bridge = pl_actor_outlet(PL_BRIDGE_INBOX);
    bool ok = self->inbox && self->persister && self->writers && self->reader && self->streams &&
              self->open && self->news && self->flights && (self->bridge || !pl_cluster_self());
    if (!self->reader)
        pl_error("notifier: %s", err);
    for (int i = 0; ok && i < args->writer_count; i++) {
        char name[32];
        pl_conn_inbox_name(i, name, sizeof name);
        ok = (self->writers[i] = pl_actor_outlet(name)) != NULL;
    }
    if (!ok || !s_load_open(self, false))
        s_self_destroy(&self);
    return self;
}

//  A user's open SSE streams, counted where they are, in one int32_t array: one count
//  per writer shard of this node, then (in a cluster) the streams on other nodes as
//  (node, count) pairs, and a count of those that found no pair (sent to every node).
#define REMOTE_PAIRS 4

static size_t s_streams_len(const self_t *self)
{
    return (size_t)self->writer_count + 2 * REMOTE_PAIRS + 1;
}

//  Counts a stream in or out (delta +1 or -1).
static void s_count_stream(const self_t *self, int32_t *streams, uint64_t conn_id, int delta)
{
    if (!pl_cluster_is_remote(conn_id)) {
        streams[conn_id % (uint64_t)self->writer_count] += delta;
        return;
    }
    int node = pl_cluster_node_of(conn_id);
    int32_t *pairs = streams + self->writer_count, *free_pair = NULL;
    for (int i = 0; i < REMOTE_PAIRS; i++) {
        if (pairs[2 * i] == node && pairs[2 * i + 1] > 0) {
            if ((pairs[2 * i + 1] += delta) == 0)
                pairs[2 * i] = 0;
            return;
        }
        if (!free_pair && pairs[2 * i + 1] == 0)
            free_pair = pairs + 2 * i;
    }
    if (delta > 0 && free_pair) {
        free_pair[0] = node;
        free_pair[1] = delta;
    } else {
        streams[s_streams_len(self) - 1] += delta;
    }
}

static bool s_any_stream(const self_t *self, const int32_t *streams)
{
    for (int w = 0; w < self->writer_count; w++)
        if (streams[w] > 0)
            return true;
    for (int i = 0; i < REMOTE_PAIRS; i++)
        if (streams[self->writer_count + 2 * i + 1] > 0)
            return true;
    return streams[s_streams_len(self) - 1] > 0;
}

//  Sends a committed notification to every live SSE stream of its user. The body is
//  a JSON object written by s_write: "id" and "read" are spliced in as text rather
//  than by parsing it again.
static void s_push(self_t *self, const flight_t *flight, int64_t id)
{
    const char *body = flight->body;
    const int32_t *shards = pl_idmap_get(self->streams, (uint64_t)flight->user_id);
    if (!shards || body[0] != '{' || body[1] == '}')
        return;
    size_t size = strlen(body) + 64;
    char *json = malloc(size);
    if (json)
        snprintf(json, size, "{\"id\":%" PRId64 ",\"read\":false,%s", id, body + 1);
    char *event = json ? pl_sse_event(flight->version, json) : NULL;
    pl_msg_t msg = {.type = PL_MSG_CONN_USER_EVENT,
                    .as.conn_user_event = {flight->user_id, pl_str_of(event), 0}};
    for (int w = 0; event && w < self->writer_count; w++)
        if (shards[w])
            pl_msg_send(zsock_resolve(self->writers[w]), &msg);
    //  The user's streams on other nodes: the bridge takes the event to those nodes.
    const int32_t *pairs = shards + self->writer_count;
    for (int i = 0; event && i <= REMOTE_PAIRS; i++) {
        bool overflow = i == REMOTE_PAIRS;
        if (overflow ? pairs[2 * i] <= 0 : pairs[2 * i + 1] <= 0)
            continue;
        msg.as.conn_user_event.node = overflow ? 0 : pairs[2 * i];
        pl_msg_send(zsock_resolve(self->bridge), &msg);
    }
    free(event);
    free(json);
}

//  Writes a notification (body: the Notification's JSON without id and read)
//  through the persister as `version`; it is pushed once committed (s_stored).
static void s_write(self_t *self, int64_t id, int64_t version, int64_t user_id, const char *kind,
                    int64_t room_id, int64_t count, const char *body)
{
    flight_t *flight = calloc(1, sizeof *flight);
    char *text = body ? strdup(body) : NULL;
    if (!flight || !text || pl_idmap_put(self->flights, (uint64_t)id, flight)) {
        pl_error("notifier: out of memory writing notification %" PRId64, id);
        free(flight);
        free(text);
        return;
    }
    *flight = (flight_t){user_id, room_id, version, text, false};
    pl_msg_t msg = {.type = PL_MSG_NOTIFICATION_STORE,
                    .as.notification_store = {id, version, user_id, pl_str_of(kind), room_id, count,
                                              pl_now_ms(), pl_str_of(text)}};
    pl_msg_send(zsock_resolve(self->persister), &msg);
}

//  Starts the body every notification shares in self->jw, up to its actor (a User
//  or sender, already JSON); the caller adds its kind's keys and ends the object.
static pl_jw_t *s_body_begin(self_t *self, const char *kind, const char *text, const char *url,
                             int64_t ts, const char *actor)
{
    pl_jw_t *jw = &self->jw;
    pl_jw_reset(jw);
    pl_jw_object_begin(jw);
    pl_jw_key(jw, "kind");
    pl_jw_str(jw, kind, strlen(kind));
    pl_jw_key(jw, "text");
    pl_jw_str(jw, text, strlen(text));
    pl_jw_key(jw, "url");
    pl_jw_str(jw, url, strlen(url));
    pl_jw_key(jw, "ts");
    pl_jw_int(jw, ts);
    pl_jw_key(jw, "actor");
    pl_jw_raw(jw, actor, strlen(actor));
    return jw;
}

//  "room": {"id", "kind", "title"}, the room a notification is about.
static void s_room_ref(pl_jw_t *jw, int64_t room_id, bool is_dm, const char *title)
{
    pl_jw_key(jw, "room");
    pl_jw_object_begin(jw);
    pl_jw_key(jw, "id");
    pl_jw_int(jw, room_id);
    pl_jw_key(jw, "kind");
    pl_jw_str(jw, is_dm ? "dm" : "group", is_dm ? 2 : 5);
    pl_jw_key(jw, "title");
    pl_jw_str(jw, title, strlen(title));
    pl_jw_object_end(jw);
}

//  A User as JSON text (free() it), or NULL.
static char *s_user_json(const pl_user_t *user)
{
    json_t *json = pl_json_user(user);
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    return text;
}

static void s_notify_follow(self_t *self, const pl_msg_notify_follow_t *m)
{
    pl_user_t follower;
    if (self->reader->ops->user_get(self->reader, m->follower_id, &follower) != PL_STATUS_OK)
        return;
    char *actor = s_user_json(&follower);
    char text[PL_DISPLAY_NAME_SIZE + 32], url[48];
    snprintf(text, sizeof text, "%s followed you", follower.display_name);
    snprintf(url, sizeof url, "/users/%" PRId64, m->follower_id);
    if (actor) {
        pl_jw_t *jw = s_body_begin(self, "follow", text, url, pl_now_ms(), actor);
        pl_jw_object_end(jw);
        int64_t id = s_next_id(self);
        if (id)
            s_write(self, id, id, m->followee_id, "follow", 0, 1, pl_jw_text(jw, NULL));
    }
    free(actor);
}

static void s_notify_room_created(self_t *self, const pl_msg_notify_room_created_t *m)
{
    pl_store_t *reader = self->reader;
    json_t *content = NULL;
    pl_user_t creator;
    int64_t *likers = NULL;
    size_t count = 0;
    if (reader->ops->content_get(reader, m->content_id, &content) != PL_STATUS_OK ||
        reader->ops->user_get(reader, m->user_id, &creator) != PL_STATUS_OK ||
        reader->ops->content_likers(reader, m->content_id, &likers, &count) != PL_STATUS_OK) {
        pl_error("notifier: cannot tell the likers of content %" PRId64 " about its room",
                 m->content_id);
        json_decref(content);
        return;
    }
    const char *title = json_string_value(json_object_get(content, "title"));
    char *actor = s_user_json(&creator);
    char *content_json = json_dumps(content, JSON_COMPACT);
    char text[2048], url[48];
    snprintf(text, sizeof text, "%s opened a room for %s", creator.display_name,
             title ? title : "a content you like");
    snprintf(url, sizeof url, "/rooms/%" PRId64, m->room_id);
    for (size_t i = 0; actor && content_json && i < count; i++) {
        //  In a cluster every node hears of the room; each writes for the users it
        //  serves. Whoever opened the room needs no news of it.
        if (!pl_cluster_owns(likers[i]) || likers[i] == m->user_id)
            continue;
        pl_jw_t *jw = s_body_begin(self, "room_created", text, url, pl_now_ms(), actor);
        s_room_ref(jw, m->room_id, false, title ? title : "");
        pl_jw_key(jw, "content");
        pl_jw_raw(jw, content_json, strlen(content_json));
        pl_jw_object_end(jw);
        int64_t id = s_next_id(self);
        if (id)
            s_write(self, id, id, likers[i], "room_created", m->room_id, 1, pl_jw_text(jw, NULL));
    }
    free(content_json);
    free(actor);
    json_decref(content);
    free(likers);
}

//  The first PREVIEW_CHARS characters of a UTF-8 text, as a new string.
static char *s_preview(const char *text)
{
    size_t bytes = 0;
    for (size_t chars = 0; text[bytes]; bytes++) {
        if (((unsigned char)text[bytes] & 0xc0) != 0x80 && chars++ == PREVIEW_CHARS)
            break;
    }
    return strndup(text, bytes);
}

//  Notes that an open notification changed; it is written after this batch unless
//  a write of it is still in flight (it is written when that one lands).
static void s_mark_dirty(self_t *self, open_t *open, int64_t user_id, int64_t room_id)
{
    bool listed = open->dirty && !open->in_flight;
    open->dirty = true;
    if (listed || open->in_flight)
        return;
    if (self->dirty_count == self->dirty_capacity && self->dirty_head > 0) {
        //  Written entries make room once the list is full, not on every write.
        self->dirty_count -= self->dirty_head;
        memmove(self->dirty, self->dirty + self->dirty_head,
                self->dirty_count * sizeof *self->dirty);
        self->dirty_head = 0;
    }
    if (self->dirty_count == self->dirty_capacity) {
        size_t capacity = self->dirty_capacity ? self->dirty_capacity * 2 : 256;
        open_key_t *grown = realloc(self->dirty, capacity * sizeof *grown);
        if (!grown) {
            pl_error("notifier: out of memory; a notification waits for the next change");
            open->dirty = false;
            return;
        }
        self->dirty = grown;
        self->dirty_capacity = capacity;
    }
    self->dirty[self->dirty_count++] = (open_key_t){user_id, room_id};
}

//  Remembers what a room's latest message says; false when it cannot be read.
static bool s_update_news(self_t *self, const pl_msg_notify_message_t *m)
{
    json_t *message = json_loadb(m->message.ptr, m->message.len, 0, NULL);
    json_t *sender = json_object_get(message, "sender");
    const char *kind = json_string_value(json_object_get(message, "kind"));
    const char *body = json_string_value(json_object_get(message, "body"));
    news_t *news = pl_idmap_get(self->news, (uint64_t)m->room_id);
    if (!news && json_is_object(sender) && (news = calloc(1, sizeof *news)) &&
        pl_idmap_put(self->news, (uint64_t)m->room_id, news)) {
        free(news);
        news = NULL;
    }
    const char *name = json_string_value(json_object_get(sender, "display_name"));
    bool ok = news && json_is_object(sender) && kind && body;
    if (ok) {
        free(news->title);
        free(news->preview);
        free(news->sender);
        free(news->sender_name);
        news->is_dm = m->is_dm != 0;
        news->title = strndup(m->title.ptr, m->title.len);
        news->sender = json_dumps(sender, JSON_COMPACT);
        news->sender_name = strdup(name ? name : "someone");
        news->preview = strcmp(kind, "image") == 0 && !*body ? strdup("[image]") : s_preview(body);
        news->ts = json_integer_value(json_object_get(message, "ts"));
        ok = news->title && news->sender && news->sender_name && news->preview;
    }
    json_decref(message);
    return ok;
}

static void s_notify_message(self_t *self, const pl_msg_notify_message_t *m)
{
    if (!s_update_news(self, m)) {
        pl_error("notifier: unreadable message in room %" PRId64, m->room_id);
        return;
    }
    size_t count = m->recipients.len / sizeof(int64_t);
    for (size_t i = 0; i < count; i++) {
        int64_t user_id;
        memcpy(&user_id, m->recipients.ptr + i * sizeof user_id, sizeof user_id);
        open_t *open = s_open(self, user_id, m->room_id, true);
        if (!open)
            continue;
        if (!open->id && !(open->id = s_next_id(self)))
            continue;
        open->count++;
        s_mark_dirty(self, open, user_id, m->room_id);
    }
}

//  An open notification as its user sees it now, in self->jw.
static const char *s_open_body(self_t *self, const open_t *open, int64_t room_id,
                               const news_t *news)
{
    const char *sender = news->sender_name;
    const char *title = news->is_dm ? sender : news->title;
    char text[2048], url[48];
    if (open->count == 1 && news->is_dm)
        snprintf(text, sizeof text, "%s: %s", sender, news->preview);
    else if (open->count == 1)
        snprintf(text, sizeof text, "%s in %s: %s", sender, title, news->preview);
    else if (news->is_dm)
        snprintf(text, sizeof text, "%" PRId64 " new messages from %s: %s", open->count, sender,
                 news->preview);
    else
        snprintf(text, sizeof text, "%" PRId64 " new messages in %s: %s: %s", open->count, title,
                 sender, news->preview);
    snprintf(url, sizeof url, "/rooms/%" PRId64, room_id);
    const char *kind = news->is_dm ? "dm" : "group_message";
    pl_jw_t *jw = s_body_begin(self, kind, text, url, news->ts, news->sender);
    s_room_ref(jw, room_id, news->is_dm, title);
    pl_jw_key(jw, "count");
    pl_jw_int(jw, open->count);
    pl_jw_object_end(jw);
    return pl_jw_text(jw, NULL);
}

//  Refills the write budget for the time passed, up to one second's worth.
static void s_refill(self_t *self, int64_t now)
{
    if (now <= self->budget_at)
        return;
    self->budget += (double)(now - self->budget_at) * (double)self->writes_per_s / 1000.0;
    if (self->budget > (double)self->writes_per_s)
        self->budget = (double)self->writes_per_s;
    self->budget_at = now;
}

//  Writes the open notifications that changed, oldest change first, as far as the
//  budget goes; the rest wait in the list, coalescing further changes meanwhile.
static void s_write_dirty(self_t *self)
{
    s_refill(self, pl_mono_ms());
    size_t i = self->dirty_head;
    for (; i < self->dirty_count && (self->unlimited || self->budget >= 1.0); i++) {
        open_key_t key = self->dirty[i];
        open_t *open = s_open(self, key.user_id, key.room_id, false);
        news_t *news = pl_idmap_get(self->news, (uint64_t)key.room_id);
        if (!open || !open->dirty || open->in_flight || !news)
            continue;
        int64_t version = open->written ? s_next_id(self) : open->id;
        if (!version)
            continue;
        self->budget -= 1.0;
        open->dirty = false;
        open->in_flight = true;
        open->written = true;
        s_write(self, open->id, version, key.user_id, news->is_dm ? "dm" : "group_message",
                key.room_id, open->count, s_open_body(self, open, key.room_id, news));
    }
    self->dirty_head = i;
    if (self->dirty_head == self->dirty_count)
        self->dirty_head = self->dirty_count = 0;
}

//  How long the actor may wait for its inbox before the budget lets it write what
//  waits (-1: nothing waits).
static int s_wait_ms(void *self_arg)
{
    const self_t *self = self_arg;
    if (self->dirty_count == 0 || self->unlimited)
        return -1;
    //  At least WAKE_MIN_MS, so each wake writes a batch rather than one notification.
    double missing = 1.0 - self->budget;
    double ms = missing * 1000.0 / (double)self->writes_per_s;
    return ms < WAKE_MIN_MS ? WAKE_MIN_MS : ms > 1000 ? 1000 : (int)ms + 1;
}

//  The persister committed (or failed) a notification: push it, and write the open
//  notification again if it changed meanwhile.
static void s_stored(self_t *self, const pl_msg_notification_stored_t *m)
{
    flight_t *flight = pl_idmap_remove(self->flights, (uint64_t)m->id);
    if (!flight)
        return;
    open_t *open = flight->room_id ? s_open(self, flight->user_id, flight->room_id, false) : NULL;
    if (open && open->id != m->id)
        open = NULL;
    if (m->status != PL_STATUS_OK) {
        pl_error("notifier: notification %" PRId64 " could not be stored", m->id);
        //  Its next change starts a new one rather than retrying this forever.
        if (open)
            free(pl_idmap_remove(pl_idmap_get(self->open, (uint64_t)flight->user_id),
                                 (uint64_t)flight->room_id));
    } else {
        if (!flight->suppressed)
            s_push(self, flight, m->id);
        if (open) {
            open->in_flight = false;
            if (open->dirty) {
                open->dirty = false;
                s_mark_dirty(self, open, flight->user_id, flight->room_id);
            }
        }
    }
    s_flight_free(0, flight, NULL);
}

//  Stops pushing a notification read before its commit was reported.
static void s_suppress(self_t *self, int64_t user_id, int64_t id)
{
    flight_t *flight = pl_idmap_get(self->flights, (uint64_t)id);
    if (flight && flight->user_id == user_id)
        flight->suppressed = true;
}

typedef struct {
    self_t *self;
    int64_t user_id;
    const pl_msg_notifications_read_t *m;
    uint64_t *closed; //  room ids whose open notification was read
    size_t closed_count;
} reading_t;

static void s_read_open(uint64_t room_id, void *value, void *arg)
{
    reading_t *reading = arg;
    open_t *open = value;
    bool listed = reading->m->all != 0;
    size_t count = reading->m->ids.len / sizeof(int64_t);
    for (size_t i = 0; !listed && i < count; i++) {
        int64_t id;
        memcpy(&id, reading->m->ids.ptr + i * sizeof id, sizeof id);
        listed = id == open->id;
    }
    if (listed)
        reading->closed[reading->closed_count++] = room_id;
}

//  Marks notifications read: the open ones among them stop coalescing (the next
//  message starts a new notification), then the persister records it and answers.
static void s_read(self_t *self, const pl_msg_t *msg)
{
    const pl_msg_notifications_read_t *m = &msg->as.notifications_read;
    pl_idmap_t *rooms = pl_idmap_get(self->open, (uint64_t)m->user_id);
    size_t open_count = rooms ? pl_idmap_size(rooms) : 0;
    reading_t reading = {self, m->user_id, m, calloc(open_count + 1, sizeof(uint64_t)), 0};
    if (rooms && reading.closed)
        pl_idmap_each(rooms, s_read_open, &reading);
    for (size_t i = 0; i < reading.closed_count; i++) {
        open_t *open = pl_idmap_remove(rooms, reading.closed[i]);
        s_suppress(self, m->user_id, open->id);
        free(open);
    }
    free(reading.closed);
    size_t count = m->ids.len / sizeof(int64_t);
    for (size_t i = 0; i < count; i++) {
        int64_t id;
        memcpy(&id, m->ids.ptr + i * sizeof id, sizeof id);
        s_suppress(self, m->user_id, id);
    }
    pl_msg_send(zsock_resolve(self->persister), msg);
}

typedef struct {
    self_t *self;
    FILE *out;
    char *text;
    size_t len;
} replay_t;

//  Adds one stored notification to a replay, unless it is still being committed: then
//  it comes live when it is, with a newer version.
static void s_replay_one(void *arg, int64_t version, json_t *notification)
{
    replay_t *replay = arg;
    json_int_t id = json_integer_value(json_object_get(notification, "id"));
    char *json = pl_idmap_get(replay->self->flights, (uint64_t)id)
                     ? NULL
                     : json_dumps(notification, JSON_COMPACT);
    char *event = json ? pl_sse_event(version, json) : NULL;
    if (replay->out && event)
        fputs(event, replay->out);
    free(event);
    free(json);
    json_decref(notification);
}

//  A stream opened: send it its response head and what it missed (Last-Event-ID),
//  then let it go live.
static void s_stream_open(self_t *self, const pl_msg_stream_open_t *m)
{
    int32_t *shards = pl_idmap_get(self->streams, (uint64_t)m->user_id);
    if (!shards && (shards = calloc(s_streams_len(self), sizeof *shards)) &&
        pl_idmap_put(self->streams, (uint64_t)m->user_id, shards)) {
        free(shards);
        shards = NULL;
    }
    if (shards)
        s_count_stream(self, shards, m->conn_id, +1);
    else
        pl_error("notifier: out of memory; user %" PRId64 " gets no live events", m->user_id);
    //  The response head goes first: a client that has it is live from then on.
    replay_t replay = {.self = self};
    replay.out = open_memstream(&replay.text, &replay.len);
    if (replay.out)
        fwrite(m->head.ptr, 1, m->head.len, replay.out);
    if (m->last_event_id >= 0 && self->reader->ops->notifications_after(
                                     self->reader, m->user_id, m->last_event_id,
                                     PL_NOTIFIER_REPLAY_MAX, s_replay_one, &replay) != PL_STATUS_OK)
        pl_error("notifier: cannot replay notifications to user %" PRId64, m->user_id);
    if (replay.out)
        fclose(replay.out);
    pl_msg_t live = {.type = PL_MSG_CONN_SSE_LIVE,
                     .as.conn_sse_live = {m->conn_id, {replay.text, (uint32_t)replay.len}}};
    zsock_t *writer = pl_cluster_is_remote(m->conn_id)
                          ? self->bridge
                          : self->writers[m->conn_id % (uint64_t)self->writer_count];
    if (replay.out)
        pl_msg_send(zsock_resolve(writer), &live);
    else
        pl_error("notifier: out of memory; stream %" PRIu64 " stays silent", m->conn_id);
    free(replay.text);
}

static void s_stream_close(self_t *self, const pl_msg_stream_close_t *m)
{
    int32_t *shards = pl_idmap_get(self->streams, (uint64_t)m->user_id);
    if (!shards)
        return;
    s_count_stream(self, shards, m->conn_id, -1);
    if (s_any_stream(self, shards))
        return;
    free(pl_idmap_remove(self->streams, (uint64_t)m->user_id));
}

static void s_collect_unowned(uint64_t user_id, void *value, void *arg)
{
    (void)value;
    pl_idmap_t *unowned = arg;
    if (!pl_cluster_owns((int64_t)user_id))
        pl_idmap_put(unowned, user_id, unowned);
}

static void s_forget_stream(uint64_t user_id, void *value, void *arg)
{
    (void)value;
    free(pl_idmap_remove(((self_t *)arg)->streams, user_id));
}

//  In a cluster: the streams of users served elsewhere now have been ended by their
//  writers (see conn.c); their counts go, and users newly served here go on
//  coalescing where their last node left off.
static void s_view_changed(self_t *self)
{
    pl_idmap_t *unowned = pl_idmap_new();
    if (unowned) {
        pl_idmap_each(self->streams, s_collect_unowned, unowned);
        pl_idmap_each(unowned, s_forget_stream, self);
        pl_idmap_destroy(&unowned);
    }
    if (!s_load_open(self, true))
        pl_error("notifier: cannot load the unread notifications of users moved here");
}

static void s_handle(self_t *self, const pl_msg_t *msg)
{
    switch (msg->type) {
    case PL_MSG_NOTIFY_FOLLOW:
        s_notify_follow(self, &msg->as.notify_follow);
        break;
    case PL_MSG_NOTIFY_ROOM_CREATED:
        s_notify_room_created(self, &msg->as.notify_room_created);
        break;
    case PL_MSG_NOTIFY_MESSAGE:
        s_notify_message(self, &msg->as.notify_message);
        break;
    case PL_MSG_NOTIFICATION_STORED:
        s_stored(self, &msg->as.notification_stored);
        break;
    case PL_MSG_NOTIFICATIONS_READ:
        s_read(self, msg);
        break;
    case PL_MSG_STREAM_OPEN:
        s_stream_open(self, &msg->as.stream_open);
        break;
    case PL_MSG_STREAM_CLOSE:
        s_stream_close(self, &msg->as.stream_close);
        break;
    case PL_MSG_VIEW_CHANGED:
        s_view_changed(self);
        break;
    default:
        pl_error("notifier: unexpected %s", pl_msg_name(msg->type));
    }
}

static void s_on_budget(void *self)
{
    s_write_dirty(self);
}

static void s_on_inbox(void *self_arg)
{
    self_t *self = self_arg;
    pl_msg_frame_t in;
    while (pl_msg_recv(zsock_resolve(self->inbox), &in, ZMQ_DONTWAIT) == 0) {
        s_handle(self, &in.msg);
        pl_msg_frame_close(&in);
    }
    s_write_dirty(self);
}

void pl_notifier_actor(zsock_t *pipe, void *args_arg)
{
    pl_notifier_args_t *args = args_arg;
    pl_actor_name_thread("notifier");
    self_t *self = s_self_new(args);
    if (!pl_actor_ready(pipe, self != NULL, &args->failed))
        return;
    pl_actor_loop_timed(pipe, self->inbox, s_on_inbox, s_wait_ms, s_on_budget, self);
    //  A graceful stop: what waits for the budget is written now (the persister
    //  stops after the notifier), not lost with the actor's memory.
    self->unlimited = true;
    s_write_dirty(self);
    s_self_destroy(&self);
}
