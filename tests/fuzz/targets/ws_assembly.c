/*  Target ws_assembly: reassembling WebSocket messages from their data frames
    (src/ws_assembly.c), as the frame reader (ws_reader.c) does before a request is read. The
    input is a sequence of frames, each a byte for its opcode (text, binary or
    continuation) and FIN bit, a byte for its length and that many bytes. The answers
    are held against RFC 6455 section 5.4, kept here as a model: a frame is out of
    order exactly when it is a continuation outside a message or a new message inside
    one; a message passes the limit exactly when its bytes do; and a message handed
    over is the first frame's opcode with every fragment's bytes in order. The limit
    is small, so that frames reach it, and the buffer is as big as the limit, so that
    a write past it shows up under ASan. */
#include "fuzz.h"

#include "parley/ws_assembly.h"

#include <civetweb.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 300

static const int s_opcodes[] = {MG_WEBSOCKET_OPCODE_CONTINUATION, MG_WEBSOCKET_OPCODE_TEXT,
                                MG_WEBSOCKET_OPCODE_BINARY};

//  The message as the RFC has it: whether one is in progress, its opcode and bytes.
typedef struct {
    bool open;
    int opcode;
    uint8_t bytes[LIMIT];
    size_t len;
} model_t;

//  What the model says of one frame; updates the model.
static pl_ws_assembly_status_t s_model_add(model_t *m, int opcode, bool fin, const uint8_t *data,
                                           size_t len)
{
    bool continuation = opcode == MG_WEBSOCKET_OPCODE_CONTINUATION;
    pl_ws_assembly_status_t refusal =
        continuation != m->open ? PL_WS_FRAME_OUT_OF_ORDER : PL_WS_MESSAGE_TOO_BIG;
    if (continuation != m->open || (continuation ? m->len : 0) + len > LIMIT) {
        m->open = false;
        return refusal;
    }
    if (!continuation) {
        m->opcode = opcode;
        m->len = 0;
    }
    memcpy(m->bytes + m->len, data, len);
    m->len += len;
    m->open = !fin;
    return fin ? PL_WS_MESSAGE_READY : PL_WS_FRAGMENT_KEPT;
}

int pl_fuzz_ws_assembly(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    pl_ws_assembly_t assembly = {NULL, 0, MG_WEBSOCKET_OPCODE_CONTINUATION};
    model_t *model = calloc(1, sizeof *model);
    if (!model)
        abort();
    while (in.at < in.end) {
        uint8_t head = pl_fuzz_byte(&in);
        int opcode = s_opcodes[(head & 0x7f) % 3];
        bool fin = head & 0x80;
        size_t len = pl_fuzz_byte(&in);
        if (len > (size_t)(in.end - in.at))
            len = (size_t)(in.end - in.at);
        char *frame = pl_fuzz_copy(in.at, len);
        pl_ws_message_t message;
        pl_ws_assembly_status_t got =
            pl_ws_assembly_add(&assembly, opcode, fin, frame, len, LIMIT, &message);
        PL_FUZZ_CHECK(got == s_model_add(model, opcode, fin, in.at, len));
        if (got == PL_WS_MESSAGE_READY)
            PL_FUZZ_CHECK(message.opcode == model->opcode &&
                          pl_fuzz_same(message.data, message.len, model->bytes, model->len));
        free(frame);
        in.at += len;
    }
    pl_ws_assembly_free(&assembly);
    free(model);
    return 0;
}
