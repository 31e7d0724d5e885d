/*  The message catalogue: every message that crosses between actors, declared once
    in PL_MSG_CATALOGUE. From that one list come the type enum, the C structs, the
    msgpack encoder and decoder, and the names used in logs, so they never drift.

    On the wire a message is a msgpack array [type, field1, field2, ...]. Decoding is
    zero-copy: string and binary fields are views (pl_str_t) into the received frame,
    valid while that frame lives (pl_msg_frame_t keeps it). Adding a message is one
    X line here plus its field list. */
#ifndef PARLEY_MSG_H
#define PARLEY_MSG_H

#include "parley/types.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

//  Field kinds: U64, I64, STR (text), NSTR (text or nil), BIN (raw bytes).
//  `waiter` fields carry a pl_waiter_t pointer for replies to non-actor threads
//  (see waiter.h); `handle` fields carry a civetweb connection pointer; `last_seen`
//  the address of an _Atomic int64_t the connection's reader stamps on every frame.

#define PL_MSG_USER_CREATE(F)                                                                      \
    F(U64, waiter)                                                                                 \
    F(U64, req_id) F(STR, username) F(STR, password_hash) F(STR, display_name) F(I64, created_at)
#define PL_MSG_USER_UPDATE(F)                                                                      \
    F(U64, waiter) F(U64, req_id) F(I64, user_id) F(NSTR, display_name) F(NSTR, avatar_url)
#define PL_MSG_REPLY(F) F(U64, req_id) F(I64, status) F(I64, id) F(I64, created) F(NSTR, body)
#define PL_MSG_CONN_OPEN(F)                                                                        \
    F(U64, conn_id) F(I64, user_id) F(I64, fd) F(I64, sse) F(I64, last_event_id) F(BIN, head)
#define PL_MSG_CONN_KILL(F)        F(U64, conn_id) F(I64, close_code)
#define PL_MSG_CONN_SEND(F)        F(U64, conn_id) F(BIN, text)
#define PL_MSG_CONN_DRAIN(F)       F(U64, waiter) F(U64, req_id) F(I64, close_code)
#define PL_MSG_CONN_ROOM_NOTICE(F) F(BIN, users) F(BIN, exclude) F(STR, room)
#define PL_MSG_CONN_FANOUT(F)                                                                      \
    F(BIN, conn_ids) F(BIN, text) F(U64, ack_conn) F(BIN, ack) F(I64, room_id) F(I64, seq)
#define PL_MSG_CONTENT_CREATE(F)                                                                   \
    F(U64, waiter) F(U64, req_id) F(STR, kind) F(STR, title) F(NSTR, description) F(I64, year)
#define PL_MSG_ROOM_ENSURE_GROUP(F) F(U64, req_id) F(I64, content_id)
#define PL_MSG_ROOM_ENSURE_DM(F)    F(U64, waiter) F(U64, req_id) F(I64, user_id) F(I64, peer_id)
#define PL_MSG_MEMBER_ADD(F)                                                                       \
    F(U64, waiter) F(U64, req_id) F(I64, room_id) F(I64, user_id) F(I64, room_created)
#define PL_MSG_MEMBER_REMOVE(F) F(U64, waiter) F(U64, req_id) F(I64, room_id) F(I64, user_id)
#define PL_MSG_LIKE_ADD(F)      F(U64, waiter) F(U64, req_id) F(I64, content_id) F(I64, user_id)
#define PL_MSG_LIKE_REMOVE(F)   PL_MSG_LIKE_ADD(F)
#define PL_MSG_MESSAGE_STORE(F)                                                                    \
    F(I64, room_id)                                                                                \
    F(I64, seq)                                                                                    \
    F(I64, sender_id) F(I64, ts) F(NSTR, client_id) F(STR, kind) F(STR, body) F(NSTR, url)
#define PL_MSG_MESSAGE_STORED(F) F(I64, room_id) F(I64, seq) F(I64, last) F(I64, status)
#define PL_MSG_READ_STORE(F)                                                                       \
    F(U64, waiter) F(U64, req_id) F(I64, room_id) F(I64, user_id) F(I64, seq)
