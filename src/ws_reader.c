/*  Client frames read in place (ws_reader.h). A frame is checked from its header
    alone (mask, reserved bits, opcode, control frame rules, length against the
    limit) before its payload is waited for, so a client announcing a frame too big
    is refused without the server reading or buffering it. */
#include "parley/ws_reader.h"

#include <civetweb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CLOSE_NO_STATUS      1005
#define CLOSE_PROTOCOL_ERROR 1002
#define CLOSE_TOO_BIG        1009
//  The most bytes of held room a reader keeps while it holds nothing.
#define HELD_KEPT 1024

static pl_ws_event_type_t s_fail(pl_ws_event_t *event, int code, const char *reason)
{
    *event = (pl_ws_event_t){.type = PL_WS_EVENT_FAIL, .code = code, .reason = reason};
    return PL_WS_EVENT_FAIL;
}

//  XORs len bytes at data with the 4-byte mask, eight bytes at a time.
static void s_unmask(uint8_t *data, size_t len, const uint8_t mask[4])
{
    uint64_t wide;
    uint8_t eight[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    memcpy(&wide, eight, sizeof wide);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, data + i, sizeof word);
        word ^= wide;
        memcpy(data + i, &word, sizeof word);
    }
    for (; i < len; i++)
        data[i] ^= mask[i & 3];
}

static bool s_known_opcode(int opcode)
{
    return opcode <= MG_WEBSOCKET_OPCODE_BINARY ||
           (opcode >= MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE && opcode <= MG_WEBSOCKET_OPCODE_PONG);
}

//  A control frame's event; false for a close frame whose payload is malformed.
static bool s_control(int opcode, uint8_t *payload, size_t len, pl_ws_event_t *event)
{
    if (opcode == MG_WEBSOCKET_OPCODE_PING) {
        *event =
            (pl_ws_event_t){.type = PL_WS_EVENT_PING, .data = (const char *)payload, .len = len};
        return true;
    }
    if (opcode == MG_WEBSOCKET_OPCODE_PONG) {
        *event = (pl_ws_event_t){.type = PL_WS_EVENT_PONG};
        return true;
    }
    if (len == 1)
        return false;
    int code = len ? payload[0] << 8 | payload[1] : CLOSE_NO_STATUS;
    *event = (pl_ws_event_t){.type = PL_WS_EVENT_CLOSE, .code = code};
    return true;
}

pl_ws_event_type_t pl_ws_reader_next(pl_ws_reader_t *self, uint8_t *buf, size_t len, size_t *pos,
                                     size_t limit, pl_ws_event_t *event)
{
    for (;;) {
        uint8_t *frame = buf + *pos;
        size_t avail = len - *pos;
        if (avail < 2)
            return PL_WS_EVENT_NEED_MORE;
        bool fin = frame[0] & 0x80;
        int opcode = frame[0] & 0x0f;
        bool control = opcode >= MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE;
        size_t short_len = frame[1] & 0x7f;
        if (frame[0] & 0x70)
            return s_fail(event, CLOSE_PROTOCOL_ERROR, "reserved bits set");
        if (!s_known_opcode(opcode))
            return s_fail(event, CLOSE_PROTOCOL_ERROR, "unknown opcode");
        if (!(frame[1] & 0x80))
            return s_fail(event, CLOSE_PROTOCOL_ERROR, "unmasked frame");
        if (control && (!fin || short_len > 125))
            return s_fail(event, CLOSE_PROTOCOL_ERROR, "bad control frame");
        size_t header = 2 + (short_len == 126 ? 2 : short_len == 127 ? 8 : 0) + 4;
        if (avail < header)
            return PL_WS_EVENT_NEED_MORE;
        uint64_t payload_len = short_len;
        if (short_len == 126)
            payload_len = (uint64_t)frame[2] << 8 | frame[3];
        else if (short_len == 127) {
            payload_len = 0;
            for (int i = 0; i < 8; i++)
                payload_len = payload_len << 8 | frame[2 + i];
        }
        if (payload_len > limit)
            return s_fail(event, CLOSE_TOO_BIG, "message too big");
        if (avail - header < payload_len)
            return PL_WS_EVENT_NEED_MORE;
        uint8_t *payload = frame + header;
        s_unmask(payload, (size_t)payload_len, frame + header - 4);
        *pos += header + (size_t)payload_len;
        if (control) {
            if (!s_control(opcode, payload, (size_t)payload_len, event))
                return s_fail(event, CLOSE_PROTOCOL_ERROR, "bad close frame");
            return event->type;
        }
        pl_ws_message_t message;
        switch (pl_ws_assembly_add(&self->partial, opcode, fin, (const char *)payload,
                                   (size_t)payload_len, limit, &message)) {
        case PL_WS_FRAGMENT_KEPT:
            continue;
        case PL_WS_FRAME_OUT_OF_ORDER:
            return s_fail(event, CLOSE_PROTOCOL_ERROR, "fragments out of order");
        case PL_WS_MESSAGE_TOO_BIG:
            return s_fail(event, CLOSE_TOO_BIG, "message too big");
        case PL_WS_OUT_OF_MEMORY:
            return s_fail(event, CLOSE_TOO_BIG, "out of memory");
        case PL_WS_MESSAGE_READY:
            break;
        }
        *event = (pl_ws_event_t){.type = PL_WS_EVENT_MESSAGE,
                                 .opcode = message.opcode,
                                 .data = message.data,
                                 .len = message.len};
        return PL_WS_EVENT_MESSAGE;
    }
}

size_t pl_ws_reader_restore(pl_ws_reader_t *self, uint8_t *buf)
{
    size_t len = self->held_len;
    if (len)
        memcpy(buf, self->held, len);
    self->held_len = 0;
    return len;
}

int pl_ws_reader_hold(pl_ws_reader_t *self, const uint8_t *rest, size_t len)
{
    //  A big frame's buffer is not kept for the life of an idle connection.
    if (len == 0 && self->held_capacity > HELD_KEPT) {
        free(self->held);
        self->held = NULL;
        self->held_capacity = 0;
    }
    if (len > self->held_capacity) {
        uint8_t *grown = realloc(self->held, len);
        if (!grown)
            return -1;
        self->held = grown;
        self->held_capacity = len;
    }
    if (len)
        memcpy(self->held, rest, len);
    self->held_len = len;
    return 0;
}

void pl_ws_reader_free(pl_ws_reader_t *self)
{
    pl_ws_assembly_free(&self->partial);
    free(self->held);
    *self = (pl_ws_reader_t){0};
}
