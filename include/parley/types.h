/*  Small types every module shares: borrowed strings and operation statuses. */
#ifndef PARLEY_TYPES_H
#define PARLEY_TYPES_H

#include <stdint.h>
#include <string.h>

//  A borrowed byte string, not NUL-terminated; ptr is NULL for "absent".
typedef struct {
    const char *ptr;
    uint32_t len;
} pl_str_t;

static inline pl_str_t pl_str_of(const char *cstr)
{
    return (pl_str_t){cstr, cstr ? (uint32_t)strlen(cstr) : 0};
}

//  The outcome of a store operation or an actor request.
typedef enum {
    PL_STATUS_OK = 0,
    PL_STATUS_CONFLICT,  //  a uniqueness rule was violated (e.g. username taken)
    PL_STATUS_NOT_FOUND, //  the row does not exist
    PL_STATUS_INTERNAL,  //  the backend failed; logged where it happened
    PL_STATUS_FORBIDDEN, //  the caller may not do this (e.g. not a member)
    PL_STATUS_INVALID,   //  the request is not allowed in this state (e.g. leave a DM)
    //  The store cannot be reached now (its server went away); nothing was done, and
    //  the same request may succeed later. Answered as 503 / "unavailable".
    PL_STATUS_UNAVAILABLE,
    //  A cluster's room is served by another node now: ask again through the bridge.
    PL_STATUS_MOVED,
} pl_status_t;

//  Flags in a REPLY's `created` for room and membership requests.
#define PL_REPLY_ROOM_CREATED 1 //  this request created the room
#define PL_REPLY_MEMBER_ADDED 2 //  this request made the user a member (not one already)

#endif
