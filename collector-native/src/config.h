/* Command-line and environment configuration of the collector. */
#ifndef ROOTLINE_CONFIG_H
#define ROOTLINE_CONFIG_H
#include <stdbool.h>
#include <stdint.h>

#define MAX_CGROUPS 64

struct config {
	const char *ingest_url;   /* base URL of the ingest service; events go to <url>/v1/collector/events */
	const char *token;        /* bearer token */
	const char *host_name;
	const char *ready_file;   /* written once every program is attached */
	const char *stats_file;   /* JSON counters, rewritten about once a second */
	const char *prom_file;    /* the same counters in Prometheus text format (node_exporter textfile style) */
	const char *cgroups[MAX_CGROUPS]; /* only processes in these cgroup v2 directories, when any are given */
	int n_cgroups;
	uint32_t http_sample;     /* keep 1 in N HTTP exchanges */
	uint32_t ring_kb;
	uint32_t flush_ms;
	uint32_t poll_ms;
	uint32_t batch_events;
	uint64_t buffer_events;   /* bound of the local buffer while ingest is slow or down */
	uint32_t cpu_sample_ms;   /* per-process CPU sample interval; 0: no samples */
	double cpu_min_cores;
	uint32_t conn_report_ms;  /* periodic reports of open TCP connections; 0: only at close */     /* a process using less CPU than this (in cores) over the interval is not sampled */
	bool stdout_events;       /* also print each event as a JSON line */
	bool keep_query;          /* send url.query values as they are (default: values redacted) */
	bool verbose;
};

/* Fills cfg from argv and ROOTLINE_* variables. Returns 0, or prints the problem and returns 2. */
int config_parse(struct config *cfg, int argc, char **argv);
#endif
