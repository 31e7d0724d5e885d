/*  Tests for config.c: defaults, the four layers and their precedence, and every kind
    of bad input, which must stop loading with a message naming the key. The
    environment is passed as an explicit envp, so tests never touch the process's own. */
#include "parley/config.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];

static void s_setup(void)
{
    strcpy(s_dir, "/tmp/parley-config-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
}

static void s_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(config, .init = s_setup, .fini = s_teardown, .timeout = 10);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

//  The option table as the tests see it, generated from the header.
typedef struct {
    const char *key;
    bool is_int;
    const char *def;
    long long min, max;
} row_t;

#define ROW(kind, key, def, min, max, help) {#key, #kind[0] == 'I', def, min, max},
static const row_t s_rows[] = {PL_CONFIG_OPTIONS(ROW)};
#undef ROW

//  Writes a file under the test's directory; returns its path (static storage per slot).
static const char *s_write_file(const char *name, const char *text)
{
    static char paths[4][256];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", s_dir, name);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    cr_assert_eq(fputs(text, file) >= 0, true);
    cr_assert_eq(fclose(file), 0);
    return path;
}

//  Loads with argv = {"parley", args...} and envp = env (NULL-terminated, may be NULL).
typedef struct {
    pl_config_t cfg;
    char err[512];
    int rc;
} load_t;

static void s_load(load_t *load, char *const *env, int argc, ...)
{
    char *argv[32] = {"parley"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    argv[argc + 1] = NULL;
    load->err[0] = '\0';
    load->rc = pl_config_load(&load->cfg, argc + 1, argv, env, load->err, sizeof load->err);
}

//  True when err names key, written with underscores or (as a flag) with dashes.
static bool s_names_key(const char *err, const char *key)
{
    if (strstr(err, key))
        return true;
    char dashed[64];
    snprintf(dashed, sizeof dashed, "%s", key);
    for (char *p = dashed; *p; p++)
        if (*p == '_')
            *p = '-';
    return strstr(err, dashed) != NULL;
}

static void s_expect_error(load_t *load, const char *key, const char *what)
{
    cr_assert_eq(load->rc, -1, "%s was accepted", what);
    cr_assert(s_names_key(load->err, key), "%s: error '%s' does not name '%s'", what, load->err,
              key);
    pl_config_clear(&load->cfg);
}

static void s_expect_ok(load_t *load, const char *what)
{
    cr_assert_eq(load->rc, 0, "%s was refused: %s", what, load->err);
}

//  --------------------------------------------------------------------------------
//  Defaults

Test(config, defaults)
{
    load_t load;
    s_load(&load, NULL, 0);
    s_expect_ok(&load, "no arguments");
#define CHECK_STR(key, def)                           cr_assert_str_eq(load.cfg.key, def, "%s default", #key);
#define CHECK_INT(key, def)                           cr_assert_eq(load.cfg.key, strtoll(def, NULL, 10), "%s default", #key);
#define CHECK_DEFAULT(kind, key, def, min, max, help) CHECK_##kind(key, def)
    PL_CONFIG_OPTIONS(CHECK_DEFAULT)
#undef CHECK_DEFAULT
    pl_config_clear(&load.cfg);
}

Test(config, defaults_are_within_bounds)
{
    for (size_t i = 0; i < COUNT(s_rows); i++) {
        if (!s_rows[i].is_int)
            continue;
        long long def = strtoll(s_rows[i].def, NULL, 10);
        cr_assert(def >= s_rows[i].min && def <= s_rows[i].max, "%s default %lld", s_rows[i].key,
                  def);
    }
}

Test(config, some_defaults_match_the_documentation)
{
    load_t load;
    s_load(&load, NULL, 0);
    s_expect_ok(&load, "no arguments");
    cr_assert_str_eq(load.cfg.listen, "0.0.0.0:8080");
    cr_assert_str_eq(load.cfg.log_level, "info");
    cr_assert_str_eq(load.cfg.jwt_secret, "");
    cr_assert_eq(load.cfg.token_ttl_s, 604800);
    pl_config_clear(&load.cfg);
}

Test(config, environment_without_parley_keys_is_ignored)
{
    char *env[] = {"PATH=/usr/bin", "HOME=/root", "PARLEYX=1", "parley_listen=x", "NOEQUALS", NULL};
    load_t load;
    s_load(&load, env, 0);
    s_expect_ok(&load, "an unrelated environment");
    cr_assert_str_eq(load.cfg.listen, "0.0.0.0:8080");
    pl_config_clear(&load.cfg);
}

//  --------------------------------------------------------------------------------
//  Precedence: defaults < file < environment < flags

Test(config, file_overrides_defaults)
{
    const char *path = s_write_file("a.conf", "data_dir = /from/file\nmax_connections = 11\n");
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    s_expect_ok(&load, "a file");
    cr_assert_str_eq(load.cfg.data_dir, "/from/file");
    cr_assert_eq(load.cfg.max_connections, 11);
    cr_assert_str_eq(load.cfg.listen, "0.0.0.0:8080", "keys the file leaves out keep defaults");
    pl_config_clear(&load.cfg);
}

Test(config, parley_config_env_names_the_file)
{
    const char *path = s_write_file("b.conf", "data_dir = /from/env-file\nmax_connections = 12\n");
    char var[300];
    snprintf(var, sizeof var, "PARLEY_CONFIG=%s", path);
    char *env[] = {var, NULL};
    load_t load;
    s_load(&load, env, 0);
    s_expect_ok(&load, "PARLEY_CONFIG");
    cr_assert_str_eq(load.cfg.data_dir, "/from/env-file");
    cr_assert_eq(load.cfg.max_connections, 12);
    pl_config_clear(&load.cfg);
}

Test(config, config_flag_beats_parley_config_env)
{
    const char *env_path = s_write_file("env.conf", "data_dir = /env-file\n");
    const char *flag_path = s_write_file("flag.conf", "data_dir = /flag-file\n");
    char var[300];
    snprintf(var, sizeof var, "PARLEY_CONFIG=%s", env_path);
    char *env[] = {var, NULL};
    load_t load;
    s_load(&load, env, 2, "--config", flag_path);
    s_expect_ok(&load, "--config and PARLEY_CONFIG");
    cr_assert_str_eq(load.cfg.data_dir, "/flag-file");
    pl_config_clear(&load.cfg);

    //  --config=path works too, and the last --config wins.
    char eq_flag[300];
    snprintf(eq_flag, sizeof eq_flag, "--config=%s", flag_path);
    s_load(&load, NULL, 3, "--config", env_path, eq_flag);
    s_expect_ok(&load, "two --config");
    cr_assert_str_eq(load.cfg.data_dir, "/flag-file");
    pl_config_clear(&load.cfg);
}

Test(config, environment_overrides_file)
{
    const char *path = s_write_file("c.conf", "data_dir = /from/file\nmax_connections = 11\n");
    char *env[] = {"PARLEY_DATA_DIR=/from/env", "PARLEY_MAX_CONNECTIONS=22", NULL};
    load_t load;
    s_load(&load, env, 2, "--config", path);
    s_expect_ok(&load, "file and environment");
    cr_assert_str_eq(load.cfg.data_dir, "/from/env");
    cr_assert_eq(load.cfg.max_connections, 22);
    pl_config_clear(&load.cfg);
}

Test(config, flags_override_environment_and_file)
{
    const char *path = s_write_file("d.conf", "data_dir = /from/file\nmax_connections = 11\n");
    char *env[] = {"PARLEY_DATA_DIR=/from/env", "PARLEY_MAX_CONNECTIONS=22", NULL};
    load_t load;
    //  --key value
    s_load(&load, env, 6, "--config", path, "--data-dir", "/from/flag", "--max-connections", "33");
    s_expect_ok(&load, "--key value");
    cr_assert_str_eq(load.cfg.data_dir, "/from/flag");
    cr_assert_eq(load.cfg.max_connections, 33);
    pl_config_clear(&load.cfg);
    //  --key=value
    s_load(&load, env, 4, "--config", path, "--data-dir=/from/eq-flag", "--max-connections=44");
    s_expect_ok(&load, "--key=value");
    cr_assert_str_eq(load.cfg.data_dir, "/from/eq-flag");
    cr_assert_eq(load.cfg.max_connections, 44);
    pl_config_clear(&load.cfg);
}

Test(config, flags_come_in_any_order_relative_to_config)
{
    //  A flag before --config still beats the file.
    const char *path = s_write_file("e.conf", "data_dir = /from/file\n");
    load_t load;
    s_load(&load, NULL, 4, "--data-dir", "/from/flag", "--config", path);
    s_expect_ok(&load, "flag before --config");
    cr_assert_str_eq(load.cfg.data_dir, "/from/flag");
    pl_config_clear(&load.cfg);
}

Test(config, flag_values_may_contain_equals_and_be_empty)
{
    load_t load;
    s_load(&load, NULL, 2, "--data-dir=/a=b", "--listen=");
    s_expect_ok(&load, "values with '=' and empty values");
    cr_assert_str_eq(load.cfg.data_dir, "/a=b");
    cr_assert_str_eq(load.cfg.listen, "");
    pl_config_clear(&load.cfg);
}

//  What an option needs beside it to be valid alone: a cluster node's id needs
//  Redis and the shared store. Flags, NULL-terminated.
static const char *const s_cluster_companions[] = {
    "--redis-url=redis://127.0.0.1", "--store=postgres",
    "--postgres-url=postgresql://127.0.0.1/parley", NULL};

static const char *const *s_companions(const char *key)
{
    static const char *const none[] = {NULL, NULL, NULL, NULL};
    return strcmp(key, "node_id") == 0 ? s_cluster_companions : none;
}

Test(config, every_option_settable_by_every_layer)
{
    //  Each INT option to its max via file, its min via env, and min+1 via flag.
    for (size_t i = 0; i < COUNT(s_rows); i++) {
        const row_t *row = &s_rows[i];
        if (!row->is_int)
            continue;
        char line[128], var[128], flag[128];
        snprintf(line, sizeof line, "%s = %lld\n", row->key, row->max);
        const char *path = s_write_file("all.conf", line);
        const char *const *more = s_companions(row->key);
        int extra = more[0] ? 3 : 0;
        load_t load;
        s_load(&load, NULL, 2 + extra, "--config", path, more[0], more[1], more[2]);
        s_expect_ok(&load, row->key);
        pl_config_clear(&load.cfg);

        snprintf(var, sizeof var, "PARLEY_%s=%lld", row->key, row->min);
        for (char *p = var; *p != '='; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        char *env[] = {var, NULL};
        s_load(&load, env, extra, more[0], more[1], more[2]);
        s_expect_ok(&load, var);
        pl_config_clear(&load.cfg);

        snprintf(flag, sizeof flag, "--%s=%lld", row->key, row->min + 1);
        for (char *p = flag + 2; *p != '='; p++)
            if (*p == '_')
                *p = '-';
        s_load(&load, env, 1 + extra, flag, more[0], more[1], more[2]);
        s_expect_ok(&load, flag);
        pl_config_clear(&load.cfg);
    }
}

//  --------------------------------------------------------------------------------
//  Files

Test(config, file_comments_blank_lines_and_spaces)
{
    const char *path =
        s_write_file("f.conf", "# a comment\n"
                               "\n"
                               "   \t\n"
                               "   # an indented comment = not an option\n"
                               "  data_dir   =   /spaced/out  \n"
                               "max_connections=77\r\n"
                               "jwt_secret = abcdefghijklmnopqrstuvwxyz0123456789==\n"
                               "log_level = debug"); //  no final newline
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    s_expect_ok(&load, "a file with comments");
    cr_assert_str_eq(load.cfg.data_dir, "/spaced/out");
    cr_assert_eq(load.cfg.max_connections, 77);
    cr_assert_str_eq(load.cfg.jwt_secret,
                     "abcdefghijklmnopqrstuvwxyz0123456789==", "only the first '=' splits");
    cr_assert_str_eq(load.cfg.log_level, "debug");
    pl_config_clear(&load.cfg);
}

Test(config, empty_file_is_fine)
{
    const char *path = s_write_file("empty.conf", "");
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    s_expect_ok(&load, "an empty file");
    cr_assert_str_eq(load.cfg.data_dir, "./data");
    pl_config_clear(&load.cfg);
}

Test(config, file_line_without_equals)
{
    const char *path = s_write_file("g.conf", "data_dir = /ok\n"
                                              "listen 0.0.0.0:80\n");
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    cr_assert_eq(load.rc, -1, "a line without '=' was accepted");
    char where[300];
    snprintf(where, sizeof where, "%s:2", path);
    cr_assert(strstr(load.err, where), "error '%s' does not say where (%s)", load.err, where);
    pl_config_clear(&load.cfg);
}

Test(config, missing_config_file)
{
    char path[300];
    snprintf(path, sizeof path, "%s/does-not-exist.conf", s_dir);
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    s_expect_error(&load, "config", "a missing --config file");
    cr_assert(strstr(load.err, path), "error '%s' does not name the file", load.err);

    char var[400];
    snprintf(var, sizeof var, "PARLEY_CONFIG=%s", path);
    char *env[] = {var, NULL};
    s_load(&load, env, 0);
    s_expect_error(&load, "config", "a missing PARLEY_CONFIG file");
}

Test(config, config_path_is_a_directory)
{
    load_t load;
    s_load(&load, NULL, 2, "--config", s_dir);
    pl_config_clear(&load.cfg);
    cr_assert_eq(load.rc, -1, "a directory was read as a config file");
}

Test(config, long_file_value_is_not_silently_truncated)
{
    //  A value longer than any line buffer: stored whole, or refused; never cut short.
    size_t n = 6000;
    char *text = malloc(n + 32);
    strcpy(text, "data_dir = /");
    size_t at = strlen(text);
    memset(text + at, 'd', n);
    strcpy(text + at + n, "\n");
    const char *path = s_write_file("long.conf", text);
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    if (load.rc == 0)
        cr_assert_eq(strlen(load.cfg.data_dir), n + 1, "data_dir cut to %zu bytes",
                     strlen(load.cfg.data_dir));
    else
        cr_assert(s_names_key(load.err, "data_dir") || strstr(load.err, path),
                  "error '%s' names neither the key nor the file", load.err);
    pl_config_clear(&load.cfg);
    free(text);
}

//  Seen while writing the config fuzz target (the fuzzer, its inputs at most 4 KiB,
//  did not reach it): lines were read in 4096-byte pieces, so the tail of a longer
//  comment line was read as a line of its own, and applied.
Test(config, the_tail_of_a_long_comment_is_still_a_comment)
{
    //  4095 bytes, what one 4096-byte fgets took, then what read as a line of its own.
    size_t n = 4094;
    char *text = malloc(n + 64);
    cr_assert_not_null(text);
    text[0] = '#';
    memset(text + 1, ' ', n);
    strcpy(text + 1 + n, "log_level = debug\n");
    const char *path = s_write_file("comment.conf", text);
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    s_expect_ok(&load, "a long comment line");
    cr_assert_str_eq(load.cfg.log_level, "info", "a comment set log_level");
    pl_config_clear(&load.cfg);
    free(text);
}

Test(config, a_nul_byte_in_a_file_line_is_refused)
{
    const char text[] = "log_level = warn\0debug\n";
    const char *path = s_write_file("nul.conf", "");
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    cr_assert_eq(fwrite(text, 1, sizeof text - 1, file), sizeof text - 1);
    cr_assert_eq(fclose(file), 0);
    load_t load;
    s_load(&load, NULL, 2, "--config", path);
    cr_assert_eq(load.rc, -1, "a line with a NUL byte was taken");
    cr_assert(strstr(load.err, "NUL") && strstr(load.err, path), "error: %s", load.err);
    pl_config_clear(&load.cfg);
}

//  --------------------------------------------------------------------------------
//  Bad values, from every layer

//  Loads key=value from the file, the environment and a flag (both forms) in turn and
//  expects each to be refused naming key.
static void s_expect_refused_everywhere(const char *key, const char *value)
{
    char line[256], var[256], flag[256], what[300];
    load_t load;

    snprintf(line, sizeof line, "%s = %s\n", key, value);
    const char *path = s_write_file("bad.conf", line);
    snprintf(what, sizeof what, "file line '%s = %s'", key, value);
    s_load(&load, NULL, 2, "--config", path);
    s_expect_error(&load, key, what);

    snprintf(var, sizeof var, "PARLEY_%s=%s", key, value);
    for (char *p = var; *p != '='; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    char *env[] = {var, NULL};
    snprintf(what, sizeof what, "environment '%s'", var);
    s_load(&load, env, 0);
    s_expect_error(&load, key, what);

    snprintf(flag, sizeof flag, "--%s", key);
    for (char *p = flag + 2; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf(what, sizeof what, "flag '%s %s'", flag, value);
    s_load(&load, NULL, 2, flag, value);
    s_expect_error(&load, key, what);

    size_t flag_len = strlen(flag);
    snprintf(flag + flag_len, sizeof flag - flag_len, "=%s", value);
    snprintf(what, sizeof what, "flag '%s'", flag);
    s_load(&load, NULL, 1, flag);
    s_expect_error(&load, key, what);
}

Test(config, non_integers_are_refused)
{
    //  (The file layer trims spaces, so " " and "" behave alike there.)
    static const char *const bad[] = {"abc", "12abc", "1.5", "0x10", "1e3", "", "--5", "9 9"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        s_expect_refused_everywhere("max_connections", bad[i]);
        s_expect_refused_everywhere("token_ttl_s", bad[i]);
    }
}

Test(config, integers_outside_bounds_are_refused)
{
    for (size_t i = 0; i < COUNT(s_rows); i++) {
        const row_t *row = &s_rows[i];
        if (!row->is_int)
            continue;
        char below[32], above[32];
        snprintf(below, sizeof below, "%lld", row->min - 1);
        snprintf(above, sizeof above, "%lld", row->max + 1);
        s_expect_refused_everywhere(row->key, below);
        s_expect_refused_everywhere(row->key, above);
    }
    s_expect_refused_everywhere("max_connections", "-1");
    s_expect_refused_everywhere("max_connections", "99999999999999999999");
    s_expect_refused_everywhere("max_connections", "-99999999999999999999");
    s_expect_refused_everywhere("max_connections", "9223372036854775807");
}

Test(config, integer_bounds_are_inclusive)
{
    for (size_t i = 0; i < COUNT(s_rows); i++) {
        const row_t *row = &s_rows[i];
        if (!row->is_int)
            continue;
        char min_flag[128], max_flag[128];
        snprintf(min_flag, sizeof min_flag, "--%s=%lld", row->key, row->min);
        snprintf(max_flag, sizeof max_flag, "--%s=%lld", row->key, row->max);
        const char *const *more = s_companions(row->key);
        int extra = more[0] ? 3 : 0;
        load_t load;
        s_load(&load, NULL, 1 + extra, min_flag, more[0], more[1], more[2]);
        s_expect_ok(&load, min_flag);
        pl_config_clear(&load.cfg);
        s_load(&load, NULL, 1 + extra, max_flag, more[0], more[1], more[2]);
        s_expect_ok(&load, max_flag);
        pl_config_clear(&load.cfg);
    }
}

Test(config, unknown_keys_are_refused)
{
    load_t load;
    const char *path = s_write_file("h.conf", "data_dir = /ok\nno_such_key = 1\n");
    s_load(&load, NULL, 2, "--config", path);
    s_expect_error(&load, "no_such_key", "an unknown key in a file");

    s_load(&load, NULL, 2, "--no-such-key", "1");
    s_expect_error(&load, "no-such-key", "an unknown --flag");
    s_load(&load, NULL, 1, "--no-such-key=1");
    s_expect_error(&load, "no-such-key", "an unknown --flag=value");

    //  A key that is a prefix or an extension of a real one is still unknown.
    s_load(&load, NULL, 2, "--data", "x");
    s_expect_error(&load, "data", "--data");
    s_load(&load, NULL, 2, "--data-dirs", "x");
    s_expect_error(&load, "data-dirs", "--data-dirs");
}

Test(config, unknown_environment_keys_are_ignored)
{
    //  Orchestrators set PARLEY_ variables of their own (Kubernetes, for a service
    //  named parley); parley warns about them and starts.
    char var[200] = "PARLEY_";
    memset(var + 7, 'X', 100);
    strcpy(var + 107, "=1");
    char *env[] = {"PARLEY_PORT=tcp://10.0.0.1:8080", "PARLEY_SERVICE_HOST=10.0.0.1", var,
                   "PARLEY_DATA_DIR=/from/env", NULL};
    load_t load;
    s_load(&load, env, 0);
    s_expect_ok(&load, "unknown PARLEY_ variables");
    cr_assert_str_eq(load.cfg.data_dir, "/from/env");
    cr_assert_not_null(load.cfg.unknown_env);
    cr_assert(strncmp(load.cfg.unknown_env, "PARLEY_PORT, PARLEY_SERVICE_HOST, PARLEY_XXXX", 45) ==
                  0,
              "%s", load.cfg.unknown_env);
    cr_assert(strstr(load.cfg.unknown_env, "XXX..."), "%s", load.cfg.unknown_env);
    pl_config_clear(&load.cfg);
}

Test(config, every_value_knows_its_source)
{
    const char *path = s_write_file("s.conf", "# comment\nmax_connections = 7\n");
    char *env[] = {"PARLEY_HTTP_THREADS=9", NULL};
    load_t load;
    s_load(&load, env, 4, "--config", path, "--log-level", "warn");
    s_expect_ok(&load, "a file, the environment and a flag");
    cr_assert_str_eq(load.cfg.sources[PL_CONFIG_INDEX_listen], "default");
    char at_line[512];
    snprintf(at_line, sizeof at_line, "%s:2", path);
    cr_assert_str_eq(load.cfg.sources[PL_CONFIG_INDEX_max_connections], at_line);
    cr_assert_str_eq(load.cfg.sources[PL_CONFIG_INDEX_http_threads], "environment");
    cr_assert_str_eq(load.cfg.sources[PL_CONFIG_INDEX_log_level], "command line");
    pl_config_clear(&load.cfg);
}

//  What pl_config_print writes for cfg, as a string the caller frees.
static char *s_printed(const pl_config_t *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    pl_config_print(cfg, out);
    fclose(out);
    return text;
}

Test(config, printing_masks_secrets)
{
    load_t load;
    s_load(&load, NULL, 4, "--jwt-secret", "0123456789abcdef0123456789abcdef-secret",
           //  Any value that holds a URL with a password, whatever the option.
           "--data-dir", "postgresql://admin:hunter2@db.example/parley");
    s_expect_ok(&load, "a secret and a URL with a password");
    char *text = s_printed(&load.cfg);
    cr_assert_null(strstr(text, "0123456789abcdef"), "the JWT secret was printed:\n%s", text);
    cr_assert_null(strstr(text, "hunter2"), "a password was printed:\n%s", text);
    cr_assert(strstr(text, "jwt_secret = (set, 39 characters)  # command line\n"), "%s", text);
    cr_assert(strstr(text, "data_dir = postgresql://admin:***@db.example/parley  # command line\n"),
              "%s", text);
    cr_assert(strstr(text, "listen = 0.0.0.0:8080  # default\n"), "%s", text);
    cr_assert(strstr(text, "max_connections = 1000  # default\n"), "%s", text);
    free(text);
    pl_config_clear(&load.cfg);
}

Test(config, flag_without_value)
{
    load_t load;
    s_load(&load, NULL, 1, "--listen");
    s_expect_error(&load, "listen", "--listen without a value");
    s_load(&load, NULL, 1, "--max-connections");
    s_expect_error(&load, "max_connections", "--max-connections without a value");
    s_load(&load, NULL, 3, "--data-dir", "/x", "--config");
    s_expect_error(&load, "config", "--config without a value");
}

Test(config, arguments_that_are_not_flags)
{
    load_t load;
    s_load(&load, NULL, 1, "serve");
    cr_assert_eq(load.rc, -1, "a bare word was accepted");
    cr_assert(strstr(load.err, "serve"), "error '%s' does not quote the argument", load.err);
    pl_config_clear(&load.cfg);
    s_load(&load, NULL, 2, "-l", "x");
    cr_assert_eq(load.rc, -1, "a short flag was accepted");
    pl_config_clear(&load.cfg);
}

Test(config, log_level_values)
{
    static const char *const good[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < COUNT(good); i++) {
        load_t load;
        s_load(&load, NULL, 2, "--log-level", good[i]);
        s_expect_ok(&load, good[i]);
        cr_assert_str_eq(load.cfg.log_level, good[i]);
        pl_config_clear(&load.cfg);
    }
    static const char *const bad[] = {"verbose", "", "warning", "trace", "infos", "inf"};
    for (size_t i = 0; i < COUNT(bad); i++)
        s_expect_refused_everywhere("log_level", bad[i]);
}

Test(config, jwt_secret_length)
{
    static const char s31[] = "0123456789012345678901234567890";
    static const char s32[] = "01234567890123456789012345678901";
    cr_assert_eq(strlen(s31), 31);
    cr_assert_eq(strlen(s32), 32);
    s_expect_refused_everywhere("jwt_secret", s31);
    s_expect_refused_everywhere("jwt_secret", "x");

    load_t load;
    s_load(&load, NULL, 2, "--jwt-secret", s32);
    s_expect_ok(&load, "a 32-character secret");
    cr_assert_str_eq(load.cfg.jwt_secret, s32);
    pl_config_clear(&load.cfg);
    s_load(&load, NULL, 1, "--jwt-secret=");
    s_expect_ok(&load, "an empty secret (generated later)");
    cr_assert_str_eq(load.cfg.jwt_secret, "");
    pl_config_clear(&load.cfg);
}

Test(config, a_bad_value_in_a_lower_layer_is_refused_even_when_overridden)
{
    //  A broken file is reported, not masked by a flag that sets the same key.
    const char *path = s_write_file("i.conf", "max_connections = lots\n");
    load_t load;
    s_load(&load, NULL, 4, "--config", path, "--max-connections", "5");
    s_expect_error(&load, "max_connections", "a bad file value under a good flag");
}

//  --------------------------------------------------------------------------------
//  Help

Test(config, wants_help)
{
    char *a1[] = {"parley", "--help", NULL};
    char *a2[] = {"parley", "--listen", ":1", "-h", NULL};
    char *a3[] = {"parley", "--listen", ":1", NULL};
    char *a4[] = {"parley", NULL};
    char *a5[] = {"--help", NULL}; //  argv[0] is the program, not a flag
    char *a6[] = {"parley", "--helpme", "-help", "help", NULL};
    cr_assert(pl_config_wants_help(2, a1));
    cr_assert(pl_config_wants_help(4, a2));
    cr_assert_not(pl_config_wants_help(3, a3));
    cr_assert_not(pl_config_wants_help(1, a4));
    cr_assert_not(pl_config_wants_help(1, a5));
    cr_assert_not(pl_config_wants_help(4, a6));
    cr_assert_not(pl_config_wants_help(0, a4));
}

Test(config, help_mentions_every_option)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);
    pl_config_print_help(out);
    cr_assert_eq(fclose(out), 0);
    cr_assert_gt(size, 0);
    for (size_t i = 0; i < COUNT(s_rows); i++) {
        const char *key = s_rows[i].key;
        char flag[80], env[80], def[300];
        snprintf(flag, sizeof flag, "--%s", key);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        snprintf(env, sizeof env, "PARLEY_%s", key);
        for (char *p = env; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        snprintf(def, sizeof def, "'%s'", s_rows[i].def);
        cr_assert(strstr(text, flag), "help lacks %s", flag);
        cr_assert(strstr(text, env), "help lacks %s", env);
        cr_assert(strstr(text, def), "help lacks the default %s of %s", def, key);
    }
    cr_assert(strstr(text, "--config"), "help lacks --config");
    free(text);
}

//  --------------------------------------------------------------------------------
//  Clearing

static void s_expect_cleared(const pl_config_t *cfg)
{
    static const pl_config_t zero;
    cr_assert(memcmp(cfg, &zero, sizeof zero) == 0, "pl_config_clear left fields set");
}

Test(config, clear_after_success)
{
    load_t load;
    s_load(&load, NULL, 2, "--data-dir", "/x");
    s_expect_ok(&load, "--data-dir");
    pl_config_clear(&load.cfg);
    s_expect_cleared(&load.cfg);
    pl_config_clear(&load.cfg); //  twice is harmless
    s_expect_cleared(&load.cfg);
}

Test(config, clear_after_failure_at_every_stage)
{
    //  Each stage fails after strings were already set (run under ASAN for leaks).
    const char *good = s_write_file("ok.conf", "data_dir = /file\nlisten = :1\n");
    const char *bad = s_write_file("bad.conf", "data_dir = /file\nlisten = \n"
                                               "max_connections = 0\n");
    char *bad_env[] = {"PARLEY_DATA_DIR=/env", "PARLEY_TOKEN_TTL_S=1", NULL};
    load_t load;

    s_load(&load, NULL, 2, "--config", bad);
    cr_assert_eq(load.rc, -1);
    pl_config_clear(&load.cfg);
    s_expect_cleared(&load.cfg);

    s_load(&load, bad_env, 2, "--config", good);
    cr_assert_eq(load.rc, -1);
    pl_config_clear(&load.cfg);
    s_expect_cleared(&load.cfg);

    s_load(&load, NULL, 6, "--config", good, "--data-dir", "/flag", "--log-level", "loud");
    cr_assert_eq(load.rc, -1);
    pl_config_clear(&load.cfg);
    s_expect_cleared(&load.cfg);

    s_load(&load, NULL, 4, "--config", good, "--jwt-secret", "short");
    cr_assert_eq(load.rc, -1);
    pl_config_clear(&load.cfg);
    s_expect_cleared(&load.cfg);
}

Test(config, load_twice_after_clear)
{
    load_t load;
    s_load(&load, NULL, 2, "--data-dir", "/one");
    s_expect_ok(&load, "first load");
    pl_config_clear(&load.cfg);
    s_load(&load, NULL, 2, "--data-dir", "/two");
    s_expect_ok(&load, "second load");
    cr_assert_str_eq(load.cfg.data_dir, "/two");
    pl_config_clear(&load.cfg);
}

//  --------------------------------------------------------------------------------
//  A cluster node

Test(config, a_cluster_node_needs_redis_and_the_shared_store)
{
    load_t load;
    s_load(&load, NULL, 1, "--node-id=3");
    s_expect_error(&load, "redis_url", "a node_id without redis_url");
    s_load(&load, NULL, 2, "--node-id=3", "--redis-url=redis://127.0.0.1");
    s_expect_error(&load, "store", "a cluster node on SQLite");
    cr_assert(strstr(load.err, "postgres"), "'%s' does not say what to use", load.err);
    s_load(&load, NULL, 6, "--node-id=3", "--redis-url=redis://127.0.0.1", "--store=postgres",
           "--postgres-url=postgresql://127.0.0.1/parley", "--cluster-heartbeat-ms=1000",
           "--cluster-node-ttl-ms=1500");
    s_expect_error(&load, "cluster_node_ttl_ms", "a node TTL shorter than two heartbeats");
    s_load(&load, NULL, 1, "--node-id=1024");
    s_expect_error(&load, "node_id", "a node_id past 1023");
}

Test(config, the_redis_password_is_never_printed)
{
    load_t load;
    s_load(&load, NULL, 4, "--node-id=1", "--redis-url=redis://:hunter2-secret@10.0.0.5:6379/2",
           "--store=postgres", "--postgres-url=postgresql://127.0.0.1/parley");
    s_expect_ok(&load, "a cluster node");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    pl_config_print(&load.cfg, out);
    fclose(out);
    cr_assert_null(strstr(text, "hunter2"), "the password was printed: %s", text);
    cr_assert(strstr(text, "10.0.0.5"), "the Redis host is not shown");
    free(text);
    pl_config_clear(&load.cfg);
}
