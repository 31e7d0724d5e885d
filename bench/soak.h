/*  The soak's state, shared by its parts: soak.c (the roles of the connections and
    the run with its kills), soak_server.c (the parley it starts, kills and restarts),
    soak_http.c (the HTTP client thread) and soak_check.c (the store's truth against
    what the clients were told, and the report). Everything here is a count of one
    kind of event; a kind is either asked for by the load or an error. */
#ifndef BENCH_SOAK_H
#define BENCH_SOAK_H

#include "bench.h"

#define SK_WINDOW     32  //  most unacked sends per connection: under the server's burst
#define SK_SSE_MEMBER 4   //  the member of each room holding an SSE stream (see soak.c)
#define SK_MAX_STARTS 512 //  server incarnations remembered (--kill-every 1 for 8 min)

typedef enum {
    //  Asked for by the load, or plain volume.
    SK_KILLS,          //  kill -9 of the server
    SK_KILL_LOST,      //  connections (WS and SSE) lost to a kill
    SK_DOWN_REFUSED,   //  connects that failed while the server was down or restarting
    SK_RECONNECTS,     //  voluntary closes, then a reconnect with since
    SK_RESUBSCRIBED,   //  subscribes with since that recovered the missed messages
    SK_UNRECOVERED,    //  subscribes with since answered "recovered": false
    SK_RETRIED,        //  unacked sends sent again with the same client_id
    SK_SLOW_PAUSES,    //  slow readers that stopped reading
    SK_SLOW_CUT,       //  slow readers the server closed (1008)
    SK_BAD_JSON,       //  malformed frames answered with bad_request
    SK_TOO_BIG,        //  oversize frames answered with close 1009
    SK_SSE_PUSHES,     //  notifications on SSE streams
    SK_HTTP_READS,     //  GET /api/rooms/{id}/messages and GET /api/rooms
    SK_HTTP_PUBLISHED, //  POST /api/rooms/{id}/messages answered with a seq
    SK_JOINS,          //  POST /api/rooms/{id}/join
    SK_LEAVES,         //  POST /api/rooms/{id}/leave
    SK_HTTP_DOWN,      //  HTTP requests that failed while the server was down
    SK_STORED,         //  messages read back from the store at the end
    //  Errors: nothing the load asked for.
    SK_E_LOST,         //  a connection closed that nothing asked to close
    SK_E_CONNECT,      //  a connect or upgrade refused while the server was up
    SK_E_SLOW_NOT_CUT, //  a slow reader still open long after it stopped reading
    SK_E_REFUSED,      //  a send refused (rate_limited or another error naming it)
    SK_E_FRAME,        //  an error frame nobody asked for
    SK_E_ACK,          //  an ack for no send awaiting one
    SK_E_HTTP,         //  an HTTP answer other than the one expected, server up
    SK_E_HTTP_ORDER,   //  an HTTP page of messages out of order or with a hole
    SK_E_UNACKED,      //  sends still unacked when the drain ended
    SK_E_BEHIND,       //  connections down, or short of their room's last seq, at the end
    SK_E_ACK_LOST,     //  an acked message not in the store at its seq
    SK_E_SEEN_LOST,    //  a delivered message not in the store at its seq
    SK_E_STORE_GAP,    //  a seq missing from the store between 1 and the last
    SK_E_STORE_DUP,    //  a client_id stored twice in one room
    SK_E_LEAK,         //  RSS or fds grew by 5 % or more after warm-up
    SK_E_SERVER,       //  the server failed to start, died unasked, or logged an error
    SK_COUNT
} sk_kind_t;

#define SK_FIRST_ERROR SK_E_LOST
extern const char *const sk_kind_names[SK_COUNT];

//  A client_id's hash, so a log entry is small however long the id.
uint64_t sk_id_hash(const char *s, size_t n);

typedef struct {
    int64_t seq;
    uint64_t id; //  sk_id_hash of its client_id
    int room;    //  index (0 .. nrooms-1)
} sk_seen_t;

