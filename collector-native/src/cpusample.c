#define _GNU_SOURCE
#include "cpusample.h"
#include "encode.h"
#include "meta.h"
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct config *cfg;
static long clk_tck = 100;

/* The --cgroup directories relative to the cgroup v2 root ("/a/b"), as allow_cgroups() resolves them. */
static char *allow_rel[MAX_CGROUPS];
static int n_allow;

/* The previous reading of each process, keyed by pid and told apart from a reused pid by its start time. */
#define BUCKETS 4096
struct proc_ent {
	uint32_t pid;
	uint32_t gen;   /* the pass that last saw it; entries not seen in a pass are dropped */
	uint64_t start; /* start time, clock ticks after boot */
	uint64_t ticks; /* utime + stime, clock ticks */
	uint64_t ts_ns;
	struct proc_ent *next;
};
static struct proc_ent *table[BUCKETS];
static uint32_t gen;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void cpusample_init(const struct config *c)
{
	cfg = c;
	long t = sysconf(_SC_CLK_TCK);
	if (t > 0)
		clk_tck = t;
	const char *root = meta_cgroup_root();
	size_t rl = strlen(root);
	for (int i = 0; i < c->n_cgroups; i++) {
		const char *dir = c->cgroups[i];
		/* The same resolution as the kernel-side filter: a path below the root, or relative to it. */
		const char *rel = (dir[0] == '/' && !strncmp(dir, root, rl) && (dir[rl] == '/' || !dir[rl])) ? dir + rl : dir;
		char *s = malloc(strlen(rel) + 2);
		if (!s)
			continue;
		sprintf(s, "/%s", rel[0] == '/' ? rel + 1 : rel);
		size_t n = strlen(s);
		while (n > 1 && s[n - 1] == '/')
			s[--n] = 0;
		allow_rel[n_allow++] = s;
	}
}

/* Reads a small /proc file whole (NUL-terminated); returns its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

/* /proc/<pid>/stat: the name (between the first '(' and the last ')': it may hold both), utime, stime, start. */
static bool read_stat(uint32_t pid, char comm[COMM_LEN], uint64_t *ticks, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r < l || !r[1])
		return false;
	size_t n = (size_t)(r - l - 1);
	if (n > COMM_LEN - 1)
		n = COMM_LEN - 1;
	memset(comm, 0, COMM_LEN);
	memcpy(comm, l + 1, n);
	char state;
	unsigned long long ut, st, sta;
	/* fields 3 (state) ... 22 (starttime); utime and stime are 14 and 15 */
	if (sscanf(r + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu", &state,
		   &ut, &st, &sta) != 4)
		return false;
	if (state == 'Z' || state == 'X')
		return false; /* exited, not yet reaped: its CPU time no longer moves */
	*ticks = ut + st;
	*start = sta;
	return true;
}

/* The process's cgroup v2 path ("0::/path" in /proc/<pid>/cgroup), relative to the cgroup v2 root. */
static bool read_cgroup(uint32_t pid, char *out, size_t cap)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "0::", 3))
			continue;
		size_t n = strcspn(line + 3, "\n");
		if (n == 0 || n >= cap)
			return false;
		memcpy(out, line + 3, n);
		out[n] = 0;
		return true;
	}
	return false;
}

/* Whether a cgroup path is one of the --cgroup directories or below one (all when none was given). */
static bool cgroup_allowed(const char *path)
{
	if (!cfg->n_cgroups)
		return true;
	for (int i = 0; i < n_allow; i++) {
		const char *a = allow_rel[i];
		size_t n = strlen(a);
		if (n == 1 && a[0] == '/')
			return true;
		if (!strncmp(path, a, n) && (path[n] == 0 || path[n] == '/'))
			return true;
	}
	return false;
}

/* The pid inside the process's own pid namespace: the last number of "NSpid:" in /proc/<pid>/status. */
static uint32_t read_vpid(uint32_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	char *p = strstr(buf, "\nNSpid:");
	if (!p)
		return 0;
	p += 7;
	uint32_t last = 0;
	while (*p && *p != '\n') {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			break;
		last = (uint32_t)v;
		p = end;
	}
	return last;
}

static struct proc_ent *find_or_add(uint32_t pid, bool *added)
{
	struct proc_ent **slot = &table[pid % BUCKETS];
	for (struct proc_ent *e = *slot; e; e = e->next)
		if (e->pid == pid) {
			*added = false;
			return e;
		}
	struct proc_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pid = pid;
	e->next = *slot;
	*slot = e;
	*added = true;
	return e;
}

static void sweep(void)
{
	for (int i = 0; i < BUCKETS; i++)
		for (struct proc_ent **p = &table[i]; *p;) {
			if ((*p)->gen != gen) {
				struct proc_ent *dead = *p;
				*p = dead->next;
				free(dead);
			} else {
				p = &(*p)->next;
			}
		}
}

static void emit(uint32_t pid, const char comm[COMM_LEN], uint64_t ticks, uint64_t ts_ns, uint64_t dt_ns, double cores,
		 long ncpu)
{
	char cg[1024];
	if (!read_cgroup(pid, cg, sizeof(cg))) {
		if (cfg->n_cgroups)
			return; /* gone, or in a cgroup this collector cannot name (another cgroup namespace) */
		cg[0] = 0;
	} else if (!cgroup_allowed(cg)) {
		return;
	}
	struct cpu_sample s = {0};
	s.pid = pid;
	s.vpid = read_vpid(pid);
	s.ts_ns = ts_ns;
	memcpy(s.comm, comm, COMM_LEN);
	if (cg[0]) {
		char dir[1536];
		snprintf(dir, sizeof(dir), "%s%s", meta_cgroup_root(), strcmp(cg, "/") ? cg : "");
		if (meta_cgroup_id_of(dir, &s.cgroup_id))
			s.cgroup_id = 0;
	}
	s.cpu_time_s = (double)ticks / (double)clk_tck;
	s.cores = cores;
	s.utilization = cores / (double)ncpu;
	s.interval_ms = dt_ns / 1000000;
	char path[64], args[ARGS_CAP + 1];
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	ssize_t n = read_small(path, args, sizeof(args));
	if (n < 0)
		n = 0;
	s.args = args;
	s.args_len = (size_t)n > ARGS_CAP ? ARGS_CAP : (size_t)n;
	s.args_truncated = n > ARGS_CAP;
	encode_cpu_sample(&s);
}

void cpusample_tick(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	gen++;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);
		if (*end || !v || v > UINT32_MAX)
			continue;
		uint32_t pid = (uint32_t)v;
		char comm[COMM_LEN];
		uint64_t ticks, start;
		if (!read_stat(pid, comm, &ticks, &start))
			continue;
		uint64_t now = mono_ns();
		bool added;
		struct proc_ent *e = find_or_add(pid, &added);
		if (!e)
			continue;
		e->gen = gen;
		bool fresh = added || e->start != start; /* first sighting, or the pid was reused: no interval yet */
		uint64_t prev_ticks = e->ticks, prev_ts = e->ts_ns;
		e->start = start;
		e->ticks = ticks;
		e->ts_ns = now;
		if (fresh || now <= prev_ts)
			continue;
		uint64_t dt_ns = now - prev_ts;
		if (dt_ns < 1000000)
			continue;
		uint64_t used = ticks > prev_ticks ? ticks - prev_ticks : 0;
		double cores = ((double)used / (double)clk_tck) / ((double)dt_ns / 1e9);
		if (cores < cfg->cpu_min_cores)
			continue;
		emit(pid, comm, ticks, now, dt_ns, cores, ncpu);
	}
	closedir(d);
	sweep();
}
