/*  WebSocket message reassembly (ws_assembly.h). Whether a message is in progress is
    told by its opcode, never by its length: a message whose first fragments are empty
    is in progress with nothing held yet. */
#include "parley/ws_assembly.h"

#include <civetweb.h>
#include <stdlib.h>
#include <string.h>

pl_ws_assembly_status_t pl_ws_assembly_add(pl_ws_assembly_t *self, int opcode, bool fin,
                                           const char *data, size_t len, size_t limit,
                                           pl_ws_message_t *message)
{
    bool continuation = opcode == MG_WEBSOCKET_OPCODE_CONTINUATION;
    bool in_message = self->opcode != MG_WEBSOCKET_OPCODE_CONTINUATION;
    pl_ws_assembly_status_t refusal = PL_WS_FRAME_OUT_OF_ORDER;
    if (continuation != in_message)
        goto refuse;
    refusal = PL_WS_MESSAGE_TOO_BIG;
    if (len > limit - self->len)
        goto refuse;
    if (!continuation && fin) {
        *message = (pl_ws_message_t){opcode, data, len};
        return PL_WS_MESSAGE_READY;
    }
    refusal = PL_WS_OUT_OF_MEMORY;
    if (!self->bytes && !(self->bytes = malloc(limit ? limit : 1)))
        goto refuse;
    if (!continuation)
        self->opcode = opcode;
    if (len)
        memcpy(self->bytes + self->len, data, len);
    self->len += len;
    if (!fin)
        return PL_WS_FRAGMENT_KEPT;
    *message = (pl_ws_message_t){self->opcode, self->bytes, self->len};
    pl_ws_assembly_reset(self);
    return PL_WS_MESSAGE_READY;
refuse:
    pl_ws_assembly_reset(self);
    return refusal;
}

void pl_ws_assembly_reset(pl_ws_assembly_t *self)
{
    self->len = 0;
    self->opcode = MG_WEBSOCKET_OPCODE_CONTINUATION;
}

void pl_ws_assembly_free(pl_ws_assembly_t *self)
{
    free(self->bytes);
    *self = (pl_ws_assembly_t){NULL, 0, MG_WEBSOCKET_OPCODE_CONTINUATION};
}