#define PL_MSG_GROUP_ROOM(F) F(U64, waiter) F(U64, req_id) F(I64, content_id) F(I64, user_id)
#define PL_MSG_ROOM_SUBSCRIBE(F)                                                                   \
    F(U64, conn_id) F(I64, user_id) F(I64, room_id) F(I64, since) F(NSTR, ref) F(I64, moved)
#define PL_MSG_ROOM_UNSUBSCRIBE(F) F(U64, conn_id) F(I64, user_id) F(I64, room_id) F(NSTR, ref)
#define PL_MSG_ROOM_SEND(F)                                                                        \
    F(U64, conn_id)                                                                                \
    F(U64, waiter)                                                                                 \
    F(U64, req_id)                                                                                 \
    F(I64, user_id)                                                                                \
    F(I64, room_id) F(NSTR, client_id) F(STR, kind) F(STR, body) F(NSTR, url) F(NSTR, ref)
#define PL_MSG_ROOM_READ(F)                                                                        \
    F(U64, conn_id)                                                                                \
    F(U64, waiter) F(U64, req_id) F(I64, user_id) F(I64, room_id) F(I64, seq) F(NSTR, ref)
#define PL_MSG_ROOM_TYPING(F) F(U64, conn_id) F(I64, user_id) F(I64, room_id) F(NSTR, ref)
#define PL_MSG_ROOM_LOAD(F)   F(I64, room_id) F(I64, shard)
#define PL_MSG_ROOM_LOADED(F) F(I64, room_id) F(I64, status) F(NSTR, state)
#define PL_MSG_ROOM_MEMBER(F)                                                                      \
    F(I64, room_id) F(I64, user_id) F(I64, event) F(STR, user) F(U64, waiter) F(U64, req_id)
#define PL_MSG_CONN_SSE_LIVE(F)   F(U64, conn_id) F(BIN, text)
#define PL_MSG_CONN_USER_EVENT(F) F(I64, user_id) F(BIN, text) F(I64, node)
#define PL_MSG_FOLLOW_STORE(F)                                                                     \
    F(U64, waiter) F(U64, req_id) F(I64, follower_id) F(I64, followee_id) F(I64, follow)
#define PL_MSG_NOTIFY_FOLLOW(F)       F(I64, follower_id) F(I64, followee_id)
#define PL_MSG_NOTIFY_ROOM_CREATED(F) F(I64, room_id) F(I64, content_id) F(I64, user_id)
#define PL_MSG_NOTIFY_MESSAGE(F)                                                                   \
    F(I64, room_id) F(I64, is_dm) F(STR, title) F(BIN, recipients) F(STR, message)
#define PL_MSG_NOTIFICATION_STORE(F)                                                               \
    F(I64, id)                                                                                     \
    F(I64, version)                                                                                \
    F(I64, user_id) F(STR, kind) F(I64, room_id) F(I64, count) F(I64, ts) F(STR, body)
#define PL_MSG_NOTIFICATION_STORED(F) F(I64, id) F(I64, status)
#define PL_MSG_NOTIFICATIONS_READ(F)                                                               \
    F(U64, waiter) F(U64, req_id) F(I64, user_id) F(BIN, ids) F(I64, all)
#define PL_MSG_STREAM_OPEN(F)  F(U64, conn_id) F(I64, user_id) F(I64, last_event_id) F(BIN, head)
#define PL_MSG_STREAM_CLOSE(F) F(U64, conn_id) F(I64, user_id)
#define PL_MSG_NODE_REPLY(F)                                                                       \
    F(U64, waiter) F(U64, req_id) F(I64, status) F(I64, id) F(I64, created) F(NSTR, body)
#define PL_MSG_ROOM_RELEASE(F)  F(I64, room_id)
#define PL_MSG_ROOM_RELEASED(F) F(I64, room_id)
#define PL_MSG_ROOM_FENCE(F)    F(I64, room_id) F(I64, fenced)
#define PL_MSG_NODE_GONE(F)     F(I64, node)
#define PL_MSG_VIEW_CHANGED(F)  F(BIN, nodes)
#define PL_MSG_UPLOAD_STORE(F)  F(U64, waiter) F(U64, req_id) F(STR, name) F(STR, mime) F(BIN, bytes)

