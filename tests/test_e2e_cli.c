/*  End to end: the parley binary's command line as an operator uses it.
    `parley --version`, `parley check-config` (effective values, their sources,
    secrets masked, bad values refused), and a server started in an environment
    with PARLEY_ variables that are not options, as Kubernetes sets them. */
#include "api.h"
#include "server_proc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(e2e_cli, .timeout = 60);

//  Runs parley with args; returns its exit status with stdout and stderr (free both).
static int s_run(const char *const *args, char **out, char **err)
{
    int status = pl_parley_run(args, 10000, out, err);
    cr_assert_neq(status, -1, "parley did not run to its end: %s", *err);
    return status;
}

Test(e2e_cli, version)
{
    char *out, *err;
    cr_assert_eq(s_run((const char *const[]){"--version", NULL}, &out, &err), 0);
    cr_assert(strncmp(out, "parley ", 7) == 0 && strchr(out, '.'), "%s", out);
    free(out);
    free(err);
}

Test(e2e_cli, check_config_prints_values_and_sources_and_warns_about_strangers)
{
    setenv("PARLEY_PORT", "tcp://10.0.0.1:8080", 1);
    setenv("PARLEY_HTTP_THREADS", "9", 1);
    char *out, *err;
    const char *const args[] = {"check-config",
                                "--max-connections",
                                "77",
                                "--jwt-secret",
                                "a-secret-of-at-least-32-characters!!",
                                NULL};
    cr_assert_eq(s_run(args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "listen = 0.0.0.0:8080  # default\n"), "%s", out);
    cr_assert(strstr(out, "max_connections = 77  # command line\n"), "%s", out);
    cr_assert(strstr(out, "http_threads = 9  # environment\n"), "%s", out);
    cr_assert(strstr(out, "jwt_secret = (set, 36 characters)"), "%s", out);
    cr_assert_null(strstr(out, "a-secret-of"), "the secret was printed");
    cr_assert(strstr(err, "PARLEY_PORT") && strstr(err, "ignoring"), "no warning: %s", err);
    free(out);
    free(err);

    //  A bad value is refused with its key, and nothing else is printed.
    const char *const bad[] = {"check-config", "--max-connections", "0", NULL};
    cr_assert_eq(s_run(bad, &out, &err), 2);
    cr_assert(strstr(err, "max_connections"), "%s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
}

Test(e2e_cli, a_server_serves_beside_strange_parley_variables)
{
    setenv("PARLEY_PORT", "tcp://10.0.0.1:8080", 1);
    setenv("PARLEY_SERVICE_HOST", "10.0.0.1", 1);
    pl_server_t srv = {0};
    cr_assert_eq(pl_server_start(&srv, NULL), 0, "parley did not start");
    pl_api_use_port(srv.port);
    pl_api_expect("GET", "/healthz", NULL, NULL, 200, NULL);
    cr_assert_eq(pl_server_stop(&srv), 0);
    FILE *log = fopen(srv.log_path, "r");
    cr_assert_not_null(log);
    char line[1024];
    bool warned = false;
    while (!warned && fgets(line, sizeof line, log))
        warned = strstr(line, "warn") && strstr(line, "PARLEY_SERVICE_HOST");
    fclose(log);
    cr_assert(warned, "the server did not warn about PARLEY_SERVICE_HOST");
    pl_server_cleanup(&srv);
}
