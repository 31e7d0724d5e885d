/*  Server lifecycle (see server.h for the order and why). */
#include "parley/server.h"

#include "parley/allocator.h"
#include "parley/bridge.h"
#include "parley/conn.h"
#include "parley/creator.h"
#include "parley/http.h"
#include "parley/loader.h"
#include "parley/log.h"
#include "parley/notifier.h"
#include "parley/persister.h"
#include "parley/room.h"
#include "parley/uploads.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JWT_SECRET_FILE "jwt.secret"
//  The bound of room_threads and writer_threads in config.h.
#define MAX_SHARDS 64

struct pl_server {
    pl_app_t app;
    pl_persister_args_t persister_args;
    zactor_t *persister;
    pl_loader_args_t loader_args;
    zactor_t *loader;
    pl_room_args_t *room_args;
    zactor_t **rooms;
    pl_creator_args_t creator_args;
    zactor_t *creator;
    pl_notifier_args_t notifier_args;
    zactor_t *notifier;
    pl_conn_args_t *writer_args;
    zactor_t **writers;
    pl_bridge_args_t bridge_args;
    zactor_t *bridge; //  in a cluster
    struct mg_context *http;
    int port;
    struct mg_context *metrics_http; //  serving metrics_listen, when set
    int metrics_port;
};

//  civetweb holds a descriptor per connection: use every one the system allows.
static void s_raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            pl_warn("cannot raise the open file limit: %s", strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
        pl_info("open file limit: %llu", (unsigned long long)limit.rlim_cur);
}

