/*  The descriptors of the sockets civetweb accepts, found by the peer's address, and
    the handing over of a WebSocket's socket from civetweb to parley.

    civetweb 1.15 exposes no connection's descriptor, yet the connection actors need
    one: they read and write established WebSockets themselves. parley therefore
    defines accept(): the executable's definition takes precedence over the C
    library's for civetweb's calls; it accepts through the C library and notes the
    new socket under its peer's address. A lookup is checked against getpeername(),
    so a stale or missing entry can only mean "unknown", never the wrong socket.

    Taking a socket (pl_peer_socket_take) keeps civetweb's connection whole while its
    bytes go elsewhere: parley gets its own descriptor of the TCP socket, and
    civetweb's descriptor number is atomically repointed (dup2) at a socket that only
    ever reads end of stream. civetweb's worker then finds its WebSocket ended, runs
    its close handler and closes its descriptor as it always does, touching only that
    stand-in, and goes back to its pool; the client's connection lives on in parley's
    descriptor. Nothing of civetweb's is used again after the take, so nothing it
    frees can be touched. */
#ifndef PARLEY_PEER_SOCKETS_H
#define PARLEY_PEER_SOCKETS_H

//  The descriptor of the accepted socket whose peer is ip:port (IPv4 or IPv6 text), or
//  -1.
int pl_peer_socket(const char *ip, int port);

//  Takes the socket of civetweb's descriptor fd, which the caller's thread serves:
//  returns a new descriptor of it (close-on-exec) and leaves fd reading end of stream.
//  Returns -1 (fd untouched) when descriptors ran out.
int pl_peer_socket_take(int fd);

#endif
