/*  `parley import-contents FILE.jsonl`: loads a catalogue of contents into the store
    of the configured data_dir, for operators and for the demo catalogue that
    `.ci/dev run` loads.

    The file holds one JSON object per line, {"kind", "title", "description"?,
    "year"?}, checked by the rules of POST /api/contents (pl_check_content). A line
    whose kind, title and year are already in the store is skipped, so importing a
    file again changes nothing. A bad line is reported with its number and the
    import goes on. The import is safe beside a server running on the same data_dir:
    it writes through a connection of its own, in short transactions of at most
    PL_IMPORT_BATCH lines, each read and checked before its transaction begins so the
    write lock is never held while reading; the server's persister waits for the
    lock (SQLite's busy timeout) rather than failing. */
#ifndef PARLEY_IMPORT_CONTENTS_H
#define PARLEY_IMPORT_CONTENTS_H

#include "parley/store.h"

#include <stdint.h>
#include <stdio.h>

//  Lines per transaction.
#define PL_IMPORT_BATCH 256
//  Longest line accepted, in bytes: room for the longest valid content even with
//  every character escaped as \uXXXX pairs.
#define PL_IMPORT_LINE_MAX 65536

typedef struct {
    int64_t imported; //  new contents stored
    int64_t skipped;  //  lines whose content was already there
    int64_t bad;      //  lines that are not a valid content (each reported)
} pl_import_counts_t;

//  Imports every line of `in` into store (a writer connection), reporting each bad
//  line to `report` as "<name>:<line>: <field>: <reason>". Blank lines are ignored.
//  Returns 0, or -1 when `in` cannot be read or the store fails (logged; what was
//  committed before stays, and counts say how much that was).
int pl_import_contents(pl_store_t *store, FILE *in, const char *name, FILE *report,
                       pl_import_counts_t *counts);

//  The subcommand: argv is {"import-contents", FILE, options...}, the options those
//  of the server (--data-dir, --config, ...), read the same way. Prints the counts.
//  Returns the exit status: 0 when every line was imported or skipped, 3 when some
//  were bad (the others are imported), 1 when the file cannot be read or the store
//  fails, 2 for a usage or configuration error.
int pl_import_contents_main(int argc, char *const *argv, char *const *envp);

#endif
