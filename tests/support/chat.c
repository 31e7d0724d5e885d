/*  tests/support/chat.c: see chat.h. */
#include "chat.h"

#include "api.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>

void pl_chat_sendf(pl_ws_t *ws, const char *fmt, ...)
{
    char text[8192];
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    cr_assert(len > 0 && (size_t)len < sizeof text);
    cr_assert_eq(pl_ws_send_text(ws, text, (size_t)len), 0, "could not send %s", text);
}

void pl_chat_send(pl_ws_t *ws, int64_t room, const char *client_id, const char *body)
{
    pl_chat_sendf(ws, "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"%s\",\"body\":\"%s\"}",
                  (long long)room, client_id, body);
}

json_t *pl_chat_next(pl_ws_t *ws, const char *type)
{
    json_t *frame = pl_ws_recv_type(ws, type, PL_CHAT_FRAME_MS);
    cr_assert(frame, "no %s frame", type);
    return frame;
}

void pl_chat_expect_messages(pl_ws_t *ws, int64_t room, int64_t first, int64_t last)
{
    for (int64_t seq = first; seq <= last; seq++) {
        json_t *message = pl_chat_next(ws, "message");
        cr_assert_eq(pl_api_int(message, "room"), room);
        cr_assert_eq(pl_api_int(message, "seq"), seq, "got seq %lld, expected %lld",
                     (long long)pl_api_int(message, "seq"), (long long)seq);
        json_decref(message);
    }
}
