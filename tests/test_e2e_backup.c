/*  End to end: `parley backup DEST` beside a running server under write load, and a
    second server started on the copy. The copy must be one consistent state (every
    room's history without gaps up to its last seq), hold the accounts, the uploads
    the messages name and the JWT key (tokens stay valid), and never overwrite. */
#include "e2e_suite.h"
#include "fixtures.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

TestSuite(e2e_backup, .init = pl_e2e_setup, .fini = pl_e2e_teardown, .timeout = 120);

typedef struct {
    int port;
    const char *token;
    int64_t room;
    atomic_bool stop;
    atomic_int acked;
} load_t;

//  Publishes messages until told to stop (no asserts: not the test's thread).
static void *s_publish(void *arg)
{
    load_t *load = arg;
    char path[64];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)load->room);
    while (!atomic_load(&load->stop) && atomic_load(&load->acked) < 5000) {
        pl_http_response_t r;
        if (pl_http_json(load->port, "POST", path, load->token, "{\"body\":\"load\"}", &r) == 0 &&
            r.status == 201)
            atomic_fetch_add(&load->acked, 1);
        pl_http_response_free(&r);
    }
    return NULL;
}

//  Asserts the room's history is seqs 1..last_seq without a gap; returns last_seq.
static int64_t s_check_history(const char *token, int64_t room)
{
    json_t *state =
        pl_api_json("GET", pl_api_fmt("/api/rooms/%lld", (long long)room), token, NULL, 200);
    int64_t last = pl_api_int(state, "last_seq");
    json_decref(state);
    int64_t expected = 1;
    for (bool more = true; more;) {
        json_t *page = pl_api_json("GET",
                                   pl_api_fmt("/api/rooms/%lld/messages?after=%lld&limit=200",
                                              (long long)room, (long long)expected - 1),
                                   token, NULL, 200);
        json_t *messages = json_object_get(page, "messages");
        size_t i;
        json_t *message;
        json_array_foreach(messages, i, message)
        {
            cr_assert_eq(pl_api_int(message, "seq"), expected, "a gap before seq %lld",
                         (long long)expected);
            expected++;
        }
        more = json_is_true(json_object_get(page, "has_more"));
        json_decref(page);
    }
    cr_assert_eq(expected - 1, last, "history ends at %lld, the room says %lld",
                 (long long)expected - 1, (long long)last);
    return last;
}

Test(e2e_backup, a_copy_under_load_serves_a_consistent_state)
{
    char *token = NULL;
    cr_assert_eq(pl_fx_signup(s_srv.port, "alice", "alice password", "Alice", &token, NULL), 201);
    int64_t room = pl_api_new_room(token);
    char *url = NULL;
    cr_assert_eq(pl_fx_upload(s_srv.port, token, "image/png", pl_fx_png, pl_fx_png_len, &url), 201);
    json_decref(pl_api_json("POST", pl_api_fmt("/api/rooms/%lld/messages", (long long)room), token,
                            pl_api_fmt("{\"kind\":\"image\",\"url\":\"%s\"}", url), 201));

    load_t load = {.port = s_srv.port, .token = token, .room = room};
    pthread_t publisher;
    cr_assert_eq(pthread_create(&publisher, NULL, s_publish, &load), 0);
    while (atomic_load(&load.acked) < 50)
        sched_yield();
    char dest[sizeof s_srv.data_dir];
    cr_assert_lt(snprintf(dest, sizeof dest, "%.200s-backup", s_srv.data_dir), (int)sizeof dest);
    char *out, *err;
    int status =
        pl_parley_run((const char *const[]){"backup", dest, "--data-dir", s_srv.data_dir, NULL},
                      60000, &out, &err);
    int acked_at_end = atomic_load(&load.acked);
    atomic_store(&load.stop, true);
    pthread_join(publisher, NULL);
    cr_assert_eq(status, 0, "backup failed: %s%s", out, err);
    cr_assert(strstr(out, "1 uploads"), "%s", out);
    free(out);
    free(err);
    //  A second backup into the same place is refused and changes nothing.
    status =
        pl_parley_run((const char *const[]){"backup", dest, "--data-dir", s_srv.data_dir, NULL},
                      60000, &out, &err);
    cr_assert_eq(status, 1);
    cr_assert(strstr(err, "refusing to overwrite"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    pl_server_cleanup(&s_srv);

    //  A server on the copy: the same account, key, room and upload.
    memset(&s_srv, 0, sizeof s_srv);
    snprintf(s_srv.data_dir, sizeof s_srv.data_dir, "%s", dest);
    pl_e2e_start(NULL);
    json_decref(pl_api_json("GET", "/api/me", token, NULL, 200));
    char *again = NULL;
    cr_assert_eq(pl_fx_login(s_srv.port, "alice", "alice password", &again, NULL), 200);
    free(again);
    int64_t last = s_check_history(token, room);
    //  The image message and at least the 50 acked before the backup began are in it;
    //  nothing acked after the backup ended is.
    cr_assert_geq(last, 1 + 50);
    cr_assert_leq(last, 1 + acked_at_end);
    pl_api_expect("GET", url, NULL, NULL, 200, NULL);
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s'", dest);
    cr_assert_eq(system(command), 0);
    s_srv.data_dir[0] = '\0';
    free(url);
    free(token);
}