//  X(NAME, name, what it asks for)
#define PL_MSG_CATALOGUE(X)                                                                        \
    X(USER_CREATE, user_create, "persist a new user; REPLY status conflict if the name is taken")  \
    X(USER_UPDATE, user_update, "persist profile changes; nil fields are left as they are")        \
    X(REPLY, reply, "the answer to a request: status (pl_status_t) and the id it concerns")        \
    X(CONN_OPEN, conn_open,                                                                        \
      "a WebSocket's or an SSE stream's socket handed over (fd; a stream's head and replay "       \
      "point)")                                                                                    \
    X(CONN_KILL, conn_kill, "close a WebSocket with close_code")                                   \
    X(CONN_SEND, conn_send, "queue one text frame for a connection")                               \
    X(CONN_DRAIN, conn_drain, "send a close frame to every connection; REPLY when written")        \
    X(CONN_FANOUT, conn_fanout,                                                                    \
      "queue one text frame for each listed connection (u64 array), then ack for ack_conn (0: "    \
      "none)")                                                                                     \
    X(CONN_ROOM_NOTICE, conn_room_notice,                                                          \
      "a room frame to the users' connections (pairs user id, unread) but those excluded")         \
    X(CONTENT_CREATE, content_create, "persist a content; REPLY with its id")                      \
    X(ROOM_ENSURE_GROUP, room_ensure_group, "find or create a content's room; REPLY to creator")   \
    X(ROOM_ENSURE_DM, room_ensure_dm, "find or create a DM room with both members; REPLY")         \
    X(MEMBER_ADD, member_add, "add a member; REPLY (created echoes room_created); tell the room")  \
    X(MEMBER_REMOVE, member_remove, "remove a member; REPLY; tell the room")                       \
    X(LIKE_ADD, like_add,                                                                          \
      "a user likes a content; REPLY (conflict: already; not_found: no content)")                  \
    X(LIKE_REMOVE, like_remove, "a user stops liking a content; REPLY (not_found: did not)")       \
    X(MESSAGE_STORE, message_store, "persist a message; MESSAGE_STORED to its room after commit")  \
    X(MESSAGE_STORED, message_stored,                                                              \
      "messages seq..last of a room are committed (or failed): its room may go on")                \
    X(READ_STORE, read_store, "persist a read pointer (never moves it back)")                      \
    X(GROUP_ROOM, group_room, "creator: the content's room for this user, made if absent")         \
    X(ROOM_SUBSCRIBE, room_subscribe, "a connection subscribes to a room (since -1: no replay)")   \
    X(ROOM_UNSUBSCRIBE, room_unsubscribe, "a connection leaves a room's live stream")              \
    X(ROOM_SEND, room_send, "a member sends a message (from WebSocket, or HTTP with a waiter)")    \
    X(ROOM_READ, room_read, "a member has read up to seq")                                         \
    X(ROOM_TYPING, room_typing, "a member is typing (never stored)")                               \
    X(ROOM_MEMBER, room_member,                                                                    \
      "a member joined, left or changed profile (pl_member_event_t); REPLY when applied")          \
    X(ROOM_LOAD, room_load, "loader: read a room's state for the room shard that asks")            \
    X(ROOM_LOADED, room_loaded, "a room's state as JSON (status NOT_FOUND: no such room)")         \
    X(CONN_SSE_LIVE, conn_sse_live, "an SSE stream's replay: write it, then send it live events")  \
    X(CONN_USER_EVENT, conn_user_event,                                                            \
      "an SSE event for every live stream of a user (node: the bridge's destination, 0 all)")      \
    X(FOLLOW_STORE, follow_store, "follow (follow 1) or unfollow (0) a user; REPLY")               \
    X(NOTIFY_FOLLOW, notify_follow, "notifier: someone followed a user")                           \
    X(NOTIFY_ROOM_CREATED, notify_room_created, "notifier: a content's group room was created")    \
    X(NOTIFY_MESSAGE, notify_message,                                                              \
      "notifier: a stored message (frame) for the members not subscribed (i64 array)")             \
    X(NOTIFICATION_STORE, notification_store, "persist a notification, or its coalesced update")   \
    X(NOTIFICATION_STORED, notification_stored, "a notification is committed (or failed)")         \
    X(NOTIFICATIONS_READ, notifications_read,                                                      \
      "mark notifications read (ids: i64 array, or all); notifier, then persister REPLY")          \
    X(STREAM_OPEN, stream_open,                                                                    \
      "an SSE stream opened: its response head, then a replay after last_event_id (-1: none)")     \
    X(STREAM_CLOSE, stream_close, "an SSE stream of a user closed")                                \
    X(UPLOAD_STORE, upload_store, "persist an upload's bytes where the store keeps them; REPLY")   \
    X(NODE_REPLY, node_reply, "bridge: a REPLY for a waiter on the node its address names")        \
    X(ROOM_RELEASE, room_release,                                                                  \
      "room: hand this room to its new owner once its sends are stored")                           \
    X(ROOM_RELEASED, room_released, "bridge: the room is handed over; give up its lease")          \
    X(ROOM_FENCE, room_fence,                                                                      \
      "room: its lease cannot be renewed (fenced 1: refuse sends) or is renewed again (0)")        \
    X(NODE_GONE, node_gone, "room: a node died; forget the subscriptions of its connections")      \
    X(VIEW_CHANGED, view_changed,                                                                  \
      "the live nodes are now nodes (u16 array): writers end the SSE streams of users whose "      \
      "notifier moved; the notifier forgets them and reloads what it coalesces")

