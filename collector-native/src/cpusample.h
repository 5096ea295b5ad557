/*
 * Per-process CPU samples from /proc: every --cpu-sample-ms the loader reads each process's utime + stime and
 * reports the processes (in the watched cgroups) that used at least --cpu-min-cores over the interval.
 */
#ifndef ROOTLINE_CPUSAMPLE_H
#define ROOTLINE_CPUSAMPLE_H
#include <stddef.h>
#include <stdint.h>
#include "collector.h"
#include "config.h"

/* One process's CPU use over one interval, as the encoder needs it. */
struct cpu_sample {
	uint32_t pid;
	uint32_t vpid;         /* pid in its own pid namespace; 0 when unknown */
	uint64_t ts_ns;        /* CLOCK_MONOTONIC, when its counters were read */
	uint64_t cgroup_id;    /* 0 when its cgroup v2 directory could not be found */
	char comm[COMM_LEN];
	double cpu_time_s;     /* cumulative user + system CPU seconds */
	double cores;          /* CPU seconds over the interval / elapsed seconds */
	double utilization;    /* cores / online CPUs */
	uint64_t interval_ms;  /* elapsed time between this reading and the previous one */
	const char *args;      /* /proc/<pid>/cmdline: argv, NUL-separated */
	size_t args_len;       /* at most ARGS_CAP */
	int args_truncated;
};

void cpusample_init(const struct config *cfg);
/* One pass over /proc: encodes a sample for each process that qualifies. Main thread only (it encodes). */
void cpusample_tick(void);
#endif
