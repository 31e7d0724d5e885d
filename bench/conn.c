/*  The generator threads: each owns an epoll instance and a share of the connections
    (connection i belongs to thread i % threads, and connects to the i % nports-th of
    the --ports), opens them non-blocking at most
    concurrency/threads at a time, upgrades them to WebSocket (or opens SSE streams),
    reads and writes them, and hands complete messages to the scenario's handlers. A thread stops
   when the main thread sets the DONE phase or its own hard deadline passes. */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536

void bn_stat_error(bn_thread_t *t, const char *fmt, ...)
{
    if (BN_GET(t->st.errors) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->st.first_error, sizeof t->st.first_error, fmt, ap);
        va_end(ap);
    }
    BN_ADD(t->st.errors, 1);
}

static void s_watch(bn_conn_t *c, bool want_out)
{
    struct epoll_event ev = {.events = (c->paused ? 0 : EPOLLIN) | (want_out ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(c->th->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void bn_conn_close(bn_conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->th->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = BN_DONE;
    free(c->in);
    free(c->out);
    free(c->msg);
    c->in = c->out = c->msg = NULL;
    c->in_len = c->in_cap = c->out_len = c->out_off = c->out_cap = c->msg_len = c->msg_cap = 0;
    c->msg_opcode = 0;
    c->want_out = c->paused = false; //  a connection opened again starts clean
}

void bn_conn_pause(bn_conn_t *c, bool paused)
{
    if (c->fd < 0 || c->paused == paused)
        return;
    c->paused = paused;
    s_watch(c, c->want_out);
}

void bn_conn_flush(bn_conn_t *c)
{
    if (c->fd < 0)
        return;
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                s_watch(c, true);
            c->want_out = true;
            return;
        }
        if (w < 0)
            return; //  the read side will notice the broken connection
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->want_out)
        s_watch(c, false);
    c->want_out = false;
}

void bn_conn_send_text(bn_conn_t *c, const char *s, size_t n, bool flush)
{
    if (c->state != BN_OPEN)
        return;
    size_t need = c->out_len + n + 14;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown) {
            bn_stat_error(c->th, "out of memory");
            return;
        }
        c->out = grown;
        c->out_cap = cap;
    }
    c->out_len += bn_ws_frame((uint8_t *)c->out + c->out_len, 1, s, n, &c->th->rng);
    if (flush && !c->want_out)
        bn_conn_flush(c);
}

static void s_fail(bn_conn_t *c, int status)
{
    bn_thread_t *t = c->th;
    bool was_open = c->state == BN_OPEN;
    if (!was_open)
        t->inflight--;
    bn_conn_close(c);
    if (was_open) {
        BN_ADD(t->st.lost, 1);
        if (t->run->h->on_lost)
            t->run->h->on_lost(c);
        return;
    }
    if (status == 503)
        BN_ADD(t->st.refused, 1);
    else
        BN_ADD(t->st.failed, 1);
    if (t->run->h->on_fail)
        t->run->h->on_fail(c, status);
}

static void s_start_connect(bn_thread_t *t, bn_conn_t *c)
{
    c->started_ns = bn_now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->close_code = 0;
    t->inflight++;
    c->state = BN_CONNECTING;
    if (c->fd < 0) {
        bn_stat_error(t, "socket: %s", strerror(errno));
        s_fail(c, -1);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const bn_opts_t *o = t->run->o;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)o->ports[c->idx % o->nports])};
    inet_pton(AF_INET, BN_HOST, &addr.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        if (!t->run->h->on_fail)
            bn_stat_error(t, "connect: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        s_fail(c, -1);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void s_connected(bn_conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        if (!c->th->run->h->on_fail)
            bn_stat_error(c->th, "connect: %s", strerror(err));
        s_fail(c, -1);
        return;
    }
    c->state = BN_HANDSHAKE;
    char path[640];
    const char *token = c->th->run->users[c->idx].token;
    if (c->th->run->o->proto == BN_RAW)
        snprintf(path, sizeof path, "/");
    else if (c->th->run->o->proto == BN_SOCKETIO)
        snprintf(path, sizeof path, BN_SIO_PATH);
    else
        snprintf(path, sizeof path, "%s?token=%s", c->sse ? "/api/events" : "/ws", token);
    if (c->sse)
        bn_sse_request(c, path);
    else
        bn_ws_handshake(c, path);
    s_watch(c, false);
    bn_conn_flush(c);
}

