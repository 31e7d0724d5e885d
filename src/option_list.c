/*  Comma-separated list options (option_list.h). */
#include "parley/option_list.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool pl_option_list_any(const char *list,
                        bool (*each)(const void *arg, const char *entry, size_t len),
                        const void *arg)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *entry = p;
        p += len + (p[len] == ',');
        while (len && isspace((unsigned char)*entry))
            entry++, len--;
        while (len && isspace((unsigned char)entry[len - 1]))
            len--;
        if (len && each(arg, entry, len))
            return true;
    }
    return false;
}

typedef struct {
    bool (*valid)(const char *entry, size_t len);
    const char *what;
    char *err;
    size_t err_len;
} check_t;

static bool s_report_invalid(const void *arg, const char *entry, size_t len)
{
    const check_t *check = arg;
    if (check->valid(entry, len))
        return false;
    snprintf(check->err, check->err_len, "'%.*s' is not %s", (int)len, entry, check->what);
    return true;
}

int pl_option_list_check(const char *list, bool (*valid)(const char *entry, size_t len),
                         const char *what, char *err, size_t err_len)
{
    check_t check = {valid, what, err, err_len};
    return pl_option_list_any(list, s_report_invalid, &check) ? -1 : 0;
}
