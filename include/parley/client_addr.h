/*  The address a request came from, for limits per client (login throttling): the
    socket's peer, or, when that peer is a trusted proxy (trusted_proxies), the
    address the proxies recorded in X-Forwarded-For. Pure functions over strings,
    so the parsing of the outside header is tested and fuzzed on its own. */
#ifndef PARLEY_CLIENT_ADDR_H
#define PARLEY_CLIENT_ADDR_H

#include <stddef.h>

//  Room for an address as text (an IPv6 address is at most 45 characters).
#define PL_CLIENT_ADDR_SIZE 48

//  Writes the client's address into out: peer, unless peer is in trusted (a
//  comma-separated list of addresses and address/prefix networks, IPv4 or IPv6);
//  then the rightmost address of forwarded_for (an X-Forwarded-For value, NULL when
//  absent) that is not trusted, since each proxy appends the address it saw and only
//  trusted ones tell the truth. An entry that is not an address stops the walk at
//  the proxy that forwarded it. Addresses come out in canonical text (IPv4-mapped
//  IPv6 as IPv4).
void pl_client_address(const char *peer, const char *forwarded_for, const char *trusted,
                       char out[PL_CLIENT_ADDR_SIZE]);

//  The key per-client limits count an address under: an IPv4 address itself, an IPv6
//  address's /64 network ("2001:db8:1:2::/64"), since one host is commonly given a
//  whole /64 and could otherwise take a new address for every attempt.
void pl_client_limit_key(const char *address, char out[PL_CLIENT_ADDR_SIZE]);

//  Checks that every entry of a trusted_proxies list is an address or a network.
//  Returns 0, or -1 with the offending entry named in err.
int pl_client_addr_check_list(const char *trusted, char *err, size_t err_len);

#endif
