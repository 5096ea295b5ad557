#define _GNU_SOURCE
#include "encode.h"
#include "collector.h"
#include "cpusample.h"
#include "http_parse.h"
#include "meta.h"
#include "rules.h"
#include "sbuf.h"
#include "sender.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct config *cfg;
static uint64_t seq;
static int64_t mono_to_wall;
static struct sbuf line; /* one event, for --stdout */

void encode_clock_sync(void)
{
	struct timespec m, w;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &w);
	mono_to_wall = ((int64_t)w.tv_sec - m.tv_sec) * 1000000000ll + (w.tv_nsec - m.tv_nsec);
}

void encode_init(const struct config *c)
{
	cfg = c;
	sb_init(&line, 4096);
	encode_clock_sync();
}

static uint64_t wall(uint64_t mono) { return (uint64_t)((int64_t)mono + mono_to_wall); }

/*
 * The process and cgroup fields are the same for every event of a process: kept as a ready JSON fragment per
 * process, rebuilt when its cgroup or name changes (exec, cgroup move).
 */
#define FRAG_SLOTS 4096
struct frag {
	uint32_t tgid;
	uint32_t vpid;
	uint64_t cgroup_id;
	char comm[COMM_LEN];
	struct sbuf json;
};
static struct frag frags[FRAG_SLOTS];

static void build_fragment(struct frag *f, const struct ev_hdr *h)
{
	struct jobj o = {&f->json, 1}; /* n=1: every member is preceded by a comma */
	sb_reset(&f->json);
	if (h->tgid) {
		jo_u64(&o, "process.pid", h->tgid);
		if (h->vpid && h->vpid != h->tgid)
			jo_u64(&o, "process.vpid", h->vpid);
		jo_strn(&o, "process.executable.name", h->comm, COMM_LEN);
		const char *exe = meta_exe(h->tgid);
		if (exe)
			jo_str(&o, "process.executable.path", exe);
	}
	if (h->cgroup_id) {
		jo_u64(&o, "aiops.cgroup.id", h->cgroup_id);
		struct cgroup_info cg;
		meta_cgroup(h->cgroup_id, &cg);
		if (cg.path)
			jo_str(&o, "process.linux.cgroup", cg.path);
		if (cg.container_id[0])
			jo_str(&o, "container.id", cg.container_id);
		if (cg.pod_uid[0])
			jo_str(&o, "k8s.pod.uid", cg.pod_uid);
	}
}

void encode_forget_process(uint32_t tgid)
{
	struct frag *f = &frags[tgid % FRAG_SLOTS];
	if (f->tgid == tgid)
		f->tgid = 0;
}

/* Starts an event: the common fields of every event in the schema. */
static void begin(struct jobj *o, struct sbuf *b, const char *name, const struct ev_hdr *h)
{
	jo_begin(o, b);
	jo_str(o, "event.name", name);
	jo_u64s(o, "time_unix_nano", wall(h->ts_ns));
	jo_u64(o, "aiops.seq", ++seq);
	struct frag *f = &frags[h->tgid % FRAG_SLOTS];
	if (!f->json.p)
		sb_init(&f->json, 256);
	if (f->tgid != h->tgid || f->cgroup_id != h->cgroup_id || (h->vpid && f->vpid != h->vpid) ||
	    memcmp(f->comm, h->comm, COMM_LEN)) {
		f->tgid = h->tgid;
		f->cgroup_id = h->cgroup_id;
		f->vpid = h->vpid;
		memcpy(f->comm, h->comm, COMM_LEN);
		build_fragment(f, h);
	}
	sb_putn(b, f->json.p, f->json.len);
}

static void ipv4_str(const uint8_t *a, char *out)
{
	char *o = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		if (i < 3)
			*o++ = '.';
	}
	*o = 0;
}

