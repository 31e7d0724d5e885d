/*  Tests for out_queue.c: what a queue hands to a send must be exactly the bytes of
    its frames in the order they were queued, resumed mid-frame after a short send;
    frames shared by many queues stay whole until the last one has written them (run
    under ASan, a frame freed early or never freed fails these tests); and a ring that
    grows across its wrap keeps the order. */
#include "parley/out_queue.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

TestSuite(out_queue, .timeout = 30);

static pl_out_frame_t *s_frame(const char *text)
{
    pl_out_frame_t *frame = pl_out_frame_new(NULL, 0, text, strlen(text));
    cr_assert_not_null(frame);
    return frame;
}

//  The bytes the queue would send now, gathering at most max frames.
static void s_pending(const pl_out_queue_t *queue, size_t max, char *out, size_t size)
{
    struct iovec iov[64];
    cr_assert_leq(max, 64);
    size_t count = pl_out_queue_gather(queue, iov, max), used = 0;
    for (size_t i = 0; i < count; i++) {
        cr_assert_lt(used + iov[i].iov_len, size);
        memcpy(out + used, iov[i].iov_base, iov[i].iov_len);
        used += iov[i].iov_len;
    }
    out[used] = '\0';
}

Test(out_queue, a_frame_is_its_head_then_its_payload)
{
    const uint8_t head[2] = {0x81, 5};
    pl_out_frame_t *frame = pl_out_frame_new(head, 2, "hello", 5);
    cr_assert_not_null(frame);
    cr_assert_eq(pl_out_frame_len(frame), 7);
    pl_out_queue_t queue = {0};
    cr_assert(pl_out_queue_push(&queue, frame));
    pl_out_frame_release(&frame);
    cr_assert_null(frame);
    struct iovec iov[2];
    cr_assert_eq(pl_out_queue_gather(&queue, iov, 2), 1);
    cr_assert_eq(iov[0].iov_len, 7);
    cr_assert_eq(memcmp(iov[0].iov_base, "\x81\x05hello", 7), 0);
    pl_out_queue_clear(&queue);
    cr_assert_eq(queue.bytes, 0);
    cr_assert_null(queue.frames);
}

Test(out_queue, a_short_send_resumes_inside_its_frame)
{
    pl_out_queue_t queue = {0};
    const char *texts[] = {"first;", "second;", "third;"};
    for (int i = 0; i < 3; i++) {
        pl_out_frame_t *frame = s_frame(texts[i]);
        cr_assert(pl_out_queue_push(&queue, frame));
        pl_out_frame_release(&frame);
    }
    cr_assert_eq(queue.bytes, 19);
    char got[64];
    s_pending(&queue, 8, got, sizeof got);
    cr_assert_str_eq(got, "first;second;third;");
    //  Part of the first frame, then the rest of it and part of the second.
    pl_out_queue_consume(&queue, 3);
    s_pending(&queue, 8, got, sizeof got);
    cr_assert_str_eq(got, "st;second;third;");
    pl_out_queue_consume(&queue, 6);
    cr_assert_eq(queue.count, 2);
    s_pending(&queue, 8, got, sizeof got);
    cr_assert_str_eq(got, "ond;third;");
    //  At most max frames: the rest waits for the next send.
    s_pending(&queue, 1, got, sizeof got);
    cr_assert_str_eq(got, "ond;");
    pl_out_queue_consume(&queue, 4);
    cr_assert_eq(queue.count, 1);
    cr_assert_eq(queue.offset, 0);
    pl_out_queue_consume(&queue, 6);
    cr_assert_eq(queue.count, 0);
    cr_assert_eq(queue.bytes, 0);
    pl_out_queue_clear(&queue);
}

//  One frame in many queues: each writes it at its own pace, and it stays whole until
//  the last has (ASan reports a use after free or a leak otherwise).
Test(out_queue, a_shared_frame_lives_until_the_last_queue_wrote_it)
{
    enum { QUEUES = 50 };
    pl_out_queue_t queues[QUEUES] = {{0}};
    pl_out_frame_t *frame = s_frame("shared bytes");
    for (int q = 0; q < QUEUES; q++)
        cr_assert(pl_out_queue_push(&queues[q], frame));
    pl_out_frame_release(&frame);
    for (int q = 0; q < QUEUES; q++) {
        pl_out_queue_consume(&queues[q], (size_t)(q % 12));
        char got[32];
        s_pending(&queues[q], 4, got, sizeof got);
        cr_assert_str_eq(got, "shared bytes" + q % 12);
        if (q % 2)
            pl_out_queue_consume(&queues[q], queues[q].bytes);
        else
            pl_out_queue_clear(&queues[q]);
    }
    for (int q = 0; q < QUEUES; q++) {
        cr_assert_eq(queues[q].bytes, 0);
        pl_out_queue_clear(&queues[q]);
    }
}

