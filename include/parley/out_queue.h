/*  A connection's outbound queue: the frames it has yet to write, held by reference.

    A frame for many connections (a room's message, a user's event) is built once as
    an out frame, the bytes that go on the wire, and every connection that gets it
    queues a reference: no copy per recipient. The queue hands its oldest bytes to a
    send as an iovec, so the kernel copies the one frame straight into every socket;
    a frame is freed when the last queue holding it has written it (or is cleared).

    Frames and queues belong to one thread (a connection actor): the counts are not
    atomic. */
#ifndef PARLEY_OUT_QUEUE_H
#define PARLEY_OUT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct pl_out_frame pl_out_frame_t;

//  A frame of head_len bytes of head (none when 0) followed by len bytes of payload,
//  held once by its maker; NULL when memory ran out.
pl_out_frame_t *pl_out_frame_new(const uint8_t *head, size_t head_len, const char *payload,
                                 size_t len);

//  Appends another frame's head and payload to a frame no queue holds yet, so that a
//  run of frames for the same connections is queued as one; false when memory ran out
//  (the frame is as it was).
bool pl_out_frame_append(pl_out_frame_t **frame_p, const uint8_t *head, size_t head_len,
                         const char *payload, size_t len);

//  Gives back what appends reserved beyond the frame's bytes, before it is queued:
//  queues may keep it long (a slow reader), and their bound counts only its bytes.
void pl_out_frame_fit(pl_out_frame_t **frame_p);

//  Drops the maker's hold (queues hold their own); frees the frame if none is left.
void pl_out_frame_release(pl_out_frame_t **frame_p);

size_t pl_out_frame_len(const pl_out_frame_t *frame);

//  How many frames it holds: 1, and one more for each append.
size_t pl_out_frame_count(const pl_out_frame_t *frame);

//  Zeroed, it is an empty queue.
typedef struct {
    pl_out_frame_t **frames; //  owned: a ring of capacity, the oldest at head
    size_t head, count, capacity;
    size_t offset; //  bytes of the oldest frame already written
    size_t bytes;  //  bytes not yet written
} pl_out_queue_t;

//  Queues a frame behind the others; false (nothing queued) when memory ran out.
bool pl_out_queue_push(pl_out_queue_t *queue, pl_out_frame_t *frame);

//  Points up to max iovecs (at least 1) at the oldest bytes not yet written, in
//  order; returns how many. They stay valid while frames are only pushed: until
//  bytes are consumed or the queue is cleared.
size_t pl_out_queue_gather(const pl_out_queue_t *queue, struct iovec *iov, size_t max);

//  Takes away the oldest `written` bytes (at most queue->bytes), letting go of the
//  frames written whole.
void pl_out_queue_consume(pl_out_queue_t *queue, size_t written);

//  Lets go of every frame, and of the ring.
void pl_out_queue_clear(pl_out_queue_t *queue);

//  Frees the ring of an empty queue that grew past its first size (a burst's).
void pl_out_queue_trim(pl_out_queue_t *queue);

#endif
