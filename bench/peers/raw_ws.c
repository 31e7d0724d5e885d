/*  raw_ws: the physical-limit baseline. A single-threaded epoll WebSocket server on
    127.0.0.1 that upgrades any GET, and broadcasts every text frame it receives to
    every connected client (the sender included): the frame is built once and written
    with one send() per client (TCP_NODELAY). Only when a client's socket is full are
    bytes queued for it (flushed on EPOLLOUT, counted as "queued" at exit); a client
    with more than 16 MiB queued is dropped. It stops on SIGINT/SIGTERM or after
    --max-seconds (default 3600).

    With --merge 1 it is the physical limit for bursts instead: every frame is queued,
    and once the frames of one epoll wake are all read, each client's queue is written
    with one send() (PERF-NOTES.md measured ~8x the single-send rate this way).
    Usage: raw_ws [--port P] [--max-seconds S] [--merge 0|1] */
#include "../ws_accept.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS     65536
#define MAX_PENDING (16u << 20)
#define MAX_FRAME   (1u << 20)

typedef struct {
    bool open, ws;
    bool dirty; //  --merge: listed in s_dirty, its queue to be written after this wake
    int slot;   //  index in s_live while a WebSocket
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_cap;
} client_t;

static client_t s_clients[MAX_FDS];
static int s_live[MAX_FDS], s_nlive, s_epfd;
static unsigned long long s_frames_in, s_sends, s_queued;
static bool s_merge;
static int s_dirty[MAX_FDS], s_ndirty;
static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_close(int fd)
{
    client_t *c = &s_clients[fd];
    if (c->ws) {
        int last = s_live[--s_nlive];
        s_live[c->slot] = last;
        s_clients[last].slot = c->slot;
    }
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    epoll_ctl(s_epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

static bool s_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n > *cap) {
        size_t cap2 = *cap ? *cap : 4096;
        while (cap2 < *len + n)
            cap2 *= 2;
        char *grown = realloc(*buf, cap2);
        if (!grown)
            return false;
        *buf = grown;
        *cap = cap2;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return true;
}

static void s_watch(int fd, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.fd = fd};
    epoll_ctl(s_epfd, EPOLL_CTL_MOD, fd, &ev);
}

//  Writes p to fd with one send(), queueing what the socket did not take.
static void s_write(int fd, const char *p, size_t n)
{
    client_t *c = &s_clients[fd];
    if (c->out_len == 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        s_sends++;
        if (w == (ssize_t)n)
            return;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return; //  broken: the read side closes it
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
        s_watch(fd, true);
    }
    s_queued++;
    if (c->out_len + n > MAX_PENDING || !s_append(&c->out, &c->out_len, &c->out_cap, p, n))
        shutdown(fd, SHUT_RDWR);
}

//  Writes what is queued for fd; waits for writability while some is left.
static void s_flush(int fd)
{
    client_t *c = &s_clients[fd];
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        s_sends++;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    s_watch(fd, c->out_len > 0);
}

//  --merge: queues a frame for fd, written with the rest of its queue after the wake.
static void s_queue(int fd, const char *p, size_t n)
{
    client_t *c = &s_clients[fd];
    if (c->out_len + n > MAX_PENDING || !s_append(&c->out, &c->out_len, &c->out_cap, p, n)) {
        shutdown(fd, SHUT_RDWR);
        return;
    }
    if (!c->dirty && s_ndirty < MAX_FDS) {
        c->dirty = true;
        s_dirty[s_ndirty++] = fd;
    }
}

//  --merge: one send per client of everything its queue got during the wake.
static void s_flush_dirty(void)
{
    for (int i = 0; i < s_ndirty; i++) {
        client_t *c = &s_clients[s_dirty[i]];
        if (!c->dirty)
            continue;
        c->dirty = false;
        s_flush(s_dirty[i]);
    }
    s_ndirty = 0;
}

