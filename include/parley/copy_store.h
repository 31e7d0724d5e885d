/*  `parley copy-store`: moves everything a SQLite data dir holds into PostgreSQL, for
    an operator who started on one node and now wants a store every node can share.

    Users (with their password hashes), contents, likes, follows, rooms, members,
    messages, read pointers and notifications are copied with their ids, table by
    table in dependency order, a chunk of rows per transaction. A row already there
    (same key) is left as it is, so a second run copies nothing and a run after an
    interruption copies what the first did not reach. The upload files of
    <data_dir>/uploads follow, the same way. The id sequences are then moved past the
    ids copied, and the rows of each table (and the uploads) are counted on both
    sides. */
#ifndef PARLEY_COPY_STORE_H
#define PARLEY_COPY_STORE_H

#include <stdint.h>
#include <stdio.h>

//  Copies the SQLite store in data_dir into the PostgreSQL database at
//  postgres_url (migrated first), writing a line per table to report:
//  "<table>: copied N, M in SQLite, K in PostgreSQL". Returns 0 when every table's
//  counts agree, 1 when they differ, -1 when a store failed (the reason on report).
int pl_copy_store(const char *data_dir, const char *postgres_url, FILE *report);

//  `parley copy-store [--config FILE] [--key value ...]`: the options name the
//  source (data_dir) and the target (postgres_url). Exit status: 0 copied and
//  counted equal, 1 a store failed or the counts differ, 2 usage.
int pl_copy_store_main(int argc, char *const *argv, char *const *envp);

#endif
