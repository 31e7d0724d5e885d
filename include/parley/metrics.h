/*  Metrics (PROTOCOL.md "Operations"): counters and histograms that any thread
    updates and GET /metrics renders in Prometheus's text format.

    Counting must cost the hot paths nothing measurable, so each thread counts into a
    cache-line-aligned shard of its own (threads beyond the shard count share one,
    which relaxed atomic adds keep correct) and only a scrape sums the shards. No
    lock is ever taken to count. Actors count per batch where they can, not per
    recipient. */
#ifndef PARLEY_METRICS_H
#define PARLEY_METRICS_H

#include <stdint.h>
#include <stdio.h>

//  X(id, name, help): counters, all "_total".
#define PL_METRIC_COUNTERS(X)                                                                      \
    X(WS_OPENED, "parley_websocket_connections_opened_total", "WebSocket upgrades accepted")       \
    X(SSE_OPENED, "parley_sse_streams_opened_total", "notification streams opened")                \
    X(WS_MESSAGES_IN, "parley_websocket_messages_received_total",                                  \
      "WebSocket data messages received from clients, after reassembly")                           \
    X(MESSAGES_IN, "parley_messages_received_total",                                               \
      "chat messages a room actor took to store (WebSocket send or HTTP publish)")                 \
    X(MESSAGES_STORED, "parley_messages_stored_total", "chat messages committed to the store")     \
    X(DELIVERIES, "parley_deliveries_total",                                                       \
      "frames queued for connections: messages, events, acks, one per recipient connection")       \
    X(BYTES_OUT, "parley_sent_bytes_total", "bytes written to WebSocket and SSE connections")      \
    X(SENDS, "parley_sends_total", "writes to connections (many frames may go in one)")            \
    X(SLOW_READERS_CUT, "parley_slow_readers_disconnected_total",                                  \
      "connections closed because their outbound queue passed its limit or stalled")               \
    X(PERSIST_BATCHES, "parley_persist_batches_total", "transactions the persister committed")     \
    X(PERSIST_FAILURES, "parley_persist_failures_total", "persister transactions that failed")     \
    X(NOTIFICATIONS_STORED, "parley_notifications_stored_total",                                   \
      "notification writes committed (new or coalesced)")                                          \
    X(AUTH_THROTTLED, "parley_auth_throttled_total",                                               \
      "logins and sign-ups refused with 429 by the throttles")

typedef enum {
#define PL__METRIC_COUNTER_ENUM(id, name, help) PL_COUNTER_##id,
    PL_METRIC_COUNTERS(PL__METRIC_COUNTER_ENUM)
#undef PL__METRIC_COUNTER_ENUM
        PL_COUNTER__COUNT
} pl_counter_t;

//  Bucket bounds in ns for latencies from a tenth of a millisecond to seconds.
#define PL_LATENCY_BUCKETS_NS                                                                      \
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,    \
        250000000, 1000000000, 5000000000

//  X(id, name, help, unit scale, upper bounds in units...): histograms. Observations
//  are integers in units (ns for seconds, 1 for counts); a scale of 1e9 renders ns as
//  seconds.
#define PL_METRIC_HISTOGRAMS(X)                                                                    \
    X(PERSIST_COMMIT, "parley_persist_commit_seconds",                                             \
      "time to write and commit one persister batch", 1e9, PL_LATENCY_BUCKETS_NS)                  \
    X(SEND_COMMIT, "parley_send_commit_seconds",                                                   \
      "from a room actor taking a send to hearing it committed: persister queue, batch, commit",   \
      1e9, PL_LATENCY_BUCKETS_NS)                                                                  \
    X(PERSIST_ROWS, "parley_persist_batch_writes", "writes committed in one persister batch", 1,   \
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)                                           \
    X(HTTP_REQUEST, "parley_http_request_seconds",                                                 \
      "time to answer an HTTP request (not WebSocket or SSE)", 1e9, PL_LATENCY_BUCKETS_NS)

typedef enum {
#define PL__METRIC_HISTOGRAM_ENUM(id, ...) PL_HISTOGRAM_##id,
    PL_METRIC_HISTOGRAMS(PL__METRIC_HISTOGRAM_ENUM)
#undef PL__METRIC_HISTOGRAM_ENUM
        PL_HISTOGRAM__COUNT
} pl_histogram_t;

//  Adds n to a counter.
void pl_metrics_count(pl_counter_t counter, uint64_t n);

//  Records one observation of value units (ns for latencies).
void pl_metrics_observe(pl_histogram_t histogram, uint64_t value);

//  Counts a message of a catalogue type sent to, or taken by, an actor (msg.c); a
//  type's queue depth is the difference.
void pl_metrics_message_sent(int type);
void pl_metrics_message_taken(int type);

//  Counts an HTTP answer with this status.
void pl_metrics_count_http_status(int status);

//  Writes every counter and histogram, the actor queues and the process's own
//  families (CPU, memory, file descriptors) in the text exposition format.
void pl_metrics_render(FILE *out);

#endif