static void s_readable(bn_conn_t *c)
{
    bn_thread_t *t = c->th;
    for (int rounds = 0; rounds < 4; rounds++) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
            while (cap - c->in_len < READ_CHUNK)
                cap *= 2;
            char *grown = realloc(c->in, cap + 1);
            if (!grown) {
                bn_stat_error(t, "out of memory");
                s_fail(c, -1);
                return;
            }
            c->in = grown;
            c->in_cap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (c->state == BN_OPEN && !t->run->h->on_lost && BN_GET(t->run->phase) < BN_PH_DONE)
                bn_stat_error(t, "conn %d closed by the server", c->idx);
            s_fail(c, -1);
            return;
        }
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        c->read_ns = bn_now_ns();
        if (c->state == BN_HANDSHAKE) {
            int rc = c->sse ? bn_sse_head_done(c) : bn_ws_handshake_done(c);
            if (rc == 1)
                continue;
            if (rc != 0) {
                if (rc != 503 && !t->run->h->on_fail)
                    bn_stat_error(t, "conn %d: upgrade answered %d", c->idx, rc);
                s_fail(c, rc);
                return;
            }
            c->state = BN_OPEN;
            t->inflight--;
            t->run->h->on_open(c);
            if (c->state != BN_OPEN)
                return;
        }
        if (c->sse)
            bn_sse_read_events(c, t->run->h);
        else if (bn_ws_read_frames(c, t->run->h) < 0) {
            s_fail(c, -1);
            return;
        }
        if ((size_t)r < READ_CHUNK)
            return;
    }
}

void bn_conn_open(bn_conn_t *c)
{
    s_start_connect(c->th, c);
}

static void *s_thread_main(void *arg)
{
    bn_thread_t *t = arg;
    const bn_opts_t *o = t->run->o;
    int per_thread = o->concurrency / o->threads;
    if (per_thread < 1)
        per_thread = 1;
    uint64_t hard_deadline =
        bn_now_ns() + (uint64_t)((o->connect_timeout + o->duration + o->drain_timeout + 60) * 1e9);
    struct epoll_event evs[256];
    for (;;) {
        int phase = BN_GET(t->run->phase);
        uint64_t now = bn_now_ns();
        if (phase == BN_PH_DONE || now > hard_deadline)
            break;
        while (phase >= BN_PH_CONNECT && t->next_connect < t->nconns && t->inflight < per_thread)
            s_start_connect(t, t->conns[t->next_connect++]);
        int timeout = phase == BN_PH_RUN && o->rate > 0 ? 1 : 20;
        int n = epoll_wait(t->epfd, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            bn_conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->state == BN_CONNECTING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    s_connected(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                bn_conn_flush(c);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                s_readable(c);
        }
        if (t->run->h->tick)
            t->run->h->tick(t, bn_now_ns());
    }
    for (int i = 0; i < t->nconns; i++)
        if (t->conns[i]->fd >= 0)
            bn_conn_close(t->conns[i]);
    return NULL;
}

int bn_run_start(bn_run_t *run)
{
    const bn_opts_t *o = run->o;
    run->conns = calloc((size_t)o->conns, sizeof *run->conns);
    if (!run->conns)
        return -1;
    for (int k = 0; k < o->threads; k++) {
        bn_thread_t *t = &run->threads[k];
        t->id = k;
        t->run = run;
        t->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1) ^ bn_now_ns();
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->conns = calloc((size_t)o->conns / (size_t)o->threads + 1, sizeof *t->conns);
        if (t->epfd < 0 || !t->conns)
            return -1;
    }
    for (int i = 0; i < o->conns; i++) {
        bn_thread_t *t = &run->threads[i % o->threads];
        bn_conn_t *c = &run->conns[i];
        *c = (bn_conn_t){.fd = -1,
                         .idx = i,
                         .th = t,
                         .room = run->users[i].room,
                         .sse = o->sse_receivers && i > 0};
        t->conns[t->nconns++] = c;
        if (run->h->on_create)
            run->h->on_create(c);
    }
    run->connect_start_ns = bn_now_ns();
    atomic_store(&run->phase, BN_PH_CONNECT);
    for (int k = 0; k < o->threads; k++)
        if (pthread_create(&run->threads[k].tid, NULL, s_thread_main, &run->threads[k]))
            return -1;
    return 0;
}

void bn_run_join(bn_run_t *run)
{
    atomic_store(&run->phase, BN_PH_DONE);
    for (int k = 0; k < run->o->threads; k++) {
        pthread_join(run->threads[k].tid, NULL);
        close(run->threads[k].epfd);
        free(run->threads[k].conns);
    }
}