//  The JWT key: jwt_secret when set, else <data_dir>/jwt.secret, created once with
//  mode 0600 so that tokens stay valid across restarts.
static int s_load_jwt_key(pl_app_t *app, char *err, size_t err_len)
{
    const pl_config_t *cfg = app->config;
    if (cfg->jwt_secret[0]) {
        size_t len = strlen(cfg->jwt_secret);
        if (len > PL_JWT_KEY_MAX) {
            snprintf(err, err_len, "jwt_secret: at most %d characters", PL_JWT_KEY_MAX);
            return -1;
        }
        memcpy(app->jwt_key, cfg->jwt_secret, len);
        app->jwt_key_len = len;
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cfg->data_dir, JWT_SECRET_FILE);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        uint8_t random[32];
        char hex[65];
        randombytes_buf(random, sizeof random);
        sodium_bin2hex(hex, sizeof hex, random, sizeof random);
        bool written = write(fd, hex, 64) == 64 && fsync(fd) == 0;
        close(fd);
        if (!written) {
            unlink(path);
            snprintf(err, err_len, "data_dir: cannot write %s", path);
            return -1;
        }
        pl_info("generated a JWT key in %s", path);
    } else if (errno != EEXIST) {
        snprintf(err, err_len, "data_dir: cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    fd = open(path, O_RDONLY);
    ssize_t len = fd >= 0 ? read(fd, app->jwt_key, sizeof app->jwt_key) : -1;
    if (fd >= 0)
        close(fd);
    if (len < 32) {
        snprintf(err, err_len, "%s: unreadable or shorter than 32 bytes", path);
        return -1;
    }
    app->jwt_key_len = (size_t)len;
    return 0;
}

//  CPUs this process may run on (taskset and cpusets narrow it), at most the most shards
//  the configuration allows.
static int s_usable_cpus(void)
{
    cpu_set_t set;
    long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                            : sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > MAX_SHARDS ? MAX_SHARDS : (int)cpus;
}

//  Starts the persister: it opens the store and migrates it, so it goes first.
//  The store every actor and the reader pool open (the strings are cfg's).
static pl_store_config_t s_store_config(const pl_config_t *cfg)
{
    return (pl_store_config_t){cfg->store, cfg->data_dir, cfg->postgres_url};
}

static int s_start_persister(pl_server_t *self, char *err, size_t err_len)
{
    const pl_config_t *cfg = self->app.config;
    self->persister_args = (pl_persister_args_t){.store = s_store_config(cfg),
                                                 .batch_max = (int)cfg->persist_batch_max,
                                                 .room_shards = self->app.room_count};
    self->persister = pl_actor_start("persister", pl_persister_actor, &self->persister_args);
    if (!self->persister || self->persister_args.failed) {
        snprintf(err, err_len, "%s", self->persister_args.error);
        return -1;
    }
    return (self->app.persister = pl_ingress_new(PL_PERSISTER_INBOX)) ? 0 : -1;
}

//  Allocates `count` zeroed elements of `size` into *out; -1 when memory ran out.
static int s_calloc(void *out, size_t count, size_t size)
{
    *(void **)out = calloc(count, size);
    return *(void **)out ? 0 : -1;
}

static int s_start_shards(pl_server_t *self)
{
    const pl_config_t *cfg = self->app.config;
    pl_app_t *app = &self->app;
    if (s_calloc(&self->room_args, (size_t)app->room_count, sizeof *self->room_args) ||
        s_calloc(&self->rooms, (size_t)app->room_count, sizeof *self->rooms) ||
        s_calloc(&app->rooms, (size_t)app->room_count, sizeof *app->rooms) ||
        s_calloc(&self->writer_args, (size_t)app->writer_count, sizeof *self->writer_args) ||
        s_calloc(&self->writers, (size_t)app->writer_count, sizeof *self->writers) ||
        s_calloc(&app->writers, (size_t)app->writer_count, sizeof *app->writers))
        return -1;
    self->loader_args = (pl_loader_args_t){.store = s_store_config(cfg),
                                           .room_shards = app->room_count,
                                           .window = cfg->recovery_window};
    self->loader = pl_actor_start("loader", pl_loader_actor, &self->loader_args);
    if (!self->loader || self->loader_args.failed)
        return -1;
    self->notifier_args = (pl_notifier_args_t){.store = s_store_config(cfg),
                                               .writer_count = app->writer_count,
                                               .writes_per_s = cfg->notify_writes_per_s};
    self->notifier = pl_actor_start("notifier", pl_notifier_actor, &self->notifier_args);
    if (!self->notifier || self->notifier_args.failed ||
        !(app->notifier = pl_ingress_new(PL_NOTIFIER_INBOX)))
        return -1;
    char name[32];
    for (int i = 0; i < app->room_count; i++) {
        pl_room_inbox_name(i, name, sizeof name);
        self->room_args[i] = (pl_room_args_t){.shard = i,
                                              .shard_count = app->room_count,
                                              .writer_count = app->writer_count,
                                              .window = cfg->recovery_window,
                                              .presence_max_members = cfg->presence_max_members};
        self->rooms[i] = pl_actor_start(name, pl_room_actor, &self->room_args[i]);
        if (!self->rooms[i] || self->room_args[i].failed || !(app->rooms[i] = pl_ingress_new(name)))
            return -1;
    }
    self->creator = pl_actor_start("creator", pl_creator_actor, &self->creator_args);
    if (!self->creator || self->creator_args.failed ||
        !(app->creator = pl_ingress_new(PL_CREATOR_INBOX)))
        return -1;
    for (int i = 0; i < app->writer_count; i++) {
        pl_conn_inbox_name(i, name, sizeof name);
        self->writer_args[i] = (pl_conn_args_t){.shard = i,
                                                .app = app,
                                                .queue_limit = cfg->outbound_queue_bytes,
                                                .stall_ms = cfg->request_timeout_ms,
                                                .silence_ms = cfg->presence_ttl_ms,
                                                .heartbeat_ms = cfg->sse_heartbeat_ms};
        self->writers[i] = pl_actor_start(name, pl_conn_actor, &self->writer_args[i]);
        if (!self->writers[i] || self->writer_args[i].failed ||
            !(app->writers[i] = pl_ingress_new(name)))
            return -1;
    }
    return 0;
}

//  Joins the cluster: the bridge reaches Redis, makes sure no live node has this
//  node_id, and reads the live nodes before anything is served.
static int s_start_bridge(pl_server_t *self, char *err, size_t err_len)
{
    const pl_config_t *cfg = self->app.config;
    pl_bridge_args_t *args = &self->bridge_args;
    char why[256];
    if (pl_redis_parse_url(cfg->redis_url, &args->redis, why, sizeof why)) {
        snprintf(err, err_len, "redis_url: %s", why);
        return -1;
    }
    args->node_id = (int)cfg->node_id;
    args->prefix = cfg->redis_prefix;
    args->heartbeat_ms = (int)cfg->cluster_heartbeat_ms;
    args->node_ttl_ms = (int)cfg->cluster_node_ttl_ms;
    args->lease_ms = (int)cfg->cluster_lease_ms;
    args->room_count = self->app.room_count;
    args->writer_count = self->app.writer_count;
    self->bridge = pl_actor_start("bridge", pl_bridge_actor, args);
    if (!self->bridge || args->failed) {
        snprintf(err, err_len, "cluster: %s", args->error[0] ? args->error : "cannot start");
        return -1;
    }
    if (!(self->app.bridge = pl_ingress_new(PL_BRIDGE_INBOX)))
        return -1;
    pl_cluster_set_bridge(self->app.bridge);
    pl_info("cluster: node %d joined through Redis at %s:%d", args->node_id, args->redis.host,
            args->redis.port);
    return 0;
}

static int s_start_actors(pl_server_t *self, char *err, size_t err_len)
{
    if (s_start_persister(self, err, err_len))
        return -1;
    if (s_start_shards(self)) {
        snprintf(err, err_len, "could not start the actors");
        return -1;
    }
    return self->app.config->node_id ? s_start_bridge(self, err, err_len) : 0;
}

static int s_start(pl_server_t *self, char *err, size_t err_len)
{
    pl_app_t *app = &self->app;
    const pl_config_t *cfg = app->config;
    s_raise_fd_limit();
    if (sodium_init() < 0) {
        snprintf(err, err_len, "libsodium cannot initialise");
        return -1;
    }
    app->password_cost = (pl_password_cost_t){(unsigned long long)cfg->password_hash_ops,
                                              (size_t)cfg->password_hash_mem_kib};
    pl_cluster_init((int)cfg->node_id);
    atomic_store(&app->last_stream_id, pl_cluster_tag(0));
    int cpus = s_usable_cpus();
    sem_init(&app->hash_slots, 0, (unsigned)cpus);
    //  Shards on one CPU only take turns, and each turn costs a switch and a colder cache:
    //  a server pinned to one core moves ~15-25% more messages with one of each.
    app->room_count = cfg->room_threads ? (int)cfg->room_threads : cpus;
    app->writer_count = cfg->writer_threads ? (int)cfg->writer_threads : cpus;
    pl_info("%d CPU(s) usable: %d room actor(s), %d writer(s); allocator %s", cpus, app->room_count,
            app->writer_count, pl_allocator_name());
    size_t entries = (size_t)cfg->auth_throttle_entries;
    int64_t window_ms = cfg->auth_throttle_window_s * 1000;
    if (!(app->login_fails_by_user =
              pl_throttle_new(entries, cfg->login_fail_limit_user, window_ms)) ||
        !(app->login_fails_by_addr =
              pl_throttle_new(entries, cfg->login_fail_limit_addr, window_ms)) ||
        !(app->signups_by_addr = pl_throttle_new(entries, cfg->signup_limit_addr, window_ms))) {
        snprintf(err, err_len, "out of memory for auth_throttle_entries");
        return -1;
    }
    uint8_t random[32];
    randombytes_buf(random, sizeof random);
    if (pl_password_hash((const char *)random, sizeof random, &app->password_cost,
                         app->dummy_hash)) {
        snprintf(err, err_len, "password_hash_*: libsodium refused this cost");
        return -1;
    }
    //  The data directory holds the key file and the uploads whichever the store
    //  (and parley.db with SQLite, whose writer would make it too).
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "data_dir: cannot create %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    if (!(app->waiters = pl_waiters_new()) || s_start_actors(self, err, err_len) ||
        s_load_jwt_key(app, err, err_len) || pl_uploads_prepare(cfg->data_dir, err, err_len))
        return -1;
    int readers = cfg->http_threads < 32 ? (int)cfg->http_threads : 32;
    pl_store_config_t store = s_store_config(cfg);
    if (!(app->readers = pl_store_pool_new(&store, readers, err, err_len)))
        return -1;
    if (cfg->metrics_listen[0] &&
        !(self->metrics_http = pl_http_start_metrics(app, &self->metrics_port, err, err_len)))
        return -1;
    if (!(self->http = pl_http_start(app, &self->port, err, err_len)))
        return -1;
    return 0;
}

