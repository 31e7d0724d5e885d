/*  Setup for the parley protocol: creates one user per connection (signup), one
    content per room and the memberships (POST /api/contents/{id}/room), over
    o->setup_conns keep-alive HTTP connections working in parallel, and remembers
    the result in o->cache so later runs against the same server skip it. Raw-protocol
    runs need none of this: their users carry no token. */
#include "bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum { JOB_SIGNUP, JOB_CONTENT, JOB_CREATE_ROOM, JOB_JOIN_ROOM, JOB_COUNT } bn_job_t;

typedef struct {
    const bn_opts_t *o;
    bn_user_t *users;
    int64_t *contents; //  one per room
    int nrooms;
    char prefix[24];
    _Atomic int next[JOB_COUNT];
    _Atomic int failed;
    pthread_barrier_t barrier;
} bn_setup_t;

static void s_fail(bn_setup_t *s, const char *what, int i, int status, const char *body)
{
    if (atomic_fetch_add(&s->failed, 1) == 0)
        fprintf(stderr, "parley-bench: setup: %s %d failed: status %d %.200s\n", what, i, status,
                body ? body : "");
}

//  POSTs and parses; retries a 503 or a broken connection a few times.
static json_t *s_post(bn_http_t *h, const char *path, const char *token, const char *body,
                      int *status)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        char *resp = NULL;
        *status = bn_http_request(h, "POST", path, token, body, &resp);
        if (*status == 503 || *status < 0) {
            free(resp);
            usleep(100000);
            continue;
        }
        json_t *json = json_loads(resp ? resp : "", 0, NULL);
        free(resp);
        return json;
    }
    return NULL;
}

static void s_signup(bn_setup_t *s, bn_http_t *h, int i)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"username\":\"%s%d\",\"password\":\"benchpass1\",\"display_name\":\"bench %d\"}",
             s->prefix, i, i);
    int status;
    json_t *json = s_post(h, "/api/auth/signup", NULL, body, &status);
    if (status == 409) { //  a retried signup that had gone through
        json_decref(json);
        json = s_post(h, "/api/auth/login", NULL, body, &status);
    }
    const char *token = json_string_value(json_object_get(json, "token"));
    json_int_t id = json_integer_value(json_object_get(json_object_get(json, "user"), "id"));
    if ((status == 201 || status == 200) && token && id > 0 &&
        strlen(token) < sizeof s->users[i].token) {
        s->users[i].id = id;
        strcpy(s->users[i].token, token);
    } else {
        s_fail(s, "signup", i, status, NULL);
    }
    json_decref(json);
}

static void s_content(bn_setup_t *s, bn_http_t *h, int r)
{
    char body[128];
    snprintf(body, sizeof body, "{\"kind\":\"book\",\"title\":\"bench room %d %s\"}", r, s->prefix);
    int status;
    json_t *json = s_post(h, "/api/contents", s->users[0].token, body, &status);
    json_int_t id = json_integer_value(json_object_get(json, "id"));
    if (status == 201 && id > 0)
        s->contents[r] = id;
    else
        s_fail(s, "content", r, status, NULL);
    json_decref(json);
}

static void s_join(bn_setup_t *s, bn_http_t *h, int i)
{
    int group = s->o->group;
    char path[96];
    snprintf(path, sizeof path, "/api/contents/%lld/room", (long long)s->contents[i / group]);
    int status;
    json_t *json = s_post(h, path, s->users[i].token, NULL, &status);
    json_int_t id = json_integer_value(json_object_get(json, "id"));
    if ((status == 201 || status == 200) && id > 0)
        s->users[i].room = id;
    else
        s_fail(s, "join", i, status, NULL);
    json_decref(json);
}

