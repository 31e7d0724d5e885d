/*  libsodium initialisation, once per process (see sodium_ready.h). */
#include "parley/sodium_ready.h"

#include <pthread.h>
#include <sodium.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static bool s_ok;

static void s_init(void)
{
    s_ok = sodium_init() >= 0;
}

bool pl_sodium_ready(void)
{
    pthread_once(&s_once, s_init);
    return s_ok;
}
