/*  Accepted sockets by peer address (see peer_sockets.h). A direct-mapped table:
    each accept overwrites the slot its peer hashes to. Entries of plain HTTP
    connections are never looked up and are simply overwritten later; a WebSocket
    looks its socket up milliseconds after the accept, so an overwrite in between is
    rare, and only costs that connection its non-blocking writes. */
#include "parley/peer_sockets.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#define SLOTS (1u << 18)

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);

static struct {
    uint64_t key; //  address << 16 | port; 0: empty
    int fd;
} s_slots[SLOTS];
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

//  The peer of fd as a key, or 0 when it is not an IPv4 peer.
static uint64_t s_peer_key(int fd)
{
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 || peer.sin_family != AF_INET)
        return 0;
    return (uint64_t)ntohl(peer.sin_addr.s_addr) << 16 | ntohs(peer.sin_port);
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
    struct in_addr address;
    if (inet_pton(AF_INET, ip, &address) != 1)
        return -1;
    uint64_t key = (uint64_t)ntohl(address.s_addr) << 16 | (uint16_t)port;
    pthread_mutex_lock(&s_lock);
    int fd = s_slots[s_slot(key)].key == key ? s_slots[s_slot(key)].fd : -1;
    pthread_mutex_unlock(&s_lock);
    return fd >= 0 && s_peer_key(fd) == key ? fd : -1;
}