static void addr_str(uint16_t family, const uint8_t *a, char *out, size_t n, const char **type)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == 10 && !memcmp(a, mapped, 12)) {
		ipv4_str(a + 12, out); /* an IPv4 peer on a dual-stack socket */
		*type = "ipv4";
	} else if (family == 10) {
		inet_ntop(AF_INET6, a, out, n);
		*type = "ipv6";
	} else {
		ipv4_str(a, out);
		*type = "ipv4";
	}
}

/* network.* plus server.* and client.*: which end is the server depends on who opened the connection. */
static void addresses(struct jobj *o, const struct addr_pair *a, bool local_is_server)
{
	char l[INET6_ADDRSTRLEN], p[INET6_ADDRSTRLEN];
	const char *type;
	addr_str(a->family, a->local, l, sizeof(l), &type);
	addr_str(a->family, a->peer, p, sizeof(p), &type);
	jo_str(o, "network.transport", "tcp");
	jo_str(o, "network.type", type);
	jo_str(o, "network.local.address", l);
	jo_u64(o, "network.local.port", a->local_port);
	jo_str(o, "network.peer.address", p);
	jo_u64(o, "network.peer.port", a->peer_port);
	jo_str(o, "server.address", local_is_server ? l : p);
	jo_u64(o, "server.port", local_is_server ? a->local_port : a->peer_port);
	jo_str(o, "client.address", local_is_server ? p : l);
	jo_u64(o, "client.port", local_is_server ? a->peer_port : a->local_port);
}

static const char *errno_name(int e)
{
	switch (e) {
	case 111: return "ECONNREFUSED";
	case 110: return "ETIMEDOUT";
	case 104: return "ECONNRESET";
	case 113: return "EHOSTUNREACH";
	case 101: return "ENETUNREACH";
	case 32: return "EPIPE";
	default: return NULL;
	}
}

static void conn(struct jobj *o, const struct ev_conn *e)
{
	static const char *results[] = {"ok", "refused", "timeout", "reset", "error"};
	bool inbound = e->direction == DIR_INBOUND;
	addresses(o, &e->a, inbound);
	jo_str(o, "aiops.tcp.direction", inbound ? "inbound" : "outbound");
	jo_str(o, "aiops.tcp.result", results[e->result < 5 ? e->result : 4]);
	if (e->sk_err) {
		const char *n = errno_name(e->sk_err);
		char buf[16];
		if (!n) {
			snprintf(buf, sizeof(buf), "errno_%d", e->sk_err);
			n = buf;
		}
		jo_str(o, "error.type", n);
	}
	if (e->established_ns && !inbound)
		jo_u64(o, "aiops.tcp.connect_duration_ns", e->established_ns - e->start_ns);
	jo_u64(o, "aiops.tcp.duration_ns", e->h.ts_ns - e->start_ns);
	jo_u64(o, "aiops.tcp.bytes_sent", e->bytes_sent);
	jo_u64(o, "aiops.tcp.bytes_received", e->bytes_received);
	jo_u64(o, "aiops.tcp.retransmits", e->retransmits);
	jo_u64(o, "aiops.tcp.srtt_us", e->srtt_us);
}

static void http(struct jobj *o, const struct ev_http *e)
{
	struct http_request rq;
	struct http_response rs;
	http_parse_request(e->req, e->req_len, cfg->keep_query, &rq);
	http_parse_response(e->resp, e->resp_len, &rs);
	bool server = e->side == SIDE_SERVER;
	jo_str(o, "aiops.http.side", server ? "server" : "client");
	addresses(o, &e->a, server);
	jo_str(o, "http.request.method", rq.method);
	jo_str(o, "url.path", rq.path);
	if (rq.query[0])
		jo_str(o, "url.query", rq.query);
	if (rq.version[0])
		jo_str(o, "network.protocol.version", rq.version);
	if (rs.status)
		jo_u64(o, "http.response.status_code", rs.status);
	jo_u64(o, "aiops.http.duration_ns", e->end_ns > e->start_ns ? e->end_ns - e->start_ns : 0);
	if (rq.content_length >= 0)
		jo_i64(o, "http.request.body.size", rq.content_length);
	if (server ? rs.status >= 500 : rs.status >= 400) {
		char t[8];
		snprintf(t, sizeof(t), "%u", rs.status);
		jo_str(o, "error.type", t);
	}
	jo_bool(o, "aiops.http.tls", false);
	if (rq.truncated || !rs.status)
		jo_bool(o, "aiops.http.partial", true);
}

