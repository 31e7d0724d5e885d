/*  Many non-blocking sends, each to its own socket, in one system call.

    A connection writer (conn.h) writes to hundreds of sockets per batch. On this
    kind of machine the system call itself is a large part of each send, so the sends
    of a batch go to the kernel together through an io_uring: every one is
    sendmsg(fd, buffers, MSG_DONTWAIT | MSG_NOSIGNAL), with the same result it would
    have had alone (bytes taken, possibly fewer than offered, or -errno such as
    -EAGAIN). Where
    io_uring cannot be had (an old kernel, a seccomp profile that forbids it) the batch
    makes the same sends one by one, with the same results. A batch of one send is
    always sent by itself: through the ring it would cost more.

    A send gathers several buffers (sendmsg with their iovec): the writer queues a
    frame built once for many connections by reference, and the kernel copies it from
    there into each socket.

    One thread uses a batch. Add sends, run them, read each result by the index add
    gave, then add the next ones. */
#ifndef PARLEY_SEND_BATCH_H
#define PARLEY_SEND_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct pl_send_batch pl_send_batch_t;

//  A batch of at most capacity sends (at least 1) gathering at most buffer_capacity
//  buffers in all (at least 1). use_io_uring false makes the plain calls one by one
//  (tests of that path); true uses io_uring when the kernel allows. NULL when memory
//  ran out.
pl_send_batch_t *pl_send_batch_new(size_t capacity, size_t buffer_capacity, bool use_io_uring);

void pl_send_batch_destroy(pl_send_batch_t **self_p);

//  True when the sends go through io_uring.
bool pl_send_batch_uses_io_uring(const pl_send_batch_t *self);

//  Sends added and not yet run.
size_t pl_send_batch_count(const pl_send_batch_t *self);

//  True when a send of `buffers` buffers (1 to buffer_capacity) does not fit: the
//  batch holds capacity sends, or too many buffers to take these.
bool pl_send_batch_full(const pl_send_batch_t *self, size_t buffers);

//  Adds a send of `count` buffers (at least 1) and returns its index. The iovec array
//  is copied; the bytes it points to are borrowed until run returns. It must fit.
size_t pl_send_batch_add(pl_send_batch_t *self, int fd, const struct iovec *iov, size_t count);

//  Makes every added send. After it, result(i) is the outcome of the send of index i
//  and the batch takes new sends (from index 0) while the results stay readable.
void pl_send_batch_run(pl_send_batch_t *self);
ssize_t pl_send_batch_result(const pl_send_batch_t *self, size_t index);

#endif
