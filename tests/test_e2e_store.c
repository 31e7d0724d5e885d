/*  End-to-end: the parley binary and a store it cannot use: at start (a clear error,
    no password), and PostgreSQL lost while it runs (refused writes, /healthz 503,
    then serving again by itself, no acknowledged message lost, no seq skipped). The
    failure test runs a PostgreSQL server of its own, since it stops and restarts
    it. The store backends' behaviour is the contract suite's (test_store,
    test_search) and every other end-to-end suite's, which run on both backends. */
#include "api.h"
#include "fixtures.h"
#include "http_client.h"
#include "pg_server.h"
#include "server_proc.h"
#include "tmp_dir.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  One timeout for every test (Criterion 2.4 leaks a little, which ASAN reports,
//  when tests that run in parallel have different ones): the longest test's.
TestSuite(e2e_store, .timeout = 90);

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

//  --------------------------------------------------------------------------------
//  PostgreSQL lost while parley runs

//  Bounds for the waits on a recovering node.
#define RECOVERY_MS 20000
#define POLL_MS     50

static int64_t s_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int s_healthz(const pl_server_t *srv)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(srv->port, "GET", "/healthz", NULL, NULL, &r), 0);
    int status = r.status;
    pl_http_response_free(&r);
    return status;
}

//  Publishes text over HTTP; returns the answer's status and, on 201, *seq.
static int s_publish(const pl_server_t *srv, const char *token, int64_t room, const char *client_id,
                     int64_t *seq)
{
    char path[64], body[128];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"body\":\"%s\"}", client_id, client_id);
    pl_http_response_t r;
    cr_assert_eq(pl_http_json(srv->port, "POST", path, token, body, &r), 0);
    int status = r.status;
    if (status == 201)
        *seq = json_integer_value(json_object_get(r.json, "seq"));
    pl_http_response_free(&r);
    return status;
}

//  Polls until /healthz answers want, within RECOVERY_MS.
static bool s_until_healthz(const pl_server_t *srv, int want)
{
    for (int64_t deadline = s_ms() + RECOVERY_MS; s_ms() < deadline;) {
        if (s_healthz(srv) == want)
            return true;
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    }
    return false;
}

//  Starts a PostgreSQL server of the test's own (it stops and starts it, or the
//  suite has none) and makes a database in it; skips the test when it cannot.
static void s_start_postgres(pl_pg_server_t *pg, char *url, size_t size)
{
    char why[512];
    if (pl_pg_server_start(pg, why, sizeof why))
        cr_skip_test("SKIPPED: PostgreSQL tests: %s", why);
    cr_assert_eq(pl_pg_database_new(pg->url, url, size), 0);
}

