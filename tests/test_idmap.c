/*  Tests for idmap.c: the basic contract, id 0, growth through many resizes, and a
    long randomized differential run against a trivially correct reference table. */
#include "parley/idmap.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TestSuite(idmap, .timeout = 10);

//  Values are opaque to the map; distinct non-NULL pointers made from numbers will do.
#define VAL(n) ((void *)(uintptr_t)(n))

//  xorshift64*: a fixed-seed generator, so a failure reproduces.
static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545f4914f6cdd1dULL;
}

static pl_idmap_t *s_new(void)
{
    pl_idmap_t *map = pl_idmap_new();
    cr_assert_not_null(map);
    return map;
}

//  --------------------------------------------------------------------------------
//  Basic contract

Test(idmap, new_map_is_empty)
{
    pl_idmap_t *map = s_new();
    cr_assert_eq(pl_idmap_size(map), 0);
    cr_assert_null(pl_idmap_get(map, 1));
    cr_assert_null(pl_idmap_get(map, UINT64_MAX));
    cr_assert_null(pl_idmap_remove(map, 1));
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
    cr_assert_null(map);
    pl_idmap_destroy(&map); //  destroying NULL is harmless
}

Test(idmap, put_get_remove_size)
{
    pl_idmap_t *map = s_new();
    cr_assert_eq(pl_idmap_put(map, 1, VAL(10)), 0);
    cr_assert_eq(pl_idmap_put(map, 2, VAL(20)), 0);
    cr_assert_eq(pl_idmap_put(map, UINT64_MAX, VAL(30)), 0);
    cr_assert_eq(pl_idmap_put(map, 1ULL << 63, VAL(40)), 0);
    cr_assert_eq(pl_idmap_size(map), 4);
    cr_assert_eq(pl_idmap_get(map, 1), VAL(10));
    cr_assert_eq(pl_idmap_get(map, 2), VAL(20));
    cr_assert_eq(pl_idmap_get(map, UINT64_MAX), VAL(30));
    cr_assert_eq(pl_idmap_get(map, 1ULL << 63), VAL(40));
    cr_assert_null(pl_idmap_get(map, 3));

    cr_assert_eq(pl_idmap_remove(map, 2), VAL(20));
    cr_assert_eq(pl_idmap_size(map), 3);
    cr_assert_null(pl_idmap_get(map, 2));
    cr_assert_eq(pl_idmap_get(map, 1), VAL(10));
    cr_assert_eq(pl_idmap_get(map, UINT64_MAX), VAL(30));
    pl_idmap_destroy(&map);
}

Test(idmap, put_replaces)
{
    pl_idmap_t *map = s_new();
    cr_assert_eq(pl_idmap_put(map, 7, VAL(1)), 0);
    cr_assert_eq(pl_idmap_put(map, 7, VAL(2)), 0);
    cr_assert_eq(pl_idmap_size(map), 1, "a replaced value is not a new entry");
    cr_assert_eq(pl_idmap_get(map, 7), VAL(2));
    cr_assert_eq(pl_idmap_remove(map, 7), VAL(2));
    cr_assert_eq(pl_idmap_size(map), 0);
    cr_assert_null(pl_idmap_get(map, 7));
    pl_idmap_destroy(&map);
}

Test(idmap, remove_missing)
{
    pl_idmap_t *map = s_new();
    cr_assert_eq(pl_idmap_put(map, 5, VAL(5)), 0);
    cr_assert_null(pl_idmap_remove(map, 6));
    cr_assert_eq(pl_idmap_size(map), 1);
    cr_assert_eq(pl_idmap_remove(map, 5), VAL(5));
    cr_assert_null(pl_idmap_remove(map, 5), "removing twice");
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
}

Test(idmap, reinsert_after_remove)
{
    pl_idmap_t *map = s_new();
    for (int round = 0; round < 100; round++) {
        cr_assert_eq(pl_idmap_put(map, 42, VAL(round + 1)), 0);
        cr_assert_eq(pl_idmap_get(map, 42), VAL(round + 1));
        cr_assert_eq(pl_idmap_remove(map, 42), VAL(round + 1));
    }
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
}

