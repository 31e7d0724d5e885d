/*  One WebSocket request (PROTOCOL.md "WebSocket") read from the bytes of one text
    frame: which request it is, its fields, and every check the frame alone can
    answer (types, bounds, a send's client_id and message rules). What needs the
    server (the subscription count, the rate limit, whether an upload exists) stays
    in ws.c, which acts on the request. Pure: no app, no I/O, so the tests and the
    fuzzer (tests/fuzz/) call it on any bytes.

    A plain `send` is read by send_scan.h's one-pass scanner; everything else, and
    every send it declines, by jansson. Both give the same request for the frames
    the scanner takes (send_scan.h's promise, which the fuzzer checks through
    pl_ws_request_parse_json). */
#ifndef PARLEY_WS_REQUEST_H
#define PARLEY_WS_REQUEST_H

#include "parley/send_scan.h"
#include "parley/types.h"

#include <jansson.h>
#include <stddef.h>

typedef enum {
    PL_WS_PING,
    PL_WS_SUBSCRIBE,
    PL_WS_UNSUBSCRIBE,
    PL_WS_SEND,
    PL_WS_READ,
    PL_WS_TYPING,
    PL_WS__COUNT
} pl_ws_type_t;

//  Longest error message a refused request carries.
#define PL_WS_ERROR_MAX 160

typedef struct {
    pl_ws_type_t type;
    //  What error frames and a pong name the request by: its ref, else its client_id,
    //  else none (ptr NULL); set whenever the frame is an object, refused or not.
    pl_str_t error_ref;
    pl_str_t ref;           //  the request's own "ref" (subscribe, send, read, typing), or none
    int64_t room;           //  every type but ping: at least 1
    int64_t since;          //  subscribe: at least 0, or -1 when absent
    int64_t seq;            //  read: at least 0
    pl_send_request_t send; //  send: its fields, room and ref included
    json_t *tree;           //  owned: the parsed frame the strings view; NULL when they view
                            //  the frame itself (the scanner took it)
    const char *code;       //  refused: the error code, "bad_request"
    char message[PL_WS_ERROR_MAX]; //  refused: "room: must be an integer of at least 1"
} pl_ws_request_t;

//  Reads len bytes at data (not NUL-terminated) as a request whose text messages may
//  hold max_message_chars characters. Returns 0 with *self filled, or -1 with self's
//  code, message and error_ref saying why it is refused. Strings view data or
//  self->tree: keep data alive while self is used, and call pl_ws_request_release on
//  either outcome.
int pl_ws_request_parse(pl_ws_request_t *self, const char *data, size_t len,
                        size_t max_message_chars);

//  The same, always through jansson: the path pl_ws_request_parse takes for every
//  frame the send scanner declines.
int pl_ws_request_parse_json(pl_ws_request_t *self, const char *data, size_t len,
                             size_t max_message_chars);

//  Frees what self owns. Safe to call twice.
void pl_ws_request_release(pl_ws_request_t *self);

#endif
