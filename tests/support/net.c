/*  tests/support/net.c
 *
 *  Owns the low-level socket work of the test clients: connecting to the
 *  loopback address, writing a whole buffer and reading whatever arrives, each
 *  bounded by an absolute deadline through poll(). The sockets are
 *  non-blocking so a large write cannot block past its deadline, and send()
 *  uses MSG_NOSIGNAL so a server that hangs up cannot kill the test process.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t pl_net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pl_net_remaining_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - pl_net_now_ms();
    if (left < 0)
        return 0;
    if (left > 24 * 3600 * 1000)
        return 24 * 3600 * 1000;
    return (int)left;
}

//  Waits for events on fd until deadline_ms. Returns 1 when ready, 0 on
//  timeout, -1 on error. EINTR is retried with the remaining time.
static int s_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, pl_net_remaining_ms(deadline_ms));
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int pl_net_connect(int port, int64_t deadline_ms)
{
    if (port <= 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;

    int rc = s_wait(fd, POLLOUT, deadline_ms);
    if (rc <= 0) {
        if (rc == 0)
            errno = ETIMEDOUT;
        goto fail;
    }
    int err = 0;
    socklen_t errlen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
        goto fail;
    if (err != 0) {
        errno = err;
        goto fail;
    }
    return fd;

fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int pl_net_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int rc = s_wait(fd, POLLOUT, deadline_ms);
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int pl_net_write_or_readable(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
    const char *p = buf;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
        int rc = poll(&pfd, 1, pl_net_remaining_ms(deadline_ms));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (pfd.revents & POLLIN)
            return 1;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
        }
    }
    return 0;
}

ssize_t pl_net_read_some(int fd, void *buf, size_t cap, int64_t deadline_ms)
{
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int rc = s_wait(fd, POLLIN, deadline_ms);
        if (rc == 0)
            return -2;
        if (rc < 0)
            return -1;
    }
}

int pl_net_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof address;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &len) == 0)
        port = ntohs(address.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static _Atomic int s_spread_port, s_spread_other;
static _Atomic unsigned s_spread_turn;

void pl_net_spread(int port, int other)
{
    atomic_store(&s_spread_port, port);
    atomic_store(&s_spread_other, other);
}

int pl_net_stream_port(int port)
{
    int other = atomic_load(&s_spread_other);
    if (!other || port != atomic_load(&s_spread_port))
        return port;
    return atomic_fetch_add(&s_spread_turn, 1) % 2 ? other : port;
}
