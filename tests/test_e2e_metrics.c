/*  End to end: GET /metrics (PROTOCOL.md "Operations") against the real parley
    binary. Traffic a client makes moves the counters by the amounts it should, the
    scrape is valid Prometheus text (promtool, from Debian's prometheus package, when
    .ci/dev has provided it), and metrics_listen moves the endpoint off the public
    port. */
#include "e2e_suite.h"
#include "fixtures.h"

#include <stdlib.h>
#include <unistd.h>

TestSuite(e2e_metrics, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 60);

//  The scrape of port's /metrics (caller frees), after checking its status and type.
static char *s_scrape(int port)
{
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(port, "GET", "/metrics", NULL, NULL, 0, &r), 0, "no answer");
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert_str_eq(pl_http_header(&r, "Content-Type"),
                     "text/plain; version=0.0.4; charset=utf-8");
    char *text = strdup(r.body);
    pl_http_response_free(&r);
    return text;
}

//  The value of the sample `series` (a name with its labels, if any) in a scrape.
static double s_value(const char *scrape, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = scrape; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
        if (!strchr(line, '\n'))
            break;
    }
    cr_assert_fail("no sample %s in the scrape", series);
    return 0;
}

//  How much a sample grew between two scrapes.
static double s_delta(const char *before, const char *after, const char *series)
{
    return s_value(after, series) - s_value(before, series);
}

static void s_sendf(pl_ws_t *ws, const char *text)
{
    cr_assert_eq(pl_ws_send_text(ws, text, strlen(text)), 0);
}

Test(e2e_metrics, traffic_moves_the_counters)
{
    char *before = s_scrape(s_srv.port);
    pl_api_user_t alice = pl_api_signup("Alice");
    pl_api_user_t bob = pl_api_signup("Bob");
    int64_t room = pl_api_new_room(alice.token);
    pl_api_join(bob.token, room);
    pl_ws_t *a = pl_fx_ws_connect(s_srv.port, alice.token, NULL);
    pl_ws_t *b = pl_fx_ws_connect(s_srv.port, bob.token, NULL);
    cr_assert(a && b);
    char frame[256];
    snprintf(frame, sizeof frame, "{\"type\":\"subscribe\",\"room\":%lld}", (long long)room);
    s_sendf(a, frame);
    s_sendf(b, frame);
    json_decref(pl_ws_recv_type(a, "subscribed", 5000));
    json_decref(pl_ws_recv_type(b, "subscribed", 5000));
    for (int i = 0; i < 5; i++) {
        snprintf(frame, sizeof frame,
                 "{\"type\":\"send\",\"room\":%lld,\"client_id\":\"m%d\",\"body\":\"hi %d\"}",
                 (long long)room, i, i);
        s_sendf(a, frame);
        json_t *ack = pl_ws_recv_type(a, "ack", 5000);
        cr_assert_not_null(ack, "message %d was not acked", i);
        json_decref(ack);
        json_t *message = pl_ws_recv_type(b, "message", 5000);
        cr_assert_not_null(message, "message %d did not reach Bob", i);
        json_decref(message);
    }
    char *after = s_scrape(s_srv.port);
    //  Counted before a frame is written: what both clients were sent is counted.
    cr_assert_eq(s_delta(before, after, "parley_messages_received_total"), 5);
    cr_assert_eq(s_delta(before, after, "parley_messages_stored_total"), 5);
    cr_assert_eq(s_delta(before, after, "parley_websocket_connections_opened_total"), 2);
    //  2 subscribe and 5 send frames.
    cr_assert_eq(s_delta(before, after, "parley_websocket_messages_received_total"), 7);
    //  At least each message to both clients, and the acks.
    cr_assert_geq(s_delta(before, after, "parley_deliveries_total"), 15);
    cr_assert_gt(s_value(after, "parley_sent_bytes_total"),
                 s_value(before, "parley_sent_bytes_total"));
    cr_assert_eq(s_value(after, "parley_connections"), 2);
    double batches = s_value(after, "parley_persist_batches_total");
    cr_assert_geq(batches - s_value(before, "parley_persist_batches_total"), 1);
    //  Counters are read before histograms: a commit between the two reads counts in
    //  the histogram only.
    cr_assert_geq(s_value(after, "parley_persist_commit_seconds_count"), batches);
    cr_assert_eq(s_value(after, "parley_persist_commit_seconds_bucket{le=\"+Inf\"}"),
                 s_value(after, "parley_persist_commit_seconds_count"));
    cr_assert_gt(s_value(after, "parley_persist_commit_seconds_sum"), 0);
    cr_assert_geq(s_value(after, "parley_persist_batch_writes_sum"), 5 + 4);
    cr_assert_geq(s_delta(before, after, "parley_send_commit_seconds_count"), 5);
    //  The sign-ups, the room and the join were answered over HTTP.
    cr_assert_geq(s_value(after, "parley_http_responses_total{code=\"201\"}"), 3);
    cr_assert_geq(s_value(after, "parley_http_request_seconds_count"), 4);
    cr_assert_geq(s_value(after, "parley_actor_messages_total{type=\"room_send\"}"), 5);
    cr_assert_geq(s_value(after, "process_resident_memory_bytes"), 1 << 20);
    cr_assert_gt(s_value(after, "process_open_fds"), 3);
    cr_assert_gt(s_value(after, "process_start_time_seconds"), 1.7e9);
    pl_ws_close(&a);
    pl_ws_close(&b);
    pl_api_user_free(&alice);
    pl_api_user_free(&bob);
    free(before);
    free(after);
}

