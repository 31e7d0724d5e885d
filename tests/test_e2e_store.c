/*  End-to-end: how the parley binary starts on a store it cannot use. The store
    backends' behaviour is the contract suite's (test_store, test_search) and every
    other end-to-end suite's, which run on both backends. */
#include "server_proc.h"
#include "tmp_dir.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(e2e_store, .timeout = 30);

Test(e2e_store, an_unreachable_postgres_stops_start_up_naming_it_without_the_password)
{
    char dir[64];
    cr_assert_eq(pl_tmp_dir_make(dir, sizeof dir, "parley-e2e-store-"), 0);
    //  Port 1 on loopback: nothing listens there.
    const char *args[] = {"--listen",
                          "127.0.0.1:0",
                          "--data-dir",
                          dir,
                          "--store",
                          "postgres",
                          "--postgres-url",
                          "postgresql://parley:s3cret-pw@127.0.0.1:1/parley",
                          NULL};
    char *out = NULL, *err = NULL;
    int status = pl_parley_run(args, 10000, &out, &err);
    cr_expect_neq(status, 0, "parley started without its store");
    cr_expect(strstr(err, "postgresql://parley:***@127.0.0.1:1/parley"), "stderr: %s", err);
    cr_expect_null(strstr(out, "s3cret"), "the password leaked: %s", out);
    cr_expect_null(strstr(err, "s3cret"), "the password leaked: %s", err);
    free(out);
    free(err);
    pl_tmp_dir_remove(dir);
}

Test(e2e_store, an_unknown_store_is_refused_naming_the_key)
{
    const char *args[] = {"--store", "mongo", NULL};
    char *out = NULL, *err = NULL;
    cr_expect_neq(pl_parley_run(args, 10000, &out, &err), 0);
    cr_expect(strstr(err, "store"), "stderr: %s", err);
    free(out);
    free(err);
}
