/*  parley-bench's entry point: parses the command line, raises the fd limit, runs
    setup (users, rooms, memberships) and the chosen scenario against 127.0.0.1,
    prints the report, and exits 0 only when the run verified. The soak does all of
    that itself, around a server it starts. */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
    bn_opts_t o;
    if (bn_opts_parse(&o, argc, argv) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)o.conns + 64)
            fprintf(stderr, "parley-bench: warning: fd limit %llu is below %d connections\n",
                    (unsigned long long)rl.rlim_cur, o.conns);
    }
    if (o.scenario == BN_SOAK) //  it starts the server first, then sets up
        return bn_soak(&o);
    bn_user_t *users = bn_setup(&o);
    if (!users)
        return 1;
    static bn_run_t run;
    static bn_result_t result;
    run.o = &o;
    run.users = users;
    result.rss_before = result.rss_after = result.rss_peak = -1;
    int rc = o.scenario == BN_FANOUT  ? bn_fanout(&run, &result)
             : o.scenario == BN_ROOMS ? bn_rooms(&run, &result)
                                      : bn_connect(&run, &result);
    if (rc < 0 && !result.ready && !result.failed && !result.refused) {
        fprintf(stderr, "parley-bench: the run could not start\n");
        return 1;
    }
    bn_report(&o, &result);
    free(run.conns);
    free(users);
    return bn_result_ok(&o, &result) ? 0 : 2;
}