typedef enum {
#define PL__MSG_ENUM(NAME, name, doc) PL_MSG_##NAME,
    PL_MSG_CATALOGUE(PL__MSG_ENUM)
#undef PL__MSG_ENUM
        PL_MSG__COUNT
} pl_msg_type_t;

#define PL__CTYPE_U64              uint64_t
#define PL__CTYPE_I64              int64_t
#define PL__CTYPE_STR              pl_str_t
#define PL__CTYPE_NSTR             pl_str_t
#define PL__CTYPE_BIN              pl_str_t
#define PL__MSG_FIELD(kind, field) PL__CTYPE_##kind field;
#define PL__MSG_STRUCT(NAME, name, doc)                                                            \
    typedef struct {                                                                               \
        PL_MSG_##NAME(PL__MSG_FIELD)                                                               \
    } pl_msg_##name##_t;
PL_MSG_CATALOGUE(PL__MSG_STRUCT)
#undef PL__MSG_STRUCT

typedef struct {
    pl_msg_type_t type;
    union {
#define PL__MSG_MEMBER(NAME, name, doc) pl_msg_##name##_t name;
        PL_MSG_CATALOGUE(PL__MSG_MEMBER)
#undef PL__MSG_MEMBER
    } as;
} pl_msg_t;

//  The log name of a message type ("user_create"), or "unknown".
const char *pl_msg_name(int type);

//  Appends msg's encoding to buf. Returns 0, or -1 for an unknown type.
int pl_msg_encode(const pl_msg_t *msg, msgpack_sbuffer *buf);

//  Decodes data into out; strings point into data. Returns 0, or -1 when the bytes
//  are not a well-formed message of a known type (wrong arity or field kinds).
int pl_msg_decode(const void *data, size_t len, pl_msg_t *out);

//  Encodes msg into a new frame and sends it on a ZeroMQ socket (blocking, so a full
//  inbox pushes back on the sender). Returns 0 or -1.
int pl_msg_send(void *socket, const pl_msg_t *msg);

//  Sends a copy of data, the encoding of a message of type (a frame passed on as it
//  came), like pl_msg_send. Returns 0 or -1.
int pl_msg_send_encoded(void *socket, int type, const void *data, size_t len);

//  A received frame and its decoded message; the message's strings live in frame.
typedef struct {
    zmq_msg_t frame;
    pl_msg_t msg;
} pl_msg_frame_t;

//  Receives one frame (flags as zmq_msg_recv, e.g. ZMQ_DONTWAIT) and decodes it.
//  Returns 0, or -1 (no frame with DONTWAIT, interrupted, or undecodable: the frame is
//  then dropped and logged). Call pl_msg_frame_close after a 0 return.
int pl_msg_recv(void *socket, pl_msg_frame_t *in, int flags);
//  Sends a received frame on to socket as it came, its buffer with it (no copy), the
//  way pl_msg_send sends: counted in the queue metrics, and handed over where
//  ThreadSanitizer sees it. Returns 0, or -1 (not sent). Either way the caller then
//  calls pl_msg_frame_close (a sent frame is left empty).
int pl_msg_frame_pass(pl_msg_frame_t *in, void *socket);
void pl_msg_frame_close(pl_msg_frame_t *in);

#endif
