/*  tests/support/tmp_dir.h
 *
 *  A fresh scratch directory per test, for suites that need a data dir but no
 *  server (the store, search, import): made under /tmp with a prefix naming
 *  the suite, and removed with everything in it.
 */
#ifndef PARLEY_TEST_TMP_DIR_H
#define PARLEY_TEST_TMP_DIR_H

#include <stddef.h>

//  Makes the directory "/tmp/<prefix>XXXXXX" (the X's made unique) and writes its
//  path into dir (size bytes). Returns 0, or -1 when it cannot (dir is then "").
int pl_tmp_dir_make(char *dir, size_t size, const char *prefix);

//  Removes dir and everything below it; refuses (-1) a path outside /tmp/.
//  Returns 0 or -1.
int pl_tmp_dir_remove(const char *dir);

#endif
