/*  Tests for send_batch.c: a batch of sends must give each socket exactly the bytes
    and each send exactly the result that sendmsg(fd, buffers, MSG_DONTWAIT |
    MSG_NOSIGNAL) would, whether it goes through io_uring or one by one. Every test
    runs both ways, on loopback TCP pairs like the writer's: whole sends, short sends
    and -EAGAIN into a full socket, a socket shut for writing (-EPIPE, no SIGPIPE), a bad
    descriptor, more sends than one batch holds, sends gathering several buffers
    (whole, and cut short in the middle of one), and more buffers than it holds. */
#include "parley/send_batch.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(send_batch, .timeout = 60);

#define PAIRS   64
#define BUFFERS 256

typedef struct {
    int sender, receiver;
} pair_t;

//  A connected loopback TCP pair; the sender is non-blocking like the writer's.
static pair_t s_pair(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(listener, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    cr_assert_eq(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(listen(listener, 1), 0);
    cr_assert_eq(getsockname(listener, (struct sockaddr *)&addr, &addr_len), 0);
    pair_t pair = {.receiver = socket(AF_INET, SOCK_STREAM, 0)};
    cr_assert_eq(connect(pair.receiver, (struct sockaddr *)&addr, sizeof addr), 0);
    pair.sender = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
    cr_assert_geq(pair.sender, 0);
    close(listener);
    return pair;
}

static void s_close(pair_t *pair)
{
    close(pair->sender);
    close(pair->receiver);
}

//  Reads exactly len bytes from fd (blocking, at most 5 s of silence) into out.
static void s_read_exactly(int fd, char *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 5000), 1, "no bytes within 5 s (%zu of %zu)", got, len);
        ssize_t n = recv(fd, out + got, len - got, 0);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
}

//  The next bytes on fd are exactly `expected`.
static void s_assert_received(int fd, const char *expected)
{
    size_t len = strlen(expected);
    char *got = calloc(1, len + 1);
    cr_assert_not_null(got);
    s_read_exactly(fd, got, len);
    cr_assert_str_eq(got, expected);
    free(got);
}

//  size bytes of a pattern that repeats at no short period, so that a byte out of
//  place shows.
static char *s_pattern(size_t size)
{
    char *data = malloc(size);
    cr_assert_not_null(data);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 7 + i / 251);
    return data;
}

//  Nothing more to read on fd right now.
static void s_assert_nothing_more(int fd)
{
    char byte;
    cr_assert_eq(recv(fd, &byte, 1, MSG_DONTWAIT), -1);
    cr_assert(errno == EAGAIN || errno == EWOULDBLOCK);
}

//  Adds a send of one buffer.
static size_t s_add(pl_send_batch_t *batch, int fd, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return pl_send_batch_add(batch, fd, &iov, 1);
}

static pl_send_batch_t *s_batch(size_t capacity, bool use_io_uring)
{
    pl_send_batch_t *batch = pl_send_batch_new(capacity, BUFFERS, use_io_uring);
    cr_assert_not_null(batch);
    if (!use_io_uring)
        cr_assert_not(pl_send_batch_uses_io_uring(batch));
    return batch;
}

//  Runs a send of `total` bytes in `count` buffers into a socket nobody reads, beside
//  a send of "one" (a batch of one is sent alone); returns what the kernel took,
//  which must be some but not all.
static ssize_t s_send_into_full(pl_send_batch_t *batch, int fd, const struct iovec *iov,
                                size_t count, size_t total, int beside_fd)
{
    pl_send_batch_add(batch, fd, iov, count);
    s_add(batch, beside_fd, "one", 3);
    pl_send_batch_run(batch);
    ssize_t taken = pl_send_batch_result(batch, 0);
    cr_assert_gt(taken, 0);
    cr_assert_lt(taken, (ssize_t)total, "%zu bytes fitted in a socket nobody reads", total);
    cr_assert_eq(pl_send_batch_result(batch, 1), 3);
    return taken;
}

static bool s_ways[] = {true, false};

//  A test run both ways, through io_uring (where the kernel allows it) and one by one;
//  its body reads which from `bool *use_io_uring`.
#define BOTH_WAYS(name)                                                                            \
    ParameterizedTestParameters(send_batch, name)                                                  \
    {                                                                                              \
        return cr_make_param_array(bool, s_ways, 2);                                               \
    }                                                                                              \
    ParameterizedTest(bool *use_io_uring, send_batch, name)