typedef struct {
    sk_seen_t *v;
    size_t len, cap;
} sk_log_t;

//  Appends; aborts when out of memory (a log with holes would pass unmade checks).
void sk_log_add(sk_log_t *log, int room, int64_t seq, uint64_t id);

#define SK_SPAN 5 //  RSS and fd samples (one a second) averaged into one figure

//  One server incarnation's RSS and fd figures: the baseline, the average of the first
//  SK_SPAN samples after warm-up, and the end, of the latest SK_SPAN after that.
typedef struct {
    int pid;
    uint64_t start_ns, end_ns;
    int64_t rss_warm, fds_warm, rss_end, fds_end; //  -1 until sampled
    int64_t rss_ring[SK_SPAN], fds_ring[SK_SPAN];
    int samples;
} sk_start_t;

typedef struct {
    const bn_opts_t *o;
    char dir[64]; //  data dir, with server.log in it
    int pid;      //  0 while none runs
    int nstarts;
    sk_start_t starts[SK_MAX_STARTS];
} sk_server_t;

typedef struct {
    _Atomic uint64_t n[SK_COUNT];
    char first[SK_COUNT][160]; //  the first error of each kind, as it was seen
} sk_counts_t;

typedef struct sk_peer sk_peer_t;

typedef struct {
    bn_opts_t *o;
    bn_run_t *run;
    sk_peer_t *peers;
    int nrooms;
    _Atomic int64_t *room_top; //  per room, the highest seq acked (WS or HTTP)
    _Atomic int epoch;         //  bumped before each kill
    _Atomic bool down;         //  from a kill until the new server answers /healthz
    sk_server_t server;
    _Atomic int unsettled[BN_MAX_THREADS]; //  per thread, connections not settled
    _Atomic bool http_idle;                //  the HTTP thread has nothing unacked
    _Atomic bool http_stop;                //  the HTTP thread must end
    sk_log_t http_acked;                   //  publishes over HTTP (the HTTP thread's)
    bn_result_t r;                         //  the generator threads' counters
    //  counts[t] is written by generator thread t, the last two by the HTTP thread
    //  and the main thread.
    sk_counts_t counts[BN_MAX_THREADS + 2];
} sk_soak_t;

#define SK_HTTP_SLOT (BN_MAX_THREADS)
#define SK_MAIN_SLOT (BN_MAX_THREADS + 1)

void sk_count(sk_counts_t *c, sk_kind_t kind, uint64_t n);
void sk_error(sk_counts_t *c, sk_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t sk_total(sk_soak_t *s, sk_kind_t kind);
void sk_room_acked(sk_soak_t *s, int room, int64_t seq);

//  soak_server.c
int sk_server_start(sk_server_t *srv); //  a new incarnation; -1 when it never answered
void sk_server_kill9(sk_server_t *srv);
int sk_server_stop(sk_server_t *srv); //  SIGTERM; its exit status, or -1
//  Samples RSS and fds into the current incarnation (see sk_start_t); once a second.
void sk_server_sample(sk_server_t *srv, double warmup_s);
//  Removes the data dir of a server no longer running.
void sk_server_forget(const sk_server_t *srv);
//  Error lines in the server's log.
int sk_server_log_errors(const sk_server_t *srv, char *first, size_t first_len);

//  soak_http.c: the HTTP client thread, from the RUN phase until it is told to stop.
int sk_http_start(sk_soak_t *s, pthread_t *tid);

//  soak_check.c: the store's truth against the logs, the leak check, the report.
void sk_check_store(sk_soak_t *s);
void sk_check_leaks(sk_soak_t *s);
int sk_report(sk_soak_t *s, double elapsed_s);

//  soak.c: for the check, each connection's logs.
const sk_log_t *sk_peer_acked(const sk_soak_t *s, int idx);
const sk_log_t *sk_peer_seen(const sk_soak_t *s, int idx);

#endif
