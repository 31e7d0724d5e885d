/*  Many non-blocking sends, each to its own socket, in one system call.

    A connection writer (conn.h) writes to hundreds of sockets per batch. On this
    kind of machine the system call itself is a large part of each send, so the sends
    of a batch go to the kernel together through an io_uring: every one is
    send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL), with the same result it would have
    had alone (bytes taken, possibly fewer than len, or -errno such as -EAGAIN). Where
    io_uring cannot be had (an old kernel, a seccomp profile that forbids it) the batch
    makes the same sends one by one, with the same results. A batch of one send is
    always sent by itself: through the ring it would cost more.

    One thread uses a batch. Add sends, run them, read each result by the index add
    gave, then add the next ones. */
#ifndef PARLEY_SEND_BATCH_H
#define PARLEY_SEND_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pl_send_batch pl_send_batch_t;

//  A batch of at most capacity sends (at least 1). use_io_uring false makes the plain
//  send() one by one (tests of that path); true uses io_uring when the kernel allows.
//  NULL when memory ran out.
pl_send_batch_t *pl_send_batch_new(size_t capacity, bool use_io_uring);

void pl_send_batch_destroy(pl_send_batch_t **self_p);

//  True when the sends go through io_uring.
bool pl_send_batch_uses_io_uring(const pl_send_batch_t *self);

//  Sends added and not yet run; add refuses more than capacity.
size_t pl_send_batch_count(const pl_send_batch_t *self);
bool pl_send_batch_full(const pl_send_batch_t *self);

//  Adds a send of len bytes at buf (borrowed until run returns) and returns its index.
//  The batch must not be full.
size_t pl_send_batch_add(pl_send_batch_t *self, int fd, const void *buf, size_t len);

//  Makes every added send. After it, result(i) is the outcome of the send of index i
//  and the batch takes new sends (from index 0) while the results stay readable.
void pl_send_batch_run(pl_send_batch_t *self);
ssize_t pl_send_batch_result(const pl_send_batch_t *self, size_t index);

#endif
