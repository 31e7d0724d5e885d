/*  tests/support/tmp_dir.c
 *
 *  Scratch directories for tests: mkdtemp to make one, nftw (depth first, not
 *  following links) to remove it.
 */
#include "tmp_dir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pl_tmp_dir_make(char *dir, size_t size, const char *prefix)
{
    int n = snprintf(dir, size, "/tmp/%sXXXXXX", prefix);
    if (n < 0 || (size_t)n >= size || !mkdtemp(dir)) {
        if (size > 0)
            dir[0] = '\0';
        return -1;
    }
    return 0;
}

static int s_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path) == 0 ? 0 : -1;
}

int pl_tmp_dir_remove(const char *dir)
{
    if (strncmp(dir, "/tmp/", 5) != 0 || strstr(dir, ".."))
        return -1;
    return nftw(dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
