/*  Target msg: the message catalogue's msgpack decoder (pl_msg_decode in src/msg.c),
    which will read frames from other nodes once the cluster bridge exists. Whatever
    the bytes, it answers -1 or a message of a known type whose string views lie
    inside the input; and a decoded message survives a round trip: encoding it and
    decoding that gives a message that encodes to the very same bytes. */
#include "fuzz.h"

#include "parley/msg.h"

#include <stdlib.h>
#include <string.h>

//  Every string view of msg (each field of its type that is STR, NSTR or BIN), read
//  whole and checked to lie inside [base, base + size).
#define PL__FUZZ_VIEW_U64(field)
#define PL__FUZZ_VIEW_I64(field)
#define PL__FUZZ_VIEW_STR(field)   s_check_view(body->field, base, size);
#define PL__FUZZ_VIEW_NSTR(field)  s_check_view(body->field, base, size);
#define PL__FUZZ_VIEW_BIN(field)   s_check_view(body->field, base, size);
#define PL__FUZZ_VIEW(kind, field) PL__FUZZ_VIEW_##kind(field)
#define PL__FUZZ_VIEWS_CASE(NAME, name, doc)                                                       \
    case PL_MSG_##NAME: {                                                                          \
        const pl_msg_##name##_t *body = &msg->as.name;                                             \
        (void)body;                                                                                \
        PL_MSG_##NAME(PL__FUZZ_VIEW) break;                                                        \
    }

static void s_check_view(pl_str_t view, const uint8_t *base, size_t size)
{
    if (!view.ptr)
        return;
    const uint8_t *p = (const uint8_t *)view.ptr;
    PL_FUZZ_CHECK(p >= base && p + view.len <= base + size);
    pl_fuzz_touch(p, view.len);
}

static void s_check_views(const pl_msg_t *msg, const uint8_t *base, size_t size)
{
    switch (msg->type) {
        PL_MSG_CATALOGUE(PL__FUZZ_VIEWS_CASE)
    default:
        pl_fuzz_fail(__FILE__, __LINE__, "a decoded message of an unknown type");
    }
}

int pl_fuzz_msg(const uint8_t *data, size_t size)
{
    uint8_t *frame = (uint8_t *)pl_fuzz_copy(data, size);
    pl_msg_t msg;
    if (pl_msg_decode(frame, size, &msg) == 0) {
        PL_FUZZ_CHECK(msg.type < PL_MSG__COUNT);
        s_check_views(&msg, frame, size);
        msgpack_sbuffer first, second;
        msgpack_sbuffer_init(&first);
        msgpack_sbuffer_init(&second);
        PL_FUZZ_CHECK(pl_msg_encode(&msg, &first) == 0);
        pl_msg_t again;
        PL_FUZZ_CHECK(pl_msg_decode(first.data, first.size, &again) == 0);
        PL_FUZZ_CHECK(again.type == msg.type);
        PL_FUZZ_CHECK(pl_msg_encode(&again, &second) == 0);
        PL_FUZZ_CHECK(pl_fuzz_same(first.data, first.size, second.data, second.size));
        msgpack_sbuffer_destroy(&first);
        msgpack_sbuffer_destroy(&second);
    }
    free(frame);
    return 0;
}
