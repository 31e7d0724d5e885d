/*  Browser origins (PROTOCOL.md "Browser security"). A request that a browser sends
    with the parley_token cookie may have been started by a page of any site; its
    Origin header says which. These pure functions decide whether that origin may use
    the cookie: the server's own origin (public_url when set, else the request's
    Host) and the origins listed in allowed_origins. http_io.c applies them. */
#ifndef PARLEY_ORIGIN_H
#define PARLEY_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

//  Longest origin (scheme://host[:port]) compared; longer ones are never allowed.
#define PL_ORIGIN_MAX 255

//  True when origin (an Origin header's value) may use the cookie. host is the
//  request's Host header (NULL when absent); public_url and allowed_origins are the
//  options of those names ("" when unset). Scheme and host compare case-insensitively
//  and a scheme's default port (80, 443) may be written or left out. Without
//  public_url, the own origin is any scheme with exactly the request's Host, since a
//  TLS-terminating proxy may forward https pages' requests as plain http.
bool pl_origin_allowed(const char *origin, const char *host, const char *public_url,
                       const char *allowed_origins);

//  Checks that every entry of a comma-separated list of origins (allowed_origins) or
//  a single URL (public_url, whose path is ignored) is well-formed. Returns 0, or -1
//  with the offending entry named in err.
int pl_origin_check_list(const char *list, bool single_url, char *err, size_t err_len);

#endif