pl_server_t *pl_server_start(const pl_config_t *cfg, char *err, size_t err_len)
{
    pl_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    self->app.config = cfg;
    if (s_start(self, err, err_len)) {
        pl_server_stop(&self);
        return NULL;
    }
    const char *colon = strrchr(cfg->listen, ':');
    pl_info("listening on %.*s:%d", colon ? (int)(colon - cfg->listen) : 0, cfg->listen,
            self->port);
    return self;
}

//  Sends every WebSocket a close frame (1001, going away), ends every SSE stream, and
//  waits until done.
static void s_drain_writers(pl_server_t *self)
{
    pl_waiters_t *waiters = self->app.waiters;
    pl_waiter_t *waiter = pl_waiter_new(waiters);
    for (int i = 0; waiter && i < self->app.writer_count; i++) {
        pl_msg_t msg = {.type = PL_MSG_CONN_DRAIN, .as.conn_drain = {.close_code = 1001}};
        pl_msg_frame_t reply;
        if (pl_ingress_request(self->app.writers[i], waiter, &msg, &msg.as.conn_drain.waiter,
                               &msg.as.conn_drain.req_id,
                               (int)self->app.config->shutdown_timeout_ms, &reply) == 0)
            pl_msg_frame_close(&reply);
    }
}

typedef struct {
    struct sockaddr_in address;
    atomic_bool stopped;
} waker_t;

