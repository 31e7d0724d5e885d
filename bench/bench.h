/*  parley-bench's shared types: the options of a run, the latency histogram, one
    client connection, one generator thread and the run every thread reports into.
    Each .c file beside this one owns one job (options, HTTP, WebSocket framing,
    the event loop, setup, one scenario, /proc sampling, the report) and talks to the
    others only through what is declared here. */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ws_accept.h"

#define BN_HOST         "127.0.0.1" //  the only host parley-bench ever talks to
#define BN_MAX_THREADS  16
#define BN_MAX_CONNS    60000
#define BN_MAX_PORTS    16          //  nodes one run spreads its connections over
#define BN_MAX_FRAME    (16u << 20) //  a larger server frame closes the connection
#define BN_SENDER_MAX_Q 100000      //  most sends the fanout sender leaves unacked

static inline uint64_t bn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

//  Single-writer counters: the owning thread adds, the main thread reads.
#define BN_ADD(counter, n)                                                                         \
    atomic_store_explicit(&(counter),                                                              \
                          atomic_load_explicit(&(counter), memory_order_relaxed) + (n),            \
                          memory_order_relaxed)
#define BN_GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

// ---------------------------------------------------------------- options (opts.c)

//  raw and socketio are broadcast peers: no users, no acks, every frame a client sends
//  goes to every client (socketio: Engine.IO v4 / Socket.IO v5 "message" events).
typedef enum { BN_PARLEY, BN_RAW, BN_SOCKETIO } bn_proto_t;
typedef enum { BN_FANOUT, BN_ROOMS, BN_CONNECT, BN_SOAK } bn_scenario_t;

typedef struct {
    bn_scenario_t scenario;
    bn_proto_t proto;
    int port;                //  ports[0]: HTTP setup and checks (every node serves them)
    int ports[BN_MAX_PORTS]; //  connection i connects to ports[i % nports]
    int nports;
    int conns;       //  N: WebSocket connections, one per user
    int group;       //  K: members per room (rooms, connect); fanout uses N
    int threads;     //  generator threads
    int window;      //  most unacked sends per sender (0: none, rate only)
    double rate;     //  fanout: msg/s in all; rooms: msg/s per user; 0: window-driven
    double duration; //  seconds of sending (connect: seconds of holding)
    int burst;       //  frames the fanout sender writes with one send()
    int body_bytes;  //  size of each message body (parley) or frame pad (raw)
    int concurrency; //  most connects and handshakes in flight
    int setup_conns; //  parallel keep-alive HTTP connections for setup
    int server_pid;  //  sample this process's CPU and RSS; 0: none
    double connect_timeout;
    double drain_timeout;
    const char *cache;  //  file remembering users, tokens and rooms between runs
    const char *label;  //  the server's name in the report
    bool json;          //  print one JSON line after the table
    bool quiet;         //  no table
    bool allow_refused; //  503 refusals are expected (connect past the limit)
    bool pace_echo;     //  fanout: a send is outstanding until the sender's own copy arrives
    bool sse_receivers; //  fanout: members but the sender listen on SSE notification streams
    //  soak: the server it starts, kills and restarts (see soak.c).
    const char *server_bin; //  parley, started on a free port
    char **server_args;     //  more of its flags (after "--"), server_nargs of them
    int server_nargs;
    int server_cpu;    //  pin the started server to this CPU; -1: inherit
    double kill_every; //  mean seconds between kill -9s; 0: none
    double warmup;     //  seconds after each start before RSS and fds are the baseline
    double rss_limit;  //  most RSS growth after warm-up, percent (fds: always 5 %)
    double http_rate;  //  HTTP reads, publishes, joins and leaves per second
    bool late_retries; //  slow readers stop reading with sends unacked (retried much later)
} bn_opts_t;

int bn_opts_parse(bn_opts_t *o, int argc, char **argv);
const char *bn_proto_name(bn_proto_t proto);

// ---------------------------------------------------------------- histogram (hist.c)

#define BN_HIST_SIZE 3840
typedef struct {
    uint64_t counts[BN_HIST_SIZE];
    uint64_t n, max;
} bn_hist_t;

