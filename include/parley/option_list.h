/*  Options whose value is a comma-separated list (allowed_origins, trusted_proxies):
    walking its entries and checking each at start-up. */
#ifndef PARLEY_OPTION_LIST_H
#define PARLEY_OPTION_LIST_H

#include <stdbool.h>
#include <stddef.h>

//  Calls each(arg, entry, len) for every non-empty entry of list (NULL: none),
//  trimmed of blanks, until one returns true; returns whether one did.
bool pl_option_list_any(const char *list,
                        bool (*each)(const void *arg, const char *entry, size_t len),
                        const void *arg);

//  Checks every entry with valid. Returns 0, or -1 with "'<entry>' is not <what>"
//  in err for the first that is not.
int pl_option_list_check(const char *list, bool (*valid)(const char *entry, size_t len),
                         const char *what, char *err, size_t err_len);

#endif