Test(idmap, id_zero_is_never_stored_or_found)
{
    pl_idmap_t *map = s_new();
    for (uint64_t id = 1; id <= 8; id++)
        cr_assert_eq(pl_idmap_put(map, id, VAL(id)), 0);

    pl_idmap_put(map, 0, VAL(0xdead)); //  refused or ignored; either way not stored
    size_t size = pl_idmap_size(map);
    void *got_zero = pl_idmap_get(map, 0), *removed_zero = pl_idmap_remove(map, 0);
    //  No absent id may see the value given for id 0.
    uint64_t polluted = 0;
    for (uint64_t id = 9; id < 10000 && !polluted; id++)
        if (pl_idmap_get(map, id))
            polluted = id;
    bool present = true;
    for (uint64_t id = 1; id <= 8; id++)
        present = present && pl_idmap_get(map, id) == VAL(id);
    pl_idmap_destroy(&map);

    cr_assert_eq(size, 8, "put(0) changed the size to %zu", size);
    cr_assert_null(got_zero);
    cr_assert_null(removed_zero);
    cr_assert_eq(polluted, 0, "get(%lu) of an absent id found put(0)'s value",
                 (unsigned long)polluted);
    cr_assert(present, "put(0) disturbed the real entries");
}

Test(idmap, id_zero_on_an_empty_map)
{
    pl_idmap_t *map = s_new();
    cr_assert_null(pl_idmap_get(map, 0));
    cr_assert_null(pl_idmap_remove(map, 0));
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
}

//  --------------------------------------------------------------------------------
//  Growth

Test(idmap, sequential_ids_through_many_resizes)
{
    enum { N = 100000 };
    pl_idmap_t *map = s_new();
    for (uint64_t id = 1; id <= N; id++) {
        cr_assert_eq(pl_idmap_put(map, id, VAL(id * 3)), 0);
        cr_assert_eq(pl_idmap_size(map), id);
        //  Right after each power of two (around a resize), everything is still there.
        if ((id & (id - 1)) == 0)
            for (uint64_t k = 1; k <= id; k++)
                cr_assert_eq(pl_idmap_get(map, k), VAL(k * 3), "id %lu lost at size %lu",
                             (unsigned long)k, (unsigned long)id);
    }
    for (uint64_t id = 1; id <= N; id++)
        cr_assert_eq(pl_idmap_get(map, id), VAL(id * 3));
    cr_assert_null(pl_idmap_get(map, N + 1));
    //  Remove the odd ids, then check both halves.
    for (uint64_t id = 1; id <= N; id += 2)
        cr_assert_eq(pl_idmap_remove(map, id), VAL(id * 3));
    cr_assert_eq(pl_idmap_size(map), N / 2);
    for (uint64_t id = 1; id <= N; id++) {
        if (id % 2)
            cr_assert_null(pl_idmap_get(map, id));
        else
            cr_assert_eq(pl_idmap_get(map, id), VAL(id * 3));
    }
    for (uint64_t id = 2; id <= N; id += 2)
        cr_assert_eq(pl_idmap_remove(map, id), VAL(id * 3));
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(idmap, random_ids_through_many_resizes)
{
    enum { N = 100000 };
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) {
        do
            ids[i] = s_rand();
        while (ids[i] == 0);
    }
    //  Make them distinct (a repeat would be a replace, not a new entry).
    uint64_t *sorted = malloc(N * sizeof *sorted);
    memcpy(sorted, ids, N * sizeof *ids);
    qsort(sorted, N, sizeof *sorted, s_cmp_u64);
    for (size_t i = 1; i < N; i++)
        cr_assert_neq(sorted[i], sorted[i - 1], "the generator repeated itself");
    free(sorted);

    pl_idmap_t *map = s_new();
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(pl_idmap_put(map, ids[i], VAL(i + 1)), 0);
        cr_assert_eq(pl_idmap_size(map), i + 1);
    }
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(pl_idmap_get(map, ids[i]), VAL(i + 1));
    for (size_t i = 0; i < N; i++)
        cr_assert_null(pl_idmap_get(map, ids[i] ^ 1ULL << 40), "an absent id was found");
    for (size_t i = 0; i < N; i += 3)
        cr_assert_eq(pl_idmap_remove(map, ids[i]), VAL(i + 1));
    for (size_t i = 0; i < N; i++) {
        if (i % 3 == 0)
            cr_assert_null(pl_idmap_get(map, ids[i]));
        else
            cr_assert_eq(pl_idmap_get(map, ids[i]), VAL(i + 1));
    }
    pl_idmap_destroy(&map);
    free(ids);
}

