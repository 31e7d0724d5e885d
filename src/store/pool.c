/*  A fixed pool of reader connections shared by civetweb's threads, of whichever
    backend pl_store_open picks. A pool, not a connection per thread: civetweb keeps a
    thread per open WebSocket, each SQLite connection holds three file descriptors
    (database, WAL, shared memory) and each PostgreSQL one a server process. A reader
    is lent to one thread at a time, so no connection is ever used by two at once. */
#include "parley/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct pl_store_pool {
    pthread_mutex_t lock;
    pthread_cond_t returned;
    int free_count;
    pl_store_t **free_list;
};

pl_store_pool_t *pl_store_pool_new(const pl_store_config_t *where, int size, char *err,
                                   size_t err_len)
{
    pl_store_pool_t *self = calloc(1, sizeof *self);
    if (!self || !(self->free_list = calloc((size_t)size, sizeof *self->free_list))) {
        free(self);
        snprintf(err, err_len, "store: out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->returned, NULL);
    for (; self->free_count < size; self->free_count++) {
        pl_store_t *reader = pl_store_open(where, false, err, err_len);
        if (!reader) {
            pl_store_pool_destroy(&self);
            return NULL;
        }
        self->free_list[self->free_count] = reader;
    }
    return self;
}

void pl_store_pool_destroy(pl_store_pool_t **self_p)
{
    pl_store_pool_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->free_count; i++)
        pl_store_close(&self->free_list[i]);
    free(self->free_list);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->returned);
    free(self);
    *self_p = NULL;
}

pl_store_t *pl_store_pool_take(pl_store_pool_t *self)
{
    pthread_mutex_lock(&self->lock);
    while (self->free_count == 0)
        pthread_cond_wait(&self->returned, &self->lock);
    pl_store_t *store = self->free_list[--self->free_count];
    pthread_mutex_unlock(&self->lock);
    return store;
}

void pl_store_pool_give(pl_store_pool_t *self, pl_store_t *store)
{
    pthread_mutex_lock(&self->lock);
    self->free_list[self->free_count++] = store;
    pthread_cond_signal(&self->returned);
    pthread_mutex_unlock(&self->lock);
}
