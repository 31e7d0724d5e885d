/*  Configuration loading. Each layer (defaults, file, environment, flags) is applied
    in turn through s_set, which parses and validates one key; so a bad value is
    reported the same way wherever it came from, naming the key and its source. */
#include "parley/config.h"

#include "parley/client_addr.h"
#include "parley/log.h"
#include "parley/origin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_STR, KIND_INT } kind_t;

typedef struct {
    const char *key;
    kind_t kind;
    const char *def;
    int64_t min, max;
    const char *help;
    size_t offset;
} option_t;

#define OPTION_ROW(kind, key, def, min, max, help)                                                 \
    {#key, KIND_##kind, def, min, max, help, offsetof(pl_config_t, key)},
static const option_t s_options[] = {PL_CONFIG_OPTIONS(OPTION_ROW)};
#define OPTION_COUNT (sizeof s_options / sizeof s_options[0])
_Static_assert(OPTION_COUNT == PL_CONFIG_COUNT, "one source per option");

//  Finds an option by its key, accepting dashes for underscores ("data-dir").
static const option_t *s_find(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *key = s_options[i].key;
        if (strlen(key) != len)
            continue;
        size_t j = 0;
        while (j < len && (name[j] == key[j] || (name[j] == '-' && key[j] == '_')))
            j++;
        if (j == len)
            return &s_options[i];
    }
    return NULL;
}

