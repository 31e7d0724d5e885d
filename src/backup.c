/*  The backup subcommand (backup.h). Every file lands under a temporary name, is
    fsynced, then renamed, so DEST never holds half a file under a real name. */
#include "parley/backup.h"

#include "parley/config.h"
#include "parley/uploads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DATABASE "parley.db"
#define JWT_KEY  "jwt.secret"
//  How long the copy waits for a database lock another connection holds.
#define BUSY_TIMEOUT_MS 10000

static int s_fail(char *err, size_t err_len, const char *what, const char *path, const char *why)
{
    snprintf(err, err_len, "%s %s: %s", what, path, why);
    return -1;
}

static int s_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

//  Copies the database of data_dir to partial, checked and fsynced; pl_backup gives
//  it its name once everything else is there.
static int s_copy_database(const char *data_dir, const char *partial, int64_t *bytes, char *err,
                           size_t err_len)
{
    char source[PATH_MAX];
    snprintf(source, sizeof source, "%s/" DATABASE, data_dir);
    unlink(partial);
    sqlite3 *from = NULL, *to = NULL;
    int rc = sqlite3_open_v2(source, &from, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(partial, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(from, BUSY_TIMEOUT_MS);
        sqlite3_busy_timeout(to, BUSY_TIMEOUT_MS);
        //  One step: a single read transaction, so the copy is one consistent state.
        sqlite3_backup *backup = sqlite3_backup_init(to, "main", from, "main");
        rc = backup ? sqlite3_backup_step(backup, -1) : sqlite3_errcode(to);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        int finished = backup ? sqlite3_backup_finish(backup) : SQLITE_OK;
        rc = rc == SQLITE_OK ? finished : rc;
    }
    char check[64] = "";
    sqlite3_stmt *stmt = NULL;
    if (rc == SQLITE_OK &&
        (rc = sqlite3_prepare_v2(to, "PRAGMA quick_check", -1, &stmt, NULL)) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        snprintf(check, sizeof check, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    const char *why = rc != SQLITE_OK ? sqlite3_errstr(rc) : NULL;
    if (!why && strcmp(check, "ok") != 0)
        why = "the copy failed its integrity check";
    sqlite3_close(from);
    sqlite3_close(to);
    struct stat st;
    if (!why && (s_fsync_path(partial) || stat(partial, &st)))
        why = strerror(errno);
    if (why) {
        unlink(partial);
        return s_fail(err, err_len, "backup: cannot copy", source, why);
    }
    *bytes = st.st_size;
    return 0;
}

//  Copies the file from to `to` (mode), through to.partial; an existing `to` is left.
static int s_copy_file(const char *from, const char *to, mode_t mode, char *err, size_t err_len)
{
    if (access(to, F_OK) == 0)
        return 0;
    char partial[PATH_MAX + 16];
    snprintf(partial, sizeof partial, "%s.partial", to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int failure = in >= 0 && out >= 0 ? 0 : errno;
    char buf[65536];
    for (ssize_t n; !failure && (n = read(in, buf, sizeof buf)) != 0;)
        failure = n > 0 && write(out, buf, (size_t)n) == n ? 0 : errno ? errno : EIO;
    if (!failure && fsync(out) != 0)
        failure = errno;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && !failure)
        failure = errno;
    if (!failure && rename(partial, to) != 0)
        failure = errno;
    if (!failure)
        return 0;
    unlink(partial);
    return s_fail(err, err_len, "backup: cannot copy", from, strerror(failure));
}

//  Copies every stored upload (not the temporary files of uploads under way).
static int s_copy_uploads(const char *data_dir, const char *dest, int *count, char *err,
                          size_t err_len)
{
    char from_dir[PATH_MAX], to_dir[PATH_MAX];
    snprintf(from_dir, sizeof from_dir, "%s/" PL_UPLOADS_DIR, data_dir);
    snprintf(to_dir, sizeof to_dir, "%s/" PL_UPLOADS_DIR, dest);
    DIR *listing = opendir(from_dir);
    if (!listing)
        return errno == ENOENT
                   ? 0
                   : s_fail(err, err_len, "backup: cannot read", from_dir, strerror(errno));
    int rc = mkdir(to_dir, 0755) == 0 || errno == EEXIST
                 ? 0
                 : s_fail(err, err_len, "backup: cannot create", to_dir, strerror(errno));
    for (struct dirent *entry; rc == 0 && (entry = readdir(listing));) {
        if (!pl_upload_name_type(entry->d_name, strlen(entry->d_name)))
            continue;
        char from[sizeof from_dir + sizeof entry->d_name], to[sizeof to_dir + sizeof entry->d_name];
        snprintf(from, sizeof from, "%s/%s", from_dir, entry->d_name);
        snprintf(to, sizeof to, "%s/%s", to_dir, entry->d_name);
        rc = s_copy_file(from, to, 0644, err, err_len);
        *count += rc == 0;
    }
    closedir(listing);
    return rc == 0 && s_fsync_path(to_dir) != 0
               ? s_fail(err, err_len, "backup: cannot sync", to_dir, strerror(errno))
               : rc;
}

int pl_backup(const char *data_dir, const char *dest, FILE *report, char *err, size_t err_len)
{
    char database[PATH_MAX], partial[PATH_MAX + 16], key_from[PATH_MAX], key_to[PATH_MAX];
    snprintf(database, sizeof database, "%s/" DATABASE, dest);
    snprintf(partial, sizeof partial, "%s.partial", database);
    snprintf(key_from, sizeof key_from, "%s/" JWT_KEY, data_dir);
    snprintf(key_to, sizeof key_to, "%s/" JWT_KEY, dest);
    //  Another node's key beside this node's data would void every token restored.
    const char *existing = access(database, F_OK) == 0 ? database
                           : access(key_to, F_OK) == 0 ? key_to
                                                       : NULL;
    if (existing)
        return s_fail(err, err_len, "backup: refusing to overwrite", existing,
                      "a backup or a data dir is there already");
    if (mkdir(dest, 0700) != 0 && errno != EEXIST)
        return s_fail(err, err_len, "backup: cannot create", dest, strerror(errno));
    int64_t started = time(NULL), bytes = 0;
    int uploads = 0;
    //  The database gets its name last: a DEST with one is a complete backup.
    if (s_copy_database(data_dir, partial, &bytes, err, err_len))
        return -1;
    if (s_copy_uploads(data_dir, dest, &uploads, err, err_len) ||
        (access(key_from, F_OK) == 0 && s_copy_file(key_from, key_to, 0600, err, err_len)) ||
        (rename(partial, database) != 0 &&
         s_fail(err, err_len, "backup: cannot rename", partial, strerror(errno)))) {
        unlink(partial);
        unlink(key_to);
        return -1;
    }
    if (s_fsync_path(dest) != 0)
        return s_fail(err, err_len, "backup: cannot sync", dest, strerror(errno));
    fprintf(report, "backup: %s -> %s: database %" PRId64 " bytes, %d uploads, in %" PRId64 " s\n",
            data_dir, dest, bytes, uploads, (int64_t)time(NULL) - started);
    return 0;
}

int pl_backup_main(int argc, char *const *argv, char *const *envp)
{
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "usage: parley backup DEST [--config FILE] [--data-dir DIR ...]\n"
                        "  Copies the running (or stopped) node's database, uploads and JWT key\n"
                        "  into DEST, which must not hold a database yet.\n");
        return 2;
    }
    pl_config_t cfg;
    char err[PATH_MAX + 256] = "";
    //  DEST takes argv[0]'s place, which the loader skips.
    if (pl_config_load(&cfg, argc - 1, argv + 1, envp, err, sizeof err)) {
        fprintf(stderr, "parley backup: %s\n", err);
        pl_config_clear(&cfg);
        return 2;
    }
    pl_config_start_logging(&cfg);
    if (strcmp(cfg.store, "sqlite") != 0) {
        fprintf(stderr,
                "parley backup: copies the embedded SQLite store; with store = %s, back "
                "up the database with its own tools (pg_dump)\n",
                cfg.store);
        pl_config_clear(&cfg);
        return 2;
    }
    int rc = pl_backup(cfg.data_dir, argv[1], stdout, err, sizeof err);
    if (rc)
        fprintf(stderr, "parley %s\n", err);
    pl_config_clear(&cfg);
    return rc ? 1 : 0;
}
