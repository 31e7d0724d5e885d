/*  Logging: one line per event on stderr, with a UTC timestamp, the level and the
    thread's short name. Safe from any thread (one fprintf per line, stdio locks it).
    Never pass a password, a token or a message body to these functions. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

typedef enum { PL_LOG_DEBUG, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR } pl_log_level_t;

//  Lines below this level are dropped. Set once at start-up, before threads start.
void pl_log_set_level(pl_log_level_t level);

//  Parses "debug", "info", "warn" or "error"; returns -1 for anything else.
int pl_log_level_parse(const char *name);

void pl_log(pl_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pl_debug(...) pl_log(PL_LOG_DEBUG, __VA_ARGS__)
#define pl_info(...)  pl_log(PL_LOG_INFO, __VA_ARGS__)
#define pl_warn(...)  pl_log(PL_LOG_WARN, __VA_ARGS__)
#define pl_error(...) pl_log(PL_LOG_ERROR, __VA_ARGS__)

#endif
