#define _GNU_SOURCE
#include "connreport.h"
#include "collector.h"
#include "encode.h"
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct item {
	uint64_t key; /* struct sock * */
	struct conn c;
};

/* A connection reported before: when (the pass's now_ms, in ns). start_ns tells a reused sock address apart. */
struct seen {
	uint64_t key;
	uint64_t start_ns;
	uint64_t last_ns;
};

static struct item *items;
static size_t items_cap;
/* Sorted by key; only connections still in the map at the last pass, so at most max_entries. */
static struct seen *seen, *next_seen;
static size_t n_seen, seen_cap, next_cap;

static int by_key(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

void connreport_tick(int map_fd, uint32_t max_entries, uint64_t now_ms, uint64_t period_ms, bool cgroup_filter)
{
	uint64_t decide_ns = now_ms * 1000000ull, period_ns = period_ms * 1000000ull;
	uint64_t now = mono_ns();

	/* Copy the map first. A key deleted by the kernel while we walk makes get_next_key restart from the first
	 * key, so keys can come twice (deduplicated below) and the walk is bounded. */
	size_t n = 0;
	uint64_t key = 0, next;
	const uint64_t *prev = NULL;
	for (size_t steps = 0; steps < 2 * (size_t)max_entries && !bpf_map_get_next_key(map_fd, prev, &next); steps++) {
		key = next;
		prev = &key;
		if (!grow((void **)&items, &items_cap, n + 1, sizeof(*items)))
			break;
		if (bpf_map_lookup_elem(map_fd, &key, &items[n].c))
			continue; /* closed meanwhile */
		items[n++].key = key;
	}
	qsort(items, n, sizeof(*items), by_key);

	/* The new record: at most one entry per distinct key of this pass. */
	if (!grow((void **)&next_seen, &next_cap, n ? n : 1, sizeof(*next_seen)))
		return; /* out of memory: try again next pass */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && items[i].key == items[i - 1].key)
			continue;
		const struct conn *c = &items[i].c;
		if (!c->established_ns || (cgroup_filter && !c->tgid))
			continue; /* not established yet; or no owner, which the close event would not report either */
		const struct seen *s = n_seen ? bsearch(&items[i].key, seen, n_seen, sizeof(*seen), by_key) : NULL;
		bool known = s && s->start_ns == c->start_ns;
		uint64_t ref = known ? s->last_ns : c->established_ns;
		if (decide_ns > ref && decide_ns - ref >= period_ns && now > c->start_ns) {
			encode_conn_open(c, now);
			next_seen[m++] = (struct seen){items[i].key, c->start_ns, decide_ns};
		} else if (known) {
			next_seen[m++] = *s;
		}
	}
	/* Swap: records of sockets no longer in the map are dropped here. */
	struct seen *t = seen;
	size_t tc = seen_cap;
	seen = next_seen;
	seen_cap = next_cap;
	n_seen = m;
	next_seen = t;
	next_cap = tc;
	if (items_cap > 4096 && n < items_cap / 8) { /* give back memory after a burst */
		free(items);
		items = NULL;
		items_cap = 0;
	}
}
