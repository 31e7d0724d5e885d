/*  Per-thread allocation caches. The server links jemalloc (CMakeLists.txt) with its
    thread caches off by default: a cache costs ~20 KiB of resident memory per thread,
    and civetweb's hundreds of workers mostly sleep. The actors, which allocate and free
    a buffer per message they pass, turn theirs on. Without jemalloc (the sanitizer
    builds, the tests) this does nothing. */
#ifndef PARLEY_ALLOCATOR_H
#define PARLEY_ALLOCATOR_H

//  Gives the calling thread its own allocation cache, when the allocator has them.
void pl_allocator_cache_this_thread(void);

//  "jemalloc" or "libc", for the log at start.
const char *pl_allocator_name(void);

#endif
