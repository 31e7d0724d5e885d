/*  Encoder and decoder for the message catalogue, generated from PL_MSG_CATALOGUE.
    The decoder walks msgpack's wire format itself instead of building a
    msgpack_object tree: the catalogue only needs ints, strings and binaries
    in one flat array, and this way decoding allocates nothing. */
#include "parley/msg.h"

#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/tsan.h"

#include <stdlib.h>
#include <string.h>

static const char *const s_names[] = {
#define NAME_ROW(NAME, name, doc) #name,
    PL_MSG_CATALOGUE(NAME_ROW)
#undef NAME_ROW
};

const char *pl_msg_name(int type)
{
    return type >= 0 && type < PL_MSG__COUNT ? s_names[type] : "unknown";
}

static void s_pack_U64(msgpack_packer *pk, uint64_t v)
{
    msgpack_pack_uint64(pk, v);
}
static void s_pack_I64(msgpack_packer *pk, int64_t v)
{
    msgpack_pack_int64(pk, v);
}
static void s_pack_STR(msgpack_packer *pk, pl_str_t v)
{
    msgpack_pack_str_with_body(pk, v.ptr, v.len);
}
static void s_pack_NSTR(msgpack_packer *pk, pl_str_t v)
{
    if (v.ptr)
        msgpack_pack_str_with_body(pk, v.ptr, v.len);
    else
        msgpack_pack_nil(pk);
}
static void s_pack_BIN(msgpack_packer *pk, pl_str_t v)
{
    msgpack_pack_bin_with_body(pk, v.ptr, v.len);
}

#define COUNT_FIELD(kind, field) +1
#define PACK_FIELD(kind, field)  s_pack_##kind(&pk, body->field);
#define ENCODE_CASE(NAME, name, doc)                                                               \
    case PL_MSG_##NAME: {                                                                          \
        const pl_msg_##name##_t *body = &msg->as.name;                                             \
        (void)body;                                                                                \
        msgpack_pack_array(&pk, 1 PL_MSG_##NAME(COUNT_FIELD));                                     \
        msgpack_pack_uint8(&pk, PL_MSG_##NAME);                                                    \
        PL_MSG_##NAME(PACK_FIELD) return 0;                                                        \
    }

//  The most bytes a field's encoding takes: a 64-bit integer takes 9, a string or
//  bin a 5-byte header and its bytes.
#define BOUND_U64(v)             9
#define BOUND_I64(v)             9
#define BOUND_STR(v)             (5 + (size_t)(v).len)
#define BOUND_NSTR(v)            (5 + (size_t)(v).len)
#define BOUND_BIN(v)             (5 + (size_t)(v).len)
#define BOUND_FIELD(kind, field) +BOUND_##kind(body->field)
#define BOUND_CASE(NAME, name, doc)                                                                \
    case PL_MSG_##NAME: {                                                                          \
        const pl_msg_##name##_t *body = &msg->as.name;                                             \
        (void)body;                                                                                \
        return 5 + 2 PL_MSG_##NAME(BOUND_FIELD);                                                   \
    }

//  At least the size of msg's encoding (the array header, the type, the fields).
static size_t s_size_bound(const pl_msg_t *msg)
{
    switch (msg->type) {
        PL_MSG_CATALOGUE(BOUND_CASE)
    default:
        return 0;
    }
}

int pl_msg_encode(const pl_msg_t *msg, msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    switch (msg->type) {
        PL_MSG_CATALOGUE(ENCODE_CASE)
    default:
        return -1;
    }
}

//  A cursor over msgpack bytes; every read checks the bounds first.
typedef struct {
    const uint8_t *pos, *end;
} cursor_t;

static int s_take(cursor_t *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->pos) < n)
        return -1;
    *out = c->pos;
    c->pos += n;
    return 0;
}

static uint64_t s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

//  Reads a big-endian unsigned of n bytes.
static int s_read_be(cursor_t *c, size_t n, uint64_t *v)
{
    const uint8_t *p;
    if (s_take(c, n, &p))
        return -1;
    *v = s_be(p, n);
    return 0;
}

