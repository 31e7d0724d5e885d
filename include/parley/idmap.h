/*  A hash map from non-zero 64-bit ids to pointers, for actor-private tables
    (connections by id, rooms by id). Open addressing with linear probing and
    backward-shift deletion, so lookups never walk over tombstones. Not thread-safe:
    each map belongs to one actor. The map does not own the values. */
#ifndef PARLEY_IDMAP_H
#define PARLEY_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_idmap pl_idmap_t;

pl_idmap_t *pl_idmap_new(void);
void pl_idmap_destroy(pl_idmap_t **self_p);

//  The value stored under id, or NULL.
void *pl_idmap_get(const pl_idmap_t *self, uint64_t id);

//  Stores value under id, replacing any earlier value. Returns 0, or -1 when id is 0,
//  value is NULL or memory ran out (the map is then unchanged).
int pl_idmap_put(pl_idmap_t *self, uint64_t id, void *value);

//  Removes id; returns the value it had, or NULL.
void *pl_idmap_remove(pl_idmap_t *self, uint64_t id);

size_t pl_idmap_size(const pl_idmap_t *self);

//  Calls fn(id, value, arg) for every entry. fn must not change the map.
void pl_idmap_each(const pl_idmap_t *self, void (*fn)(uint64_t id, void *value, void *arg),
                   void *arg);

#endif
