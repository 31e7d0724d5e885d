/*  The soak's HTTP client: one thread on one keep-alive connection making
    --http-rate requests a second while the load runs, each as the SSE holder of a
    random room (member 4, who never subscribes on a WebSocket): the room's latest
    messages (checked ascending with no hole), its room list, a publish (POST
    /api/rooms/{id}/messages, logged with its seq like a WebSocket ack), and joins and
    leaves of the next room. A publish that fails is made again with the same
    client_id until it is answered; a failure is asked for only when the server was
    killed meanwhile. */
#include "soak.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    sk_soak_t *s;
    bn_http_t h;
    sk_counts_t *counts;
    uint64_t rng;
    bool *joined; //  per room: the next room's SSE holder is a member of it now
    //  The publish awaiting an answer, if any.
    bool publishing;
    int pub_room;
    uint64_t pub_n, pub_t;
    uint64_t next_n;
} sk_http_t;

static const bn_user_t *s_user(sk_http_t *w, int room)
{
    return &w->s->run->users[room * w->s->o->group + SK_SSE_MEMBER];
}

static int64_t s_room_id(sk_http_t *w, int room)
{
    return w->s->run->users[room * w->s->o->group].room;
}

//  One request; whether the answer was the expected status. A failure while the
//  server was being killed is asked for; any other is an error.
static bool s_request(sk_http_t *w, const char *method, const char *path, const char *token,
                      const char *body, int want, int want2, json_t **json)
{
    sk_soak_t *s = w->s;
    int epoch = atomic_load(&s->epoch);
    char *resp = NULL;
    int status = bn_http_request(&w->h, method, path, token, body, &resp);
    bool ok = status == want || status == want2;
    if (ok && json)
        *json = json_loads(resp ? resp : "", 0, NULL);
    if (!ok && (atomic_load(&s->down) || atomic_load(&s->epoch) != epoch)) {
        sk_count(w->counts, SK_HTTP_DOWN, 1);
        bn_http_close(&w->h);
        bn_http_init(&w->h, s->o->port);
    } else if (!ok) {
        sk_error(w->counts, SK_E_HTTP, "%s %s answered %d: %.120s", method, path, status,
                 resp ? resp : "");
    }
    free(resp);
    return ok;
}

static void s_read(sk_http_t *w, int room)
{
    char path[96];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages?limit=50", (long long)s_room_id(w, room));
    json_t *json = NULL;
    if (!s_request(w, "GET", path, s_user(w, room)->token, NULL, 200, 200, &json))
        return;
    sk_count(w->counts, SK_HTTP_READS, 1);
    json_t *messages = json_object_get(json, "messages"), *m;
    size_t i;
    json_int_t prev = -1;
    json_array_foreach(messages, i, m)
    {
        json_int_t seq = json_integer_value(json_object_get(m, "seq"));
        if (prev >= 0 && seq != prev + 1)
            sk_error(w->counts, SK_E_HTTP_ORDER, "%s: seq %lld after %lld", path, (long long)seq,
                     (long long)prev);
        prev = seq;
    }
    json_decref(json);
}

static void s_rooms(sk_http_t *w, int room)
{
    if (s_request(w, "GET", "/api/rooms", s_user(w, room)->token, NULL, 200, 200, NULL))
        sk_count(w->counts, SK_HTTP_READS, 1);
}

//  Publishes the pending message (a new one when none is pending).
static void s_publish(sk_http_t *w, int room)
{
    if (!w->publishing) {
        w->publishing = true;
        w->pub_room = room;
        w->pub_n = ++w->next_n;
        w->pub_t = bn_now_ns();
    }
    char path[96], body[128], id[48];
    snprintf(path, sizeof path, "/api/rooms/%lld/messages", (long long)s_room_id(w, w->pub_room));
    int idn = snprintf(id, sizeof id, "h%llu.%llu", (unsigned long long)w->pub_n,
                       (unsigned long long)w->pub_t);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"body\":\"t=%llu;over http\"}", id,
             (unsigned long long)w->pub_t);
    json_t *json = NULL;
    //  201 for a new message; a retry of one stored may be answered 200.
    if (!s_request(w, "POST", path, s_user(w, w->pub_room)->token, body, 201, 200, &json))
        return;
    json_int_t seq = json_integer_value(json_object_get(json, "seq"));
    json_decref(json);
    if (seq <= 0) {
        sk_error(w->counts, SK_E_HTTP, "POST %s: an answer without a seq", path);
        return;
    }
    sk_log_add(&w->s->http_acked, w->pub_room, seq, sk_id_hash(id, (size_t)idn));
    sk_room_acked(w->s, w->pub_room, seq);
    sk_count(w->counts, SK_HTTP_PUBLISHED, 1);
    w->publishing = false;
}

//  The SSE holder of room joins the next room, or leaves it when it joined. After a
//  failure the membership is unknown: it joins (which a member may do again).
static void s_churn(sk_http_t *w, int room)
{
    int next = (room + 1) % w->s->nrooms;
    if (next == room)
        return;
    char path[96];
    bool leave = w->joined[room];
    snprintf(path, sizeof path, "/api/rooms/%lld/%s", (long long)s_room_id(w, next),
             leave ? "leave" : "join");
    w->joined[room] = false;
    if (!s_request(w, "POST", path, s_user(w, room)->token, NULL, 204, 204, NULL))
        return;
    w->joined[room] = !leave;
    sk_count(w->counts, leave ? SK_LEAVES : SK_JOINS, 1);
}

static void *s_main(void *arg)
{
    sk_http_t *w = arg;
    sk_soak_t *s = w->s;
    uint64_t period = (uint64_t)(1e9 / s->o->http_rate), next = bn_now_ns();
    while (!atomic_load(&s->http_stop)) {
        bool running = BN_GET(s->run->phase) == BN_PH_RUN;
        atomic_store(&s->http_idle, !running && !w->publishing);
        uint64_t now = bn_now_ns();
        if (atomic_load(&s->down) || now < next || (!running && !w->publishing)) {
            usleep(5000);
            continue;
        }
        next = now + period;
        int room = (int)(bn_rand(&w->rng) % (uint64_t)s->nrooms);
        int pick = (int)(bn_rand(&w->rng) % 10);
        if (w->publishing || pick < 3)
            s_publish(w, room);
        else if (pick < 7)
            s_read(w, room);
        else if (pick < 9)
            s_churn(w, room);
        else
            s_rooms(w, room);
    }
    if (w->publishing)
        sk_error(w->counts, SK_E_UNACKED, "a publish over HTTP never answered (room %d)",
                 w->pub_room);
    bn_http_close(&w->h);
    free(w->joined);
    free(w);
    return NULL;
}

int sk_http_start(sk_soak_t *s, pthread_t *tid)
{
    sk_http_t *w = calloc(1, sizeof *w);
    bool *joined = calloc((size_t)s->nrooms, sizeof *joined);
    if (!w || !joined) {
        free(w);
        free(joined);
        return -1;
    }
    *w = (sk_http_t){
        .s = s, .counts = &s->counts[SK_HTTP_SLOT], .rng = bn_now_ns() | 1, .joined = joined};
    bn_http_init(&w->h, s->o->port);
    if (pthread_create(tid, NULL, s_main, w) == 0)
        return 0;
    free(joined);
    free(w);
    return -1;
}
