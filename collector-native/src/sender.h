/*
 * The local buffer and the HTTP sender. Events are appended to an open batch; closed batches wait in a
 * bounded queue that a thread POSTs to ingest. When ingest is slow or down the queue is bounded by
 * --buffer-events: the oldest batches go first, counted as buffer_full. Nothing is dropped silently: every
 * POST carries the cumulative drop counters.
 */
#ifndef ROOTLINE_SENDER_H
#define ROOTLINE_SENDER_H
#include <stdint.h>
#include "sbuf.h"
#include "config.h"

struct sender_stats {
	uint64_t events_total; /* events encoded */
	uint64_t sent;         /* events ingest acknowledged */
	uint64_t buffer_full;  /* events dropped because the local buffer was full */
	uint64_t send_failed;  /* events ingest refused for good (a 4xx other than 429), or still unsent at exit */
	uint64_t posts;
	uint64_t post_errors;  /* failed attempts, retried */
	uint64_t queued;       /* events waiting */
};

int sender_start(const struct config *cfg, const char *collector_json);
/* The open batch events are appended to (comma-separated JSON objects); call under no lock, main thread only. */
struct sbuf *sender_open_batch(void);
/* Counts the event just appended to the open batch; closes the batch when it is full. */
void sender_event_added(void);
/* Closes the open batch (flush tick) so the sender thread takes it. */
void sender_flush(void);
void sender_set_ring_full(uint64_t n);
void sender_stats(struct sender_stats *out);
/* Flushes, then waits up to timeout_ms for the queue to drain, and stops the thread. */
void sender_stop(int timeout_ms);
#endif
