/*  The latency histogram: log-linear buckets (exact below 128, then 64 sub-buckets
    per power of two, so any value is known to within 1/64) over the whole uint64
    range, in fixed memory, with the exact maximum kept aside. Values are nanoseconds. */
#include "bench.h"

static int s_index(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v); //  e >= 7
    int m = (int)(v >> (e - 6));     //  in [64, 127]
    return 128 + (e - 7) * 64 + (m - 64);
}

//  The middle of bucket i.
static uint64_t s_value(int i)
{
    if (i < 128)
        return (uint64_t)i;
    int e = (i - 128) / 64 + 7;
    uint64_t m = (uint64_t)((i - 128) % 64 + 64);
    uint64_t width = 1ull << (e - 6);
    return (m << (e - 6)) + width / 2;
}

void bn_hist_add(bn_hist_t *h, uint64_t value)
{
    h->counts[s_index(value)]++;
    h->n++;
    if (value > h->max)
        h->max = value;
}

void bn_hist_merge(bn_hist_t *into, const bn_hist_t *from)
{
    for (int i = 0; i < BN_HIST_SIZE; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t bn_hist_pct(const bn_hist_t *h, double pct)
{
    if (!h->n)
        return 0;
    if (pct >= 100)
        return h->max;
    uint64_t rank = (uint64_t)(pct / 100.0 * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < BN_HIST_SIZE; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = s_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
