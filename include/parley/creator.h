/*  The creation-queue worker: makes sure a content has exactly one group room, however
    many callers ask at once, on however many threads.

    Requests (GROUP_ROOM) queue in its inbox. For a content with no request in
    flight it asks the persister to find-or-create the room (ROOM_ENSURE_GROUP);
    requests for the same content that arrive meanwhile join that one flight instead
    of starting another. When the persister answers, every waiting caller is made a
    member (MEMBER_ADD, answered by the persister to the caller's waiter): the caller
    whose request created the room hears 201, the rest 200, and the notifier hears
    of the new room (NOTIFY_ROOM_CREATED) to tell the content's likers. Uniqueness does not rest
    on this coalescing alone: the store refuses a second room for one content, which
    also holds between nodes that share a store. */
#ifndef PARLEY_CREATOR_H
#define PARLEY_CREATOR_H

#include <czmq.h>
#include <stdatomic.h>

#define PL_CREATOR_INBOX "creator"

typedef struct {
    atomic_bool failed;
} pl_creator_args_t;

void pl_creator_actor(zsock_t *pipe, void *args);

#endif
