/*  jemalloc's settings, compiled only into the programs linked with it (the
    parley_allocator target): thread caches off unless a thread asks for one
    (allocator.h). MALLOC_CONF in the environment still overrides this. */
const char *malloc_conf = "tcache:false";
