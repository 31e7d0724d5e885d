/*  The metrics registry (metrics.h). Every thread takes a shard on its first count
    and keeps it in a thread-local pointer; a scrape adds the shards up. The shards
    are static, so counting never allocates and works before anything is set up. */
#include "parley/metrics.h"

#include "parley/msg.h"

#include <dirent.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SHARDS      64
#define BUCKETS_MAX 16

#define HISTOGRAM_BOUNDS(id, name, help, scale, ...)                                               \
    static const uint64_t s_bounds_##id[] = {__VA_ARGS__};                                         \
    _Static_assert(sizeof s_bounds_##id / sizeof s_bounds_##id[0] <= BUCKETS_MAX, #id);
PL_METRIC_HISTOGRAMS(HISTOGRAM_BOUNDS)

typedef struct {
    const char *name, *help;
    double scale;
    const uint64_t *bounds;
    size_t bound_count;
} histogram_def_t;

#define HISTOGRAM_ROW(id, name, help, scale, ...)                                                  \
    {name, help, scale, s_bounds_##id, sizeof s_bounds_##id / sizeof s_bounds_##id[0]},
static const histogram_def_t s_histograms[] = {PL_METRIC_HISTOGRAMS(HISTOGRAM_ROW)};

#define COUNTER_ROW(id, name, help) {name, help},
static const struct {
    const char *name, *help;
} s_counters[] = {PL_METRIC_COUNTERS(COUNTER_ROW)};

typedef struct {
    alignas(64) _Atomic uint64_t counters[PL_COUNTER__COUNT];
    _Atomic uint64_t buckets[PL_HISTOGRAM__COUNT][BUCKETS_MAX + 1]; //  the last is +Inf
    _Atomic uint64_t sums[PL_HISTOGRAM__COUNT];
    _Atomic uint64_t messages_sent[PL_MSG__COUNT], messages_taken[PL_MSG__COUNT];
} shard_t;

static shard_t s_shards[SHARDS];
static atomic_uint s_shards_taken;
static _Thread_local shard_t *t_shard;

//  HTTP answers by status, 100..599: shared, since a request costs far more anyway.
static _Atomic uint64_t s_http_statuses[500];

static shard_t *s_shard(void)
{
    if (!t_shard)
        t_shard =
            &s_shards[atomic_fetch_add_explicit(&s_shards_taken, 1, memory_order_relaxed) % SHARDS];
    return t_shard;
}

static void s_add(_Atomic uint64_t *cell, uint64_t n)
{
    atomic_fetch_add_explicit(cell, n, memory_order_relaxed);
}

static uint64_t s_load(_Atomic uint64_t *cell)
{
    return atomic_load_explicit(cell, memory_order_relaxed);
}

void pl_metrics_count(pl_counter_t counter, uint64_t n)
{
    s_add(&s_shard()->counters[counter], n);
}

void pl_metrics_observe(pl_histogram_t histogram, uint64_t value)
{
    const histogram_def_t *def = &s_histograms[histogram];
    size_t bucket = 0;
    while (bucket < def->bound_count && value > def->bounds[bucket])
        bucket++;
    shard_t *shard = s_shard();
    s_add(&shard->buckets[histogram][bucket], 1);
    s_add(&shard->sums[histogram], value);
}

void pl_metrics_message_sent(int type)
{
    if (type >= 0 && type < PL_MSG__COUNT)
        s_add(&s_shard()->messages_sent[type], 1);
}

void pl_metrics_message_taken(int type)
{
    if (type >= 0 && type < PL_MSG__COUNT)
        s_add(&s_shard()->messages_taken[type], 1);
}

void pl_metrics_count_http_status(int status)
{
    if (status >= 100 && status < 600)
        s_add(&s_http_statuses[status - 100], 1);
}

//  The sum over every shard of the cell at `offset` bytes into a shard.
static uint64_t s_total(size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i < SHARDS; i++)
        total += s_load((_Atomic uint64_t *)((char *)&s_shards[i] + offset));
    return total;
}

#define TOTAL(field) s_total(offsetof(shard_t, field))

static void s_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void s_render_histogram(FILE *out, int id)
{
    const histogram_def_t *def = &s_histograms[id];
    s_head(out, def->name, "histogram", def->help);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= def->bound_count; b++) {
        cumulative += TOTAL(buckets[id][b]);
        if (b < def->bound_count)
            fprintf(out, "%s_bucket{le=\"%.9g\"} %lu\n", def->name,
                    (double)def->bounds[b] / def->scale, (unsigned long)cumulative);
        else
            fprintf(out, "%s_bucket{le=\"+Inf\"} %lu\n", def->name, (unsigned long)cumulative);
    }
    fprintf(out, "%s_sum %.9g\n%s_count %lu\n", def->name, (double)TOTAL(sums[id]) / def->scale,
            def->name, (unsigned long)cumulative);
}