BOTH_WAYS(every_socket_gets_its_own_bytes_whole)
{
    pl_send_batch_t *batch = s_batch(PAIRS, *use_io_uring);
    pair_t pairs[PAIRS];
    char texts[PAIRS][64];
    for (int i = 0; i < PAIRS; i++) {
        pairs[i] = s_pair();
        int len = snprintf(texts[i], sizeof texts[i], "frame for socket %d", i);
        cr_assert_eq(s_add(batch, pairs[i].sender, texts[i], (size_t)len), (size_t)i);
    }
    cr_assert(pl_send_batch_full(batch, 1));
    pl_send_batch_run(batch);
    cr_assert_eq(pl_send_batch_count(batch), 0);
    for (int i = 0; i < PAIRS; i++) {
        size_t len = strlen(texts[i]);
        cr_assert_eq(pl_send_batch_result(batch, (size_t)i), (ssize_t)len);
        s_assert_received(pairs[i].receiver, texts[i]);
        s_assert_nothing_more(pairs[i].receiver);
        s_close(&pairs[i]);
    }
    pl_send_batch_destroy(&batch);
    cr_assert_null(batch);
}

//  The writer keeps what a short send left and waits for writability: the batch must
//  report the short count, then -EAGAIN, never block, and the bytes taken must be
//  exactly the prefix.
BOTH_WAYS(a_full_socket_takes_a_prefix_then_nothing)
{
    pl_send_batch_t *batch = s_batch(4, *use_io_uring);
    //  A small send beside the big one in every run: a batch of one is sent alone.
    pair_t pair = s_pair(), beside = s_pair();
    size_t big = 64u << 20;
    char *data = s_pattern(big);
    struct iovec whole = {data, big};
    ssize_t first = s_send_into_full(batch, pair.sender, &whole, 1, big, beside.sender);
    s_add(batch, pair.sender, data + first, big - (size_t)first);
    s_add(batch, beside.sender, "two", 3);
    pl_send_batch_run(batch);
    cr_assert_eq(pl_send_batch_result(batch, 0), -EAGAIN);
    cr_assert_eq(pl_send_batch_result(batch, 1), 3);
    char *got = malloc((size_t)first);
    cr_assert_not_null(got);
    s_read_exactly(pair.receiver, got, (size_t)first);
    cr_assert_eq(memcmp(got, data, (size_t)first), 0);
    s_assert_nothing_more(pair.receiver);
    s_assert_received(beside.receiver, "onetwo");
    free(got);
    free(data);
    s_close(&pair);
    s_close(&beside);
    pl_send_batch_destroy(&batch);
}

//  One bad send in a batch is its own failure: the others still go. A socket shut for
//  writing gives -EPIPE, and no SIGPIPE ends the process.
BOTH_WAYS(a_shut_socket_or_bad_descriptor_fails_alone)
{
    pl_send_batch_t *batch = s_batch(8, *use_io_uring);
    pair_t good = s_pair(), gone = s_pair();
    shutdown(gone.sender, SHUT_WR);
    int bad_fd = dup(good.sender);
    close(bad_fd);
    s_add(batch, gone.sender, "late", 4);
    s_add(batch, bad_fd, "nowhere", 7);
    s_add(batch, good.sender, "fine", 4);
    pl_send_batch_run(batch);
    cr_assert_eq(pl_send_batch_result(batch, 0), -EPIPE);
    cr_assert_eq(pl_send_batch_result(batch, 1), -EBADF);
    cr_assert_eq(pl_send_batch_result(batch, 2), 4);
    s_assert_received(good.receiver, "fine");
    s_close(&good);
    s_close(&gone);
    pl_send_batch_destroy(&batch);
}

//  The writer runs a full batch and goes on adding: every run starts from index 0,
//  and the bytes of consecutive runs reach each socket in order.
BOTH_WAYS(batch_after_batch_keeps_the_order_on_each_socket)
{
    enum { ROUNDS = 50, CAPACITY = 3 };
    pl_send_batch_t *batch = s_batch(CAPACITY, *use_io_uring);
    pair_t pairs[2] = {s_pair(), s_pair()};
    char expected[2][ROUNDS * 4 + 1] = {{0}};
    char text[ROUNDS * 2][5];
    for (int round = 0; round < ROUNDS; round++) {
        for (int p = 0; p < 2; p++) {
            char *t = text[round * 2 + p];
            snprintf(t, 5, "%c%03d", 'a' + p, round);
            strcat(expected[p], t);
            if (pl_send_batch_full(batch, 1))
                pl_send_batch_run(batch);
            size_t index = s_add(batch, pairs[p].sender, t, 4);
            cr_assert_lt(index, CAPACITY);
        }
    }
    pl_send_batch_run(batch);
    for (int p = 0; p < 2; p++) {
        s_assert_received(pairs[p].receiver, expected[p]);
        s_close(&pairs[p]);
    }
    pl_send_batch_destroy(&batch);
}