//  --------------------------------------------------------------------------------
//  Differential test against a reference

//  The reference: ids come from a fixed pool, so a direct array indexed by pool slot
//  is a trivially correct map.
enum { POOL = 4096 };

typedef struct {
    uint64_t id;
    size_t slot;
} by_id_t;

typedef struct {
    uint64_t ids[POOL];
    void *values[POOL];
    size_t size;
    by_id_t by_id[POOL]; //  the ids sorted, to find a slot from an id
} ref_t;

static int s_cmp_by_id(const void *a, const void *b)
{
    return s_cmp_u64(&((const by_id_t *)a)->id, &((const by_id_t *)b)->id);
}

static void s_make_pool(ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    for (size_t i = 0; i < POOL; i++) {
        //  A mix of small sequential ids, near-maximal ids and random ones.
        if (i < 1024)
            ref->ids[i] = i + 1;
        else if (i < 1100)
            ref->ids[i] = UINT64_MAX - (i - 1024);
        else if (i < 1500)
            ref->ids[i] = (uint64_t)(i - 1100 + 1) << 32;
        else {
            do
                ref->ids[i] = s_rand();
            while (ref->ids[i] == 0);
        }
        ref->by_id[i] = (by_id_t){ref->ids[i], i};
    }
    qsort(ref->by_id, POOL, sizeof ref->by_id[0], s_cmp_by_id);
    for (size_t i = 1; i < POOL; i++)
        cr_assert_neq(ref->by_id[i].id, ref->by_id[i - 1].id, "the pool repeats an id");
}

typedef struct {
    const ref_t *ref;
    unsigned char *seen;
    size_t calls;
} each_ctx_t;

static size_t s_slot_of(const ref_t *ref, uint64_t id)
{
    by_id_t key = {id, 0};
    const by_id_t *hit = bsearch(&key, ref->by_id, POOL, sizeof key, s_cmp_by_id);
    return hit ? hit->slot : POOL;
}

static void s_each_visit(uint64_t id, void *value, void *arg)
{
    each_ctx_t *ctx = arg;
    ctx->calls++;
    size_t slot = s_slot_of(ctx->ref, id);
    cr_assert_lt(slot, POOL, "each visited unknown id %lu", (unsigned long)id);
    cr_assert_eq(value, ctx->ref->values[slot], "each gave id %lu the wrong value",
                 (unsigned long)id);
    ctx->seen[slot]++;
}

//  Checks the whole map against the reference, including pl_idmap_each.
static void s_check_all(const pl_idmap_t *map, const ref_t *ref)
{
    cr_assert_eq(pl_idmap_size(map), ref->size);
    for (size_t i = 0; i < POOL; i++)
        cr_assert_eq(pl_idmap_get(map, ref->ids[i]), ref->values[i], "id %lu",
                     (unsigned long)ref->ids[i]);
    unsigned char seen[POOL] = {0};
    each_ctx_t ctx = {ref, seen, 0};
    pl_idmap_each(map, s_each_visit, &ctx);
    cr_assert_eq(ctx.calls, ref->size, "each made %zu calls for %zu entries", ctx.calls, ref->size);
    for (size_t i = 0; i < POOL; i++)
        cr_assert_eq(seen[i], ref->values[i] ? 1 : 0, "id %lu visited %d times",
                     (unsigned long)ref->ids[i], seen[i]);
}