//  Parses and stores one value; returns 0 or -1 with err naming key and source.
static int s_set(pl_config_t *cfg, const option_t *opt, const char *value, const char *source,
                 char *err, size_t err_len)
{
    char **source_copy = &cfg->sources[opt - s_options];
    free(*source_copy);
    if (!(*source_copy = strdup(source))) {
        snprintf(err, err_len, "%s: out of memory", opt->key);
        return -1;
    }
    char *field = (char *)cfg + opt->offset;
    if (opt->kind == KIND_STR) {
        char *copy = strdup(value);
        if (!copy) {
            snprintf(err, err_len, "%s: out of memory", opt->key);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0') {
        snprintf(err, err_len, "%s: '%s' (from %s) is not an integer", opt->key, value, source);
        return -1;
    }
    if (parsed < opt->min || parsed > opt->max) {
        snprintf(err, err_len, "%s: %lld (from %s) is outside %lld..%lld", opt->key, parsed, source,
                 (long long)opt->min, (long long)opt->max);
        return -1;
    }
    *(int64_t *)field = parsed;
    return 0;
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

//  Applies a "key = value" file; '#' starts a comment line. A missing file is an error:
//  the operator named it. Each line is read whole, however long: read in pieces, the
//  tail of a long comment would be a line of its own. A NUL byte is refused rather
//  than taken for the end of the line.
static int s_apply_file(pl_config_t *cfg, const char *path, char *err, size_t err_len)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, err_len, "config: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int line_no = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &size, file)) >= 0) {
        line_no++;
        char source[300];
        snprintf(source, sizeof source, "%s:%d", path, line_no);
        if (memchr(line, '\0', (size_t)len)) {
            snprintf(err, err_len, "config: %s: a NUL byte in the line", source);
            rc = -1;
            break;
        }
        char *text = s_trim(line);
        if (*text == '\0' || *text == '#')
            continue;
        char *eq = strchr(text, '=');
        if (!eq) {
            snprintf(err, err_len, "config: %s: expected 'key = value'", source);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = s_trim(text);
        const option_t *opt = s_find(key, strlen(key));
        if (!opt) {
            snprintf(err, err_len, "%s: unknown option (at %s)", key, source);
            rc = -1;
            break;
        }
        rc = s_set(cfg, opt, s_trim(eq + 1), source, err, err_len);
    }
    free(line);
    //  fopen succeeds on a directory; only the read fails.
    if (rc == 0 && ferror(file)) {
        snprintf(err, err_len, "config: cannot read %s: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(file);
    return rc;
}

//  Adds PARLEY_<name[0..len)> (at most 40 characters of it) to cfg->unknown_env.
static int s_note_unknown(pl_config_t *cfg, const char *name, size_t len)
{
    char *list = NULL;
    int shown = (int)(len < 40 ? len : 40);
    if (asprintf(&list, "%s%sPARLEY_%.*s%s", cfg->unknown_env ? cfg->unknown_env : "",
                 cfg->unknown_env ? ", " : "", shown, name, len > 40 ? "..." : "") < 0)
        return -1;
    free(cfg->unknown_env);
    cfg->unknown_env = list;
    return 0;
}

static int s_apply_env(pl_config_t *cfg, char *const *envp, char *err, size_t err_len)
{
    for (; envp && *envp; envp++) {
        const char *entry = *envp;
        if (strncmp(entry, "PARLEY_", 7) != 0)
            continue;
        const char *name = entry + 7;
        const char *eq = strchr(name, '=');
        if (!eq)
            continue;
        char key[64];
        size_t len = (size_t)(eq - name);
        for (size_t i = 0; i < len && i < sizeof key; i++)
            key[i] = (char)tolower((unsigned char)name[i]);
        const option_t *opt = len < sizeof key ? s_find(key, len) : NULL;
        if (len == 6 && memcmp(key, "config", 6) == 0)
            continue;
        if (!opt) {
            if (s_note_unknown(cfg, name, len)) {
                snprintf(err, err_len, "config: out of memory");
                return -1;
            }
            continue;
        }
        if (s_set(cfg, opt, eq + 1, "environment", err, err_len))
            return -1;
    }
    return 0;
}

//  Walks argv calling visit(name, name_len, value) for each --flag; returns -1 with err
//  on a malformed flag. Both "--flag value" and "--flag=value" are accepted.
typedef int (*flag_visit_t)(void *ctx, const char *name, size_t len, const char *value, char *err,
                            size_t err_len);

static int s_walk_flags(void *ctx, int argc, char *const *argv, flag_visit_t visit, char *err,
                        size_t err_len)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, err_len, "unexpected argument '%s' (options are --key value)", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const char *value;
        size_t len;
        if (eq) {
            len = (size_t)(eq - name);
            value = eq + 1;
        } else {
            len = strlen(name);
            if (i + 1 >= argc) {
                snprintf(err, err_len, "%s: missing value", name);
                return -1;
            }
            value = argv[++i];
        }
        if (visit(ctx, name, len, value, err, err_len))
            return -1;
    }
    return 0;
}

//  Remembers the value of --config in *(const char **)ctx.
static int s_visit_config_flag(void *ctx, const char *name, size_t len, const char *value,
                               char *err, size_t err_len)
{
    if (len == 6 && strncmp(name, "config", 6) == 0)
        *(const char **)ctx = value;
    return 0;
}

static int s_visit_option_flag(void *ctx, const char *name, size_t len, const char *value,
                               char *err, size_t err_len)
{
    if (len == 6 && strncmp(name, "config", 6) == 0)
        return 0;
    const option_t *opt = s_find(name, len);
    if (!opt) {
        snprintf(err, err_len, "--%.*s: unknown option (see --help)", (int)len, name);
        return -1;
    }
    return s_set(ctx, opt, value, "command line", err, err_len);
}

//  The config file named by the last --config flag, else PARLEY_CONFIG, else NULL.
static const char *s_config_path(int argc, char *const *argv, char *const *envp, char *err,
                                 size_t err_len, int *rc)
{
    const char *path = NULL;
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, "PARLEY_CONFIG=", 14) == 0)
            path = *e + 14;
    *rc = s_walk_flags(&path, argc, argv, s_visit_config_flag, err, err_len);
    return path;
}

