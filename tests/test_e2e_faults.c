/*  End to end: a store the disk refuses (PROTOCOL.md "Errors": internal, never a
    crash). The data dir is a small tmpfs the test mounts (it runs as root, as CI
    does) and fills up: a message the disk cannot take is answered with an error and
    never acked, reads go on being served, and once space returns the same send is
    stored by itself, at the next seq, with nothing acked before lost. The server
    zero-fills its write-ahead log ahead of its commits (src/store/sqlite_wal.c), so a
    full disk refuses only once that space is used: the messages are large, and the
    limits on their length and rate are raised for them. */
#include "e2e_suite.h"
#include "fixtures.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

static char s_mount[64];
static const char *const s_big_sends[] = {"--rate-limit-per-s",
                                          "100000",
                                          "--rate-limit-burst",
                                          "100000",
                                          "--max-message-chars",
                                          "30000",
                                          NULL};
#define BIG_BODY 30000 //  about 8 pages of the log: its space ahead goes in some 40 sends

static void s_setup(void)
{
    memset(&s_srv, 0, sizeof s_srv);
    strcpy(s_mount, "/tmp/parley-full-XXXXXX");
    cr_assert_not_null(mkdtemp(s_mount));
    if (mount("tmpfs", s_mount, "tmpfs", 0, "size=6m") != 0) {
        rmdir(s_mount);
        s_mount[0] = '\0';
        return;
    }
    snprintf(s_srv.data_dir, sizeof s_srv.data_dir, "%s", s_mount);
    pl_e2e_start(s_big_sends);
}

static void s_teardown(void)
{
    if (!s_mount[0])
        return;
    pl_e2e_teardown();
    cr_expect_eq(umount(s_mount), 0, "umount %s: %s", s_mount, strerror(errno));
    rmdir(s_mount);
}

TestSuite(e2e_faults, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Sends a message of `size` characters with client_id; returns the ack's seq, or 0
//  for an error frame (whose code and client_id are checked).
static int64_t s_send(pl_ws_t *ws, int64_t room, const char *client_id, size_t size)
{
    char *body = malloc(size + 1);
    memset(body, 'x', size);
    body[size] = '\0';
    json_t *frame = json_pack("{s:s, s:I, s:s, s:s}", "type", "send", "room", (json_int_t)room,
                              "client_id", client_id, "body", body);
    free(body);
    cr_assert_eq(pl_ws_send_json(ws, frame), 0);
    json_decref(frame);
    for (;;) {
        json_t *reply = pl_ws_recv_json(ws, 10000);
        cr_assert_not_null(reply, "no answer to %s", client_id);
        const char *type = json_string_value(json_object_get(reply, "type"));
        int64_t seq = -1;
        if (strcmp(type, "ack") == 0) {
            cr_assert_str_eq(pl_api_str(reply, "client_id"), client_id);
            seq = pl_api_int(reply, "seq");
        } else if (strcmp(type, "error") == 0) {
            cr_assert_str_eq(pl_api_str(reply, "code"), "internal", "%s", pl_api_show(reply));
            cr_assert_str_eq(pl_api_str(reply, "ref"), client_id);
            seq = 0;
        }
        json_decref(reply);
        if (seq >= 0)
            return seq;
    }
}

//  Fills the file system of dir with a file; returns its path (static storage).
static const char *s_fill(const char *dir)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    static char block[65536];
    while (write(fd, block, sizeof block) > 0)
        ;
    //  The last bytes a short write could not take.
    while (write(fd, block, 1) > 0)
        ;
    close(fd);
    return path;
}

//  The seqs of the room's history, which must run 1..last without a gap.
static int64_t s_history_last(const char *token, int64_t room)
{
    json_t *page = pl_api_json(
        "GET", pl_api_fmt("/api/rooms/%lld/messages?limit=200", (long long)room), token, NULL, 200);
    json_t *messages = json_object_get(page, "messages");
    size_t i;
    json_t *message;
    json_array_foreach(messages, i, message)
        cr_assert_eq(pl_api_int(message, "seq"), (int64_t)i + 1, "a gap in the history");
    int64_t last = (int64_t)json_array_size(messages);
    json_decref(page);
    return last;
}

Test(e2e_faults, a_full_disk_refuses_writes_then_they_come_back)
{
    if (!s_mount[0]) {
        fprintf(stderr, "SKIPPED: cannot mount a tmpfs (not root?)\n");
        return;
    }
    pl_api_user_t alice = pl_api_signup("Alice");
    int64_t room = pl_api_new_room(alice.token);
    pl_ws_t *ws = pl_fx_ws_connect(s_srv.port, alice.token, NULL);
    cr_assert_not_null(ws);
    char client_id[32];
    int64_t acked = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(client_id, sizeof client_id, "before-%d", i);
        cr_assert_eq(s_send(ws, room, client_id, 100), ++acked);
    }
    const char *filler = s_fill(s_mount);
    //  The WAL may still have room for a few: send until the disk says no.
    int64_t seq = 1;
    for (int i = 0; seq && i < 400; i++) {
        snprintf(client_id, sizeof client_id, "full-%d", i);
        if ((seq = s_send(ws, room, client_id, BIG_BODY)))
            cr_assert_eq(seq, ++acked, "acked out of order while the disk filled");
    }
    cr_assert_eq(seq, 0, "400 messages of 30,000 bytes fit in a full 6 MB tmpfs");
    //  Reads are still served, and show exactly what was acked.
    cr_assert_eq(s_history_last(alice.token, room), acked);
    pl_api_expect("GET", "/healthz", NULL, NULL, 200, NULL);

    cr_assert_eq(unlink(filler), 0);
    //  The refused send, retried with its client_id, is stored at the next seq.
    cr_assert_eq(s_send(ws, room, client_id, BIG_BODY), acked + 1);
    acked++;
    snprintf(client_id, sizeof client_id, "after");
    cr_assert_eq(s_send(ws, room, client_id, 100), ++acked);
    pl_ws_close(&ws);
    //  And it all survives a restart.
    cr_assert_eq(pl_server_stop(&s_srv), 0);
    pl_e2e_start(s_big_sends);
    cr_assert_eq(s_history_last(alice.token, room), acked);
    pl_api_user_free(&alice);
}
