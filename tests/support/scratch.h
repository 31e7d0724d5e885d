/*  tests/support/scratch.h
 *
 *  Scratch directories for tests that need files but no server: a fresh
 *  directory under /tmp per test, removed with everything in it afterwards.
 */
#ifndef PARLEY_TEST_SCRATCH_H
#define PARLEY_TEST_SCRATCH_H

#include <stddef.h>

//  Makes a fresh directory /tmp/parley-<name>-XXXXXX and writes its path into
//  path (size bytes). Returns 0, or -1 when it cannot be made or does not fit.
int pl_scratch_dir_new(char *path, size_t size, const char *name);

//  Removes a directory that pl_scratch_dir_new made, and everything in it.
//  Does nothing for any other path (or "").
void pl_scratch_dir_remove(const char *path);

#endif
