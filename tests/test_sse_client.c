/*  The test SSE client (tests/support/sse_client.h) against a scripted loopback
    server: the event stream format (line endings, fields, comments, multi-line
    data, a byte order mark), blocks split across reads and timeouts, the end of a
    stream, refusals with their bodies, and the notification helper's checks. The
    end-to-end suites trust this client to tell what parley sent. */
#include "net.h"
#include "sse_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  A script step that is not bytes to send: wait 100 ms.
#define PAUSE ((const char *)1)

#define STREAM_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"

typedef struct {
    int listener;
    int port;
    const char *const *script; //  strings to send, PAUSE steps, ended by NULL
    char request[4096];        //  what the client sent, up to its blank line
    pthread_t thread;
} fake_t;

static fake_t s_fake;

TestSuite(sse_client, .timeout = 30);

static void *s_serve(void *arg)
{
    fake_t *fake = arg;
    int fd = accept(fake->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    while (len < sizeof fake->request - 1 && !strstr(fake->request, "\r\n\r\n")) {
        ssize_t n = recv(fd, fake->request + len, sizeof fake->request - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        fake->request[len] = '\0';
    }
    for (const char *const *step = fake->script; *step; step++) {
        if (*step == PAUSE)
            nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
        else if (send(fd, *step, strlen(*step), MSG_NOSIGNAL) < 0)
            break;
    }
    close(fd);
    return NULL;
}

//  Serves one connection with script on a fresh loopback port.
static void s_serve_script(const char *const *script)
{
    memset(&s_fake, 0, sizeof s_fake);
    s_fake.script = script;
    s_fake.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s_fake.listener, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t size = sizeof addr;
    cr_assert_eq(bind(s_fake.listener, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(listen(s_fake.listener, 4), 0);
    cr_assert_eq(getsockname(s_fake.listener, (struct sockaddr *)&addr, &size), 0);
    s_fake.port = ntohs(addr.sin_port);
    cr_assert_eq(pthread_create(&s_fake.thread, NULL, s_serve, &s_fake), 0);
}

static void s_fake_end(void)
{
    pthread_join(s_fake.thread, NULL);
    close(s_fake.listener);
}

static pl_sse_t *s_connect(const char *path, const char *headers)
{
    pl_http_response_t refused;
    pl_sse_t *sse = pl_sse_connect(s_fake.port, path, headers, &refused);
    cr_assert(sse, "refused with %d", refused.status);
    return sse;
}

//  Reads the next block (within 2 s) and asserts its fields (NULL: absent).
static void s_expect_block(pl_sse_t *sse, const char *event, const char *id, const char *data,
                           const char *comment, long long retry, bool comment_only)
{
    pl_sse_block_t b;
    cr_assert_eq(pl_sse_next(sse, 2000, &b), 1, "no block");
    const char *got[] = {b.event, b.id, b.data, b.comment};
    const char *want[] = {event, id, data, comment};
    static const char *const names[] = {"event", "id", "data", "comment"};
    for (int i = 0; i < 4; i++) {
        if (want[i])
            cr_assert(got[i] && strcmp(got[i], want[i]) == 0, "%s: '%s', expected '%s'", names[i],
                      got[i] ? got[i] : "(none)", want[i]);
        else
            cr_assert_null(got[i], "%s: '%s', expected none", names[i], got[i]);
    }
    cr_assert_eq(b.retry, retry);
    cr_assert_eq(b.comment_only, comment_only);
    pl_sse_block_free(&b);
}

Test(sse_client, blocks_are_read_as_the_format_defines_them)
{
    static const char *const script[] = {
        STREAM_HEAD "\xEF\xBB\xBFretry: 2000\n\n",
        ": ping\n\n",
        "event: notification\r\nid: 7\r\ndata: {\"id\":7,\r\ndata: \"x\":1}\r\n\r\n",
        "data:no space\rdata:  two spaces\r\r",
        "id\nevent\ndata\n\n",
        ":\n: a\n:b\n\n",
        "unknown: x\nretry: 12a\nevent: first\nevent: second\n\n",
        "retry: 5\n: note\n\n",
        NULL,
    };
    s_serve_script(script);
    pl_sse_t *sse = s_connect("/api/events?x=1", "Last-Event-ID: 5\r\n");
    cr_assert(strstr(s_fake.request, "GET /api/events?x=1 HTTP/1.1\r\n") == s_fake.request, "%s",
              s_fake.request);
    cr_assert(strstr(s_fake.request, "\r\nAccept: text/event-stream\r\n"), "%s", s_fake.request);
    cr_assert(strstr(s_fake.request, "\r\nLast-Event-ID: 5\r\n"), "%s", s_fake.request);
    const pl_http_response_t *head = pl_sse_response(sse);
    cr_assert_eq(head->status, 200);
    cr_assert_str_eq(pl_http_header(head, "Content-Type"), "text/event-stream");

    s_expect_block(sse, NULL, NULL, NULL, NULL, 2000, false);
    s_expect_block(sse, NULL, NULL, NULL, "ping", -1, true);
    s_expect_block(sse, "notification", "7", "{\"id\":7,\n\"x\":1}", NULL, -1, false);
    s_expect_block(sse, NULL, NULL, "no space\n two spaces", NULL, -1, false);
    s_expect_block(sse, "", "", "", NULL, -1, false);
    s_expect_block(sse, NULL, NULL, NULL, "\na\nb", -1, true);
    s_expect_block(sse, "second", NULL, NULL, NULL, -1, false);
    s_expect_block(sse, NULL, NULL, NULL, "note", 5, false);
    pl_sse_block_t b;
    cr_assert_eq(pl_sse_next(sse, 2000, &b), -1);
    cr_assert(pl_sse_is_closed(sse));
    cr_assert_null(b.data);
    cr_assert_eq(b.retry, -1);
    pl_sse_close(&sse);
    cr_assert_null(sse);
    s_fake_end();
}

Test(sse_client, a_block_split_across_reads_and_timeouts_is_kept)
{
    static const char *const script[] = {
        STREAM_HEAD, PAUSE,       "event: notif", PAUSE,
        PAUSE,       "ication\r", PAUSE,          "\nid: 3\ndata: {\"id\":3}\n",
        PAUSE,       "\n",        ": ping\n\n",   "data: cut",
        NULL,
    };
    s_serve_script(script);
    pl_sse_t *sse = s_connect("/", NULL);
    pl_sse_block_t b;
    cr_assert_eq(pl_sse_next(sse, 150, &b), 0, "a block before its blank line");
    cr_assert_eq(pl_sse_next(sse, 0, &b), 0);
    char why[256];
    json_t *n = pl_sse_next_notification(sse, 2000, why, sizeof why);
    cr_assert(n, "%s", why);
    cr_assert_eq(json_integer_value(json_object_get(n, "id")), 3);
    json_decref(n);
    //  The heartbeat is skipped, and the cut block at the end is dropped.
    cr_assert_null(pl_sse_next_notification(sse, 2000, why, sizeof why));
    cr_assert(strstr(why, "ended"), "%s", why);
    cr_assert(pl_sse_is_closed(sse));
    pl_sse_close(&sse);
    s_fake_end();
}

Test(sse_client, the_notification_helper_accepts_only_notifications)
{
    static const char *const script[] = {
        STREAM_HEAD,
        "data: {\"id\":1}\n\n",
        "event: other\nid: 1\ndata: {\"id\":1}\n\n",
        "event: notification\ndata: {\"id\":1}\n\n",
        "event: notification\nid: 1\ndata: {\"id\":2}\n\n",
        "event: notification\nid: 1\ndata: [1]\n\n",
        "event: notification\nid: 1\ndata: {\"id\":\"1\"}\n\n",
        "event: notification\nid: 9\ndata: {\"id\":9,\"kind\":\"follow\"}\n\n",
        //  Open for a second more, so that a short wait times out before the end.
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        PAUSE,
        NULL,
    };
    s_serve_script(script);
    pl_sse_t *sse = s_connect("/", NULL);
    static const char *const reasons[] = {"'(none)'", "'other'", "id '(none)'",
                                          "id '1'",   "object",  "object"};
    char why[256];
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        cr_assert_null(pl_sse_next_notification(sse, 2000, why, sizeof why), "block %zu", i);
        cr_assert(strstr(why, reasons[i]), "block %zu: %s", i, why);
    }
    json_t *n = pl_sse_next_notification(sse, 2000, why, sizeof why);
    cr_assert(n, "%s", why);
    cr_assert_str_eq(json_string_value(json_object_get(n, "kind")), "follow");
    json_decref(n);
    int64_t start = pl_net_now_ms();
    cr_assert_null(pl_sse_next_notification(sse, 100, why, sizeof why));
    cr_assert(strstr(why, "within 100 ms"), "%s", why);
    cr_assert_lt(pl_net_now_ms() - start, 1000);
    pl_sse_close(&sse);
    s_fake_end();
}

Test(sse_client, a_refusal_keeps_its_status_headers_and_body)
{
    static const char *const by_length[] = {
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
        "{\"error\":",
        PAUSE,
        "{}}MORE",
        PAUSE,
        PAUSE,
        PAUSE,
        NULL,
    };
    s_serve_script(by_length);
    pl_http_response_t r;
    cr_assert_null(pl_sse_connect(s_fake.port, "/", NULL, &r));
    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(pl_http_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(r.body, "{\"error\":{}}M");
    pl_http_response_free(&r);
    s_fake_end();

    static const char *const until_close[] = {
        "HTTP/1.1 503 Service Unavailable\r\n\r\n{\"error\":",
        PAUSE,
        "{\"code\":\"unavailable\"}}",
        NULL,
    };
    s_serve_script(until_close);
    cr_assert_null(pl_sse_connect(s_fake.port, "/", NULL, &r));
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")),
                     "unavailable");
    pl_http_response_free(&r);
    s_fake_end();

    //  A 200 with a framed body is no stream.
    static const char *const framed[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", NULL};
    s_serve_script(framed);
    cr_assert_null(pl_sse_connect(s_fake.port, "/", NULL, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{}");
    pl_http_response_free(&r);
    s_fake_end();

    //  No server at all.
    int port = s_fake.port;
    cr_assert_null(pl_sse_connect(port, "/", NULL, &r));
    cr_assert_eq(r.status, 0);
    cr_assert_null(r.body);
}
