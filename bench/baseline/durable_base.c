/*  durable_base: the physical limit of parley's durable path on this machine. It
    writes the rows a `rooms` run makes parley write, into the same schema, through
    the same store code with the same durability settings (pl_store_open: SQLite with
    WAL and synchronous=FULL, or PostgreSQL with synchronous_commit on), in batches of
    the persister's size: per batch one transaction holding each message's row, then
    each touched room's last_seq and each sender's read pointer once, as the
    persister writes them. What it leaves out is everything else parley does for a
    message (sockets, parsing, actors, fan-out, acks), so parley's durable rate reads
    as a ratio to this one.

    Messages go to the rooms in turn, --per-room P at a time (default 1): with 1 a
    batch spreads over as many rooms as it has messages, the most pages per message;
    a rooms run's members advance together (a room's message brings each member's ack
    at once), so its batches hold several messages per room.

    Usage: durable_base --data-dir DIR [--store sqlite|postgres] [--postgres-url URL]
                        [--users N] [--group K] [--batch B] [--per-room P]
                        [--duration S] [--body-bytes S] [--label NAME]
    Prints one JSON line: rows_per_s (as acks_per_s, so bench/report.sh reads it like
    a rooms run), batches, commit p50/p99 in us, and its CPU time per row. */
#include "parley/allocator.h"
#include "parley/clock.h"
#include "parley/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    const char *data_dir, *store, *postgres_url, *label;
    int users, group, batch, per_room, body_bytes;
    double duration;
} opts_t;

static int s_usage(void)
{
    fprintf(stderr, "usage: durable_base --data-dir DIR [--store sqlite|postgres] "
                    "[--postgres-url URL] [--users N] [--group K] [--batch B] [--per-room P] "
                    "[--duration S] [--body-bytes S] [--label NAME]\n");
    return 2;
}

static int s_parse(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.store = "sqlite",
                  .label = "baseline",
                  .users = 2000,
                  .group = 5,
                  .batch = 256,
                  .per_room = 1,
                  .body_bytes = 64,
                  .duration = 10};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data-dir"))
            o->data_dir = v;
        else if (!strcmp(k, "--store"))
            o->store = v;
        else if (!strcmp(k, "--postgres-url"))
            o->postgres_url = v;
        else if (!strcmp(k, "--label"))
            o->label = v;
        else if (!strcmp(k, "--users"))
            o->users = atoi(v);
        else if (!strcmp(k, "--group"))
            o->group = atoi(v);
        else if (!strcmp(k, "--batch"))
            o->batch = atoi(v);
        else if (!strcmp(k, "--per-room"))
            o->per_room = atoi(v);
        else if (!strcmp(k, "--body-bytes"))
            o->body_bytes = atoi(v);
        else if (!strcmp(k, "--duration"))
            o->duration = atof(v);
        else
            return -1;
    }
    bool ok = o->data_dir && o->group > 0 && o->users >= o->group && o->users % o->group == 0 &&
              o->batch > 0 && o->per_room > 0 && o->body_bytes > 0 && o->body_bytes < 4000 &&
              o->duration > 0;
    return ok ? 0 : -1;
}

//  The users, one content and group room per o->group of them, and their memberships,
//  as parley-bench's setup makes them. room_ids gets each room's id.
static int s_setup(pl_store_t *store, const opts_t *o, int64_t *room_ids, int64_t *user_ids)
{
    int64_t now = pl_now_ms();
    char name[64];
    if (store->ops->begin(store) != PL_STATUS_OK)
        return -1;
    for (int u = 0; u < o->users; u++) {
        snprintf(name, sizeof name, "base_%d_%" PRId64, u, now);
        if (store->ops->user_insert(store, pl_str_of(name), pl_str_of("x"), pl_str_of(name), now,
                                    &user_ids[u]) != PL_STATUS_OK)
            return -1;
    }
    for (int r = 0; r < o->users / o->group; r++) {
        int64_t content;
        bool created;
        snprintf(name, sizeof name, "base room %d %" PRId64, r, now);
        if (store->ops->content_insert(store, pl_str_of("movie"), pl_str_of(name), pl_str_of(""),
                                       2000, now, &content) != PL_STATUS_OK ||
            store->ops->room_ensure_group(store, content, now, &room_ids[r], &created) !=
                PL_STATUS_OK)
            return -1;
        for (int k = 0; k < o->group; k++)
            if (store->ops->member_add(store, room_ids[r], user_ids[r * o->group + k], now,
                                       &created) != PL_STATUS_OK)
                return -1;
    }
    return store->ops->commit(store) == PL_STATUS_OK ? 0 : -1;
}

