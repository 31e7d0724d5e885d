/*  Target config: the configuration loader (pl_config_load in src/config.c) with a
    config file, an environment and command-line flags, all from the input. The first
    piece (up to a NUL) is the file's text; each later piece is an environment entry
    ("PARLEY_LISTEN=...") or, after a leading 0x01 byte, a flag. The file is a memfd
    the target names with --config, and flags naming another config file are dropped:
    the fuzzer must not open the machine's files (/dev/stdin would wait forever). A
    load fails with a message, or leaves every integer option within its bounds,
    every string option set, a known log level and a jwt_secret empty or long enough. */
#include "fuzz.h"

#include "parley/config.h"
#include "parley/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

//  Most environment entries and flags one input gives.
#define PIECES_MAX 64

#define CHECK_STR(key, min, max)                     PL_FUZZ_CHECK(cfg->key != NULL);
#define CHECK_INT(key, min, max)                     PL_FUZZ_CHECK(cfg->key >= (min) && cfg->key <= (max));
#define CHECK_OPTION(kind, key, def, min, max, help) CHECK_##kind(key, min, max)

static void s_check_loaded(const pl_config_t *cfg)
{
    PL_CONFIG_OPTIONS(CHECK_OPTION)
    PL_FUZZ_CHECK(pl_log_level_parse(cfg->log_level) >= 0);
    PL_FUZZ_CHECK(cfg->jwt_secret[0] == '\0' || strlen(cfg->jwt_secret) >= 32);
}

//  The path of a memfd holding len bytes of text, made once and rewritten each time.
static const char *s_config_file(const char *text, size_t len)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("parley-fuzz-config", MFD_CLOEXEC);
        PL_FUZZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    PL_FUZZ_CHECK(ftruncate(fd, 0) == 0);
    PL_FUZZ_CHECK(len == 0 || pwrite(fd, text, len, 0) == (ssize_t)len);
    return path;
}

int pl_fuzz_config(const uint8_t *data, size_t size)
{
    pl_fuzz_input_t in = pl_fuzz_input(data, size);
    size_t file_len = 0;
    char *file = pl_fuzz_piece(&in, &file_len);
    char *pieces[2 * PIECES_MAX];
    char *envp[PIECES_MAX + 1], *argv[PIECES_MAX + 3];
    int envc = 0, argc = 0, piece_count = 0;
    argv[argc++] = "parley";
    argv[argc++] = "--config";
    argv[argc++] = (char *)s_config_file(file ? file : "", file_len);
    char *piece;
    while (piece_count < 2 * PIECES_MAX && (piece = pl_fuzz_piece(&in, NULL))) {
        pieces[piece_count++] = piece;
        if (piece[0] != '\x01' && envc < PIECES_MAX)
            envp[envc++] = piece;
        else if (piece[0] == '\x01' && argc < PIECES_MAX + 2 && strncmp(piece + 1, "--config", 8))
            argv[argc++] = piece + 1;
    }
    envp[envc] = NULL;
    argv[argc] = NULL;
    pl_config_t cfg;
    char err[256] = "";
    if (pl_config_load(&cfg, argc, argv, envp, err, sizeof err) == 0)
        s_check_loaded(&cfg);
    else
        PL_FUZZ_CHECK(err[0] != '\0');
    pl_config_clear(&cfg);
    for (int i = 0; i < piece_count; i++)
        free(pieces[i]);
    free(file);
    return 0;
}