static void s_broadcast(const char *payload, size_t len)
{
    static char frame[MAX_FRAME + 16];
    size_t h = 0;
    frame[h++] = (char)0x81;
    if (len < 126) {
        frame[h++] = (char)len;
    } else if (len <= 0xffff) {
        frame[h++] = 126;
        frame[h++] = (char)(len >> 8);
        frame[h++] = (char)len;
    } else {
        frame[h++] = 127;
        for (int i = 7; i >= 0; i--)
            frame[h++] = (char)((uint64_t)len >> (8 * i));
    }
    memcpy(frame + h, payload, len);
    s_frames_in++;
    for (int i = 0; i < s_nlive; i++) {
        if (s_merge)
            s_queue(s_live[i], frame, h + len);
        else
            s_write(s_live[i], frame, h + len);
    }
}

static bool s_upgrade(int fd)
{
    client_t *c = &s_clients[fd];
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len < 8192;
    *end = '\0';
    char *key = strcasestr(c->in, "\r\nSec-WebSocket-Key:");
    if (!key)
        return false;
    key += 20;
    while (*key == ' ')
        key++;
    char *eol = strstr(key, "\r\n");
    if (eol)
        *eol = '\0';
    char accept[32], resp[256];
    bn_ws_accept_of(key, accept);
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    size_t head = (size_t)(end - c->in) + 4;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    c->ws = true;
    c->slot = s_nlive;
    s_live[s_nlive++] = fd;
    s_write(fd, resp, (size_t)n);
    return true;
}

//  Handles complete client frames; false when the connection must close.
static bool s_frames(int fd)
{
    client_t *c = &s_clients[fd];
    size_t at = 0;
    bool keep = true;
    while (keep && c->in_len - at >= 6) {
        uint8_t *p = (uint8_t *)c->in + at;
        size_t avail = c->in_len - at, head = 2;
        uint64_t len = p[1] & 0x7f;
        if (len == 126) {
            len = (uint64_t)p[2] << 8 | p[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            head = 10;
        }
        if (!(p[1] & 0x80) || len > MAX_FRAME)
            return false;
        if (avail < head + 4 + len)
            break;
        uint8_t *mask = p + head, *data = p + head + 4;
        for (size_t i = 0; i < len; i++)
            data[i] ^= mask[i & 3];
        int opcode = p[0] & 0x0f;
        if (opcode == 1)
            s_broadcast((char *)data, len);
        else if (opcode == 8)
            keep = false;
        else if (opcode == 9 && len < 126) {
            char pong[130] = {(char)0x8a, (char)len};
            memcpy(pong + 2, data, len);
            s_write(fd, pong, len + 2);
        }
        at += head + 4 + len;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    return keep;
}

static void s_readable(int fd)
{
    client_t *c = &s_clients[fd];
    char buf[65536];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0 || !s_append(&c->in, &c->in_len, &c->in_cap, buf, (size_t)r)) {
        s_close(fd);
        return;
    }
    bool keep = c->ws ? s_frames(fd) : (s_upgrade(fd) && (!c->ws || s_frames(fd)));
    if (!keep)
        s_close(fd);
}

int main(int argc, char **argv)
{
    int port = 0, max_seconds = 3600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-seconds") == 0)
            max_seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--merge") == 0)
            s_merge = atoi(argv[i + 1]) != 0;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("raw_ws: listen");
        return 1;
    }
    s_epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(s_epfd, EPOLL_CTL_ADD, lfd, &lev);
    fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    time_t deadline = time(NULL) + max_seconds;
    struct epoll_event evs[512];
    while (!s_stop && time(NULL) < deadline) {
        int n = epoll_wait(s_epfd, evs, 512, 200);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (int k = 0; k < 256; k++) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break;
                    if (cfd >= MAX_FDS) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    s_clients[cfd].open = true;
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(s_epfd, EPOLL_CTL_ADD, cfd, &ev);
                }
                continue;
            }
            if (!s_clients[fd].open)
                continue;
            if (evs[i].events & EPOLLOUT)
                s_flush(fd);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                s_readable(fd);
        }
        s_flush_dirty();
    }
    fprintf(stderr, "raw_ws: %llu frames in, %llu sends, %llu writes queued\n", s_frames_in,
            s_sends, s_queued);
    return 0;
}
