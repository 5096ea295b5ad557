/*
 * rootline-collector: loads the eBPF programs, drains the ring buffer on a timer, encodes records to the
 * shared event schema and hands them to the sender thread. See ../README.md for what is captured.
 */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "collector.h"
#include "collector.skel.h"
#include "config.h"
#include "connreport.h"
#include "cpusample.h"
#include "encode.h"
#include "meta.h"
#include "sbuf.h"
#include "sender.h"

#ifndef COLLECTOR_VERSION
#define COLLECTOR_VERSION "dev"
#endif

static volatile sig_atomic_t stop;
static struct config cfg;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || (!cfg.verbose && level == LIBBPF_INFO))
		return 0;
	if (!cfg.verbose && level == LIBBPF_WARN)
		return 0; /* the verifier log is long: shown with --verbose; the failure itself is explained below */
	return vfprintf(stderr, fmt, ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Syscall tracepoints are found through tracefs; mount it when the host has not. */
static int ensure_tracefs(void)
{
	struct stat st;
	if (!stat("/sys/kernel/tracing/events", &st) || !stat("/sys/kernel/debug/tracing/events", &st))
		return 0;
	if (!mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return 0;
	fprintf(stderr,
		"rootline-collector: tracefs is not mounted and mounting it failed (%s).\n"
		"  Mount it with: mount -t tracefs nodev /sys/kernel/tracing\n"
		"  (in Kubernetes, mount the host's /sys/kernel/tracing into the pod, or run privileged)\n",
		strerror(errno));
	return -1;
}

/* CAP_BPF (39) and CAP_PERFMON (38) in the effective set, from /proc/self/status. */
static bool has_bpf_caps(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return (eff >> 39 & 1) && (eff >> 38 & 1);
}

static int preflight(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr,
			"rootline-collector: this kernel exposes no BTF (/sys/kernel/btf/vmlinux: %s).\n"
			"  The collector needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, RHEL 8.2+ and\n"
			"  most cloud images have it). In a container, mount the host's /sys read-only.\n",
			strerror(errno));
		return -1;
	}
	if (geteuid() != 0 && !has_bpf_caps()) {
		fprintf(stderr,
			"rootline-collector: loading eBPF needs root, or the capabilities CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN,\n"
			"  CAP_SYS_RESOURCE and CAP_DAC_READ_SEARCH. Run it with sudo, or in Kubernetes with the DaemonSet in\n"
			"  deploy/kubernetes (privileged, hostPID).\n");
		return -1;
	}
	return ensure_tracefs();
}

static void explain_load_failure(int err, const char *stage)
{
	err = err < 0 ? -err : err;
	if (err == EPERM || err == EACCES) {
		fprintf(stderr,
			"rootline-collector: the kernel refused to %s the eBPF programs (%s).\n"
			"  Run as root, or grant CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_RESOURCE.\n"
			"  In Kubernetes use the DaemonSet in deploy/ (privileged, hostPID). If you are root already, the\n"
			"  verifier may have rejected a program: rerun with --verbose to see its log.\n",
			stage, strerror(err));
	} else if (err == ENOENT) {
		fprintf(stderr,
			"rootline-collector: a tracepoint or kernel type the collector needs is missing (%s while trying to %s).\n"
			"  Rerun with --verbose to see which. The collector needs Linux 5.15 or later with BTF.\n",
			strerror(err), stage);
	} else {
		fprintf(stderr,
			"rootline-collector: could not %s the eBPF programs: %s.\n"
			"  If the kernel's verifier rejected a program, --verbose prints its log.\n",
			stage, strerror(err));
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	return encode_record(data, size);
}

static uint64_t read_counter(struct collector_bpf *skel, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &idx, vals))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static void write_file(const char *path, const char *text)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

static void write_stats(struct collector_bpf *skel)
{
	struct sender_stats s;
	sender_stats(&s);
	uint64_t ring_full = read_counter(skel, CNT_RING_FULL);
	uint64_t partial = read_counter(skel, CNT_HTTP_PARTIAL);
	char buf[1024];
	if (cfg.stats_file) {
		snprintf(buf, sizeof(buf),
			 "{\"events_total\":%llu,\"sent\":%llu,\"queued\":%llu,\"ring_full\":%llu,\"buffer_full\":%llu,"
			 "\"send_failed\":%llu,\"post_errors\":%llu,\"http_unmatched_responses\":%llu}\n",
			 (unsigned long long)s.events_total, (unsigned long long)s.sent, (unsigned long long)s.queued,
			 (unsigned long long)ring_full, (unsigned long long)s.buffer_full, (unsigned long long)s.send_failed,
			 (unsigned long long)s.post_errors, (unsigned long long)partial);
		write_file(cfg.stats_file, buf);
	}
	if (cfg.prom_file) {
		snprintf(buf, sizeof(buf),
			 "# HELP rootline_collector_events_total Events encoded.\n# TYPE rootline_collector_events_total counter\n"
			 "rootline_collector_events_total %llu\n"
			 "# HELP rootline_collector_events_sent_total Events ingest acknowledged.\n# TYPE rootline_collector_events_sent_total counter\n"
			 "rootline_collector_events_sent_total %llu\n"
			 "# HELP rootline_collector_dropped_total Events lost, by reason.\n# TYPE rootline_collector_dropped_total counter\n"
			 "rootline_collector_dropped_total{reason=\"ring_full\"} %llu\n"
			 "rootline_collector_dropped_total{reason=\"buffer_full\"} %llu\n"
			 "rootline_collector_dropped_total{reason=\"send_failed\"} %llu\n",
			 (unsigned long long)s.events_total, (unsigned long long)s.sent, (unsigned long long)ring_full,
			 (unsigned long long)s.buffer_full, (unsigned long long)s.send_failed);
		write_file(cfg.prom_file, buf);
	}
	sender_set_ring_full(ring_full);
}