static void s_render_messages(FILE *out)
{
    uint64_t sent[PL_MSG__COUNT], taken[PL_MSG__COUNT];
    for (int t = 0; t < PL_MSG__COUNT; t++) {
        //  Taken first: a message counted taken was counted sent before it.
        taken[t] = TOTAL(messages_taken[t]);
        sent[t] = TOTAL(messages_sent[t]);
    }
    s_head(out, "parley_actor_messages_total", "counter",
           "messages sent between actors, by catalogue type");
    for (int t = 0; t < PL_MSG__COUNT; t++)
        fprintf(out, "parley_actor_messages_total{type=\"%s\"} %lu\n", pl_msg_name(t),
                (unsigned long)sent[t]);
    s_head(out, "parley_actor_queue_messages", "gauge",
           "messages sent to an actor and not yet taken by it, by catalogue type");
    for (int t = 0; t < PL_MSG__COUNT; t++)
        fprintf(out, "parley_actor_queue_messages{type=\"%s\"} %lu\n", pl_msg_name(t),
                (unsigned long)(sent[t] > taken[t] ? sent[t] - taken[t] : 0));
}

static void s_render_http(FILE *out)
{
    s_head(out, "parley_http_responses_total", "counter", "HTTP answers, by status");
    for (int i = 0; i < 500; i++) {
        uint64_t n = s_load(&s_http_statuses[i]);
        if (n)
            fprintf(out, "parley_http_responses_total{code=\"%d\"} %lu\n", i + 100,
                    (unsigned long)n);
    }
}

//  The process's own families, as Prometheus's client libraries name them.
static void s_render_process(FILE *out)
{
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long utime = 0, stime = 0;
    unsigned long long start_ticks = 0;
    FILE *stat = fopen("/proc/self/stat", "r");
    if (stat) {
        //  Fields 14, 15 and 22; the command (field 2) may hold spaces, so skip past ')'.
        char line[1024];
        char *after = fgets(line, sizeof line, stat) ? strrchr(line, ')') : NULL;
        if (!after || sscanf(after + 2,
                             "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                             "%*d %*d %llu",
                             &utime, &stime, &start_ticks) != 3)
            utime = stime = 0;
        fclose(stat);
    }
    unsigned long long boot = 0;
    FILE *proc_stat = fopen("/proc/stat", "r");
    char line[256];
    while (proc_stat && fgets(line, sizeof line, proc_stat))
        if (sscanf(line, "btime %llu", &boot) == 1)
            break;
    if (proc_stat)
        fclose(proc_stat);
    unsigned long size_pages = 0, resident_pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%lu %lu", &size_pages, &resident_pages) != 2)
            size_pages = resident_pages = 0;
        fclose(statm);
    }
    unsigned long fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    for (struct dirent *entry; dir && (entry = readdir(dir));)
        fds += entry->d_name[0] != '.';
    if (dir)
        closedir(dir);
    struct rlimit limit = {0};
    getrlimit(RLIMIT_NOFILE, &limit);

    s_head(out, "process_cpu_seconds_total", "counter", "user and system CPU time spent");
    fprintf(out, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
    s_head(out, "process_resident_memory_bytes", "gauge", "resident memory size");
    fprintf(out, "process_resident_memory_bytes %lu\n", resident_pages * (unsigned long)page);
    s_head(out, "process_virtual_memory_bytes", "gauge", "virtual memory size");
    fprintf(out, "process_virtual_memory_bytes %lu\n", size_pages * (unsigned long)page);
    s_head(out, "process_open_fds", "gauge", "open file descriptors");
    fprintf(out, "process_open_fds %lu\n", fds);
    s_head(out, "process_max_fds", "gauge", "limit of open file descriptors");
    fprintf(out, "process_max_fds %llu\n", (unsigned long long)limit.rlim_cur);
    s_head(out, "process_start_time_seconds", "gauge", "start time since the Unix epoch");
    fprintf(out, "process_start_time_seconds %.2f\n",
            (double)boot + (double)start_ticks / (double)ticks);
}

void pl_metrics_render(FILE *out)
{
    for (int c = 0; c < PL_COUNTER__COUNT; c++) {
        s_head(out, s_counters[c].name, "counter", s_counters[c].help);
        fprintf(out, "%s %lu\n", s_counters[c].name, (unsigned long)TOTAL(counters[c]));
    }
    for (int h = 0; h < PL_HISTOGRAM__COUNT; h++)
        s_render_histogram(out, h);
    s_render_messages(out);
    s_render_http(out);
    s_render_process(out);
}