int pl_config_load(pl_config_t *cfg, int argc, char *const *argv, char *const *envp, char *err,
                   size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (s_set(cfg, &s_options[i], s_options[i].def, "default", err, err_len))
            return -1;
    int rc = 0;
    const char *path = s_config_path(argc, argv, envp, err, err_len, &rc);
    if (rc)
        return -1;
    if (path && s_apply_file(cfg, path, err, err_len))
        return -1;
    if (s_apply_env(cfg, envp, err, err_len))
        return -1;
    if (s_walk_flags(cfg, argc, argv, s_visit_option_flag, err, err_len))
        return -1;
    if (pl_log_level_parse(cfg->log_level) < 0) {
        snprintf(err, err_len, "log_level: '%s' is not debug, info, warn or error", cfg->log_level);
        return -1;
    }
    if (strcmp(cfg->log_format, "text") != 0 && strcmp(cfg->log_format, "json") != 0) {
        snprintf(err, err_len, "log_format: '%s' is not text or json", cfg->log_format);
        return -1;
    }
    if (strcmp(cfg->access_log, "on") != 0 && strcmp(cfg->access_log, "off") != 0) {
        snprintf(err, err_len, "access_log: '%s' is not on or off", cfg->access_log);
        return -1;
    }
    if (strcmp(cfg->store, "sqlite") != 0 && strcmp(cfg->store, "postgres") != 0) {
        snprintf(err, err_len, "store: '%s' is not sqlite or postgres", cfg->store);
        return -1;
    }
    if (strcmp(cfg->store, "postgres") == 0 && !cfg->postgres_url[0]) {
        snprintf(err, err_len, "postgres_url: store = postgres needs a connection URI");
        return -1;
    }
    if (cfg->node_id && !cfg->redis_url[0]) {
        snprintf(err, err_len, "redis_url: a cluster node (node_id %" PRId64 ") needs Redis",
                 cfg->node_id);
        return -1;
    }
    if (cfg->node_id && strcmp(cfg->store, "postgres") != 0) {
        snprintf(err, err_len,
                 "store: a cluster node needs store = postgres (with postgres_url), the store "
                 "every node shares; SQLite is one node's own file");
        return -1;
    }
    if (cfg->node_id && cfg->cluster_node_ttl_ms < 2 * cfg->cluster_heartbeat_ms) {
        snprintf(err, err_len, "cluster_node_ttl_ms: must be at least twice cluster_heartbeat_ms");
        return -1;
    }
    if (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < 32) {
        snprintf(err, err_len, "jwt_secret: must be at least 32 characters");
        return -1;
    }
    char why[PL_ORIGIN_MAX + 128];
    const char *bad_key =
        pl_origin_check_list(cfg->public_url, true, why, sizeof why)         ? "public_url"
        : pl_origin_check_list(cfg->allowed_origins, false, why, sizeof why) ? "allowed_origins"
        : pl_client_addr_check_list(cfg->trusted_proxies, why, sizeof why)   ? "trusted_proxies"
                                                                             : NULL;
    if (bad_key) {
        snprintf(err, err_len, "%s: %s", bad_key, why);
        return -1;
    }
    return 0;
}

//  Writes value with the password of any "scheme://user:password@" in it masked.
static void s_print_masked(const char *value, FILE *out)
{
    const char *scheme_end = strstr(value, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme_end + 3, ':', (size_t)(at - scheme_end - 3)) : NULL;
    if (!colon) {
        fputs(value, out);
        return;
    }
    fprintf(out, "%.*s:***%s", (int)(colon - value), value, at);
}

void pl_config_print(const pl_config_t *cfg, FILE *out)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const option_t *opt = &s_options[i];
        const char *field = (const char *)cfg + opt->offset;
        fprintf(out, "%s = ", opt->key);
        if (opt->kind == KIND_INT)
            fprintf(out, "%" PRId64, *(const int64_t *)field);
        else if (strcmp(opt->key, "jwt_secret") == 0 && **(char *const *)field)
            fprintf(out, "(set, %zu characters)", strlen(*(char *const *)field));
        else
            s_print_masked(*(char *const *)field, out);
        fprintf(out, "  # %s\n", cfg->sources[i] ? cfg->sources[i] : "default");
    }
}

void pl_config_start_logging(const pl_config_t *cfg)
{
    pl_log_set_level((pl_log_level_t)pl_log_level_parse(cfg->log_level));
    pl_log_set_json(strcmp(cfg->log_format, "json") == 0);
    if (cfg->unknown_env)
        pl_warn("config: ignoring %s from the environment: parley has no such option",
                cfg->unknown_env);
}

void pl_config_clear(pl_config_t *cfg)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (s_options[i].kind == KIND_STR)
            free(*(char **)((char *)cfg + s_options[i].offset));
        free(cfg->sources[i]);
    }
    free(cfg->unknown_env);
    memset(cfg, 0, sizeof *cfg);
}

void pl_config_print_help(FILE *out)
{
    fprintf(out, "usage: parley [--config FILE] [--key value ...]\n\n"
                 "Options (flag / environment variable / default):\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const option_t *opt = &s_options[i];
        char flag[64], env[64];
        size_t len = strlen(opt->key);
        for (size_t j = 0; j <= len; j++) {
            flag[j] = opt->key[j] == '_' ? '-' : opt->key[j];
            env[j] = (char)toupper((unsigned char)opt->key[j]);
        }
        fprintf(out, "  --%-24s PARLEY_%-24s default '%s'\n      %s\n", flag, env, opt->def,
                opt->help);
    }
}

int pl_config_wants_help(int argc, char *const *argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
