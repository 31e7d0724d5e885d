/*  Target route: path and query parsing, as a request line gives them to the router
    (pl_route_find in src/http_server.c: every route table, "{id}" and "{name}"
    segments) and to the handlers' integer query parameters (pl_query_int in
    src/http_parse.c: before, after, limit). The input is a method choice, a path and
    a query string. A route found must be of that method, and its pattern with the
    {id} and {name} it read put back must spell the path exactly (so an id is a
    canonical positive decimal and a name a non-empty segment); a query integer read
    must lie within its bounds, and an absent one leaves its value alone. */
#include "fuzz.h"

#include "parley/http.h"
#include "parley/http_parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_methods[] = {"GET", "POST", "DELETE", "PATCH", "HEAD", "PUT"};
#define METHOD_COUNT (sizeof s_methods / sizeof s_methods[0])

//  Writes pattern with req's {id} and {name} put back into out (size bytes); returns
//  its length, or size when it does not fit.
static size_t s_render(const char *pattern, const pl_req_t *req, char *out, size_t size)
{
    size_t len = 0;
    while (*pattern && len < size) {
        int n = 0;
        if (strncmp(pattern, "{id}", 4) == 0) {
            n = snprintf(out + len, size - len, "%" PRId64, req->path_id);
            pattern += 4;
        } else if (strncmp(pattern, "{name}", 6) == 0) {
            n = snprintf(out + len, size - len, "%.*s", (int)req->path_name_len, req->path_name);
            pattern += 6;
        } else {
            out[len] = *pattern++;
            n = 1;
        }
        len = n < 0 ? size : len + (size_t)n;
    }
    return *pattern ? size : len;
}

static void s_check_route(const char *method, const char *path, size_t path_len)
{
    pl_req_t req = {.path_id = 0};
    bool known;
    const pl_route_t *route = pl_route_find(method, path, &req, &known);
    if (!route)
        return;
    PL_FUZZ_CHECK(known && strcmp(route->method, method) == 0);
    if (strstr(route->pattern, "{id}"))
        PL_FUZZ_CHECK(req.path_id >= 1);
    if (strstr(route->pattern, "{name}"))
        PL_FUZZ_CHECK(req.path_name >= path &&
                      req.path_name + req.path_name_len <= path + path_len &&
                      req.path_name_len >= 1 && !memchr(req.path_name, '/', req.path_name_len));
    char rendered[4096];
    size_t len = s_render(route->pattern, &req, rendered, sizeof rendered);
    PL_FUZZ_CHECK(pl_fuzz_same(rendered, len, path, path_len));
}

static void s_check_query(const char *query)
{
    static const struct {
        const char *name;
        int64_t min, max;
    } params[] = {{"before", 1, INT64_MAX}, {"after", 0, INT64_MAX}, {"limit", 1, 200}};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        int64_t value = -42;
        int found = pl_query_int(query, params[i].name, params[i].min, params[i].max, &value);
        PL_FUZZ_CHECK(found >= -1 && found <= 1);
        if (found == 1)
            PL_FUZZ_CHECK(value >= params[i].min && value <= params[i].max);
        else
            PL_FUZZ_CHECK(value == -42);
    }
}

int pl_fuzz_route(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    const char *method = s_methods[pl_fuzz_byte(&in) % METHOD_COUNT];
    size_t path_len;
    char *path = pl_fuzz_piece(&in, &path_len);
    char *query = pl_fuzz_piece(&in, NULL);
    if (path)
        s_check_route(method, path, path_len);
    s_check_query(query);
    free(path);
    free(query);
    return 0;
}
