/*  The sliding-window limiter (throttle.h). A key's attempts are counted in BUCKETS
    buckets, each 1/BUCKETS of the window long, so the window slides a bucket at a
    time: its length is exact to 1/BUCKETS, and a key costs the same few bytes
    whatever the limit. The table is an array of `entries` fixed slots; a key lives
    in one of PROBES slots from its hash's home, and a new key takes one of those
    (s_find says which), so the table never grows and a lookup costs at most PROBES
    comparisons. */
#include "parley/throttle.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>

#define PROBES  16
#define BUCKETS 32

typedef struct {
    uint64_t hash;   //  0: free
    int64_t newest;  //  time of the newest attempt, 0 for none
    int64_t current; //  bucket number (time / bucket_ms) counts were last moved to
    uint32_t counts[BUCKETS];
} slot_t;

struct pl_throttle {
    pthread_mutex_t lock;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    size_t entries;
    uint32_t limit;
    int64_t bucket_ms;
    slot_t *slots;
};

pl_throttle_t *pl_throttle_new(size_t entries, int64_t limit, int64_t window_ms)
{
    if (entries < 1 || limit < 1 || limit > UINT32_MAX || window_ms < 1 || sodium_init() < 0)
        return NULL;
    pl_throttle_t *self = calloc(1, sizeof *self);
    //  calloc'd pages cost no memory until keys land in them.
    if (!self || !(self->slots = calloc(entries, sizeof *self->slots))) {
        free(self);
        return NULL;
    }
    self->entries = entries;
    self->limit = (uint32_t)limit;
    self->bucket_ms = (window_ms + BUCKETS - 1) / BUCKETS;
    randombytes_buf(self->hash_key, sizeof self->hash_key);
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void pl_throttle_destroy(pl_throttle_t **self_p)
{
    pl_throttle_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_destroy(&self->lock);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static uint64_t s_hash(const pl_throttle_t *self, pl_str_t key)
{
    uint64_t hash;
    crypto_shorthash((unsigned char *)&hash, (const unsigned char *)key.ptr, key.len,
                     self->hash_key);
    return hash ? hash : 1;
}

//  The index in counts of bucket number b (negative before the clock's first window).
static size_t s_index(int64_t b)
{
    int64_t index = b % BUCKETS;
    return (size_t)(index < 0 ? index + BUCKETS : index);
}

//  Empties the buckets that have left the window by `now` and returns the number of
//  attempts still in it.
static uint64_t s_slide(const pl_throttle_t *self, slot_t *slot, int64_t now)
{
    int64_t bucket = now / self->bucket_ms;
    for (int64_t b = slot->current + 1; b <= bucket && b <= slot->current + BUCKETS; b++)
        slot->counts[s_index(b)] = 0;
    if (bucket > slot->current)
        slot->current = bucket;
    uint64_t total = 0;
    for (int b = 0; b < BUCKETS; b++)
        total += slot->counts[b];
    return total;
}

//  The slot of the key with this hash, or NULL; with `claim`, a slot made for it
//  from the one a forgotten key costs least: a key at its limit is kept over one
//  that is not (cycling through names must not free a name under attack), and
//  among those the stalest goes (a free slot's newest attempt is 0).
static slot_t *s_find(pl_throttle_t *self, uint64_t hash, int64_t now, bool claim)
{
    slot_t *victim = NULL;
    bool victim_limited = true;
    for (size_t i = 0; i < PROBES && i < self->entries; i++) {
        slot_t *slot = &self->slots[(hash + i) % self->entries];
        if (slot->hash == hash)
            return slot;
        bool limited = slot->hash && s_slide(self, slot, now) >= self->limit;
        if (!victim || (victim_limited && !limited) ||
            (victim_limited == limited && slot->newest < victim->newest)) {
            victim = slot;
            victim_limited = limited;
        }
    }
    if (!claim)
        return NULL;
    *victim = (slot_t){.hash = hash};
    return victim;
}

//  ms until the slot's key may try again: until enough of its oldest buckets leave
//  the window to bring it under the limit.
static int64_t s_wait(const pl_throttle_t *self, slot_t *slot, int64_t now)
{
    if (!slot)
        return 0;
    uint64_t total = s_slide(self, slot, now);
    for (int64_t b = slot->current - BUCKETS + 1; b <= slot->current && total >= self->limit; b++) {
        total -= slot->counts[s_index(b)];
        if (total < self->limit)
            return (b + BUCKETS) * self->bucket_ms - now;
    }
    return 0;
}

//  The bucket an attempt at `at` counts in: its own, or the oldest in the window when
//  the slot has moved past it (another thread counted a later attempt first).
static int64_t s_bucket_of(const pl_throttle_t *self, const slot_t *slot, int64_t at)
{
    int64_t bucket = at / self->bucket_ms;
    return bucket > slot->current - BUCKETS ? bucket : slot->current - BUCKETS + 1;
}

int64_t pl_throttle_acquire(pl_throttle_t *self, pl_str_t key, int64_t now)
{
    uint64_t hash = s_hash(self, key);
    pthread_mutex_lock(&self->lock);
    slot_t *slot = s_find(self, hash, now, true);
    int64_t wait = s_wait(self, slot, now);
    if (wait == 0) {
        slot->counts[s_index(s_bucket_of(self, slot, now))]++;
        if (now > slot->newest)
            slot->newest = now;
    }
    pthread_mutex_unlock(&self->lock);
    return wait;
}

int64_t pl_throttle_wait(pl_throttle_t *self, pl_str_t key, int64_t now)
{
    uint64_t hash = s_hash(self, key);
    pthread_mutex_lock(&self->lock);
    int64_t wait = s_wait(self, s_find(self, hash, now, false), now);
    pthread_mutex_unlock(&self->lock);
    return wait;
}

void pl_throttle_cancel(pl_throttle_t *self, pl_str_t key, int64_t at)
{
    uint64_t hash = s_hash(self, key);
    pthread_mutex_lock(&self->lock);
    slot_t *slot = s_find(self, hash, at, false);
    int64_t bucket = slot ? at / self->bucket_ms : 0;
    //  An attempt whose bucket has left the window counts no more anyway.
    if (slot && bucket <= slot->current && bucket > slot->current - BUCKETS &&
        slot->counts[s_index(bucket)] > 0)
        slot->counts[s_index(bucket)]--;
    pthread_mutex_unlock(&self->lock);
}

void pl_throttle_forget(pl_throttle_t *self, pl_str_t key)
{
    uint64_t hash = s_hash(self, key);
    pthread_mutex_lock(&self->lock);
    slot_t *slot = s_find(self, hash, 0, false);
    if (slot)
        *slot = (slot_t){0};
    pthread_mutex_unlock(&self->lock);
}
