#define _GNU_SOURCE
#include "sender.h"
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>

struct batch {
	struct batch *next;
	struct sbuf body;
	uint64_t count;
};

static const struct config *cfg;
static char *url, *auth_header, *collector;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct batch *head, *tail;
static struct batch *open_batch;
static uint64_t queued;
static bool stopping, started;
static struct sender_stats st;
static _Atomic uint64_t ring_full;
static uint64_t reported_drops; /* drops the last POST told ingest about */

/* Sent batches are kept for reuse (a few): fresh buffers cost page faults on every batch. */
static struct batch *spare;
static int n_spare;

static struct batch *new_batch(void)
{
	pthread_mutex_lock(&mu);
	struct batch *b = spare;
	if (b) {
		spare = b->next;
		n_spare--;
	}
	pthread_mutex_unlock(&mu);
	if (b) {
		b->next = NULL;
		b->count = 0;
		sb_reset(&b->body);
		return b;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	sb_init(&b->body, 64 * 1024);
	return b;
}

/* Caller holds mu. */
static void free_batch(struct batch *b)
{
	if (n_spare < 4) {
		b->next = spare;
		spare = b;
		n_spare++;
		return;
	}
	sb_free(&b->body);
	free(b);
}

struct sbuf *sender_open_batch(void)
{
	if (!open_batch)
		open_batch = new_batch();
	if (open_batch->count)
		sb_putc(&open_batch->body, ',');
	return &open_batch->body;
}

/* Caller holds mu. Drops whole batches, oldest first, until the queue is within its bound. */
static void enforce_bound(void)
{
	while (head && queued > cfg->buffer_events) {
		struct batch *b = head;
		head = b->next;
		if (!head)
			tail = NULL;
		queued -= b->count;
		st.buffer_full += b->count;
		free_batch(b);
	}
}

static void close_batch(void)
{
	struct batch *b = open_batch;
	open_batch = NULL;
	pthread_mutex_lock(&mu);
	if (b) {
		if (tail)
			tail->next = b;
		else
			head = b;
		tail = b;
		queued += b->count;
		st.events_total += b->count; /* counted per batch: one lock per batch, not per event */
		enforce_bound();
	}
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void sender_event_added(void)
{
	open_batch->count++;
	if (open_batch->count >= cfg->batch_events)
		close_batch();
}

void sender_flush(void)
{
	if (open_batch && open_batch->count)
		close_batch();
	else {
		/* Nothing to send, but wake the thread so new drops still reach ingest. */
		pthread_mutex_lock(&mu);
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
}

void sender_set_ring_full(uint64_t n) { atomic_store(&ring_full, n); }

void sender_stats(struct sender_stats *out)
{
	pthread_mutex_lock(&mu);
	*out = st;
	out->queued = queued;
	pthread_mutex_unlock(&mu);
}

static long retry_after_s;

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	(void)ud;
	size_t len = size * n;
	if (len > 12 && !strncasecmp(buf, "retry-after:", 12))
		retry_after_s = strtol(buf + 12, NULL, 10);
	return len;
}

static size_t discard(char *buf, size_t size, size_t n, void *ud)
{
	(void)buf;
	(void)ud;
	return size * n;
}

/* POSTs one body. Returns the HTTP status, or 0 when the request did not complete. */
static long post(CURL *c, struct sbuf *body)
{
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	retry_after_s = 0;
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (cfg->verbose)
		fprintf(stderr, "rootline-collector: POST %s: %s\n", url, curl_easy_strerror(rc));
	return status;
}

static void build_body(struct sbuf *out, struct batch *b, uint64_t rf, uint64_t bf, uint64_t sf)
{
	sb_reset(out);
	sb_puts(out, "{\"collector\":");
	sb_puts(out, collector);
	sb_puts(out, ",\"dropped\":{\"ring_full\":");
	sb_u64(out, rf);
	sb_puts(out, ",\"buffer_full\":");
	sb_u64(out, bf);
	sb_puts(out, ",\"send_failed\":");
	sb_u64(out, sf);
	sb_puts(out, "},\"events\":[");
	if (b)
		sb_putn(out, b->body.p, b->body.len);
	sb_puts(out, "]}");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void *run(void *arg)
{
	(void)arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (auth_header)
		hdrs = curl_slist_append(hdrs, auth_header);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	struct sbuf body;
	sb_init(&body, 256 * 1024);
	long backoff = 200;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!head && !stopping) {
			uint64_t drops = atomic_load(&ring_full) + st.buffer_full + st.send_failed;
			if (drops != reported_drops)
				break;
			pthread_cond_wait(&cv, &mu);
		}
		if (!head && stopping) {
			pthread_mutex_unlock(&mu);
			break;
		}
		struct batch *b = head; /* stays queued until acknowledged, so the bound still applies to it */
		uint64_t rf = atomic_load(&ring_full), bf = st.buffer_full, sf = st.send_failed;
		if (b)
			build_body(&body, b, rf, bf, sf);
		else
			build_body(&body, NULL, rf, bf, sf);
		pthread_mutex_unlock(&mu);

		long status = post(c, &body);
		pthread_mutex_lock(&mu);
		st.posts++;
		bool done = status >= 200 && status < 300;
		bool refused = status >= 400 && status < 500 && status != 429 && status != 408;
		if (done || refused) {
			reported_drops = rf + bf + sf;
			if (b && head == b) { /* unless the bound already dropped it */
				head = b->next;
				if (!head)
					tail = NULL;
				queued -= b->count;
				if (done)
					st.sent += b->count;
				else
					st.send_failed += b->count;
				free_batch(b);
			}
			if (refused)
				fprintf(stderr, "rootline-collector: ingest refused a batch with HTTP %ld; its events are counted as send_failed\n", status);
			backoff = 200;
			pthread_mutex_unlock(&mu);
			continue;
		}
		st.post_errors++;
		bool stop_now = stopping;
		pthread_mutex_unlock(&mu);
		if (stop_now)
			break;
		/* Overloaded (429/503 with Retry-After) or unreachable: wait, then send the same batch again. */
		long wait = retry_after_s > 0 ? retry_after_s * 1000 : backoff;
		if (wait > 30000)
			wait = 30000;
		sleep_ms(wait);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
	sb_free(&body);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return NULL;
}

int sender_start(const struct config *config, const char *collector_json)
{
	cfg = config;
	collector = strdup(collector_json);
	if (!cfg->ingest_url)
		return 0; /* --stdout only */
	size_t n = strlen(cfg->ingest_url);
	while (n && cfg->ingest_url[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s/v1/collector/events", (int)n, cfg->ingest_url) < 0)
		return -1;
	if (cfg->token && asprintf(&auth_header, "Authorization: Bearer %s", cfg->token) < 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_create(&thread, NULL, run, NULL))
		return -1;
	started = true;
	return 0;
}

void sender_stop(int timeout_ms)
{
	sender_flush();
	if (!started) {
		/* --stdout only: nothing to send */
		pthread_mutex_lock(&mu);
		while (head) {
			struct batch *b = head;
			head = b->next;
			queued -= b->count;
			free_batch(b);
		}
		tail = NULL;
		pthread_mutex_unlock(&mu);
		return;
	}
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		pthread_mutex_lock(&mu);
		bool empty = !head && reported_drops == atomic_load(&ring_full) + st.buffer_full + st.send_failed;
		pthread_mutex_unlock(&mu);
		if (empty)
			break;
		sleep_ms(20);
	}
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	/* Whatever ingest did not take before the deadline is lost with the process: count it, say it. */
	pthread_mutex_lock(&mu);
	uint64_t left = 0;
	while (head) {
		struct batch *b = head;
		head = b->next;
		left += b->count;
		free_batch(b);
	}
	tail = NULL;
	queued = 0;
	st.send_failed += left;
	pthread_mutex_unlock(&mu);
	if (left)
		fprintf(stderr, "rootline-collector: %llu events were not sent before exit (ingest unreachable or slow); counted as send_failed\n",
			(unsigned long long)left);
}
