/*  Target last_event_id: the id an SSE client reconnects with (pl_last_event_id in
    src/http_parse.c), from the Last-Event-ID header or, without one, the
    last_event_id query parameter. The input is a header value (or none) and a query
    string. An id read is -1 (none) or at least 0, a refusal leaves -1; and a value
    must read the same from the header as from the query parameter carrying it
    percent-encoded, since a client picks either for the same id. */
#include "fuzz.h"

#include "parley/http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_check_answer(int rc, int64_t id)
{
    PL_FUZZ_CHECK(rc == 0 || rc == -1);
    PL_FUZZ_CHECK(id >= -1);
    PL_FUZZ_CHECK(rc == 0 || id == -1);
}

//  The header value given as the query parameter instead, every byte percent-encoded.
static void s_check_same_as_query(const char *header, int header_rc, int64_t header_id)
{
    size_t len = strlen(header);
    static const char prefix[] = "last_event_id=";
    char *query = malloc(sizeof prefix + 3 * len);
    if (!query)
        abort();
    memcpy(query, prefix, sizeof prefix - 1);
    for (size_t i = 0; i < len; i++)
        snprintf(query + sizeof prefix - 1 + 3 * i, 4, "%%%02X", (unsigned char)header[i]);
    query[sizeof prefix - 1 + 3 * len] = '\0';
    int64_t id;
    int rc = pl_last_event_id(NULL, query, &id);
    PL_FUZZ_CHECK(rc == header_rc && id == header_id);
    free(query);
}

int pl_fuzz_last_event_id(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    bool has_header = pl_fuzz_byte(&in) & 1;
    char *header = pl_fuzz_piece(&in, NULL);
    char *query = pl_fuzz_piece(&in, NULL);
    int64_t id;
    int rc = pl_last_event_id(has_header ? header : NULL, query, &id);
    s_check_answer(rc, id);
    if (header) {
        rc = pl_last_event_id(header, NULL, &id);
        s_check_answer(rc, id);
        s_check_same_as_query(header, rc, id);
    }
    free(header);
    free(query);
    return 0;
}
