/*  See allocator.h. jemalloc is found at run time through its mallctl, declared weak:
    a binary linked without it sees a null address and keeps glibc's malloc, whose
    per-thread caches are always on. */
#include "parley/allocator.h"

#include <stdbool.h>
#include <stddef.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

const char *pl_allocator_name(void)
{
    return mallctl ? "jemalloc" : "libc";
}

void pl_allocator_cache_this_thread(void)
{
    bool on = true;
    if (mallctl)
        mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof on);
}