Test(e2e_metrics, histogram_buckets_only_grow)
{
    free(pl_api_user("Alice", NULL));
    char *scrape = s_scrape(s_srv.port);
    double previous = 0;
    int buckets = 0;
    for (const char *line = strstr(scrape, "parley_http_request_seconds_bucket{");
         line && strncmp(line, "parley_http_request_seconds_bucket{", 35) == 0;
         line = strchr(line, '\n') + 1, buckets++) {
        double value = strtod(strchr(line, ' ') + 1, NULL);
        cr_assert_geq(value, previous, "a bucket fell: %.80s", line);
        previous = value;
    }
    cr_assert_gt(buckets, 5);
    cr_assert_eq(previous, s_value(scrape, "parley_http_request_seconds_count"));
    free(scrape);
}

Test(e2e_metrics, promtool_accepts_the_scrape)
{
    const char *promtool = getenv("PROMTOOL");
    if (!promtool || access(promtool, X_OK) != 0) {
        fprintf(stderr, "SKIPPED: promtool not found (PROMTOOL=%s); .ci/dev test provides it\n",
                promtool ? promtool : "");
        return;
    }
    free(pl_api_user("Alice", NULL));
    char *scrape = s_scrape(s_srv.port);
    char path[300], command[700];
    snprintf(path, sizeof path, "%s/scrape.txt", s_srv.data_dir);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs(scrape, file);
    fclose(file);
    snprintf(command, sizeof command, "'%s' check metrics < '%s' > '%s.out' 2>&1", promtool, path,
             path);
    int status = system(command);
    snprintf(command, sizeof command, "cat '%s.out' >&2", path);
    if (status != 0)
        cr_assert_eq(system(command), 0);
    cr_assert_eq(status, 0, "promtool check metrics refused the scrape (its words above)");
    free(scrape);
}

Test(e2e_metrics, metrics_listen_serves_them_elsewhere)
{
    pl_e2e_restart_with((const char *const[]){"--metrics-listen", "127.0.0.1:0", NULL});
    pl_api_expect("GET", "/metrics", NULL, NULL, 404, "not_found");
    //  The port it bound is in the log.
    FILE *log = fopen(s_srv.log_path, "r");
    cr_assert_not_null(log);
    char line[1024];
    int port = 0;
    while (!port && fgets(line, sizeof line, log)) {
        const char *at = strstr(line, "serving /metrics on 127.0.0.1:0 (port ");
        if (at)
            port = atoi(at + strlen("serving /metrics on 127.0.0.1:0 (port "));
    }
    fclose(log);
    cr_assert_gt(port, 0, "no metrics port in the log");
    free(s_scrape(port));
    pl_http_response_t r;
    cr_assert_eq(pl_http_request(port, "GET", "/api/me", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 404);
    pl_http_response_free(&r);
}
