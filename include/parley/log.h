/*  Logging: one line per event on stderr, as text (a UTC timestamp, the level, the
    thread's short name, the message) or, with log_format = json, as one JSON object
    per line: time, level, thread, component (the word before the message's first
    ": ", by the convention "auth: ...", "conn 12: ..."), msg, and the fields of a
    structured line. Safe from any thread (one write per line, stdio locks it).
    Never pass a password, a token or a message body to these functions. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { PL_LOG_DEBUG, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR } pl_log_level_t;

//  Lines below this level are dropped; json picks the JSON format. Set once at
//  start-up, before threads start.
void pl_log_set_level(pl_log_level_t level);
void pl_log_set_json(bool json);

//  Parses "debug", "info", "warn" or "error"; returns -1 for anything else.
int pl_log_level_parse(const char *name);

//  True when a line of this level would be written.
bool pl_log_enabled(pl_log_level_t level);

void pl_log(pl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  A field of a structured line: a string (text not NULL) or an integer.
typedef struct {
    const char *key;
    const char *text;
    int64_t number;
} pl_log_field_t;

//  A structured line: "component: msg key=value ..." as text, or the fields as
//  members of the JSON object.
void pl_log_fields(pl_log_level_t level, const char *component, const char *msg,
                   const pl_log_field_t *fields, size_t count);

#define pl_debug(...) pl_log(PL_LOG_DEBUG, __VA_ARGS__)
#define pl_info(...)  pl_log(PL_LOG_INFO, __VA_ARGS__)
#define pl_warn(...)  pl_log(PL_LOG_WARN, __VA_ARGS__)
#define pl_error(...) pl_log(PL_LOG_ERROR, __VA_ARGS__)

#endif
