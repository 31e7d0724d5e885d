/*  Logging to stderr. The level is a plain global written once before any thread
    starts, so readers need no synchronisation. */
#include "parley/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pl_log_level_t s_level = PL_LOG_INFO;
static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

void pl_log_set_level(pl_log_level_t level)
{
    s_level = level;
}

int pl_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, s_level_names[i]) == 0)
            return i;
    return -1;
}

void pl_log(pl_log_level_t level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char thread_name[16] = "?";
    pthread_getname_np(pthread_self(), thread_name, sizeof thread_name);

    char line[1024];
    int head = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, now.tv_nsec / 1000000, s_level_names[level], thread_name);
    va_list args;
    va_start(args, fmt);
    vsnprintf(line + head, sizeof line - (size_t)head, fmt, args);
    va_end(args);
    fprintf(stderr, "%s\n", line);
}
