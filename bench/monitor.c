/*  The main thread's side of a run: waits (bounded by a deadline) while the generator
    threads work, sums their live counters, and samples the server's CPU time and
    RSS from /proc, and the generator's own CPU time, over the measured interval. */
#include "bench.h"

#include <stdio.h>
#include <unistd.h>

uint64_t bn_total(bn_run_t *run, size_t offset)
{
    uint64_t sum = 0;
    for (int k = 0; k < run->o->threads; k++)
        sum += atomic_load_explicit((_Atomic uint64_t *)((char *)&run->threads[k].st + offset),
                                    memory_order_relaxed);
    return sum;
}

void bn_monitor_begin(bn_monitor_t *m, int pid)
{
    m->pid = pid;
    m->cpu0 = bn_proc_cpu_ticks(pid);
    m->t0 = bn_now_ns();
    m->self0 = bn_self_cpu_s();
    m->rss_peak = bn_proc_rss_kib(pid);
}

bool bn_monitor_wait(bn_monitor_t *m, bn_run_t *run, uint64_t deadline_ns,
                     bool (*done)(bn_run_t *run))
{
    uint64_t next_sample = bn_now_ns();
    for (;;) {
        uint64_t now = bn_now_ns();
        if (done && done(run))
            return true;
        if (now >= deadline_ns)
            return false;
        if (m->pid && now >= next_sample) {
            int64_t rss = bn_proc_rss_kib(m->pid);
            if (rss > m->rss_peak)
                m->rss_peak = rss;
            next_sample = now + 100000000u;
        }
        uint64_t left = deadline_ns - now;
        usleep(left > 5000000u ? 5000 : (useconds_t)(left / 1000 + 1));
    }
}

void bn_monitor_end(bn_monitor_t *m, bn_result_t *r)
{
    double wall = (double)(bn_now_ns() - m->t0) / 1e9;
    int64_t cpu1 = bn_proc_cpu_ticks(m->pid);
    long hz = sysconf(_SC_CLK_TCK);
    r->server_cpu_s = m->cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - m->cpu0) / (double)hz : -1;
    r->server_cpu_pct = r->server_cpu_s >= 0 && wall > 0 ? r->server_cpu_s / wall * 100.0 : -1;
    if (wall > 0)
        r->client_cpu_pct = (bn_self_cpu_s() - m->self0) / wall * 100.0;
    int64_t rss = bn_proc_rss_kib(m->pid);
    if (rss > m->rss_peak)
        m->rss_peak = rss;
    r->rss_peak = m->rss_peak;
}

static bool s_all_connected(bn_run_t *run)
{
    uint64_t settled =
        BN_TOTAL(run, ready) + BN_TOTAL(run, failed) + BN_TOTAL(run, refused) + BN_TOTAL(run, lost);
    return settled >= (uint64_t)run->o->conns;
}

bool bn_wait_connected(bn_run_t *run, bn_result_t *r)
{
    bn_monitor_t m;
    bn_monitor_begin(&m, 0);
    uint64_t deadline = run->connect_start_ns + (uint64_t)(run->o->connect_timeout * 1e9);
    bool ok = bn_monitor_wait(&m, run, deadline, s_all_connected);
    uint64_t last = 0;
    for (int k = 0; k < run->o->threads; k++)
        if (BN_GET(run->threads[k].st.last_ready_ns) > last)
            last = BN_GET(run->threads[k].st.last_ready_ns);
    uint64_t ready = BN_TOTAL(run, ready);
    r->connect_s =
        (double)((last > run->connect_start_ns ? last : bn_now_ns()) - run->connect_start_ns) / 1e9;
    r->connects_per_s = r->connect_s > 0 ? (double)ready / r->connect_s : 0;
    if (!ok)
        fprintf(stderr, "parley-bench: only %llu of %d connections ready after %.0f s\n",
                (unsigned long long)ready, run->o->conns, run->o->connect_timeout);
    return ok;
}

int bn_run_traffic(bn_run_t *run, bn_result_t *r, const bn_handlers_t *h,
                   bool (*drained)(bn_run_t *run))
{
    run->h = h;
    if (bn_run_start(run) < 0)
        return -1;
    bool connected = bn_wait_connected(run, r);
    r->rss_before = bn_proc_rss_kib(run->o->server_pid);
    bn_monitor_t m;
    bn_monitor_begin(&m, run->o->server_pid);
    if (connected) {
        uint64_t start = bn_now_ns();
        atomic_store(&run->start_ns, start);
        atomic_store(&run->phase, BN_PH_RUN);
        bn_monitor_wait(&m, run, start + (uint64_t)(run->o->duration * 1e9), NULL);
        atomic_store(&run->phase, BN_PH_STOP);
        uint64_t stop = bn_now_ns();
        atomic_store(&run->stop_ns, stop);
        r->elapsed_s = (double)(stop - start) / 1e9;
        r->delivered_in_window = BN_TOTAL(run, delivered);
        r->acked_in_window = BN_TOTAL(run, acked);
        bn_monitor_end(&m, r);
        bn_monitor_wait(&m, run, stop + (uint64_t)(run->o->drain_timeout * 1e9), drained);
    }
    r->rss_after = bn_proc_rss_kib(run->o->server_pid);
    bn_run_join(run);
    bn_result_collect(run, r);
    return connected ? 0 : -1;
}