//  Takes jobs of one kind until none are left; i is the user (or room) index.
static void s_drain(bn_setup_t *s, bn_http_t *h, bn_job_t job)
{
    int n = s->o->conns, group = s->o->group;
    for (;;) {
        if (atomic_load(&s->failed))
            return;
        int i = atomic_fetch_add(&s->next[job], 1);
        switch (job) {
        case JOB_SIGNUP:
            if (i >= n)
                return;
            s_signup(s, h, i);
            break;
        case JOB_CONTENT:
            if (i >= s->nrooms)
                return;
            s_content(s, h, i);
            break;
        case JOB_CREATE_ROOM: //  the first member of each room creates it
            if (i >= s->nrooms)
                return;
            s_join(s, h, i * group);
            break;
        case JOB_JOIN_ROOM:
            if (i >= n)
                return;
            if (i % group)
                s_join(s, h, i);
            break;
        default:
            return;
        }
    }
}

static void *s_worker(void *arg)
{
    bn_setup_t *s = arg;
    bn_http_t h;
    bn_http_init(&h, s->o->port);
    for (bn_job_t job = 0; job < JOB_COUNT; job++) {
        s_drain(s, &h, job);
        pthread_barrier_wait(&s->barrier);
    }
    bn_http_close(&h);
    return NULL;
}

static bool s_token_valid(const bn_opts_t *o, const char *token)
{
    bn_http_t h;
    bn_http_init(&h, o->port);
    char *resp = NULL;
    int status = bn_http_request(&h, "GET", "/api/me", token, NULL, &resp);
    free(resp);
    bn_http_close(&h);
    return status == 200;
}

static bool s_load(const bn_opts_t *o, bn_user_t *users)
{
    FILE *f = o->cache ? fopen(o->cache, "r") : NULL;
    if (!f)
        return false;
    int n = 0, group = 0, port = 0;
    bool ok =
        fscanf(f, "parley-bench-cache 1 port %d users %d group %d\n", &port, &n, &group) == 3 &&
        n == o->conns && group == o->group && port == o->port;
    for (int i = 0; ok && i < n; i++) {
        long long id, room;
        ok = fscanf(f, "%lld %lld %511s\n", &id, &room, users[i].token) == 3;
        users[i].id = id;
        users[i].room = room;
    }
    fclose(f);
    return ok && s_token_valid(o, users[0].token);
}

static void s_save(const bn_opts_t *o, const bn_user_t *users)
{
    if (!o->cache)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->cache);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "parley-bench-cache 1 port %d users %d group %d\n", o->port, o->conns, o->group);
    for (int i = 0; i < o->conns; i++)
        fprintf(f, "%lld %lld %s\n", (long long)users[i].id, (long long)users[i].room,
                users[i].token);
    if (fclose(f) == 0)
        rename(tmp, o->cache);
}

bn_user_t *bn_setup(const bn_opts_t *o)
{
    bn_user_t *users = calloc((size_t)o->conns, sizeof *users);
    if (!users || o->proto != BN_PARLEY)
        return users;
    if (s_load(o, users)) {
        fprintf(stderr, "parley-bench: setup: %d users loaded from %s\n", o->conns, o->cache);
        return users;
    }
    uint64_t t0 = bn_now_ns();
    bn_setup_t s = {.o = o, .users = users};
    s.nrooms = (o->conns + o->group - 1) / o->group;
    s.contents = calloc((size_t)s.nrooms, sizeof *s.contents);
    snprintf(s.prefix, sizeof s.prefix, "b%lx_",
             (unsigned long)((uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid()) & 0xffffffu);
    int workers = o->setup_conns < o->conns ? o->setup_conns : o->conns;
    pthread_t tids[64];
    pthread_barrier_init(&s.barrier, NULL, (unsigned)workers);
    for (int w = 0; w < workers; w++)
        pthread_create(&tids[w], NULL, s_worker, &s);
    for (int w = 0; w < workers; w++)
        pthread_join(tids[w], NULL);
    pthread_barrier_destroy(&s.barrier);
    free(s.contents);
    if (atomic_load(&s.failed)) {
        free(users);
        return NULL;
    }
    fprintf(stderr, "parley-bench: setup: %d users in %d rooms in %.1f s\n", o->conns, s.nrooms,
            (double)(bn_now_ns() - t0) / 1e9);
    s_save(o, users);
    return users;
}
