/*  Origin comparison for the cookie's browser-security checks (origin.h). Every
    origin is brought to one canonical text, "scheme://host[:port]" in lower case
    with the scheme's default port left out, and origins are equal when their texts
    are. Anything that does not parse as an http or https origin is never allowed,
    so "null" (sandboxed frames, file: pages) and malformed headers are refused. */
#include "parley/origin.h"

#include "parley/option_list.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

//  Writes the canonical form of text[0..len) into out. A URL (url true) may go on
//  with a path after the authority, an origin only with one '/' (as operators may
//  write it). Returns 0, or -1 when it is not an http or https origin.
static int s_canonical(const char *text, size_t len, bool url, char out[PL_ORIGIN_MAX + 1])
{
    const char *end = text + len;
    const char *default_port;
    size_t scheme_len;
    if (len > 7 && strncasecmp(text, "http://", 7) == 0)
        scheme_len = 4, default_port = "80";
    else if (len > 8 && strncasecmp(text, "https://", 8) == 0)
        scheme_len = 5, default_port = "443";
    else
        return -1;
    const char *host = text + scheme_len + 3, *p = host;
    if (*p == '[') {
        for (p++; p < end && (isxdigit((unsigned char)*p) || *p == ':' || *p == '.');)
            p++;
        if (p == host + 1 || p == end || *p++ != ']')
            return -1;
    } else {
        while (p < end && (isalnum((unsigned char)*p) || *p == '.' || *p == '-'))
            p++;
    }
    size_t host_len = (size_t)(p - host);
    const char *port = NULL;
    size_t port_len = 0;
    if (p < end && *p == ':') {
        port = ++p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        port_len = (size_t)(p - port);
        if (port_len == 0 || port_len > 5)
            return -1;
    }
    bool rest_ok = p == end || (*p == '/' && (url || p + 1 == end));
    if (host_len == 0 || !rest_ok)
        return -1;
    if (port && port_len == strlen(default_port) && memcmp(port, default_port, port_len) == 0)
        port = NULL;
    int n = snprintf(out, PL_ORIGIN_MAX + 1, "%.*s://%.*s%s%.*s", (int)scheme_len, text,
                     (int)host_len, host, port ? ":" : "", (int)port_len, port ? port : "");
    if (n < 0 || n > PL_ORIGIN_MAX)
        return -1;
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return 0;
}

static bool s_equals_canonical(const void *canonical, const char *entry, size_t len)
{
    char other[PL_ORIGIN_MAX + 1];
    return s_canonical(entry, len, false, other) == 0 && strcmp(other, canonical) == 0;
}

bool pl_origin_allowed(const char *origin, const char *host, const char *public_url,
                       const char *allowed_origins)
{
    char canonical[PL_ORIGIN_MAX + 1], own[PL_ORIGIN_MAX + 1];
    if (!origin || s_canonical(origin, strlen(origin), false, canonical))
        return false;
    if (*public_url) {
        if (s_canonical(public_url, strlen(public_url), true, own) == 0 &&
            strcmp(own, canonical) == 0)
            return true;
    } else if (host) {
        //  The origin's own scheme with the request's Host.
        char built[PL_ORIGIN_MAX + 2];
        size_t scheme_end = strcspn(canonical, ":");
        int n = snprintf(built, sizeof built, "%.*s://%s", (int)scheme_end, canonical, host);
        if (n > 0 && n <= PL_ORIGIN_MAX && s_canonical(built, (size_t)n, false, own) == 0 &&
            strcmp(own, canonical) == 0)
            return true;
    }
    return pl_option_list_any(allowed_origins, s_equals_canonical, canonical);
}

static bool s_is_origin(const char *entry, size_t len)
{
    char canonical[PL_ORIGIN_MAX + 1];
    return s_canonical(entry, len, false, canonical) == 0;
}

int pl_origin_check_list(const char *list, bool single_url, char *err, size_t err_len)
{
    if (single_url) {
        char canonical[PL_ORIGIN_MAX + 1];
        if (!*list || s_canonical(list, strlen(list), true, canonical) == 0)
            return 0;
        snprintf(err, err_len, "'%s' is not an http or https URL", list);
        return -1;
    }
    return pl_option_list_check(list, s_is_origin, "an origin (http or https://host[:port])", err,
                                err_len);
}
