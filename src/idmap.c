/*  Id map: a power-of-two table kept at most 3/4 full. Slot id 0 means empty. */
#include "parley/idmap.h"

#include <stdlib.h>

typedef struct {
    uint64_t id;
    void *value;
} slot_t;

struct pl_idmap {
    slot_t *slots;
    size_t mask; //  capacity - 1
    size_t size;
};

//  Spreads sequential ids over the table (splitmix64's finaliser).
static size_t s_hash(uint64_t id)
{
    id ^= id >> 30;
    id *= 0xbf58476d1ce4e5b9ULL;
    id ^= id >> 27;
    id *= 0x94d049bb133111ebULL;
    id ^= id >> 31;
    return (size_t)id;
}

static int s_alloc(pl_idmap_t *self, size_t capacity)
{
    slot_t *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return -1;
    slot_t *old = self->slots;
    size_t old_capacity = old ? self->mask + 1 : 0;
    self->slots = slots;
    self->mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].id)
            continue;
        size_t j = s_hash(old[i].id) & self->mask;
        while (slots[j].id)
            j = (j + 1) & self->mask;
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

pl_idmap_t *pl_idmap_new(void)
{
    pl_idmap_t *self = calloc(1, sizeof *self);
    if (self && s_alloc(self, 16)) {
        free(self);
        return NULL;
    }
    return self;
}

void pl_idmap_destroy(pl_idmap_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

//  The slot holding id, or the empty slot where it would go.
static size_t s_find(const pl_idmap_t *self, uint64_t id)
{
    size_t i = s_hash(id) & self->mask;
    while (self->slots[i].id && self->slots[i].id != id)
        i = (i + 1) & self->mask;
    return i;
}

void *pl_idmap_get(const pl_idmap_t *self, uint64_t id)
{
    return id ? self->slots[s_find(self, id)].value : NULL;
}

int pl_idmap_put(pl_idmap_t *self, uint64_t id, void *value)
{
    //  Slot id 0 marks an empty slot, and a NULL value means "absent" to callers.
    if (!id || !value)
        return -1;
    if ((self->size + 1) * 4 > (self->mask + 1) * 3 && s_alloc(self, (self->mask + 1) * 2))
        return -1;
    size_t i = s_find(self, id);
    if (!self->slots[i].id)
        self->size++;
    self->slots[i] = (slot_t){id, value};
    return 0;
}

void *pl_idmap_remove(pl_idmap_t *self, uint64_t id)
{
    size_t i = s_find(self, id);
    if (!id || !self->slots[i].id)
        return NULL;
    void *value = self->slots[i].value;
    self->size--;
    //  Backward shift: pull later entries of the probe run into the hole when their
    //  home slot is at or before it, so no run is ever broken by an empty slot.
    for (size_t j = (i + 1) & self->mask; self->slots[j].id; j = (j + 1) & self->mask) {
        size_t home = s_hash(self->slots[j].id) & self->mask;
        if (((j - home) & self->mask) >= ((j - i) & self->mask)) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = (slot_t){0, NULL};
    return value;
}

size_t pl_idmap_size(const pl_idmap_t *self)
{
    return self->size;
}

void pl_idmap_each(const pl_idmap_t *self, void (*fn)(uint64_t id, void *value, void *arg),
                   void *arg)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].id)
            fn(self->slots[i].id, self->slots[i].value, arg);
}