Test(idmap, differential_against_reference)
{
    static ref_t ref;
    s_make_pool(&ref);
    pl_idmap_t *map = s_new();
    enum { OPS = 200000 };
    for (int op = 0; op < OPS; op++) {
        //  Phases shift the mix so the map grows, churns, drains and refills.
        int phase = (op / 25000) % 4;
        int put_pct = phase == 0 ? 70 : phase == 1 ? 40 : phase == 2 ? 15 : 50;
        int remove_pct = phase == 0 ? 10 : phase == 1 ? 40 : phase == 2 ? 75 : 25;
        int dice = (int)(s_rand() % 100);
        //  Phase 3 works on a narrow slice of the pool to force many replaces.
        size_t slot = (size_t)(s_rand() % (phase == 3 ? 64 : POOL));
        uint64_t id = ref.ids[slot];
        if (dice < put_pct) {
            void *value = VAL((uint64_t)op * 2 + 1);
            cr_assert_eq(pl_idmap_put(map, id, value), 0);
            if (!ref.values[slot])
                ref.size++;
            ref.values[slot] = value;
        } else if (dice < put_pct + remove_pct) {
            void *got = pl_idmap_remove(map, id);
            cr_assert_eq(got, ref.values[slot], "op %d: remove(%lu)", op, (unsigned long)id);
            if (ref.values[slot])
                ref.size--;
            ref.values[slot] = NULL;
        } else {
            cr_assert_eq(pl_idmap_get(map, id), ref.values[slot], "op %d: get(%lu)", op,
                         (unsigned long)id);
        }
        cr_assert_eq(pl_idmap_size(map), ref.size, "op %d", op);
        //  Every get is checked above; now and then, every id at once.
        if (op % 5000 == 4999)
            s_check_all(map, &ref);
    }
    s_check_all(map, &ref);
    //  Drain completely, checking as we go, then the empty map.
    for (size_t i = 0; i < POOL; i++) {
        cr_assert_eq(pl_idmap_remove(map, ref.ids[i]), ref.values[i]);
        if (ref.values[i])
            ref.size--;
        ref.values[i] = NULL;
        if (i % 512 == 0)
            s_check_all(map, &ref);
    }
    s_check_all(map, &ref);
    cr_assert_eq(pl_idmap_size(map), 0);
    pl_idmap_destroy(&map);
}

//  --------------------------------------------------------------------------------
//  pl_idmap_each

static void s_count_visit(uint64_t id, void *value, void *arg)
{
    (void)id;
    (void)value;
    (*(size_t *)arg)++;
}

Test(idmap, each_on_empty_map)
{
    pl_idmap_t *map = s_new();
    size_t calls = 0;
    pl_idmap_each(map, s_count_visit, &calls);
    cr_assert_eq(calls, 0);
    cr_assert_eq(pl_idmap_put(map, 9, VAL(9)), 0);
    cr_assert_eq(pl_idmap_remove(map, 9), VAL(9));
    pl_idmap_each(map, s_count_visit, &calls);
    cr_assert_eq(calls, 0);
    pl_idmap_destroy(&map);
}

typedef struct {
    unsigned char *seen;
    size_t n;
} seen_t;

static void s_seen_visit(uint64_t id, void *value, void *arg)
{
    seen_t *ctx = arg;
    cr_assert(id >= 1 && id <= ctx->n, "each visited id %lu", (unsigned long)id);
    cr_assert_eq(value, VAL(id + 100));
    ctx->seen[id]++;
}

Test(idmap, each_visits_every_entry_once)
{
    enum { N = 5000 };
    pl_idmap_t *map = s_new();
    for (uint64_t id = 1; id <= N; id++)
        cr_assert_eq(pl_idmap_put(map, id, VAL(id + 100)), 0);
    //  Replace some and remove some: neither may be visited twice or at all.
    for (uint64_t id = 1; id <= N; id += 7)
        cr_assert_eq(pl_idmap_put(map, id, VAL(id + 100)), 0);
    for (uint64_t id = 3; id <= N; id += 5)
        pl_idmap_remove(map, id);
    unsigned char seen[N + 1] = {0};
    seen_t ctx = {seen, N};
    pl_idmap_each(map, s_seen_visit, &ctx);
    size_t total = 0;
    for (uint64_t id = 1; id <= N; id++) {
        int want = (id % 5 == 3) ? 0 : 1;
        cr_assert_eq(seen[id], want, "id %lu visited %d times", (unsigned long)id, seen[id]);
        total += seen[id];
    }
    cr_assert_eq(total, pl_idmap_size(map));
    pl_idmap_destroy(&map);
}
