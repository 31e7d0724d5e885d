/*  Replays every committed fuzz corpus file (tests/fuzz/corpus/<target>/) through its
    target's function (tests/fuzz/fuzz.h), the very code libFuzzer runs, so an input
    that once broke parley is run again by every test run and what was fixed stays
    fixed. One test per target; a target that breaks its contract aborts, which fails
    its test. Each file is handed over as an exact-size heap copy, as libFuzzer does,
    so that under `.ci/dev test-asan` a read past its end fails too. */
#include "fuzz.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

TestSuite(fuzz_corpus, .timeout = 60);

//  Reads a whole file into an exact-size heap buffer; *size gets its length.
static uint8_t *s_read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    cr_assert_not_null(file, "cannot open %s", path);
    cr_assert_eq(fseek(file, 0, SEEK_END), 0);
    long len = ftell(file);
    cr_assert_geq(len, 0);
    rewind(file);
    uint8_t *data = malloc(len ? (size_t)len : 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)len, file), (size_t)len, "cannot read %s", path);
    fclose(file);
    *size = (size_t)len;
    return data;
}

//  Runs every file of corpus/<name>/ through run; the corpus must not be empty.
static void s_replay(const char *name, int (*run)(const uint8_t *data, size_t size))
{
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s/tests/fuzz/corpus/%s", PARLEY_SOURCE_DIR, name);
    DIR *dir = opendir(dir_path);
    cr_assert_not_null(dir, "no corpus for fuzz target %s at %s", name, dir_path);
    size_t files = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
        size_t size;
        uint8_t *data = s_read_file(path, &size);
        cr_assert_eq(run(data, size), 0, "%s", path);
        free(data);
        files++;
    }
    closedir(dir);
    cr_assert_gt(files, 0, "the corpus of fuzz target %s is empty", name);
}

#define PL_FUZZ_TARGET(name)                                                                       \
    Test(fuzz_corpus, name)                                                                        \
    {                                                                                              \
        s_replay(#name, pl_fuzz_##name);                                                           \
    }
#include "fuzz_targets.inc"
#undef PL_FUZZ_TARGET
