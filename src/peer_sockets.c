/*  Accepted sockets by peer address (see peer_sockets.h). A direct-mapped table:
    each accept overwrites the slot its peer hashes to. Entries of plain HTTP
    connections are never looked up and are simply overwritten later; a WebSocket
    looks its socket up milliseconds after the accept, so an overwrite in between is
    rare, and then its upgrade is refused (ws.c) rather than given the wrong socket. */
#include "parley/peer_sockets.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS (1u << 18)

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);

static struct {
    uint64_t key; //  a hash of the peer's address and port; 0: empty
    int fd;
} s_slots[SLOTS];
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

//  The key of an IPv4 or IPv6 address and port (never 0), or 0 for another family.
static uint64_t s_key(const struct sockaddr_storage *peer)
{
    uint64_t key = 0;
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
        key = (uint64_t)ntohl(in->sin_addr.s_addr) << 16 | ntohs(in->sin_port);
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        uint64_t halves[2];
        memcpy(halves, &in6->sin6_addr, sizeof halves);
        key = (halves[0] * 0x9e3779b97f4a7c15ULL ^ halves[1]) * 0xbf58476d1ce4e5b9ULL ^
              ntohs(in6->sin6_port);
    } else {
        return 0;
    }
    return key ? key : 1;
}

//  The key of fd's peer, or 0 when it has none of a known family.
static uint64_t s_peer_key(int fd)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
        return 0;
    return s_key(&peer);
}

static uint32_t s_slot(uint64_t key)
{
    key *= 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(key >> 40) & (SLOTS - 1);
}

static accept_fn s_real_accept;
static pthread_once_t s_real_accept_once = PTHREAD_ONCE_INIT;

static void s_find_real_accept(void)
{
    s_real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
}

int accept(int listener, struct sockaddr *addr, socklen_t *len)
{
    //  Once for every thread: two civetweb servers (metrics_listen) accept at once.
    pthread_once(&s_real_accept_once, s_find_real_accept);
    int fd = s_real_accept(listener, addr, len);
    uint64_t key = fd >= 0 ? s_peer_key(fd) : 0;
    if (key) {
        pthread_mutex_lock(&s_lock);
        s_slots[s_slot(key)].key = key;
        s_slots[s_slot(key)].fd = fd;
        pthread_mutex_unlock(&s_lock);
    }
    return fd;
}

int pl_peer_socket(const char *ip, int port)
{
    struct sockaddr_storage peer = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&peer;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&peer;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    } else {
        return -1;
    }
    uint64_t key = s_key(&peer);
    pthread_mutex_lock(&s_lock);
    int fd = s_slots[s_slot(key)].key == key ? s_slots[s_slot(key)].fd : -1;
    pthread_mutex_unlock(&s_lock);
    return fd >= 0 && s_peer_key(fd) == key ? fd : -1;
}

//  One end of a socket pair whose other end is closed: reading it says end of stream.
static int s_ended = -1;
static pthread_once_t s_ended_once = PTHREAD_ONCE_INIT;

static void s_make_ended(void)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return;
    close(pair[1]);
    s_ended = pair[0];
}

int pl_peer_socket_take(int fd)
{
    pthread_once(&s_ended_once, s_make_ended);
    if (s_ended < 0)
        return -1;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return -1;
    if (dup2(s_ended, fd) < 0) {
        close(own);
        return -1;
    }
    return own;
}
