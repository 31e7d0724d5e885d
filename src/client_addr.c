/*  Client addresses behind trusted proxies (client_addr.h). Addresses are compared
    as bytes after inet_pton, never as text, so "::ffff:10.0.0.1" and "10.0.0.1" or
    two spellings of one IPv6 address are the same client. */
#include "parley/client_addr.h"

#include "parley/option_list.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int family; //  AF_INET or AF_INET6
    unsigned char bytes[16];
} address_t;

//  Parses text[0..len) (trimmed of blanks) as an address. Returns 0 or -1.
static int s_parse(const char *text, size_t len, address_t *out)
{
    while (len && isspace((unsigned char)*text))
        text++, len--;
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    char copy[64];
    if (len == 0 || len >= sizeof copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (inet_pton(AF_INET, copy, out->bytes) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, copy, out->bytes) != 1)
        return -1;
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->bytes, v4_mapped, sizeof v4_mapped) == 0) {
        memmove(out->bytes, out->bytes + 12, 4);
        out->family = AF_INET;
    } else {
        out->family = AF_INET6;
    }
    return 0;
}

//  Parses "address" or "address/prefix" into the network and its prefix length.
static int s_parse_network(const char *text, size_t len, address_t *network, int *prefix)
{
    const char *slash = memchr(text, '/', len);
    if (s_parse(text, slash ? (size_t)(slash - text) : len, network))
        return -1;
    int bits = network->family == AF_INET ? 32 : 128;
    *prefix = bits;
    if (!slash)
        return 0;
    char digits[8];
    size_t digits_len = len - (size_t)(slash + 1 - text);
    if (digits_len == 0 || digits_len >= sizeof digits)
        return -1;
    memcpy(digits, slash + 1, digits_len);
    digits[digits_len] = '\0';
    char *end;
    long value = strtol(digits, &end, 10);
    if (*end || !isdigit((unsigned char)digits[0]) || value < 0 || value > bits)
        return -1;
    *prefix = (int)value;
    return 0;
}

static bool s_in_network(const address_t *address, const address_t *network, int prefix)
{
    if (address->family != network->family)
        return false;
    int whole = prefix / 8, rest = prefix % 8;
    if (memcmp(address->bytes, network->bytes, (size_t)whole) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return rest == 0 || (address->bytes[whole] & mask) == (network->bytes[whole] & mask);
}

static bool s_entry_contains(const void *address, const char *entry, size_t len)
{
    address_t network;
    int prefix;
    return s_parse_network(entry, len, &network, &prefix) == 0 &&
           s_in_network(address, &network, prefix);
}

static bool s_trusted(const address_t *address, const char *trusted)
{
    return pl_option_list_any(trusted, s_entry_contains, address);
}

static void s_format(const address_t *address, char out[PL_CLIENT_ADDR_SIZE])
{
    if (!inet_ntop(address->family, address->bytes, out, PL_CLIENT_ADDR_SIZE))
        snprintf(out, PL_CLIENT_ADDR_SIZE, "unknown");
}

void pl_client_address(const char *peer, const char *forwarded_for, const char *trusted,
                       char out[PL_CLIENT_ADDR_SIZE])
{
    address_t client;
    if (!peer || s_parse(peer, strlen(peer), &client)) {
        snprintf(out, PL_CLIENT_ADDR_SIZE, "%s", peer ? "unknown" : "");
        return;
    }
    //  From the right: while the hop that told us is trusted, believe its word.
    size_t end = forwarded_for ? strlen(forwarded_for) : 0;
    while (s_trusted(&client, trusted) && end > 0) {
        const char *comma = memrchr(forwarded_for, ',', end);
        size_t start = comma ? (size_t)(comma - forwarded_for) + 1 : 0;
        address_t hop;
        if (s_parse(forwarded_for + start, end - start, &hop))
            break;
        client = hop;
        end = comma ? start - 1 : 0;
    }
    s_format(&client, out);
}

void pl_client_limit_key(const char *address, char out[PL_CLIENT_ADDR_SIZE])
{
    address_t parsed;
    if (s_parse(address, strlen(address), &parsed) || parsed.family == AF_INET) {
        snprintf(out, PL_CLIENT_ADDR_SIZE, "%s", address);
        return;
    }
    memset(parsed.bytes + 8, 0, 8);
    s_format(&parsed, out);
    size_t len = strlen(out);
    snprintf(out + len, PL_CLIENT_ADDR_SIZE - len, "/64");
}

static bool s_is_network(const char *entry, size_t len)
{
    address_t network;
    int prefix;
    return s_parse_network(entry, len, &network, &prefix) == 0;
}

int pl_client_addr_check_list(const char *trusted, char *err, size_t err_len)
{
    return pl_option_list_check(trusted, s_is_network, "an address or address/prefix", err,
                                err_len);
}
