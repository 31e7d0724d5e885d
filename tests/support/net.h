/*  tests/support/net.h
 *
 *  Blocking-with-deadline socket primitives shared by the HTTP and WebSocket
 *  test clients. Every socket is a non-blocking IPv4 loopback TCP socket and
 *  every wait goes through poll() with a deadline, so no call can hang a test.
 *  Deadlines are absolute CLOCK_MONOTONIC times in milliseconds (pl_net_now_ms).
 *  Errors are returned (-1, errno set), never aborted on; writes never raise
 *  SIGPIPE.
 */
#ifndef PARLEY_TEST_NET_H
#define PARLEY_TEST_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Current CLOCK_MONOTONIC time in milliseconds.
int64_t pl_net_now_ms(void);

//  Milliseconds left until deadline_ms (never negative).
int pl_net_remaining_ms(int64_t deadline_ms);

//  Connects a non-blocking TCP socket to 127.0.0.1:port, waiting until
//  deadline_ms. Returns the fd (caller closes) or -1 (connection refused,
//  timeout, ...).
int pl_net_connect(int port, int64_t deadline_ms);

//  Writes all len bytes, waiting for buffer space until deadline_ms.
//  Returns 0, or -1 on error or timeout (errno ETIMEDOUT).
int pl_net_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms);

//  Like pl_net_write_all, but stops early when the peer has something to
//  read for us (an HTTP server answering 413 before taking the whole body).
//  Returns 0 when all was written, 1 when it stopped because data is waiting,
//  -1 on error or timeout.
int pl_net_write_or_readable(int fd, const void *buf, size_t len, int64_t deadline_ms);

//  Reads at most cap bytes once data is available, waiting until deadline_ms.
//  Returns the byte count (> 0), 0 on orderly EOF, -1 on error, or -2 on
//  timeout.
ssize_t pl_net_read_some(int fd, void *buf, size_t cap, int64_t deadline_ms);

//  A port on 127.0.0.1 that nothing listens on now, or 0 (for servers the tests
//  start that cannot pick their own and say which).
int pl_net_free_port(void);

//  From now on, every other stream (WebSocket or SSE: pl__http_open) opened to port
//  goes to other instead: a suite's clients spread over two nodes of a cluster.
//  other 0 stops it.
void pl_net_spread(int port, int other);

//  The port a stream to port opens on (see pl_net_spread).
int pl_net_stream_port(int port);

#endif
