/*  tests/support/scratch.c
 *
 *  Owns scratch directories (see scratch.h): made with mkdtemp under one
 *  prefix, and removed depth first without following links, so removal can
 *  never reach outside them.
 */
#include "scratch.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/tmp/parley-"

int pl_scratch_dir_new(char *path, size_t size, const char *name)
{
    int n = snprintf(path, size, PREFIX "%s-XXXXXX", name);
    if (n < 0 || (size_t)n >= size || !mkdtemp(path)) {
        if (size)
            path[0] = '\0';
        return -1;
    }
    return 0;
}

static int s_remove(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    remove(path);
    return 0;
}

void pl_scratch_dir_remove(const char *path)
{
    if (strncmp(path, PREFIX, strlen(PREFIX)) == 0 && !strstr(path, ".."))
        nftw(path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}
