/*  Target config: the configuration loader (pl_config_load in src/config.c) with a
    config file, an environment and command-line flags, all from the input. The first
    piece (up to a NUL) is the file's text; each later piece is an environment entry
    ("PARLEY_LISTEN=...") or, after a leading 0x01 byte, a flag. The file is a memfd
    the target names with --config, and flags naming another config file are dropped:
    the fuzzer must not open the machine's files (/dev/stdin would wait forever). A
    load fails with a message, or leaves every integer option within its bounds,
    every string option set, a known log level and a jwt_secret empty or long enough.
    And a comment sets nothing: the file with '#' before each of its lines loads
    exactly as an empty file does. */
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

#define SAME_STR(key)                               PL_FUZZ_CHECK(strcmp(a->key, b->key) == 0);
#define SAME_INT(key)                               PL_FUZZ_CHECK(a->key == b->key);
#define SAME_OPTION(kind, key, def, min, max, help) SAME_##kind(key)

static void s_check_same(const pl_config_t *a, const pl_config_t *b)
{
    PL_CONFIG_OPTIONS(SAME_OPTION)
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

//  The len bytes of text with '#' before each line; *out_len gets its length.
static char *s_commented(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(2 * len + 1);
    if (!out)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 0 || text[i - 1] == '\n')
            out[n++] = '#';
        out[n++] = text[i];
    }
    *out_len = n;
    return out;
}

typedef struct {
    int rc;
    pl_config_t cfg;
    char err[256];
} load_t;

//  Loads with the file holding len bytes of text after argv[0..2] ("parley --config").
static void s_load(load_t *load, const char *text, size_t len, int argc, char **argv, char **envp)
{
    argv[2] = (char *)s_config_file(text, len);
    load->err[0] = '\0';
    load->rc = pl_config_load(&load->cfg, argc, argv, envp, load->err, sizeof load->err);
    if (load->rc == 0)
        s_check_loaded(&load->cfg);
    else
        PL_FUZZ_CHECK(load->err[0] != '\0');
}

//  Commenting out every line of the file leaves what an empty file leaves.
static void s_check_comments(const char *file, size_t len, int argc, char **argv, char **envp)
{
    size_t commented_len;
    char *commented = s_commented(file, len, &commented_len);
    load_t with, without;
    s_load(&with, commented, commented_len, argc, argv, envp);
    s_load(&without, "", 0, argc, argv, envp);
    PL_FUZZ_CHECK(with.rc == without.rc && strcmp(with.err, without.err) == 0);
    if (with.rc == 0)
        s_check_same(&with.cfg, &without.cfg);
    pl_config_clear(&with.cfg);
    pl_config_clear(&without.cfg);
    free(commented);
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
    argv[argc++] = NULL; //  the file's path, set by s_load
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
    load_t load;
    s_load(&load, file ? file : "", file_len, argc, argv, envp);
    pl_config_clear(&load.cfg);
    s_check_comments(file ? file : "", file_len, argc, argv, envp);
    for (int i = 0; i < piece_count; i++)
        free(pieces[i]);
    free(file);
    return 0;
}