//  A send gathering several buffers puts them on the socket in order, as one stream;
//  beside sends of one buffer in the same batch.
BOTH_WAYS(a_send_gathers_its_buffers_in_order)
{
    enum { PARTS = 100 };
    pl_send_batch_t *batch = s_batch(4, *use_io_uring);
    pair_t gathered = s_pair(), single = s_pair();
    char parts[PARTS][8];
    struct iovec iov[PARTS];
    char expected[PARTS * 8 + 1] = {0};
    for (int i = 0; i < PARTS; i++) {
        int len = snprintf(parts[i], sizeof parts[i], "<%d>", i);
        iov[i] = (struct iovec){parts[i], (size_t)len};
        strcat(expected, parts[i]);
    }
    size_t total = strlen(expected);
    cr_assert_eq(pl_send_batch_add(batch, gathered.sender, iov, PARTS), 0);
    cr_assert_eq(s_add(batch, single.sender, "alone", 5), 1);
    //  The array was copied: changing it now changes nothing sent.
    iov[0].iov_len = 0;
    pl_send_batch_run(batch);
    cr_assert_eq(pl_send_batch_result(batch, 0), (ssize_t)total);
    cr_assert_eq(pl_send_batch_result(batch, 1), 5);
    s_assert_received(gathered.receiver, expected);
    s_assert_nothing_more(gathered.receiver);
    s_assert_received(single.receiver, "alone");
    s_close(&gathered);
    s_close(&single);
    pl_send_batch_destroy(&batch);
}

//  A gathered send into a socket nobody reads stops inside one of its buffers: the
//  count is a prefix of the buffers laid end to end, and the rest, offered again from
//  there, follows it exactly.
BOTH_WAYS(a_gathered_send_cut_short_resumes_where_it_stopped)
{
    enum { PARTS = 64 };
    pl_send_batch_t *batch = s_batch(4, *use_io_uring);
    pair_t pair = s_pair(), beside = s_pair();
    size_t part = 1u << 20, big = PARTS * part;
    char *data = s_pattern(big);
    struct iovec iov[PARTS];
    for (int i = 0; i < PARTS; i++)
        iov[i] = (struct iovec){data + (size_t)i * part, part};
    ssize_t first = s_send_into_full(batch, pair.sender, iov, PARTS, big, beside.sender);
    char *got = malloc(big);
    cr_assert_not_null(got);
    s_read_exactly(pair.receiver, got, (size_t)first);
    //  What is left, from the middle of the buffer the send stopped in.
    size_t from = (size_t)first / part, left = PARTS - from;
    iov[from].iov_base = data + first;
    iov[from].iov_len = (from + 1) * part - (size_t)first;
    pl_send_batch_add(batch, pair.sender, iov + from, left);
    pl_send_batch_run(batch);
    ssize_t second = pl_send_batch_result(batch, 0);
    cr_assert_gt(second, 0);
    s_read_exactly(pair.receiver, got + first, (size_t)second);
    cr_assert_eq(memcmp(got, data, (size_t)(first + second)), 0);
    free(got);
    free(data);
    s_close(&pair);
    s_close(&beside);
    pl_send_batch_destroy(&batch);
}

//  A batch is full when the buffers of the next send would not fit, though it holds
//  fewer sends than its capacity; after a run it takes them all again.
BOTH_WAYS(a_batch_is_full_when_its_buffers_run_out)
{
    pl_send_batch_t *batch = pl_send_batch_new(8, 10, *use_io_uring);
    cr_assert_not_null(batch);
    pair_t pair = s_pair();
    struct iovec iov[10];
    for (int i = 0; i < 10; i++)
        iov[i] = (struct iovec){"ab", 2};
    cr_assert_not(pl_send_batch_full(batch, 10));
    pl_send_batch_add(batch, pair.sender, iov, 6);
    cr_assert_not(pl_send_batch_full(batch, 4));
    cr_assert(pl_send_batch_full(batch, 5));
    pl_send_batch_add(batch, pair.sender, iov, 4);
    cr_assert(pl_send_batch_full(batch, 1));
    pl_send_batch_run(batch);
    cr_assert_eq(pl_send_batch_result(batch, 0), 12);
    cr_assert_eq(pl_send_batch_result(batch, 1), 8);
    cr_assert_not(pl_send_batch_full(batch, 10));
    s_assert_received(pair.receiver, "abababababababababab");
    s_close(&pair);
    pl_send_batch_destroy(&batch);
}
