/*  Tests for the sliding-window limiter (throttle.c): the limit within a window, the
    wait it reports, attempts taken back or forgotten, keys kept apart, and a table
    that stays bounded without freeing a key at its limit when names are cycled. */
#include "parley/throttle.h"

#include <criterion/criterion.h>
#include <stdio.h>

TestSuite(throttle, .timeout = 10);

#define WINDOW 3200 //  ms: 32 buckets of 100 ms
#define T0     1000000

static pl_str_t s_key(const char *text)
{
    return pl_str_of(text);
}

Test(throttle, the_limit_holds_within_the_window_and_lifts_after_it)
{
    pl_throttle_t *throttle = pl_throttle_new(64, 3, WINDOW);
    cr_assert_not_null(throttle);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pl_throttle_acquire(throttle, s_key("alice"), T0 + i * 10), 0);
    //  The fourth is refused and not counted; the wait runs to the end of the window
    //  of the first attempt, to a bucket's precision.
    int64_t wait = pl_throttle_acquire(throttle, s_key("alice"), T0 + 50);
    cr_assert(wait > WINDOW - 150 && wait <= WINDOW, "wait %ld", (long)wait);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("alice"), T0 + 50), wait);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("alice"), T0 + 1050), wait - 1000);
    cr_assert_gt(pl_throttle_acquire(throttle, s_key("alice"), T0 + 50 + wait - 1), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("alice"), T0 + 50 + wait), 0);
    pl_throttle_destroy(&throttle);
    cr_assert_null(throttle);
}

Test(throttle, the_window_slides)
{
    pl_throttle_t *throttle = pl_throttle_new(64, 3, WINDOW);
    //  Attempts spread over the window: the oldest leaving makes room for one.
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("k"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("k"), T0 + 2000), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("k"), T0 + 3000), 0);
    cr_assert_gt(pl_throttle_acquire(throttle, s_key("k"), T0 + 3100), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("k"), T0 + WINDOW), 0);
    //  And two fixed windows' edges are no way around it: still 3 in any window.
    int64_t wait = pl_throttle_acquire(throttle, s_key("k"), T0 + WINDOW + 10);
    cr_assert(wait > 1000 && wait <= 2000 - 10 + 100, "wait %ld", (long)wait);
    pl_throttle_destroy(&throttle);
}

Test(throttle, keys_are_apart_and_waiting_counts_nothing)
{
    pl_throttle_t *throttle = pl_throttle_new(64, 1, WINDOW);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0), 0);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0), 0);
    cr_assert_gt(pl_throttle_acquire(throttle, s_key("a"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("b"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, (pl_str_t){"a\0x", 3}, T0), 0);
    pl_throttle_destroy(&throttle);
}

Test(throttle, cancel_takes_back_one_attempt_and_forget_all)
{
    pl_throttle_t *throttle = pl_throttle_new(64, 2, WINDOW);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 500), 0);
    cr_assert_gt(pl_throttle_wait(throttle, s_key("a"), T0 + 600), 0);
    pl_throttle_cancel(throttle, s_key("a"), T0 + 500);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0 + 600), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 700), 0);
    cr_assert_gt(pl_throttle_wait(throttle, s_key("a"), T0 + 700), 0);
    //  Taking back an attempt that was never made changes nothing.
    pl_throttle_cancel(throttle, s_key("unknown"), T0);
    pl_throttle_cancel(throttle, s_key("a"), T0 + 2000);
    cr_assert_gt(pl_throttle_wait(throttle, s_key("a"), T0 + 700), 0);
    pl_throttle_forget(throttle, s_key("a"));
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0 + 700), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 700), 0);
    pl_throttle_destroy(&throttle);
}

Test(throttle, cycling_names_does_not_free_a_name_at_its_limit)
{
    //  A table of 16 keys, each key allowed 2 attempts.
    pl_throttle_t *throttle = pl_throttle_new(16, 2, WINDOW);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("victim"), T0), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("victim"), T0), 0);
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "cycled-%d", i);
        cr_assert_eq(pl_throttle_acquire(throttle, s_key(name), T0 + 1 + i / 100), 0);
    }
    cr_assert_gt(pl_throttle_wait(throttle, s_key("victim"), T0 + 101), 0,
                 "cycling 10000 names freed the key at its limit");
    pl_throttle_destroy(&throttle);
}

Test(throttle, bad_arguments_make_no_throttle)
{
    cr_assert_null(pl_throttle_new(0, 1, WINDOW));
    cr_assert_null(pl_throttle_new(16, 0, WINDOW));
    cr_assert_null(pl_throttle_new(16, 1, 0));
}

Test(throttle, a_clock_younger_than_the_window_is_fine)
{
    //  A monotonic clock starts near 0 at boot: buckets before it are empty, not read
    //  from outside the slot.
    pl_throttle_t *throttle = pl_throttle_new(16, 3, 900000);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pl_throttle_acquire(throttle, s_key("early"), 60000 + i), 0);
    int64_t wait = pl_throttle_acquire(throttle, s_key("early"), 60010);
    cr_assert(wait > 900000 - 60010 - 28125 - 1 && wait <= 900000, "wait %ld", (long)wait);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("early"), 60000 + 900000 + 28125), 0);
    pl_throttle_destroy(&throttle);
}

Test(throttle, a_cancel_takes_back_the_attempt_it_names)
{
    //  An attempt counted just before a later one moved the window on is still the
    //  one a cancel takes back.
    pl_throttle_t *throttle = pl_throttle_new(16, 2, WINDOW);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 500), 0);
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 450), 0);
    cr_assert_gt(pl_throttle_wait(throttle, s_key("a"), T0 + 500), 0);
    pl_throttle_cancel(throttle, s_key("a"), T0 + 450);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0 + 500), 0);
    //  The remaining attempt leaves with its own bucket, at T0 + 500 + WINDOW.
    cr_assert_eq(pl_throttle_acquire(throttle, s_key("a"), T0 + 600), 0);
    cr_assert_gt(pl_throttle_wait(throttle, s_key("a"), T0 + 500 + WINDOW - 100), 0);
    cr_assert_eq(pl_throttle_wait(throttle, s_key("a"), T0 + 500 + WINDOW), 0);
    pl_throttle_destroy(&throttle);
}
