/*  The deployment files of configs/ checked against what they describe: the systemd
    unit passes `systemd-analyze verify` (with the built binary in ExecStart), and
    every metric the Grafana dashboard queries is a family the real server's
    /metrics has, so the dashboard cannot drift from the metrics. */
#include "e2e_suite.h"

#include <ctype.h>
#include <stdlib.h>
#include <unistd.h>

TestSuite(e2e_deploy, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 60);

//  The whole file at path (caller frees).
static char *s_read(const char *path)
{
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "cannot open %s", path);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, file)) > 0;)
        fwrite(buf, 1, n, out);
    fclose(file);
    fclose(out);
    return text;
}

Test(e2e_deploy, the_systemd_unit_verifies)
{
    if (access("/usr/bin/systemd-analyze", X_OK) != 0) {
        fprintf(stderr, "SKIPPED: systemd-analyze not found (Debian's systemd package)\n");
        return;
    }
    char *unit = s_read(PARLEY_SOURCE_DIR "/configs/parley.service");
    const char *exec = "ExecStart=/usr/local/bin/parley ";
    char *at = strstr(unit, exec);
    cr_assert_not_null(at, "no ExecStart=/usr/local/bin/parley in the unit");
    char path[320];
    snprintf(path, sizeof path, "%s/parley.service", s_srv.data_dir);
    FILE *copy = fopen(path, "w");
    fprintf(copy, "%.*sExecStart=%s %s", (int)(at - unit), unit, PARLEY_BINARY, at + strlen(exec));
    fclose(copy);
    char command[800];
    snprintf(command, sizeof command, "systemd-analyze verify '%s' > '%s.out' 2>&1", path, path);
    int status = system(command);
    snprintf(command, sizeof command, "%s.out", path);
    char *said = s_read(command);
    cr_assert_eq(status, 0, "systemd-analyze verify failed: %s", said);
    //  Unknown keys are only warned about: any word from it is a finding.
    cr_assert_str_eq(said, "", "systemd-analyze verify: %s", said);
    free(said);
    free(unit);
}

//  Asserts the scrape has a family for the metric name[0..len), a histogram's
//  _bucket, _sum and _count series being its family's.
static void s_expect_family(const char *scrape, const char *name, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t suffix = strlen(suffixes[i]);
        if (len > suffix && strncmp(name + len - suffix, suffixes[i], suffix) == 0) {
            char type_line[160];
            snprintf(type_line, sizeof type_line, "# TYPE %.*s histogram\n", (int)(len - suffix),
                     name);
            if (strstr(scrape, type_line))
                return;
        }
    }
    char type_line[160];
    snprintf(type_line, sizeof type_line, "# TYPE %.*s ", (int)len, name);
    cr_assert(strstr(scrape, type_line), "the dashboard queries %.*s, which /metrics lacks",
              (int)len, name);
}

Test(e2e_deploy, the_dashboard_queries_existing_metrics)
{
    char *text = s_read(PARLEY_SOURCE_DIR "/configs/grafana-dashboard.json");
    json_error_t error;
    json_t *dashboard = json_loads(text, 0, &error);
    cr_assert_not_null(dashboard, "the dashboard is not JSON: %s", error.text);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(s_srv.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    size_t i, j, names = 0;
    json_t *panel, *target;
    json_array_foreach(json_object_get(dashboard, "panels"), i, panel)
    {
        cr_assert(json_is_string(json_object_get(panel, "title")));
        json_array_foreach(json_object_get(panel, "targets"), j, target)
        {
            const char *expr = json_string_value(json_object_get(target, "expr"));
            cr_assert_not_null(expr);
            for (const char *p = expr; *p; p++) {
                bool starts = (p == expr || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
                              (strncmp(p, "parley_", 7) == 0 || strncmp(p, "process_", 8) == 0);
                if (!starts)
                    continue;
                size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
                s_expect_family(r.body, p, len);
                names++;
                p += len - 1;
            }
        }
    }
    cr_assert_gt(names, 10);
    pl_http_response_free(&r);
    json_decref(dashboard);
    free(text);
}