static int allow_cgroups(struct collector_bpf *skel)
{
	for (int i = 0; i < cfg.n_cgroups; i++) {
		uint64_t id;
		uint8_t one = 1;
		char path[1024];
		const char *dir = cfg.cgroups[i];
		if (dir[0] != '/' || strncmp(dir, meta_cgroup_root(), strlen(meta_cgroup_root()))) {
			snprintf(path, sizeof(path), "%s/%s", meta_cgroup_root(), dir[0] == '/' ? dir + 1 : dir);
			dir = path;
		}
		if (meta_cgroup_id_of(dir, &id)) {
			fprintf(stderr, "rootline-collector: --cgroup %s: not a cgroup v2 directory (%s)\n", cfg.cgroups[i], dir);
			return -1;
		}
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.cgroup_allow), &id, &one, BPF_ANY))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc = config_parse(&cfg, argc, argv);
	if (rc)
		return rc;
	libbpf_set_print(print_libbpf);
	if (preflight())
		return 3;
	if (meta_init(cfg.host_name)) {
		fprintf(stderr, "rootline-collector: out of memory\n");
		return 3;
	}

	struct collector_bpf *skel = collector_bpf__open();
	if (!skel) {
		explain_load_failure(errno, "open");
		return 3;
	}
	skel->rodata->self_tgid = getpid();
	skel->rodata->cgroup_filter = cfg.n_cgroups > 0;
	skel->rodata->http_sample = cfg.http_sample;
	skel->rodata->wakeup_bytes = (uint64_t)cfg.ring_kb * 1024 / 4;
	bpf_map__set_max_entries(skel->maps.events, cfg.ring_kb * 1024);
	if ((rc = collector_bpf__load(skel))) {
		explain_load_failure(rc, "load");
		collector_bpf__destroy(skel);
		return 3;
	}
	if (allow_cgroups(skel)) {
		collector_bpf__destroy(skel);
		return 2;
	}
	if ((rc = collector_bpf__attach(skel))) {
		explain_load_failure(rc, "attach");
		collector_bpf__destroy(skel);
		return 3;
	}

	struct sbuf who;
	struct jobj o;
	sb_init(&who, 256);
	jo_begin(&o, &who);
	jo_str(&o, "host.name", meta_host_name());
	if (meta_host_id()[0])
		jo_str(&o, "host.id", meta_host_id());
	jo_str(&o, "aiops.collector.version", COLLECTOR_VERSION);
	jo_end(&o);
	sb_putc(&who, 0);
	encode_init(&cfg);
	if (sender_start(&cfg, who.p)) {
		fprintf(stderr, "rootline-collector: could not start the sender\n");
		return 3;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	if (!rb) {
		explain_load_failure(errno, "open the ring buffer of");
		return 3;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (cfg.ready_file) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d\n", getpid());
		write_file(cfg.ready_file, pid);
	}
	fprintf(stderr, "rootline-collector %s: watching host %s%s, sending to %s\n", COLLECTOR_VERSION, meta_host_name(),
		cfg.n_cgroups ? " (cgroup filter on)" : "", cfg.ingest_url ? cfg.ingest_url : "stdout");

	uint64_t last_flush = now_ms(), last_stats = 0, last_sample = 0, last_conn_report = last_flush;
	if (cfg.cpu_sample_ms)
		cpusample_init(&cfg);
	while (!stop) {
		/* Records are submitted without wakeups; the kernel only wakes us when the ring is a quarter full. */
		int n = ring_buffer__poll(rb, (int)cfg.poll_ms);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "rootline-collector: ring buffer: %s\n", strerror(-n));
			break;
		}
		ring_buffer__consume(rb);
		uint64_t t = now_ms();
		if (t - last_flush >= cfg.flush_ms) {
			if (cfg.stdout_events)
				fflush(stdout);
			sender_set_ring_full(read_counter(skel, CNT_RING_FULL)); /* the batch reports drops up to now */
			sender_flush();
			last_flush = t;
		}
		if (cfg.cpu_sample_ms && t - last_sample >= cfg.cpu_sample_ms) {
			cpusample_tick(); /* the first pass only takes the baseline */
			last_sample = t;
		}
		if (cfg.conn_report_ms && t - last_conn_report >= cfg.conn_report_ms) {
			/* Long-lived connections, once per period each; the ring was just drained. */
			connreport_tick(bpf_map__fd(skel->maps.conns), bpf_map__max_entries(skel->maps.conns), t,
					cfg.conn_report_ms, cfg.n_cgroups > 0);
			last_conn_report = t;
		}
		if (t - last_stats >= 1000) {
			encode_clock_sync();
			write_stats(skel);
			last_stats = t;
		}
	}
	ring_buffer__consume(rb);
	write_stats(skel);
	sender_stop(5000);
	write_stats(skel);
	struct sender_stats s;
	sender_stats(&s);
	fprintf(stderr, "rootline-collector: stopped; %llu events, %llu sent, dropped: ring_full %llu, buffer_full %llu, send_failed %llu\n",
		(unsigned long long)s.events_total, (unsigned long long)s.sent,
		(unsigned long long)read_counter(skel, CNT_RING_FULL), (unsigned long long)s.buffer_full,
		(unsigned long long)s.send_failed);
	ring_buffer__free(rb);
	collector_bpf__destroy(skel);
	return 0;
}
