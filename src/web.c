/*  Looking up the browser client's embedded files, and reading Accept-Encoding to
    choose between a file's bytes and its gzip (include/parley/web.h). */
#include "parley/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const pl_web_asset_t *pl_web_find(const char *name, size_t len)
{
    for (size_t i = 0; i < pl_web_asset_count; i++)
        if (strlen(pl_web_assets[i].name) == len && memcmp(pl_web_assets[i].name, name, len) == 0)
            return &pl_web_assets[i];
    return NULL;
}

//  Whether the parameters of one coding (what follows its name, up to the next
//  comma) leave it acceptable: only an explicit q of zero ("q=0", "q=0.000") refuses.
static bool s_q_nonzero(const char *params, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if ((params[i] != 'q' && params[i] != 'Q') || params[i + 1] != '=')
            continue;
        for (size_t j = i + 2; j < len && params[j] != ';'; j++)
            if (params[j] >= '1' && params[j] <= '9')
                return true;
        return false;
    }
    return true;
}

bool pl_web_accepts_gzip(const char *accept_encoding)
{
    const char *p = accept_encoding;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        const char *name = p + strspn(p, " \t");
        size_t name_len = strcspn(name, " \t;,");
        if (name_len == 4 && strncasecmp(name, "gzip", 4) == 0 &&
            s_q_nonzero(name + name_len, len - (size_t)(name + name_len - p)))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}