/* process.command_line from argv (NUL-separated, at most ARGS_CAP bytes), and whether it was cut. */
static void command_line(struct jobj *o, const char *args, size_t len, bool truncated)
{
	char cmd[ARGS_CAP + 1];
	size_t n = len < ARGS_CAP ? len : ARGS_CAP;
	memcpy(cmd, args, n);
	cmd[n] = 0;
	while (n && !cmd[n - 1]) /* argv ends with a NUL: no trailing space */
		n--;
	for (size_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = 0;
	jo_str(o, "process.command_line", cmd);
	if (truncated)
		jo_bool(o, "aiops.process.command_line_truncated", true);
}

static void exec_fields(struct jobj *o, const struct ev_exec *e)
{
	jo_u64(o, "process.parent_pid", e->ppid);
	jo_strn(o, "aiops.process.parent_executable.name", e->parent_comm, COMM_LEN);
	command_line(o, e->args, e->args_len, e->args_len >= ARGS_CAP);
	jo_u64(o, "process.user.id", e->uid);
	jo_bool(o, "process.interactive", e->tty != 0);
	if (e->written_ns) {
		/* The executable was opened for writing within DROP_WINDOW_NS: a freshly dropped binary. */
		jo_strn(o, "aiops.process.executable.writer.name", e->writer_comm, COMM_LEN);
		jo_u64(o, "aiops.process.executable.writer.pid", e->writer_tgid);
		jo_u64(o, "aiops.process.executable.written_ago_ms",
		       e->h.ts_ns > e->written_ns ? (e->h.ts_ns - e->written_ns) / 1000000 : 0);
	}
	char cwd_link[64], cwd[256];
	snprintf(cwd_link, sizeof(cwd_link), "/proc/%u/cwd", e->h.tgid);
	ssize_t k = readlink(cwd_link, cwd, sizeof(cwd) - 1);
	if (k > 0) {
		cwd[k] = 0;
		jo_str(o, "process.working_directory", cwd);
	}
}

static const char *event_name(uint32_t type)
{
	switch (type) {
	case EV_EXEC: return "aiops.process.exec";
	case EV_EXIT: return "aiops.process.exit";
	case EV_CONN: return "aiops.tcp.connection";
	case EV_LISTEN: return "aiops.tcp.listen";
	case EV_HTTP: return "aiops.http.request";
	default: return "aiops.security.alert";
	}
}

/* The event just written from `start` is complete: echo it with --stdout (without its separating comma), count it. */
static void finish(struct sbuf *b, size_t start)
{
	if (cfg->stdout_events) {
		size_t from = start + (b->p[start] == ',' ? 1 : 0);
		fwrite(b->p + from, 1, b->len - from, stdout);
		fputc('\n', stdout);
	}
	sender_event_added();
}

/* Writes the event's fields after the common ones; returns false for a record not to send. */
static bool body(struct jobj *o, const void *data, uint32_t type)
{
	switch (type) {
	case EV_EXEC: exec_fields(o, data); return true;
	case EV_EXIT: {
		const struct ev_exit *e = data;
		jo_i64(o, "process.exit.code", e->signal ? 128 + e->signal : e->exit_code);
		if (e->signal)
			jo_i64(o, "aiops.process.exit.signal", e->signal);
		return true;
	}
	case EV_CONN: conn(o, data); return true;
	case EV_LISTEN: {
		const struct ev_listen *e = data;
		char a[INET6_ADDRSTRLEN];
		const char *t;
		addr_str(e->a.family, e->a.local, a, sizeof(a), &t);
		jo_str(o, "network.transport", "tcp");
		jo_str(o, "network.type", t);
		jo_str(o, "network.local.address", a);
		jo_u64(o, "network.local.port", e->a.local_port);
		jo_str(o, "aiops.listen.action", e->open ? "open" : "close");
		return true;
	}
	case EV_HTTP: http(o, data); return true;
	default: return rules_security_fields(o, data, type);
	}
}

int encode_record(const void *data, size_t size)
{
	const struct ev_hdr *h = data;
	if (size < sizeof(*h))
		return 0;
	if (h->type == EV_EXEC) {
		meta_set_exe(h->tgid, ((const struct ev_exec *)data)->filename);
		encode_forget_process(h->tgid); /* a new executable */
	}

	struct sbuf *b = sender_open_batch();
	size_t start = b->len;
	struct jobj o;
	begin(&o, b, event_name(h->type), h);
	if (!body(&o, data, h->type)) {
		b->len = start; /* nothing to send: undo, including the separating comma */
		if (b->len && b->p[b->len - 1] == ',')
			b->len--;
		seq--;
		return 0;
	}
	jo_end(&o);
	finish(b, start);

	/* A second event when the record also breaks a security rule: the alert, with the facts as evidence. */
	struct rule_hit hit;
	if (rules_check(data, h->type, &hit)) {
		b = sender_open_batch();
		start = b->len;
		begin(&o, b, "aiops.security.alert", h);
		rules_alert_fields(&o, data, h->type, &hit, seq - 1);
		jo_end(&o);
		finish(b, start);
	}
	if (h->type == EV_EXIT) {
		meta_forget(h->tgid);
		encode_forget_process(h->tgid);
	}
	return 0;
}

/*
 * A periodic report of a connection still open (connreport.c): the close event's identity and address fields,
 * network.connection.state=established, the time open so far. No aiops.tcp.result (consumers read any result
 * but ok as a failure) and no byte counts: the map value has none, and the close event carries the totals.
 */
void encode_conn_open(const struct conn *c, uint64_t now_ns)
{
	struct ev_hdr h = {.type = EV_CONN, .tgid = c->tgid, .tid = c->tid, .vpid = 0, .ts_ns = now_ns,
			   .cgroup_id = c->cgroup_id};
	memcpy(h.comm, c->comm, COMM_LEN);
	bool inbound = c->direction == DIR_INBOUND;
	struct sbuf *b = sender_open_batch();
	size_t start = b->len;
	struct jobj o;
	begin(&o, b, "aiops.tcp.connection", &h);
	addresses(&o, &c->a, inbound);
	jo_str(&o, "aiops.tcp.direction", inbound ? "inbound" : "outbound");
	jo_str(&o, "network.connection.state", "established");
	if (c->established_ns && !inbound && c->established_ns >= c->start_ns)
		jo_u64(&o, "aiops.tcp.connect_duration_ns", c->established_ns - c->start_ns);
	jo_u64(&o, "aiops.tcp.duration_ns", now_ns > c->start_ns ? now_ns - c->start_ns : 0);
	jo_end(&o);
	finish(b, start);
}

void encode_cpu_sample(const struct cpu_sample *s)
{
	struct ev_hdr h = {.type = 0, .tgid = s->pid, .tid = s->pid, .vpid = s->vpid, .ts_ns = s->ts_ns,
			   .cgroup_id = s->cgroup_id};
	memcpy(h.comm, s->comm, COMM_LEN);
	struct sbuf *b = sender_open_batch();
	size_t start = b->len;
	struct jobj o;
	begin(&o, b, "aiops.process.sample", &h);
	jo_f64(&o, "process.cpu.time", s->cpu_time_s);
	jo_f64(&o, "process.cpu.utilization", s->utilization);
	jo_f64(&o, "aiops.process.cpu.cores", s->cores);
	jo_u64(&o, "aiops.sample.interval_ms", s->interval_ms);
	command_line(&o, s->args, s->args_len, s->args_truncated);
	jo_end(&o);
	finish(b, start);
}