void bn_hist_add(bn_hist_t *h, uint64_t value);
void bn_hist_merge(bn_hist_t *into, const bn_hist_t *from);
uint64_t bn_hist_pct(const bn_hist_t *h, double pct); //  pct in [0, 100]

// ---------------------------------------------------------------- setup (setup.c)

typedef struct {
    int64_t id;
    int64_t room;
    char token[512];
} bn_user_t;

//  Creates (or loads from o->cache) o->conns users, one per connection, in rooms of
//  o->group members (fanout: one room); returns NULL after printing why not.
bn_user_t *bn_setup(const bn_opts_t *o);

// ---------------------------------------------------------------- connections (conn.c)

typedef enum { BN_IDLE, BN_CONNECTING, BN_HANDSHAKE, BN_OPEN, BN_DONE } bn_cstate_t;

typedef struct bn_thread bn_thread_t;

typedef struct {
    int fd;
    int idx; //  global index: user idx, room of users[idx]
    bn_cstate_t state;
    bn_thread_t *th;
    char *in;
    size_t in_len, in_cap;
    uint64_t read_ns; //  when the bytes in `in` being handled were read: the latencies'
                      //  end, one clock read per recv rather than per frame
    char *out;
    size_t out_off, out_len, out_cap;
    char *msg; //  a fragmented server message being reassembled
    size_t msg_len, msg_cap;
    int msg_opcode;
    char accept[32]; //  the Sec-WebSocket-Accept the server must answer
    uint64_t started_ns;
    //  Scenario state.
    bool ready; //  subscribed (parley) or upgraded (raw)
    int64_t room;
    int64_t last_seq; //  highest seq seen in room; gaps and dups are counted against it
    bool want_out;    //  registered for EPOLLOUT: c->out holds unsent bytes
    uint64_t sent, outstanding;
    bool sse;                //  an SSE notification stream, not a WebSocket
    bool paused;             //  not read (a slow reader): the server's queue must fill
    int close_code;          //  of the server's close frame; 0: none seen
    _Atomic uint64_t last_t; //  sse: send time of the newest message it was told of
} bn_conn_t;

//  What a scenario does with its connections; every callback runs on c->th's thread.
//  A scenario with on_fail and on_lost judges failed connects and lost connections
//  itself; without them each one is also counted as an error.
typedef struct {
    void (*on_create)(bn_conn_t *c);                        //  before any thread starts
    void (*on_open)(bn_conn_t *c);                          //  upgraded
    void (*on_text)(bn_conn_t *c, const char *s, size_t n); //  a complete text message
    void (*on_fail)(bn_conn_t *c, int http_status);         //  refused or broken before open
    void (*on_lost)(bn_conn_t *c);                          //  closed after open
    void (*tick)(bn_thread_t *t, uint64_t now);             //  every loop turn
} bn_handlers_t;

typedef enum { BN_PH_SETUP, BN_PH_CONNECT, BN_PH_RUN, BN_PH_STOP, BN_PH_DONE } bn_phase_t;

//  Per-thread results; the counters are read live by the main thread.
typedef struct {
    _Atomic uint64_t ready, failed, refused, lost, sent, acked, delivered, gaps, dups, errors,
        expected, rejected_sends, bytes;
    bn_hist_t deliver, ack, connect;
    bn_hist_t deliver_remote; //  fanout: deliver, to connections on another node than the sender
    _Atomic uint64_t last_ready_ns;
    char first_error[160];
} bn_stats_t;

typedef struct bn_run bn_run_t;

struct bn_thread {
    int id;
    pthread_t tid;
    int epfd;
    bn_run_t *run;
    bn_conn_t **conns; //  the connections this thread owns
    int nconns, next_connect, inflight;
    uint64_t rng;
    uint64_t sched_sent; //  rooms: sends this thread has made on its rate schedule
    bool kicked;         //  rooms: every sender has been started
    bn_stats_t st;
};

struct bn_run {
    const bn_opts_t *o;
    const bn_handlers_t *h;
    bn_user_t *users;
    bn_conn_t *conns;
    bn_thread_t threads[BN_MAX_THREADS];
    _Atomic int phase;
    _Atomic uint64_t start_ns, stop_ns;
    _Atomic uint64_t last_sent_t; //  fanout: send time in the body of the last message sent
    uint64_t connect_start_ns;
    void *ctx; //  the scenario's own state
};

