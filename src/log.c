/*  Logging to stderr (log.h). The level and the format are plain globals written
    once before any thread starts, so readers need no synchronisation. A line is
    built whole in a buffer and written with one call, so lines of different threads
    never interleave. */
#include "parley/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 4096
#define RESERVED       1024

static pl_log_level_t s_level = PL_LOG_INFO;
static bool s_json;
static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

void pl_log_set_level(pl_log_level_t level)
{
    s_level = level;
}

void pl_log_set_json(bool json)
{
    s_json = json;
}

int pl_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, s_level_names[i]) == 0)
            return i;
    return -1;
}

bool pl_log_enabled(pl_log_level_t level)
{
    return level >= s_level;
}

//  A line under construction; writes past its end are dropped, never overflow.
typedef struct {
    char text[LINE_MAX_BYTES];
    size_t len;
} line_t;

static void s_append(line_t *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_append(line_t *line, const char *fmt, ...)
{
    if (line->len >= sizeof line->text)
        return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(line->text + line->len, sizeof line->text - line->len, fmt, args);
    va_end(args);
    if (n > 0)
        line->len += (size_t)n;
    if (line->len >= sizeof line->text)
        line->len = sizeof line->text - 1;
}

//  Appends text[0..len) as the inside of a JSON string: quotes, backslashes and
//  control characters escaped, bytes of 0x80 and above kept (log text is UTF-8). It
//  stops RESERVED bytes short of the end, so the fixed parts after it always fit
//  and a long line stays valid JSON.
static void s_append_escaped(line_t *line, const char *text, size_t len)
{
    for (size_t i = 0; i < len && line->len < sizeof line->text - RESERVED; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            s_append(line, "\\%c", c);
        else if (c < 0x20)
            s_append(line, "\\u%04x", c);
        else
            s_append(line, "%c", c);
    }
}

//  Appends text as a text line shows it: control characters as \xNN, so that nothing
//  a client sent (a decoded path, a header) can start a line of its own.
static void s_append_plain(line_t *line, const char *text)
{
    for (const char *c = text; *c && line->len < sizeof line->text - RESERVED; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte < 0x20 || byte == 0x7f)
            s_append(line, "\\x%02x", byte);
        else
            s_append(line, "%c", byte);
    }
}

//  Starts a line: the text head, or the JSON object's time, level and thread.
static void s_begin(line_t *line, pl_log_level_t level)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char thread_name[16] = "?";
    pthread_getname_np(pthread_self(), thread_name, sizeof thread_name);
    char time_text[64];
    snprintf(time_text, sizeof time_text, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    line->len = 0;
    if (s_json) {
        s_append(line, "{\"time\":\"%s\",\"level\":\"%s\",\"thread\":\"", time_text,
                 s_level_names[level]);
        s_append_escaped(line, thread_name, strlen(thread_name));
        s_append(line, "\"");
    } else {
        s_append(line, "%s %-5s [%s] ", time_text, s_level_names[level], thread_name);
    }
}

//  The component of a free-form message: its first word, when a ": " ends its
//  first few words ("conn 12: dropped" is conn's).
static size_t s_component_len(const char *msg)
{
    const char *colon = strstr(msg, ": ");
    if (!colon || colon - msg > 32)
        return 0;
    size_t len = 0;
    while (msg + len < colon && (islower((unsigned char)msg[len]) || msg[len] == '_'))
        len++;
    return len;
}

static void s_end(line_t *line)
{
    if (s_json)
        s_append(line, "}");
    if (line->len >= sizeof line->text - 2)
        line->len = sizeof line->text - 2;
    line->text[line->len++] = '\n';
    fwrite(line->text, 1, line->len, stderr);
}

void pl_log(pl_log_level_t level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char msg[LINE_MAX_BYTES - RESERVED];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    line_t line;
    s_begin(&line, level);
    if (s_json) {
        size_t component = s_component_len(msg);
        if (component) {
            s_append(&line, ",\"component\":\"");
            s_append_escaped(&line, msg, component);
            s_append(&line, "\"");
        }
        s_append(&line, ",\"msg\":\"");
        s_append_escaped(&line, msg, strlen(msg));
        s_append(&line, "\"");
    } else {
        s_append_plain(&line, msg);
    }
    s_end(&line);
}

void pl_log_fields(pl_log_level_t level, const char *component, const char *msg,
                   const pl_log_field_t *fields, size_t count)
{
    if (level < s_level)
        return;
    line_t line;
    s_begin(&line, level);
    if (s_json) {
        s_append(&line, ",\"component\":\"%s\",\"msg\":\"", component);
        s_append_escaped(&line, msg, strlen(msg));
        s_append(&line, "\"");
    } else {
        s_append(&line, "%s: ", component);
        s_append_plain(&line, msg);
    }
    for (size_t i = 0; i < count; i++) {
        const pl_log_field_t *field = &fields[i];
        if (s_json && field->text) {
            s_append(&line, ",\"%s\":\"", field->key);
            s_append_escaped(&line, field->text, strlen(field->text));
            s_append(&line, "\"");
        } else if (s_json) {
            s_append(&line, ",\"%s\":%" PRId64, field->key, field->number);
        } else if (field->text) {
            s_append(&line, " %s=", field->key);
            s_append_plain(&line, field->text);
        } else {
            s_append(&line, " %s=%" PRId64, field->key, field->number);
        }
    }
    s_end(&line);
}