//  civetweb's master thread polls its listening socket in 2 s slices and only then
//  sees that mg_stop was called; a connection wakes it at once. Connects until
//  mg_stop has returned.
static void *s_wake_listener(void *arg)
{
    waker_t *waker = arg;
    pl_actor_name_thread("stop-waker");
    while (!atomic_load(&waker->stopped)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            connect(fd, (struct sockaddr *)&waker->address, sizeof waker->address);
            close(fd);
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    return NULL;
}

//  mg_stop of a server listening on `listen`, bound to port, woken promptly (see
//  s_wake_listener).
static void s_stop_http(struct mg_context *http, const char *listen, int port)
{
    waker_t waker = {.address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)}};
    const char *colon = strrchr(listen, ':');
    char host[64] = "";
    if (colon && (size_t)(colon - listen) < sizeof host)
        memcpy(host, listen, (size_t)(colon - listen));
    if (!inet_pton(AF_INET, host, &waker.address.sin_addr) ||
        waker.address.sin_addr.s_addr == htonl(INADDR_ANY))
        waker.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_t thread;
    bool woken = pthread_create(&thread, NULL, s_wake_listener, &waker) == 0;
    mg_stop(http);
    atomic_store(&waker.stopped, true);
    if (woken)
        pthread_join(thread, NULL);
}

void pl_server_stop(pl_server_t **self_p)
{
    pl_server_t *self = *self_p;
    if (!self)
        return;
    pl_app_t *app = &self->app;
    atomic_store(&app->draining, true);
    if (self->metrics_http)
        s_stop_http(self->metrics_http, app->config->metrics_listen, self->metrics_port);
    if (self->http) {
        //  Rooms go to the other nodes while their subscribers are still connected.
        if (self->bridge && zstr_send(self->bridge, "DRAIN") == 0)
            zsock_wait(self->bridge);
        pl_info("stopping: closing %d connections", atomic_load(&app->open_streams));
        s_drain_writers(self);
        s_stop_http(self->http, app->config->listen, self->port);
        pl_debug("stopping: civetweb stopped");
    }
    //  The bridge outlives the actors it sends to: it stops waiting on them now.
    if (self->bridge)
        zstr_send(self->bridge, "LOCAL_STOP");
    //  Rooms and the creator send to the writers and the persister: they stop first.
    for (int i = 0; self->rooms && i < app->room_count; i++) {
        pl_ingress_destroy(&app->rooms[i]);
        pl_actor_stop(&self->rooms[i], &self->room_args[i]);
    }
    pl_ingress_destroy(&app->creator);
    pl_actor_stop(&self->creator, &self->creator_args);
    pl_actor_stop(&self->loader, &self->loader_args);
    //  The notifier sends to the writers and the persister, and hears from the rooms.
    pl_ingress_destroy(&app->notifier);
    pl_actor_stop(&self->notifier, &self->notifier_args);
    for (int i = 0; self->writers && i < app->writer_count; i++) {
        pl_ingress_destroy(&app->writers[i]);
        pl_actor_stop(&self->writers[i], &self->writer_args[i]);
    }
    pl_debug("stopping: rooms and writers stopped");
    pl_ingress_destroy(&app->persister);
    pl_actor_stop(&self->persister, &self->persister_args);
    pl_debug("stopping: persister stopped");
    //  Last, since every actor may send to it (replies to other nodes' waiters too).
    pl_cluster_set_bridge(NULL);
    pl_ingress_destroy(&app->bridge);
    pl_actor_stop(&self->bridge, &self->bridge_args);
    pl_store_pool_destroy(&app->readers);
    pl_throttle_destroy(&app->login_fails_by_user);
    pl_throttle_destroy(&app->login_fails_by_addr);
    pl_throttle_destroy(&app->signups_by_addr);
    pl_waiters_destroy(&app->waiters);
    sem_destroy(&app->hash_slots);
    free(self->writers);
    free(self->writer_args);
    free(app->writers);
    free(self->rooms);
    free(self->room_args);
    free(app->rooms);
    sodium_memzero(app->jwt_key, sizeof app->jwt_key);
    free(self);
    *self_p = NULL;
    pl_info("stopped");
}
