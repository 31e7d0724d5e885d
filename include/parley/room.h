/*  Room actors: a fixed pool of threads, rooms sharded over them by id (inbox of shard
    N: inproc://room-N). A room actor owns everything live about its rooms: members,
    the next seq, who is subscribed and online, a window of recent messages for
    recovery, and each member's latest client_ids (64 per member and room) for
    de-duplication: a retry of any of them is acked with its first seq.

    Sending: a member's message gets the room's next seq and is handed to the
    persister. Only when the persister reports it committed (MESSAGE_STORED) is it
    delivered to every subscriber, in seq order, and acknowledged to its sender; so a
    client never sees a message that a crash could take back, and a seq is never
    reused. The frame is encoded once and the same bytes go to every recipient, one
    CONN_FANOUT per writer shard. The notifier then hears of it (NOTIFY_MESSAGE) with
    the members who have no connection subscribed, who get a dm or group_message
    notification.

    A room actor never reads the store: the first request for a room it does not
    hold is put aside with any that follow for that room, the loader actor fetches
    the room's state, and the requests are then handled in their order. Its other
    rooms are served meanwhile.

    A room is loaded from the store the first time it is used, through the actor's
    own reader connection (a bounded, indexed read). */
#ifndef PARLEY_ROOM_H
#define PARLEY_ROOM_H

#include <czmq.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

//  What a ROOM_MEMBER message tells a room.
typedef enum {
    PL_MEMBER_LEFT = 0,
    PL_MEMBER_JOINED = 1,
    PL_MEMBER_UPDATED = 2, //  a new display name or avatar
} pl_member_event_t;

typedef struct {
    int shard;
    int shard_count;
    int writer_count; //  connection writer shards, for fan-out
    const char *data_dir;
    int64_t window;               //  recent messages kept for recovery after reconnect
    int64_t presence_max_members; //  larger rooms get no presence events
    atomic_bool failed;           //  set before the ready signal when the actor cannot start
} pl_room_args_t;

//  The shard of a room.
static inline int pl_room_shard(int64_t room_id, int shard_count)
{
    return (int)((uint64_t)room_id % (uint64_t)shard_count);
}

//  Writes the inbox name of a room shard ("room-1") into name.
void pl_room_inbox_name(int shard, char *name, size_t size);

void pl_room_actor(zsock_t *pipe, void *args);

#endif