Test(e2e_store, a_node_that_loses_postgres_refuses_writes_and_serves_again_when_it_returns)
{
    pl_pg_server_t pg;
    char url[256];
    s_start_postgres(&pg, url, sizeof url);
    pl_server_t srv = {0};
    const char *args[] = {"--store", "postgres", "--postgres-url", url, NULL};
    cr_assert_eq(pl_server_start(&srv, args), 0, "parley did not start");
    pl_api_use_port(srv.port);
    pl_api_user_t alice = pl_api_signup("Alice");
    int64_t room = pl_api_new_room(alice.token), seq = 0;
    cr_assert_eq(s_publish(&srv, alice.token, room, "before", &seq), 201);
    cr_assert_eq(seq, 1);
    cr_assert_eq(s_healthz(&srv), 200);

    cr_assert_eq(pl_pg_server_pause(&pg), 0);
    cr_assert(s_until_healthz(&srv, 503), "/healthz did not turn 503 without the database");
    //  A write is refused, never acknowledged, while the database is away: over
    //  HTTP 503 unavailable, over WebSocket an error frame with that code.
    cr_assert_eq(s_publish(&srv, alice.token, room, "during", &seq), 503);
    int upgrade = 0;
    pl_ws_t *ws = pl_fx_ws_connect(srv.port, alice.token, &upgrade);
    cr_assert_not_null(ws, "upgrade failed with HTTP %d", upgrade);
    char send[128];
    snprintf(send, sizeof send,
             "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"ws\",\"body\":\"during\"}",
             (long long)room);
    cr_assert_eq(pl_ws_send_text(ws, send, strlen(send)), 0);
    json_t *error = pl_ws_recv_type(ws, "error", RECOVERY_MS);
    cr_assert_not_null(error, "no error frame for a send without the database");
    cr_assert_str_eq(pl_api_str(error, "code"), "unavailable", "%s", pl_api_show(error));
    cr_assert_null(pl_ws_recv_type(ws, "ack", 200), "a send was acknowledged");
    json_decref(error);
    pl_ws_close(&ws);

    cr_assert_eq(pl_pg_server_resume(&pg), 0);
    cr_assert(s_until_healthz(&srv, 200), "/healthz did not come back without a restart");
    //  The writer reconnects on its own schedule: retry until it takes the message.
    int status = 0;
    for (int64_t deadline = s_ms() + RECOVERY_MS; status != 201 && s_ms() < deadline;)
        if ((status = s_publish(&srv, alice.token, room, "after", &seq)) != 201)
            nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    cr_assert_eq(status, 201, "the node did not store again");
    cr_assert_eq(seq, 2, "a seq was skipped or reused");
    json_t *page = pl_api_json("GET", pl_api_fmt("/api/rooms/%lld/messages", (long long)room),
                               alice.token, NULL, 200);
    json_t *messages = json_object_get(page, "messages");
    cr_assert_eq(json_array_size(messages), 2, "%s", pl_api_show(page));
    cr_assert_str_eq(pl_api_str(json_array_get(messages, 0), "body"), "before");
    cr_assert_str_eq(pl_api_str(json_array_get(messages, 1), "body"), "after");
    json_decref(page);
    pl_api_user_free(&alice);
    cr_expect_eq(pl_server_stop(&srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&srv);
    pl_pg_server_stop(&pg);
}

//  --------------------------------------------------------------------------------
//  copy-store: a node moved from SQLite to PostgreSQL

//  Runs `parley copy-store` from data_dir into url; expects status and line in
//  its output.
static void s_copy_store(const char *data_dir, const char *url, const char *line)
{
    const char *args[] = {"copy-store", "--data-dir", data_dir, "--postgres-url", url, NULL};
    char *out = NULL, *err = NULL;
    int status = pl_parley_run(args, 30000, &out, &err);
    cr_assert_eq(status, 0, "copy-store exited %d:\n%s%s", status, out, err);
    cr_assert(strstr(out, line), "no '%s' in:\n%s", line, out);
    free(out);
    free(err);
}

Test(e2e_store, a_node_copied_to_postgres_answers_as_before)
{
    pl_pg_server_t pg;
    char url[256];
    s_start_postgres(&pg, url, sizeof url);
    pl_server_t srv = {0};
    cr_assert_eq(pl_server_start(&srv, NULL), 0, "parley did not start on SQLite");
    pl_api_use_port(srv.port);
    pl_api_user_t alice = pl_api_signup("Alice");
    int64_t room = pl_api_new_room(alice.token), seq = 0;
    cr_assert_eq(s_publish(&srv, alice.token, room, "one", &seq), 201);
    json_t *before = pl_api_json("GET", "/api/rooms", alice.token, NULL, 200);
    cr_assert_eq(pl_server_stop(&srv), 0);

    s_copy_store(srv.data_dir, url, "messages: copied 1, 1 in SQLite, 1 in PostgreSQL");
    s_copy_store(srv.data_dir, url, "messages: copied 0, 1 in SQLite, 1 in PostgreSQL");

    //  The same data dir (its JWT key, so alice's token) on the copied store.
    const char *args[] = {"--store", "postgres", "--postgres-url", url, NULL};
    cr_assert_eq(pl_server_start(&srv, args), 0, "parley did not start on PostgreSQL");
    pl_api_use_port(srv.port);
    json_t *after = pl_api_json("GET", "/api/rooms", alice.token, NULL, 200);
    cr_assert(json_equal(before, after), "before %s\nafter  %s", pl_api_show(before),
              pl_api_show(after));
    cr_assert_eq(s_publish(&srv, alice.token, room, "two", &seq), 201);
    cr_assert_eq(seq, 2);
    json_decref(before);
    json_decref(after);
    pl_api_user_free(&alice);
    cr_expect_eq(pl_server_stop(&srv), 0, "parley did not exit cleanly");
    pl_server_cleanup(&srv);
    pl_pg_server_stop(&pg);
}

//  --------------------------------------------------------------------------------
//  Uploads on a store nodes share

Test(e2e_store, any_node_serves_any_upload_and_takes_it_in_an_image_message)
{
    pl_pg_server_t pg;
    char url[256];
    s_start_postgres(&pg, url, sizeof url);
    //  Two nodes, one database, each its own data dir: no shared filesystem. They
    //  share the JWT key, as a cluster's nodes do.
    const char *args[] = {"--store", "postgres",     "--postgres-url",
                          url,       "--jwt-secret", "a-key-every-node-of-this-cluster-shares",
                          NULL};
    pl_server_t a = {0}, b = {0};
    cr_assert_eq(pl_server_start(&a, args), 0, "node a did not start");
    cr_assert_eq(pl_server_start(&b, args), 0, "node b did not start");
    pl_api_use_port(a.port);
    pl_api_user_t alice = pl_api_signup("Alice");
    int64_t room = pl_api_new_room(alice.token);
    char headers[512];
    snprintf(headers, sizeof headers, "Content-Type: image/png\r\nAuthorization: Bearer %s\r\n",
             alice.token);
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(a.port, "POST", "/api/uploads", headers, (const char *)pl_fx_png,
                                 pl_fx_png_len, &r),
                 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    char upload[128];
    snprintf(upload, sizeof upload, "%s", json_string_value(json_object_get(r.json, "url")));
    pl_http_response_free(&r);

    //  Node b has no file of it, and serves it from the store.
    cr_assert_eq(pl_http_request(b.port, "GET", upload, NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(pl_http_header(&r, "Content-Type"), "image/png");
    cr_assert_eq(r.body_len, pl_fx_png_len);
    cr_assert_eq(memcmp(r.body, pl_fx_png, pl_fx_png_len), 0);
    pl_http_response_free(&r);
    //  And takes it in an image message.
    char path[64], body[256];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)room);
    snprintf(body, sizeof body, "{\"kind\":\"image\",\"url\":\"%s\"}", upload);
    cr_assert_eq(pl_http_json(b.port, "POST", path, alice.token, body, &r), 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    pl_http_response_free(&r);
    //  A url no node stored is still refused.
    snprintf(body, sizeof body, "{\"kind\":\"image\",\"url\":\"/uploads/%064d.png\"}", 0);
    cr_assert_eq(pl_http_json(b.port, "POST", path, alice.token, body, &r), 0);
    cr_assert_eq(r.status, 400, "%s", r.body);
    pl_http_response_free(&r);

    pl_api_user_free(&alice);
    cr_expect_eq(pl_server_stop(&a), 0, "node a did not exit cleanly");
    cr_expect_eq(pl_server_stop(&b), 0, "node b did not exit cleanly");
    pl_server_cleanup(&a);
    pl_server_cleanup(&b);
    pl_pg_server_stop(&pg);
}
