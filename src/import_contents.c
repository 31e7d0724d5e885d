/*  The import-contents subcommand (see import_contents.h): reads a batch of lines,
    checks them, then stores the batch in one transaction, and so on to the end. */
#include "parley/import_contents.h"

#include "parley/clock.h"
#include "parley/config.h"
#include "parley/log.h"
#include "parley/validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

//  A checked line waiting for its transaction.
typedef struct {
    json_t *object;           //  owned
    pl_content_input_t input; //  views into object
} entry_t;

typedef struct {
    FILE *in;
    const char *name;
    FILE *report;
    char *line; //  owned: PL_IMPORT_LINE_MAX bytes
    int64_t line_no;
    entry_t entries[PL_IMPORT_BATCH];
    int count;
} import_t;

//  Reads one line, without its '\n', into buf (size bytes). A longer line is read to
//  its end and flagged in *too_long. Returns its length, or -1 at the end of input.
static long s_read_line(FILE *in, char *buf, size_t size, bool *too_long)
{
    size_t len = 0;
    int c;
    *too_long = false;
    while ((c = getc(in)) != EOF && c != '\n') {
        if (len < size)
            buf[len++] = (char)c;
        else
            *too_long = true;
    }
    return c == EOF && len == 0 ? -1 : (long)len;
}

static void s_bad_line(import_t *self, pl_import_counts_t *counts, const char *field,
                       const char *reason)
{
    fprintf(self->report, "%s:%" PRId64 ": %s%s%s\n", self->name, self->line_no, field ? field : "",
            field ? ": " : "", reason);
    counts->bad++;
}

//  True when the line holds only blanks (JSON whitespace).
static bool s_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return false;
    return true;
}

//  Reads lines until PL_IMPORT_BATCH contents are checked or the input ends; bad
//  lines are reported and counted on the way. Returns false at the end of input.
static bool s_read_batch(import_t *self, pl_import_counts_t *counts)
{
    self->count = 0;
    while (self->count < PL_IMPORT_BATCH) {
        bool too_long;
        long len = s_read_line(self->in, self->line, PL_IMPORT_LINE_MAX, &too_long);
        if (len < 0)
            return false;
        self->line_no++;
        if (too_long) {
            char reason[64];
            snprintf(reason, sizeof reason, "the line is over %d bytes", PL_IMPORT_LINE_MAX);
            s_bad_line(self, counts, NULL, reason);
            continue;
        }
        if (s_blank(self->line, (size_t)len))
            continue;
        json_error_t error;
        json_t *object = json_loadb(self->line, (size_t)len, JSON_REJECT_DUPLICATES, &error);
        if (!object || !json_is_object(object)) {
            char reason[256];
            snprintf(reason, sizeof reason, "not a JSON object%s%s", object ? "" : ": ",
                     object ? "" : error.text);
            s_bad_line(self, counts, NULL, reason);
            json_decref(object);
            continue;
        }
        entry_t *entry = &self->entries[self->count];
        const char *field, *problem = pl_check_content(object, &entry->input, &field);
        if (problem) {
            s_bad_line(self, counts, field, problem);
            json_decref(object);
            continue;
        }
        entry->object = object;
        self->count++;
    }
    return true;
}

//  Stores the batch's new contents in one transaction; counts them once committed.
//  Returns 0 or -1.
static int s_write_batch(import_t *self, pl_store_t *store, pl_import_counts_t *counts)
{
    const pl_store_ops_t *ops = store->ops;
    if (self->count == 0)
        return 0;
    if (ops->begin(store) != PL_STATUS_OK)
        return -1;
    int64_t imported = 0, skipped = 0, id;
    for (int i = 0; i < self->count; i++) {
        const pl_content_input_t *c = &self->entries[i].input;
        pl_status_t status = ops->content_find(store, c->kind, c->title, c->year, &id);
        if (status == PL_STATUS_OK) {
            skipped++;
            continue;
        }
        if (status == PL_STATUS_NOT_FOUND)
            status = ops->content_insert(store, c->kind, c->title, c->description, c->year,
                                         pl_now_ms(), &id);
        if (status != PL_STATUS_OK) {
            ops->rollback(store);
            return -1;
        }
        imported++;
    }
    if (ops->commit(store) != PL_STATUS_OK) {
        ops->rollback(store);
        return -1;
    }
    counts->imported += imported;
    counts->skipped += skipped;
    return 0;
}

static void s_free_batch(import_t *self)
{
    for (int i = 0; i < self->count; i++)
        json_decref(self->entries[i].object);
    self->count = 0;
}

int pl_import_contents(pl_store_t *store, FILE *in, const char *name, FILE *report,
                       pl_import_counts_t *counts)
{
    *counts = (pl_import_counts_t){0};
    import_t *self = calloc(1, sizeof *self);
    char *line = malloc(PL_IMPORT_LINE_MAX);
    if (!self || !line) {
        pl_error("import: out of memory");
        free(self);
        free(line);
        return -1;
    }
    *self = (import_t){.in = in, .name = name, .report = report, .line = line};
    int rc = 0;
    bool more = true;
    while (rc == 0 && more) {
        more = s_read_batch(self, counts);
        if (ferror(in)) {
            pl_error("import: cannot read %s: %s", name, strerror(errno));
            rc = -1;
        } else if (s_write_batch(self, store, counts)) {
            pl_error("import: storing the contents of %s up to line %" PRId64 " failed", name,
                     self->line_no);
            rc = -1;
        }
        s_free_batch(self);
    }
    free(line);
    free(self);
    return rc;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: parley import-contents FILE.jsonl [--config FILE] [--key value ...]\n"
                 "  Loads one content per line, {\"kind\": \"movie\"|\"book\", \"title\",\n"
                 "  \"description\"?, \"year\"?}, into the store of data_dir; a content\n"
                 "  whose kind, title and year are already there is skipped.\n"
                 "  Exit status: 0 all imported or skipped, 3 some lines bad (the rest\n"
                 "  imported), 1 the file or the store failed, 2 usage.\n\n");
}

int pl_import_contents_main(int argc, char *const *argv, char *const *envp)
{
    if (pl_config_wants_help(argc, argv)) {
        s_usage(stdout);
        pl_config_print_help(stdout);
        return 0;
    }
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        s_usage(stderr);
        return 2;
    }
    const char *path = argv[1];
    pl_config_t cfg;
    char err[512] = "";
    //  The options follow the file, which takes argv[0]'s place: the loader skips it.
    if (pl_config_load(&cfg, argc - 1, argv + 1, envp, err, sizeof err)) {
        fprintf(stderr, "parley import-contents: %s\n", err);
        pl_config_clear(&cfg);
        return 2;
    }
    pl_config_start_logging(&cfg);
    int status = 1;
    pl_store_t *store = NULL;
    FILE *in = fopen(path, "re");
    if (!in)
        fprintf(stderr, "parley import-contents: cannot open %s: %s\n", path, strerror(errno));
    else if (!(store =
                   pl_store_open(&(pl_store_config_t){cfg.store, cfg.data_dir, cfg.postgres_url},
                                 true, err, sizeof err)))
        fprintf(stderr, "parley import-contents: %s\n", err);
    else {
        pl_import_counts_t counts;
        int rc = pl_import_contents(store, in, path, stderr, &counts);
        printf("%s: imported %" PRId64 ", skipped %" PRId64 " (already there), bad %" PRId64 "\n",
               path, counts.imported, counts.skipped, counts.bad);
        status = rc ? 1 : counts.bad ? 3 : 0;
    }
    pl_store_close(&store);
    if (in)
        fclose(in);
    pl_config_clear(&cfg);
    return status;
}
