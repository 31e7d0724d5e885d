/*  Per-thread allocation caches. The server links jemalloc (CMakeLists.txt) with its
    thread caches off by default: civetweb starts a worker per possible connection, and
    a cache in each would cost ~20 KiB of resident memory per thread for threads that
    mostly sleep. The actors, which allocate and free a buffer per message they pass,
    turn theirs on. Without jemalloc (the sanitizer builds, the tests) this does nothing. */
#ifndef PARLEY_ALLOCATOR_H
#define PARLEY_ALLOCATOR_H

//  Gives the calling thread its own allocation cache, when the allocator has them.
void pl_allocator_cache_this_thread(void);

#endif
