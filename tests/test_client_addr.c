/*  Tests for the client address behind trusted proxies (client_addr.c): the peer by
    default, X-Forwarded-For only through trusted hops, and what start-up refuses. */
#include "parley/client_addr.h"

#include <criterion/criterion.h>
#include <string.h>

TestSuite(client_addr, .timeout = 10);

static const char *s_client(const char *peer, const char *forwarded_for, const char *trusted)
{
    static char out[PL_CLIENT_ADDR_SIZE];
    pl_client_address(peer, forwarded_for, trusted, out);
    return out;
}

Test(client_addr, the_peer_unless_it_is_a_trusted_proxy)
{
    cr_assert_str_eq(s_client("203.0.113.9", NULL, ""), "203.0.113.9");
    //  Anyone can write the header: from an untrusted peer it is ignored.
    cr_assert_str_eq(s_client("203.0.113.9", "198.51.100.1", ""), "203.0.113.9");
    cr_assert_str_eq(s_client("203.0.113.9", "198.51.100.1", "10.0.0.1"), "203.0.113.9");
    cr_assert_str_eq(s_client("10.0.0.1", "198.51.100.1", "10.0.0.1"), "198.51.100.1");
    cr_assert_str_eq(s_client("10.0.0.1", NULL, "10.0.0.1"), "10.0.0.1");
    cr_assert_str_eq(s_client("10.0.0.1", "", "10.0.0.1"), "10.0.0.1");
}

Test(client_addr, the_rightmost_untrusted_hop_is_the_client)
{
    const char *trusted = "10.0.0.0/8, 192.168.1.5";
    //  The client forged the first entry; the proxies appended what they saw.
    cr_assert_str_eq(s_client("10.1.2.3", "1.1.1.1, 198.51.100.7, 192.168.1.5", trusted),
                     "198.51.100.7");
    cr_assert_str_eq(s_client("10.1.2.3", " 198.51.100.7 ,10.9.9.9", trusted), "198.51.100.7");
    //  Every hop trusted: the leftmost is the client.
    cr_assert_str_eq(s_client("10.1.2.3", "10.2.2.2,10.3.3.3", trusted), "10.2.2.2");
    //  Garbage stops the walk at the hop that forwarded it.
    cr_assert_str_eq(s_client("10.1.2.3", "198.51.100.7, not-an-address", trusted), "10.1.2.3");
    cr_assert_str_eq(s_client("10.1.2.3", "198.51.100.7,,10.9.9.9", trusted), "10.9.9.9");
}

Test(client_addr, addresses_compare_as_bytes)
{
    cr_assert_str_eq(s_client("::ffff:10.0.0.1", "198.51.100.1", "10.0.0.1"), "198.51.100.1");
    cr_assert_str_eq(s_client("2001:db8::1", "198.51.100.1", "2001:0db8:0::/48"), "198.51.100.1");
    cr_assert_str_eq(s_client("2001:db9::1", "198.51.100.1", "2001:db8::/32"), "2001:db9::1");
    cr_assert_str_eq(s_client("10.0.0.1", "2001:DB8:0:0::7", "10.0.0.1"), "2001:db8::7");
    cr_assert_str_eq(s_client("10.0.0.1", "::ffff:198.51.100.1", "10.0.0.1"), "198.51.100.1");
    //  A prefix that is not a multiple of 8 bits.
    cr_assert_str_eq(s_client("10.0.0.129", "198.51.100.1", "10.0.0.128/25"), "198.51.100.1");
    cr_assert_str_eq(s_client("10.0.0.127", "198.51.100.1", "10.0.0.128/25"), "10.0.0.127");
}

Test(client_addr, limits_count_an_ipv6_host_by_its_64)
{
    char key[PL_CLIENT_ADDR_SIZE];
    pl_client_limit_key("203.0.113.9", key);
    cr_assert_str_eq(key, "203.0.113.9");
    pl_client_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", key);
    cr_assert_str_eq(key, "2001:db8:1:2::/64");
    pl_client_limit_key("2001:db8:1:2::1", key);
    cr_assert_str_eq(key, "2001:db8:1:2::/64");
    pl_client_limit_key("unknown", key);
    cr_assert_str_eq(key, "unknown");
}

Test(client_addr, trusted_proxies_are_checked)
{
    char err[256] = "";
    cr_assert_eq(pl_client_addr_check_list("", err, sizeof err), 0);
    cr_assert_eq(pl_client_addr_check_list("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8", err, sizeof err),
                 0);
    const char *bad[] = {"localhost", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1",
                         "::1/129",   "10.0.0.0/8x", "1.2.3",     NULL};
    for (const char **entry = bad; *entry; entry++) {
        cr_assert_eq(pl_client_addr_check_list(*entry, err, sizeof err), -1, "'%s' passed", *entry);
        cr_assert(strstr(err, *entry), "%s", err);
    }
}
