/*  The SQLite writer's write-ahead log, kept ahead of its commits.

    A commit whose frames lengthen the WAL file makes its fdatasync write the file's
    inode too (its size changed); one that overwrites blocks already written does
    not. Measured here (ext4 on a virtio disk): a one-frame commit took ~410 us and
    ~170 us of CPU while the log grew, ~210 us and ~80 us once SQLite reused log space
    it had written before. SQLite reuses that space only after a checkpoint restarts
    the log, and a new log starts empty at every start of the server, so the writer
    zero-fills the file ahead of the log itself: whenever less than WAL_AHEAD_MIN is
    left past the log's end, WAL_AHEAD_CHUNK more is written at the file's end.

    Why this cannot lose a commit: only bytes past the file's end are written, which
    SQLite has never written, and only while this connection holds the write lock (in
    BEGIN IMMEDIATE), so no other writer is appending frames at that moment. SQLite
    reads a log only up to its last valid frame: a zeroed frame fails the salt and
    checksum it is read against, exactly as the stale frames of a restarted log do. A
    crash in the middle of the zero-fill leaves the same.

    The log's end is learnt from the WAL hook, which SQLite calls after each commit
    with the number of frames in the log. Setting that hook replaces the one behind
    PRAGMA wal_autocheckpoint, so the hook also checkpoints (passively, as that one
    does) past WAL_CHECKPOINT_FRAMES. */
#include "sqlite.h"

#include "parley/log.h"

#include <stdlib.h>
#include <string.h>

//  A checkpoint once the log holds this many frames. A batch of messages across many
//  rooms dirties a leaf page per room, and the default of 1,000 copies the same hot
//  pages back to the database again and again.
#define WAL_CHECKPOINT_FRAMES 16384
//  Space kept zeroed past the log's end, and how much is added at a time.
#define WAL_AHEAD_MIN   (256 * 1024)
#define WAL_AHEAD_CHUNK (1024 * 1024)
//  The WAL file's header, and each frame's header before its page.
#define WAL_HEADER_BYTES       32
#define WAL_FRAME_HEADER_BYTES 24

static int s_wal_hook(void *arg, sqlite3 *db, const char *schema, int frames)
{
    pl__sqlite_t *self = arg;
    self->wal_frames = frames;
    if (frames >= WAL_CHECKPOINT_FRAMES)
        sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

bool pl__sqlite_wal_watch(pl__sqlite_t *self)
{
    //  Zeros past a rollback journal's end would read as records: WAL mode only.
    char mode[16], page_size[32];
    if (!pl__sqlite_pragma(self->db, "journal_mode", mode, sizeof mode) ||
        strcmp(mode, "wal") != 0 ||
        !pl__sqlite_pragma(self->db, "page_size", page_size, sizeof page_size))
        return false;
    self->wal_frame_bytes = WAL_FRAME_HEADER_BYTES + strtoll(page_size, NULL, 10);
    sqlite3_wal_hook(self->db, s_wal_hook, self);
    return true;
}

void pl__sqlite_wal_keep_ahead(pl__sqlite_t *self)
{
    static const char zeros[64 * 1024];
    sqlite3_file *wal = NULL;
    sqlite3_int64 size;
    if (!self->wal_frame_bytes ||
        sqlite3_file_control(self->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        !wal || !wal->pMethods || wal->pMethods->xFileSize(wal, &size) != SQLITE_OK)
        return;
    sqlite3_int64 log_end = WAL_HEADER_BYTES + self->wal_frames * self->wal_frame_bytes;
    if (size - log_end >= WAL_AHEAD_MIN)
        return;
    //  A failed write leaves the log to grow the file itself, as SQLite does anyway.
    for (sqlite3_int64 end = size + WAL_AHEAD_CHUNK; size < end;
         size += (sqlite3_int64)sizeof zeros)
        if (wal->pMethods->xWrite(wal, zeros, (int)sizeof zeros, size) != SQLITE_OK) {
            pl_warn("store: cannot extend the write-ahead log ahead of its commits");
            return;
        }
}
