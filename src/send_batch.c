/*  Many non-blocking sends in one system call (see send_batch.h).

    With io_uring every send is one submission entry whose user_data is its index;
    one io_uring_enter submits them all and waits for as many completions. Sends
    flagged MSG_DONTWAIT complete while they are submitted, with what sendmsg() would
    have returned: the kernel does not retry a short write to a stream socket
    without MSG_WAITALL, and reports -EAGAIN instead of waiting for room. A send of
    one buffer is a plain send, which the kernel takes with less work than a
    sendmsg. */
#include "parley/send_batch.h"

#include "parley/log.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)

typedef struct {
    int fd;
    struct msghdr msg; //  msg_iov points into the batch's buffers
} send_t;

struct pl_send_batch {
    size_t capacity, count;
    send_t *sends;         //  owned: capacity of them, count added
    ssize_t *results;      //  owned: of the last run, by index
    struct iovec *buffers; //  owned: buffer_capacity of them, buffer_count taken
    size_t buffer_capacity, buffer_count;
    bool ring_ready;
    struct io_uring ring;
};

//  Sets the ring up; false when this kernel or its seccomp profile refuses io_uring
//  or lacks IORING_OP_SEND or IORING_OP_SENDMSG (Linux 5.6).
static bool s_ring_init(pl_send_batch_t *self)
{
    int rc = io_uring_queue_init((unsigned)self->capacity, &self->ring, 0);
    if (rc < 0) {
        pl_info("io_uring unavailable (%s): sends are made one by one", strerror(-rc));
        return false;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&self->ring);
    bool has_send = probe && io_uring_opcode_supported(probe, IORING_OP_SEND) &&
                    io_uring_opcode_supported(probe, IORING_OP_SENDMSG);
    io_uring_free_probe(probe);
    if (!has_send) {
        pl_info("io_uring has no send: sends are made one by one");
        io_uring_queue_exit(&self->ring);
    }
    return has_send;
}

pl_send_batch_t *pl_send_batch_new(size_t capacity, size_t buffer_capacity, bool use_io_uring)
{
    pl_send_batch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = capacity ? capacity : 1;
    self->buffer_capacity = buffer_capacity ? buffer_capacity : 1;
    self->sends = calloc(self->capacity, sizeof *self->sends);
    self->results = calloc(self->capacity, sizeof *self->results);
    self->buffers = calloc(self->buffer_capacity, sizeof *self->buffers);
    if (!self->sends || !self->results || !self->buffers) {
        pl_send_batch_destroy(&self);
        return NULL;
    }
    self->ring_ready = use_io_uring && s_ring_init(self);
    return self;
}

void pl_send_batch_destroy(pl_send_batch_t **self_p)
{
    pl_send_batch_t *self = *self_p;
    if (!self)
        return;
    if (self->ring_ready)
        io_uring_queue_exit(&self->ring);
    free(self->sends);
    free(self->results);
    free(self->buffers);
    free(self);
    *self_p = NULL;
}

bool pl_send_batch_uses_io_uring(const pl_send_batch_t *self)
{
    return self->ring_ready;
}

size_t pl_send_batch_count(const pl_send_batch_t *self)
{
    return self->count;
}

bool pl_send_batch_full(const pl_send_batch_t *self, size_t buffers)
{
    return self->count == self->capacity || self->buffer_count + buffers > self->buffer_capacity;
}

size_t pl_send_batch_add(pl_send_batch_t *self, int fd, const struct iovec *iov, size_t count)
{
    struct iovec *taken = self->buffers + self->buffer_count;
    memcpy(taken, iov, count * sizeof *iov);
    self->buffer_count += count;
    self->sends[self->count] = (send_t){fd, {.msg_iov = taken, .msg_iovlen = count}};
    return self->count++;
}

static void s_run_one_by_one(pl_send_batch_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        const send_t *s = &self->sends[i];
        const struct iovec *only = s->msg.msg_iov;
        ssize_t sent;
        do
            sent = s->msg.msg_iovlen == 1 ? send(s->fd, only->iov_base, only->iov_len, SEND_FLAGS)
                                          : sendmsg(s->fd, &s->msg, SEND_FLAGS);
        while (sent < 0 && errno == EINTR);
        self->results[i] = sent < 0 ? -errno : sent;
    }
}

//  Submits every send and reaps their completions. A failure of io_uring_enter
//  itself (never seen: the ring is as large as the batch, its completion queue twice
//  that) fails the sends not reaped (-ECANCELED), so that nothing is sent twice,
//  and retires the ring: later batches go one by one.
static void s_run_ring(pl_send_batch_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);
        const send_t *s = &self->sends[i];
        const struct iovec *only = s->msg.msg_iov;
        if (s->msg.msg_iovlen == 1)
            io_uring_prep_send(sqe, s->fd, only->iov_base, only->iov_len, SEND_FLAGS);
        else
            io_uring_prep_sendmsg(sqe, s->fd, &s->msg, SEND_FLAGS);
        io_uring_sqe_set_data64(sqe, i);
        self->results[i] = -ECANCELED;
    }
    size_t reaped = 0;
    while (reaped < self->count) {
        int rc = io_uring_submit_and_wait(&self->ring, (unsigned)(self->count - reaped));
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&self->ring, head, cqe)
        {
            self->results[io_uring_cqe_get_data64(cqe)] = cqe->res;
            seen++;
        }
        io_uring_cq_advance(&self->ring, seen);
        reaped += seen;
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            pl_error("io_uring_enter: %s: %zu sends failed, later ones go one by one",
                     strerror(-rc), self->count - reaped);
            io_uring_queue_exit(&self->ring);
            self->ring_ready = false;
            return;
        }
    }
}

void pl_send_batch_run(pl_send_batch_t *self)
{
    //  One send alone costs ~10% more through the ring than by itself.
    if (self->ring_ready && self->count > 1)
        s_run_ring(self);
    else
        s_run_one_by_one(self);
    self->count = 0;
    self->buffer_count = 0;
}

ssize_t pl_send_batch_result(const pl_send_batch_t *self, size_t index)
{
    return self->results[index];
}