//  Reads any msgpack integer as int64 (flagging unsigned values above INT64_MAX).
static int s_read_int(cursor_t *c, int64_t *v, bool *is_big_unsigned)
{
    const uint8_t *tag;
    uint64_t raw;
    *is_big_unsigned = false;
    if (s_take(c, 1, &tag))
        return -1;
    uint8_t t = *tag;
    if (t <= 0x7f) {
        *v = t;
        return 0;
    }
    if (t >= 0xe0) {
        *v = (int8_t)t;
        return 0;
    }
    static const size_t widths[] = {1, 2, 4, 8};
    if (t >= 0xcc && t <= 0xcf) {
        if (s_read_be(c, widths[t - 0xcc], &raw))
            return -1;
        *is_big_unsigned = raw > INT64_MAX;
        *v = (int64_t)raw;
        return 0;
    }
    if (t >= 0xd0 && t <= 0xd3) {
        size_t w = widths[t - 0xd0];
        if (s_read_be(c, w, &raw))
            return -1;
        int shift = (int)(64 - 8 * w);
        *v = (int64_t)(raw << shift) >> shift;
        return 0;
    }
    return -1;
}

static int s_unpack_U64(cursor_t *c, uint64_t *out)
{
    int64_t v;
    bool big;
    if (s_read_int(c, &v, &big) || (v < 0 && !big))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int s_unpack_I64(cursor_t *c, int64_t *out)
{
    bool big;
    return s_read_int(c, out, &big) || big ? -1 : 0;
}

//  Reads a str (is_bin false) or bin (is_bin true) header and its body.
static int s_unpack_bytes(cursor_t *c, bool is_bin, pl_str_t *out)
{
    const uint8_t *tag, *body;
    uint64_t len;
    if (s_take(c, 1, &tag))
        return -1;
    uint8_t t = *tag;
    if (!is_bin && t >= 0xa0 && t <= 0xbf)
        len = t & 0x1f;
    else if (t == (is_bin ? 0xc4 : 0xd9) || t == (is_bin ? 0xc5 : 0xda) ||
             t == (is_bin ? 0xc6 : 0xdb)) {
        size_t width = (size_t)1 << (t - (is_bin ? 0xc4 : 0xd9));
        if (s_read_be(c, width, &len))
            return -1;
    } else
        return -1;
    if (s_take(c, len, &body))
        return -1;
    out->ptr = (const char *)body;
    out->len = (uint32_t)len;
    return 0;
}

static int s_unpack_STR(cursor_t *c, pl_str_t *out)
{
    return s_unpack_bytes(c, false, out);
}

static int s_unpack_NSTR(cursor_t *c, pl_str_t *out)
{
    if (c->pos < c->end && *c->pos == 0xc0) {
        c->pos++;
        *out = (pl_str_t){NULL, 0};
        return 0;
    }
    return s_unpack_bytes(c, false, out);
}

static int s_unpack_BIN(cursor_t *c, pl_str_t *out)
{
    return s_unpack_bytes(c, true, out);
}

#define UNPACK_FIELD(kind, field)                                                                  \
    if (s_unpack_##kind(&c, &body->field))                                                         \
        return -1;
#define DECODE_CASE(NAME, name, doc)                                                               \
    case PL_MSG_##NAME: {                                                                          \
        pl_msg_##name##_t *body = &out->as.name;                                                   \
        (void)body;                                                                                \
        if (count != 1 PL_MSG_##NAME(COUNT_FIELD))                                                 \
            return -1;                                                                             \
        PL_MSG_##NAME(UNPACK_FIELD) break;                                                         \
    }

int pl_msg_decode(const void *data, size_t len, pl_msg_t *out)
{
    cursor_t c = {data, (const uint8_t *)data + len};
    const uint8_t *tag;
    uint64_t count;
    if (s_take(&c, 1, &tag))
        return -1;
    if (*tag >= 0x90 && *tag <= 0x9f)
        count = *tag & 0x0f;
    else if (*tag == 0xdc || *tag == 0xdd) {
        if (s_read_be(&c, *tag == 0xdc ? 2 : 4, &count))
            return -1;
    } else
        return -1;
    int64_t type;
    bool big;
    if (count < 1 || s_read_int(&c, &type, &big) || big || type < 0 || type >= PL_MSG__COUNT)
        return -1;
    memset(out, 0, sizeof *out);
    out->type = (pl_msg_type_t)type;
    switch (out->type) {
        PL_MSG_CATALOGUE(DECODE_CASE)
    default:
        return -1;
    }
    return c.pos == c.end ? 0 : -1;
}

static void s_free_buffer(void *data, void *hint)
{
    (void)hint;
    //  A frame nobody received is freed by ZeroMQ's own thread when its socket closes.
    PL_TSAN_ACQUIRE(data);
    free(data);
}

//  Sends a frame holding the encoding of a message of type. The receiver gets the
//  frame's very buffer, which is what the TSAN annotations state. On failure the frame
//  is left to the caller.
static int s_send_frame(void *socket, int type, zmq_msg_t *frame)
{
    PL_TSAN_RELEASE(zmq_msg_data(frame));
    //  Counted before it can be taken, so a queue never reads as less than empty.
    pl_metrics_message_sent(type);
    if (zmq_msg_send(frame, socket, 0) < 0) {
        pl_metrics_message_taken(type);
        return -1;
    }
    return 0;
}

//  Sends bytes (malloc'd, the encoding of a message of type) as a frame that takes
//  them: no copy on the way out. Frees bytes when it fails.
static int s_send_owned(void *socket, int type, char *bytes, size_t size)
{
    zmq_msg_t frame;
    if (zmq_msg_init_data(&frame, bytes, size, s_free_buffer, NULL)) {
        free(bytes);
        return -1;
    }
    if (s_send_frame(socket, type, &frame)) {
        zmq_msg_close(&frame);
        return -1;
    }
    return 0;
}

int pl_msg_send(void *socket, const pl_msg_t *msg)
{
    //  Sized for this message up front: left to itself the buffer would start at 8 KiB,
    //  an allocation too big for malloc's per-thread caches, made by one actor and
    //  freed by another for every message they exchange.
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    buf.alloc = s_size_bound(msg);
    buf.data = malloc(buf.alloc);
    if (!buf.data)
        return -1;
    if (pl_msg_encode(msg, &buf)) {
        msgpack_sbuffer_destroy(&buf);
        return -1;
    }
    size_t size = buf.size;
    return s_send_owned(socket, msg->type, msgpack_sbuffer_release(&buf), size);
}

int pl_msg_send_encoded(void *socket, int type, const void *data, size_t len)
{
    char *bytes = malloc(len ? len : 1);
    if (!bytes)
        return -1;
    memcpy(bytes, data, len);
    return s_send_owned(socket, type, bytes, len);
}

int pl_msg_recv(void *socket, pl_msg_frame_t *in, int flags)
{
    zmq_msg_init(&in->frame);
    if (zmq_msg_recv(&in->frame, socket, flags) < 0) {
        zmq_msg_close(&in->frame);
        return -1;
    }
    PL_TSAN_ACQUIRE(zmq_msg_data(&in->frame));
    if (pl_msg_decode(zmq_msg_data(&in->frame), zmq_msg_size(&in->frame), &in->msg)) {
        pl_error("msg: dropped an undecodable frame of %zu bytes", zmq_msg_size(&in->frame));
        zmq_msg_close(&in->frame);
        return -1;
    }
    pl_metrics_message_taken(in->msg.type);
    return 0;
}

int pl_msg_frame_pass(pl_msg_frame_t *in, void *socket)
{
    return s_send_frame(socket, in->msg.type, &in->frame);
}

void pl_msg_frame_close(pl_msg_frame_t *in)
{
    zmq_msg_close(&in->frame);
}