int bn_run_start(bn_run_t *run); //  spawns the threads; they start connecting
void bn_run_join(bn_run_t *run); //  sets DONE and waits for the threads
//  Connects a closed connection again (on its thread), past the --concurrency bound.
void bn_conn_open(bn_conn_t *c);
//  Stops (or resumes) reading c, so the server's queue for it fills up.
void bn_conn_pause(bn_conn_t *c, bool paused);
void bn_conn_send_text(bn_conn_t *c, const char *s, size_t n, bool flush);
void bn_conn_flush(bn_conn_t *c);
void bn_conn_close(bn_conn_t *c);
void bn_stat_error(bn_thread_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// ---------------------------------------------------------------- WebSocket (ws.c)

//  xorshift64*: masks, keys and the soak's random choices need no more.
uint64_t bn_rand(uint64_t *state);

//  Writes the upgrade request for path into c->out and remembers the expected accept.
void bn_ws_handshake(bn_conn_t *c, const char *path);
//  Parses the upgrade response in c->in: 0 when upgraded (consumes it), 1 when more
//  bytes are needed, else the HTTP status (or -1 when malformed).
int bn_ws_handshake_done(bn_conn_t *c);
//  Appends one masked frame to buf (at least len + 14 bytes); returns its length.
size_t bn_ws_frame(uint8_t *buf, int opcode, const char *payload, size_t len, uint64_t *rng);
//  Consumes complete frames from c->in, answering pings and reassembling fragments;
//  -1 when the connection must close.
int bn_ws_read_frames(bn_conn_t *c, const bn_handlers_t *h);

// ---------------------------------------------------------------- Socket.IO (socketio.c)

#define BN_SIO_PATH "/socket.io/?EIO=4&transport=websocket"
//  One Engine.IO packet (a WebSocket text message): answers the open and pings, marks
//  c ready when its namespace is joined, and hands an event's data object to h->on_text.
void bn_sio_packet(bn_conn_t *c, const bn_handlers_t *h, const char *p, size_t n);

// ---------------------------------------------------------------- SSE (sse.c)

//  Writes GET path (an SSE stream) into c->out.
void bn_sse_request(bn_conn_t *c, const char *path);
//  Parses the response head in c->in: 0 when it is 200 (consumes it), 1 when more
//  bytes are needed, else the HTTP status (or -1 when malformed).
int bn_sse_head_done(bn_conn_t *c);
//  Consumes the complete events in c->in, handing each one's data to h->on_text;
//  comments (heartbeats) and retry lines are skipped.
void bn_sse_read_events(bn_conn_t *c, const bn_handlers_t *h);

// ---------------------------------------------------------------- helpers

typedef struct {
    const char *name;
    size_t name_len; //  strlen(name), or 0: the scan measures it
    const char *val; //  start of the value (a string's first char inside the quotes)
    size_t len;
    bool is_str;
} bn_jfield_t;
//  Finds the named keys of the top-level object in one pass (json_scan.c).
void bn_json_scan(const char *s, size_t n, bn_jfield_t *fields, int nfields);
int64_t bn_json_int(const bn_jfield_t *f, int64_t fallback);
bool bn_json_is(const bn_jfield_t *f, const char *text);

// ---------------------------------------------------------------- traffic (traffic.c)

enum {
    BN_F_TYPE,
    BN_F_ROOM,
    BN_F_SEQ,
    BN_F_CLIENT_ID,
    BN_F_BODY,
    BN_F_T,
    BN_F_CODE,
    BN_F_REF,
    BN_F_COUNT
};
typedef struct {
    bn_jfield_t f[BN_F_COUNT];
} bn_frame_t;

void bn_frame_parse(const char *s, size_t n, bn_frame_t *fr);
//  Counts one delivered message: its latency, and a gap or dup against c->last_seq.
void bn_deliver(bn_conn_t *c, const bn_frame_t *fr, size_t bytes);
//  Queues one message from c (flushed when flush): parley "send" or a raw frame.
void bn_send_message(bn_conn_t *c, uint64_t now, bool flush);
//  Queues parley "send" number n of c, first sent at t_ns: a retry repeats both, so
//  its client_id (c<idx>.<n>.<t_ns>) is the same.
void bn_send_parley(bn_conn_t *c, uint64_t n, uint64_t t_ns, bool flush);
//  The send time carried by an ack's client_id (or a raw frame's t); 0 if none.
uint64_t bn_sent_ns_of(const bn_frame_t *fr);
void bn_subscribe(bn_conn_t *c);
void bn_mark_ready(bn_conn_t *c);
//  Counts an error frame; true when it refused a send (so it will never be acked).
bool bn_error_frame(bn_conn_t *c, const bn_frame_t *fr);

//  proc.c: the server's CPU time in clock ticks and RSS in KiB; -1 when unknown.
int64_t bn_proc_cpu_ticks(int pid);
int64_t bn_proc_rss_kib(int pid);
int64_t bn_proc_fds(int pid); //  open file descriptors
double bn_self_cpu_s(void);

//  report.c: the results of one run, printed as a table and a JSON line.
typedef struct {
    double elapsed_s, connect_s;
    uint64_t ready, failed, refused, lost, sent, acked, delivered, gaps, dups, errors, expected;
    uint64_t delivered_in_window, acked_in_window, rejected_sends, bytes;
    bn_hist_t deliver, ack, connect, deliver_remote;
    int64_t rss_before, rss_after, rss_peak;
    double server_cpu_pct, client_cpu_pct;
    double server_cpu_s; //  the server's CPU time (user + system) over the measured interval
    double connects_per_s;
    int healthz_status; //  connect: GET /healthz while full
    char first_error[160];
} bn_result_t;

void bn_result_collect(bn_run_t *run, bn_result_t *r);
void bn_report(const bn_opts_t *o, const bn_result_t *r);
struct json_t;
void bn_print_json(struct json_t *j); //  one compact line on stdout; takes j
bool bn_result_ok(const bn_opts_t *o, const bn_result_t *r);

//  scenarios: each runs a whole measurement and fills r.
int bn_fanout(bn_run_t *run, bn_result_t *r);
int bn_rooms(bn_run_t *run, bn_result_t *r);
int bn_connect(bn_run_t *run, bn_result_t *r);
//  soak.c: the whole soak (server, setup, load, faults, checks, report); returns the
//  exit status.
int bn_soak(bn_opts_t *o);

//  monitor.c: the main thread's waits while threads work.
typedef struct {
    int pid;
    int64_t cpu0;
    uint64_t t0;
    double self0;
    int64_t rss_peak;
} bn_monitor_t;
void bn_monitor_begin(bn_monitor_t *m, int pid);
//  Sleeps until done(run) or the deadline, sampling RSS every 100 ms.
bool bn_monitor_wait(bn_monitor_t *m, bn_run_t *run, uint64_t deadline_ns,
                     bool (*done)(bn_run_t *run));
void bn_monitor_end(bn_monitor_t *m, bn_result_t *r);
//  The sum of one counter over all threads.
uint64_t bn_total(bn_run_t *run, size_t offset);
#define BN_TOTAL(run, field) bn_total((run), offsetof(bn_stats_t, field))
//  Waits for every connection to be ready or to have failed; false on timeout.
bool bn_wait_connected(bn_run_t *run, bn_result_t *r);
//  A traffic scenario's run with handlers h: everyone connects, sends for --duration
//  seconds, then up to --drain-timeout waits until drained(run) says the last
//  deliveries are in; fills r. Returns 0, or -1 when not everyone connected.
int bn_run_traffic(bn_run_t *run, bn_result_t *r, const bn_handlers_t *h,
                   bool (*drained)(bn_run_t *run));

//  http.c: a blocking keep-alive HTTP/1.1 client for setup and checks.
typedef struct {
    int fd;
    int port;
    char *buf;
    size_t len, cap;
} bn_http_t;
void bn_http_init(bn_http_t *h, int port);
void bn_http_close(bn_http_t *h);
//  Sends one request; returns the status (body in *resp, malloc'd) or -1.
int bn_http_request(bn_http_t *h, const char *method, const char *path, const char *token,
                    const char *body, char **resp);

#endif
