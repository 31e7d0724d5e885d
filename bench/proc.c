/*  Reads a process's CPU time, resident memory and open file descriptors from /proc,
    and the generator's own CPU time, so every run says how busy the server (and the
    generator) was, and a soak whether the server leaks. */
#include "bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int64_t bn_proc_cpu_ticks(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    //  Fields after the command name (which may hold spaces): state is field 3,
    //  utime 14 and stime 15.
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2;
    long long utime = 0, stime = 0;
    if (sscanf(p, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lld %lld", &utime, &stime) != 2)
        return -1;
    return utime + stime;
}

int64_t bn_proc_rss_kib(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int64_t kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

double bn_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int64_t bn_proc_fds(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}
