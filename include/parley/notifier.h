/*  Notifier actor: decides who is notified of what, stores every notification
    through the persister, and pushes it to the user's SSE streams once committed.
    Its inbox is inproc://notifier.

    Producers: the HTTP follow handler (NOTIFY_FOLLOW), the creation-queue worker
    (NOTIFY_ROOM_CREATED: every user who likes the content), and the room actors
    (NOTIFY_MESSAGE after each stored message, listing the members with no
    connection subscribed to the room). A user's unread notification about a room is
    coalesced: later messages update its text, count and time under the same id, and
    it is written again at most once per commit however many messages arrive, and
    the writes of these message notifications keep within a budget per second
    (notify_writes_per_s): past it, changes go on coalescing in memory and are written
    as the budget refills, oldest first. So a busy room of 10,000 absent members costs
    the persister at most that many rows a second, not a row per member per message
    or per commit, and cannot starve the messages it commits beside them.

    Streams: GET /api/events registers its connection with a writer shard as an SSE
    stream, then sends STREAM_OPEN. The notifier answers the writer with
    CONN_SSE_LIVE carrying the response head and the stored notifications written
    after Last-Event-ID; only then does the writer deliver live events
    (CONN_USER_EVENT) to that stream. Because the notifier sends both, in order, a
    stream sees every notification once: the replay leaves out those still being
    committed, which arrive live when they are; and a client that has the head misses
    nothing that comes after it.

    Event ids: every write of a notification gets a version from the counter that
    also hands out notification ids; a new notification's version is its id, a
    coalesced update gets the next number. The SSE `id:` is the version, so it only
    grows on a stream, and a reconnect with the last one it saw replays exactly the
    writes after it: a notification that grew meanwhile comes again (once, as it is
    now), nothing comes twice. */
#ifndef PARLEY_NOTIFIER_H
#define PARLEY_NOTIFIER_H

#include "parley/store.h"

#include <czmq.h>
#include <stdatomic.h>

#define PL_NOTIFIER_INBOX "notifier"

//  Most stored notifications one reconnect replays; older ones are in
//  GET /api/notifications.
#define PL_NOTIFIER_REPLAY_MAX 1000

typedef struct {
    pl_store_config_t store;
    int writer_count;
    int64_t writes_per_s; //  notify_writes_per_s: their budget (0: none, for tests)
    atomic_bool failed;
} pl_notifier_args_t;

void pl_notifier_actor(zsock_t *pipe, void *args);

//  Writes one SSE event ("event: notification", "id: <id>", "data: <json>") for a
//  Notification (compact JSON has no line breaks) into a new string, or NULL.
char *pl_sse_event(int64_t id, const char *json);

#endif
