#include "config.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>

static const char usage[] =
	"usage: rootline-collector --ingest URL [options]\n"
	"  --ingest URL          ingest base URL (env ROOTLINE_INGEST_URL); events go to URL/v1/collector/events\n"
	"  --token T             bearer token (env ROOTLINE_TOKEN)\n"
	"  --host-name NAME      host.name to report (default: the kernel's host name)\n"
	"  --cgroup PATH         only watch processes in this cgroup v2 directory (repeatable)\n"
	"  --http-sample N       keep 1 in N HTTP exchanges (default 1: all)\n"
	"  --keep-query          send url.query values unredacted\n"
	"  --ring-kb N           kernel ring buffer size in KiB, a power of two (default 8192)\n"
	"  --batch-events N      events per POST (default 5000, at most 20000)\n"
	"  --buffer-events N     local buffer bound while ingest is slow or down (default 200000)\n"
	"  --flush-ms N          longest time an event waits before it is sent (default 1000)\n"
	"  --poll-ms N           ring buffer drain interval (default 100)\n"
	"  --cpu-sample-ms N     per-process CPU samples every N ms, from /proc (default 10000; 0: off)\n"
	"  --cpu-min-cores X     only sample processes that used at least X cores over the interval (default 0.05)\n"
	"  --conn-report-ms N    report each open TCP connection every N ms (default 30000; 0: only at close)\n"
	"  --stats-file PATH     JSON counters, rewritten about once a second\n"
	"  --prom-file PATH      the counters in Prometheus text format\n"
	"  --ready-file PATH     written once every probe is attached\n"
	"  --stdout              also print each event as a JSON line\n"
	"  --verbose             libbpf and verifier logs\n";

static int number(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		fprintf(stderr, "rootline-collector: --%s must be a whole number from %llu to %llu, got '%s'\n", name,
			(unsigned long long)min, (unsigned long long)max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* A period in ms: 0 turns the feature off, otherwise at least `min` (shorter would swamp the host). */
static int period(const char *name, const char *s, uint64_t min, uint64_t *out)
{
	if (number(name, s, 0, 86400000, out))
		return -1;
	if (*out && *out < min) {
		fprintf(stderr, "rootline-collector: --%s must be 0 (off) or at least %llu, got %s\n", name, (unsigned long long)min, s);
		return -1;
	}
	return 0;
}

static int decimal(const char *name, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !*s || !isfinite(v) || v < min || v > max) {
		fprintf(stderr, "rootline-collector: --%s must be a number from %g to %g, got '%s'\n", name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int config_parse(struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{"ingest", required_argument, 0, 'i'},  {"token", required_argument, 0, 't'},
		{"host-name", required_argument, 0, 'H'}, {"cgroup", required_argument, 0, 'c'},
		{"http-sample", required_argument, 0, 's'}, {"ring-kb", required_argument, 0, 'r'},
		{"batch-events", required_argument, 0, 'b'}, {"buffer-events", required_argument, 0, 'B'},
		{"flush-ms", required_argument, 0, 'f'}, {"poll-ms", required_argument, 0, 'p'},
		{"stats-file", required_argument, 0, 'S'}, {"prom-file", required_argument, 0, 'P'},
		{"ready-file", required_argument, 0, 'R'}, {"stdout", no_argument, 0, 'o'},
		{"keep-query", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
		{"cpu-sample-ms", required_argument, 0, 'C'}, {"cpu-min-cores", required_argument, 0, 'm'},
		{"conn-report-ms", required_argument, 0, 'T'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	memset(cfg, 0, sizeof(*cfg));
	cfg->ingest_url = getenv("ROOTLINE_INGEST_URL");
	cfg->token = getenv("ROOTLINE_TOKEN");
	cfg->http_sample = 1;
	cfg->ring_kb = 8192;
	cfg->flush_ms = 1000;
	cfg->poll_ms = 100;
	cfg->batch_events = 5000;
	cfg->buffer_events = 200000;
	cfg->cpu_sample_ms = 10000;
	cfg->cpu_min_cores = 0.05;
	cfg->conn_report_ms = 30000;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': cfg->ingest_url = optarg; break;
		case 't': cfg->token = optarg; break;
		case 'H': cfg->host_name = optarg; break;
		case 'c':
			if (cfg->n_cgroups == MAX_CGROUPS) {
				fprintf(stderr, "rootline-collector: at most %d --cgroup options\n", MAX_CGROUPS);
				return 2;
			}
			cfg->cgroups[cfg->n_cgroups++] = optarg;
			break;
		case 's': if (number("http-sample", optarg, 1, 1000000, &v)) return 2; cfg->http_sample = v; break;
		case 'r':
			if (number("ring-kb", optarg, 4, 1 << 20, &v)) return 2;
			if (v & (v - 1)) {
				fprintf(stderr, "rootline-collector: --ring-kb must be a power of two, got %s\n", optarg);
				return 2;
			}
			cfg->ring_kb = v;
			break;
		case 'b': if (number("batch-events", optarg, 1, 20000, &v)) return 2; cfg->batch_events = v; break;
		case 'B': if (number("buffer-events", optarg, 1, 100000000, &v)) return 2; cfg->buffer_events = v; break;
		case 'f': if (number("flush-ms", optarg, 10, 600000, &v)) return 2; cfg->flush_ms = v; break;
		case 'p': if (number("poll-ms", optarg, 1, 10000, &v)) return 2; cfg->poll_ms = v; break;
		case 'C': if (period("cpu-sample-ms", optarg, 100, &v)) return 2; cfg->cpu_sample_ms = v; break;
		case 'T': if (period("conn-report-ms", optarg, 1000, &v)) return 2; cfg->conn_report_ms = v; break;
		case 'm': if (decimal("cpu-min-cores", optarg, 0, 100000, &cfg->cpu_min_cores)) return 2; break;
		case 'S': cfg->stats_file = optarg; break;
		case 'P': cfg->prom_file = optarg; break;
		case 'R': cfg->ready_file = optarg; break;
		case 'o': cfg->stdout_events = true; break;
		case 'q': cfg->keep_query = true; break;
		case 'v': cfg->verbose = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rootline-collector: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if (!cfg->ingest_url && !cfg->stdout_events) {
		fprintf(stderr, "rootline-collector: no ingest URL: pass --ingest http://HOST:PORT or set ROOTLINE_INGEST_URL "
				"(or --stdout to print events only)\n");
		return 2;
	}
	if (cfg->ingest_url && strncmp(cfg->ingest_url, "http://", 7) && strncmp(cfg->ingest_url, "https://", 8)) {
		fprintf(stderr, "rootline-collector: --ingest must start with http:// or https://, got '%s'\n", cfg->ingest_url);
		return 2;
	}
	return 0;
}
