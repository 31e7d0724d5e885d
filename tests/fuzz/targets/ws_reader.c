/*  Target ws_reader: a client's bytes as the connection actor reads them
    (src/ws_reader.c). The first input byte seeds where the stream is cut into reads;
    the rest is the stream. It is read twice: whole, in one buffer, and in reads of
    1 to READ_MAX bytes through an exact-size scratch buffer, holding what each read
    leaves, as conn.c does. The two must give the same events, in the same order, up
    to the first close or failure: where a socket read ends never changes what a
    client said. A message never passes the limit, and a reader never holds more
    than PL_WS_HELD_MAX of it. */
#include "fuzz.h"

#include "parley/ws_reader.h"

#include <stdlib.h>
#include <string.h>

#define LIMIT    300
#define READ_MAX 64
//  Events compared, at most (an input of one-byte pings has fewer).
#define EVENTS_MAX 4096

typedef struct {
    pl_ws_event_type_t type;
    int opcode, code;
    size_t len;
    uint8_t data[LIMIT];
} seen_t;

static void s_note(seen_t *seen, const pl_ws_event_t *event)
{
    PL_FUZZ_CHECK(event->len <= LIMIT);
    *seen = (seen_t){event->type, event->opcode, event->code, event->len, {0}};
    if (event->len)
        memcpy(seen->data, event->data, event->len);
}

static bool s_same(const seen_t *a, const seen_t *b)
{
    return a->type == b->type && a->opcode == b->opcode && a->code == b->code &&
           pl_fuzz_same(a->data, a->len, b->data, b->len);
}

static bool s_last(pl_ws_event_type_t type)
{
    return type == PL_WS_EVENT_CLOSE || type == PL_WS_EVENT_FAIL;
}

//  The events of the whole stream in one buffer; returns how many.
static size_t s_whole(const uint8_t *stream, size_t len, seen_t *seen)
{
    uint8_t *buf = (uint8_t *)pl_fuzz_copy(stream, len);
    pl_ws_reader_t reader = {0};
    size_t pos = 0, count = 0;
    pl_ws_event_t event;
    while (count < EVENTS_MAX) {
        pl_ws_event_type_t type = pl_ws_reader_next(&reader, buf, len, &pos, LIMIT, &event);
        if (type == PL_WS_EVENT_NEED_MORE)
            break;
        s_note(&seen[count++], &event);
        if (s_last(type))
            break;
    }
    pl_ws_reader_free(&reader);
    free(buf);
    return count;
}

int pl_fuzz_ws_reader(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    uint32_t cuts = pl_fuzz_byte(&in) * 2654435761u + 1;
    size_t len = (size_t)(in.end - in.at);
    seen_t *whole = malloc(EVENTS_MAX * sizeof *whole), *piece = malloc(sizeof *piece);
    uint8_t *scratch = malloc(PL_WS_HELD_MAX(LIMIT) + READ_MAX);
    if (!whole || !piece || !scratch)
        abort();
    size_t expected = s_whole(in.at, len, whole), count = 0;
    pl_ws_reader_t reader = {0};
    bool ended = false;
    for (size_t at = 0; at < len && !ended && count < expected;) {
        cuts = cuts * 1103515245u + 12345u;
        size_t chunk = 1 + (cuts >> 16) % READ_MAX;
        if (chunk > len - at)
            chunk = len - at;
        size_t held = pl_ws_reader_restore(&reader, scratch);
        PL_FUZZ_CHECK(held < PL_WS_HELD_MAX(LIMIT));
        memcpy(scratch + held, in.at + at, chunk);
        at += chunk;
        size_t total = held + chunk, pos = 0;
        pl_ws_event_t event;
        for (;;) {
            pl_ws_event_type_t type =
                pl_ws_reader_next(&reader, scratch, total, &pos, LIMIT, &event);
            if (type == PL_WS_EVENT_NEED_MORE) {
                PL_FUZZ_CHECK(pl_ws_reader_hold(&reader, scratch + pos, total - pos) == 0);
                break;
            }
            PL_FUZZ_CHECK(count < expected);
            s_note(piece, &event);
            PL_FUZZ_CHECK(s_same(piece, &whole[count]));
            count++;
            if ((ended = s_last(type)) || count == expected)
                break;
        }
    }
    PL_FUZZ_CHECK(count == expected);
    pl_ws_reader_free(&reader);
    free(scratch);
    free(piece);
    free(whole);
    return 0;
}