//  Frames pushed and written in waves move the ring's head around it; growing then
//  must keep them in order.
Test(out_queue, the_ring_keeps_the_order_across_its_wrap_and_growth)
{
    pl_out_queue_t queue = {0};
    int next_in = 0, next_out = 0;
    for (int wave = 0; wave < 40; wave++) {
        for (int i = 0; i < wave % 7 + 3; i++) {
            char text[16];
            snprintf(text, sizeof text, "%05d", next_in++);
            pl_out_frame_t *frame = s_frame(text);
            cr_assert(pl_out_queue_push(&queue, frame));
            pl_out_frame_release(&frame);
        }
        size_t written = (size_t)(wave % 4 + 1);
        for (size_t i = 0; i < written && queue.count; i++) {
            char got[64], want[16];
            s_pending(&queue, 1, got, sizeof got);
            snprintf(want, sizeof want, "%05d", next_out++);
            cr_assert_str_eq(got, want);
            pl_out_queue_consume(&queue, 5);
        }
    }
    cr_assert_gt(queue.capacity, 8, "the test should have grown the ring");
    cr_assert_eq(queue.count, (size_t)(next_in - next_out));
    cr_assert_eq(queue.bytes, queue.count * 5);
    while (queue.count) {
        char got[64], want[16];
        s_pending(&queue, 1, got, sizeof got);
        snprintf(want, sizeof want, "%05d", next_out++);
        cr_assert_str_eq(got, want);
        pl_out_queue_consume(&queue, 5);
    }
    //  Emptied, the grown ring is given back; an empty first-size ring is kept.
    pl_out_queue_trim(&queue);
    cr_assert_null(queue.frames);
    pl_out_frame_t *frame = s_frame("x");
    cr_assert(pl_out_queue_push(&queue, frame));
    pl_out_queue_consume(&queue, 1);
    pl_out_queue_trim(&queue);
    cr_assert_not_null(queue.frames);
    pl_out_frame_release(&frame);
    pl_out_queue_clear(&queue);
}

//  A run of frames for the same connections is one frame: appended to while its maker
//  alone holds it, queued once, written as the frames laid end to end.
Test(out_queue, appended_frames_are_sent_as_one_in_order)
{
    const uint8_t head[2] = {0x81, 3};
    pl_out_frame_t *frame = pl_out_frame_new(head, 2, "one", 3);
    cr_assert_not_null(frame);
    char text[8];
    for (int i = 2; i <= 300; i++) {
        int len = snprintf(text, sizeof text, "%03d", i);
        cr_assert(pl_out_frame_append(&frame, head, 2, text, (size_t)len));
    }
    //  Fitted to its bytes before it is queued: nothing of them changes.
    pl_out_frame_fit(&frame);
    cr_assert_eq(pl_out_frame_count(frame), 300);
    cr_assert_eq(pl_out_frame_len(frame), 300 * 5);
    pl_out_queue_t queues[2] = {{0}};
    for (int q = 0; q < 2; q++)
        cr_assert(pl_out_queue_push(&queues[q], frame));
    pl_out_frame_release(&frame);
    struct iovec iov[1];
    cr_assert_eq(pl_out_queue_gather(&queues[0], iov, 1), 1);
    const char *bytes = iov[0].iov_base;
    cr_assert_eq(memcmp(bytes,
                        "\x81\x03one\x81\x03"
                        "002",
                        10),
                 0);
    cr_assert_eq(memcmp(bytes + 299 * 5,
                        "\x81\x03"
                        "300",
                        5),
                 0);
    pl_out_queue_clear(&queues[0]);
    pl_out_queue_consume(&queues[1], 1500);
    cr_assert_eq(queues[1].count, 0);
    pl_out_queue_clear(&queues[1]);
}
