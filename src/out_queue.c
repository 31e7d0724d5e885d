/*  Outbound queues of shared frames (see out_queue.h).

    The ring's capacity is a power of two, so a position is masked, not divided. A
    ring grows by doubling and keeps its frames in order across the wrap. */
#include "parley/out_queue.h"

#include <stdlib.h>
#include <string.h>

//  A queue's first ring: enough for the few frames an idle or lightly used
//  connection holds between two flushes.
#define RING_FIRST 8

struct pl_out_frame {
    uint32_t holds; //  its maker's (until released) and one per queue entry
    uint32_t len, capacity;
    uint32_t count; //  frames appended together
    char bytes[];
};

pl_out_frame_t *pl_out_frame_new(const uint8_t *head, size_t head_len, const char *payload,
                                 size_t len)
{
    if (head_len + len > UINT32_MAX)
        return NULL;
    pl_out_frame_t *frame = malloc(sizeof *frame + head_len + len);
    if (!frame)
        return NULL;
    *frame = (pl_out_frame_t){.holds = 1, .capacity = (uint32_t)(head_len + len)};
    pl_out_frame_append(&frame, head, head_len, payload, len);
    return frame;
}

bool pl_out_frame_append(pl_out_frame_t **frame_p, const uint8_t *head, size_t head_len,
                         const char *payload, size_t len)
{
    pl_out_frame_t *frame = *frame_p;
    size_t need = (size_t)frame->len + head_len + len;
    if (need > UINT32_MAX)
        return false;
    if (need > frame->capacity) {
        size_t capacity = 2 * (size_t)frame->capacity;
        capacity = capacity < need ? need : capacity > UINT32_MAX ? UINT32_MAX : capacity;
        pl_out_frame_t *grown = realloc(frame, sizeof *frame + capacity);
        if (!grown)
            return false;
        *frame_p = frame = grown;
        frame->capacity = (uint32_t)capacity;
    }
    if (head_len)
        memcpy(frame->bytes + frame->len, head, head_len);
    if (len)
        memcpy(frame->bytes + frame->len + head_len, payload, len);
    frame->len = (uint32_t)need;
    frame->count++;
    return true;
}

void pl_out_frame_fit(pl_out_frame_t **frame_p)
{
    pl_out_frame_t *frame = *frame_p;
    if (frame->capacity == frame->len)
        return;
    pl_out_frame_t *fitted = realloc(frame, sizeof *frame + frame->len);
    if (!fitted)
        return;
    fitted->capacity = fitted->len;
    *frame_p = fitted;
}

static void s_let_go(pl_out_frame_t *frame)
{
    if (--frame->holds == 0)
        free(frame);
}

void pl_out_frame_release(pl_out_frame_t **frame_p)
{
    if (*frame_p)
        s_let_go(*frame_p);
    *frame_p = NULL;
}

size_t pl_out_frame_len(const pl_out_frame_t *frame)
{
    return frame->len;
}

size_t pl_out_frame_count(const pl_out_frame_t *frame)
{
    return frame->count;
}

static pl_out_frame_t *s_at(const pl_out_queue_t *queue, size_t index)
{
    return queue->frames[(queue->head + index) & (queue->capacity - 1)];
}

//  Doubles the ring, its frames moved to the front of the new one in order.
static bool s_grow(pl_out_queue_t *queue)
{
    size_t capacity = queue->capacity ? queue->capacity * 2 : RING_FIRST;
    pl_out_frame_t **frames = malloc(capacity * sizeof *frames);
    if (!frames)
        return false;
    for (size_t i = 0; i < queue->count; i++)
        frames[i] = s_at(queue, i);
    free(queue->frames);
    queue->frames = frames;
    queue->capacity = capacity;
    queue->head = 0;
    return true;
}

bool pl_out_queue_push(pl_out_queue_t *queue, pl_out_frame_t *frame)
{
    if (queue->count == queue->capacity && !s_grow(queue))
        return false;
    queue->frames[(queue->head + queue->count++) & (queue->capacity - 1)] = frame;
    frame->holds++;
    queue->bytes += frame->len;
    return true;
}

size_t pl_out_queue_gather(const pl_out_queue_t *queue, struct iovec *iov, size_t max)
{
    size_t taken = 0;
    for (; taken < queue->count && taken < max; taken++) {
        pl_out_frame_t *frame = s_at(queue, taken);
        size_t skip = taken == 0 ? queue->offset : 0;
        iov[taken] = (struct iovec){frame->bytes + skip, frame->len - skip};
    }
    return taken;
}

void pl_out_queue_consume(pl_out_queue_t *queue, size_t written)
{
    queue->bytes -= written;
    written += queue->offset;
    while (queue->count && written >= s_at(queue, 0)->len) {
        pl_out_frame_t *frame = s_at(queue, 0);
        written -= frame->len;
        s_let_go(frame);
        queue->head = (queue->head + 1) & (queue->capacity - 1);
        queue->count--;
    }
    queue->offset = written;
}

void pl_out_queue_clear(pl_out_queue_t *queue)
{
    for (size_t i = 0; i < queue->count; i++)
        s_let_go(s_at(queue, i));
    free(queue->frames);
    *queue = (pl_out_queue_t){0};
}

void pl_out_queue_trim(pl_out_queue_t *queue)
{
    if (queue->count == 0 && queue->capacity > RING_FIRST)
        pl_out_queue_clear(queue);
}
