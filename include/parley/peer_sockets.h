/*  The descriptors of the sockets civetweb accepts, found by the peer's address.

    civetweb 1.15 exposes no connection's descriptor, yet the connection writers need
    one: a write to a client that stopped reading must not block the writer thread
    (and every other client it serves), so writers send without blocking and wait
    for writability themselves. parley therefore defines accept(): the executable's
    definition takes precedence over the C library's for civetweb's calls; it accepts
    through the C library and notes the new socket under its peer's address. A lookup
    is checked against getpeername(), so a stale or missing entry can only mean
    "unknown" (the writer then falls back to civetweb's blocking writes), never the
    wrong socket. */
#ifndef PARLEY_PEER_SOCKETS_H
#define PARLEY_PEER_SOCKETS_H

//  The descriptor of the accepted socket whose peer is ip:port (IPv4 text), or -1.
int pl_peer_socket(const char *ip, int port);

#endif
