/*  `parley backup DEST`: a consistent copy of a running node's embedded store (the
    SQLite database, by SQLite's online backup API, which a writer never waits for),
    then its uploads and its JWT key, into DEST. DEST is then a complete data dir: a
    server started with --data-dir DEST serves what the node had when the copy of
    the database began. The database goes first: an upload is whole on disk before
    any message can name it, so every upload the copied messages name is there when
    the uploads are copied after. */
#ifndef PARLEY_BACKUP_H
#define PARLEY_BACKUP_H

#include <stddef.h>
#include <stdio.h>

//  Copies data_dir into dest (created, mode 0700; refused when it holds a database or
//  a JWT key already). Writes a line of what it copied to report. Returns 0, or -1
//  with the reason in err: a failed backup leaves no database and no key in dest, and
//  the database is the last file to get its name, so a dest that has one is whole.
int pl_backup(const char *data_dir, const char *dest, FILE *report, char *err, size_t err_len);

//  The subcommand: argv[0] is "backup", argv[1] DEST, then the usual options (the
//  data dir from them). Returns the exit status: 0 done, 1 failed, 2 usage.
int pl_backup_main(int argc, char *const *argv, char *const *envp);

#endif