static int s_compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double s_cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    //  Its one thread writes like the persister, and allocates with a cache as it does.
    pl_allocator_cache_this_thread();
    opts_t o;
    if (s_parse(argc, argv, &o))
        return s_usage();
    char err[256];
    pl_store_config_t where = {o.store, o.data_dir, o.postgres_url};
    pl_store_t *store = pl_store_open(&where, true, err, sizeof err);
    if (!store) {
        fprintf(stderr, "durable_base: %s\n", err);
        return 1;
    }
    int rooms = o.users / o.group;
    int64_t *room_ids = calloc((size_t)rooms, sizeof *room_ids);
    int64_t *user_ids = calloc((size_t)o.users, sizeof *user_ids);
    int64_t *seqs = calloc((size_t)rooms, sizeof *seqs);
    //  Per batch: the greatest seq each room and each (room, member) reached in it.
    int64_t *room_top = calloc((size_t)rooms, sizeof *room_top);
    int64_t *read_top = calloc((size_t)o.users, sizeof *read_top);
    size_t commits_cap = 1 << 16, commits = 0;
    int64_t *commit_us = malloc(commits_cap * sizeof *commit_us);
    char *body = malloc((size_t)o.body_bytes + 1);
    if (!room_ids || !user_ids || !seqs || !room_top || !read_top || !commit_us || !body ||
        s_setup(store, &o, room_ids, user_ids)) {
        fprintf(stderr, "durable_base: setup failed\n");
        return 1;
    }
    memset(body, 'x', (size_t)o.body_bytes);
    body[o.body_bytes] = '\0';
    uint64_t rows = 0, next = 0;
    double cpu0 = s_cpu_s();
    int64_t start = pl_now_ns(), deadline = start + (int64_t)(o.duration * 1e9);
    while (pl_now_ns() < deadline) {
        int64_t began = pl_now_ns();
        if (store->ops->begin(store) != PL_STATUS_OK)
            return 1;
        for (int i = 0; i < o.batch; i++, next++) {
            uint64_t turn = next / (uint64_t)o.per_room;
            int r = (int)(turn % (uint64_t)rooms);
            int member = (int)(next % (uint64_t)o.group);
            int u = r * o.group + member;
            char client_id[48];
            snprintf(client_id, sizeof client_id, "c%d.%" PRIu64 ".%" PRId64, u, next, began);
            snprintf(body, (size_t)o.body_bytes + 1, "t=%" PRId64 ";", began);
            body[strlen(body)] = 'x';
            pl_message_row_t row = {
                room_ids[r],          ++seqs[r],         user_ids[u],     began / 1000000,
                pl_str_of(client_id), pl_str_of("text"), pl_str_of(body), {NULL, 0}};
            if (store->ops->message_insert(store, &row) != PL_STATUS_OK)
                return 1;
            room_top[r] = seqs[r];
            read_top[u] = seqs[r];
        }
        for (int r = 0; r < rooms; r++) {
            if (!room_top[r])
                continue;
            if (store->ops->room_advance(store, room_ids[r], room_top[r], began / 1000000))
                return 1;
            for (int k = 0; k < o.group; k++) {
                int u = r * o.group + k;
                if (read_top[u] &&
                    store->ops->read_advance(store, room_ids[r], user_ids[u], read_top[u]))
                    return 1;
                read_top[u] = 0;
            }
            room_top[r] = 0;
        }
        if (store->ops->commit(store) != PL_STATUS_OK)
            return 1;
        rows += (uint64_t)o.batch;
        if (commits < commits_cap)
            commit_us[commits++] = (pl_now_ns() - began) / 1000;
    }
    double secs = (double)(pl_now_ns() - start) / 1e9, cpu = s_cpu_s() - cpu0;
    qsort(commit_us, commits, sizeof *commit_us, s_compare_i64);
    printf("{\"scenario\":\"durable_base\",\"server\":\"%s\",\"store\":\"%s\",\"conns\":%d,"
           "\"group\":%d,\"batch\":%d,\"per_room\":%d,\"duration_s\":%.3f,\"acked\":%" PRIu64
           ",\"sent\":%" PRIu64 ",\"acks_per_s\":%.1f,\"batches\":%zu,"
           "\"commit_us\":{\"p50\":%" PRId64 ",\"p99\":%" PRId64 "},\"cpu_s\":%.3f,"
           "\"cpu_us_per_ack\":%.3f,\"verified\":true}\n",
           o.label, o.store, o.users, o.group, o.batch, o.per_room, secs, rows, rows,
           (double)rows / secs, commits, commits ? commit_us[commits / 2] : 0,
           commits ? commit_us[commits * 99 / 100] : 0, cpu, rows ? cpu * 1e6 / (double)rows : 0);
    store->ops->close(store);
    free(room_ids);
    free(user_ids);
    free(seqs);
    free(room_top);
    free(read_top);
    free(commit_us);
    free(body);
    return 0;
}
