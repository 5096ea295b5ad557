// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side of the Rootline collector. Tracepoints only: this kernel refuses kprobes, fentry and LSM.
 *
 * - TCP lifecycle from tp_btf/inet_sock_set_state, keyed by the socket pointer. The pid there is whatever
 *   task is on the CPU, so ownership comes from syscall context: the connecting task at SYN_SENT, the
 *   accepting task at accept()/accept4() exit.
 * - HTTP/1.x from sock:sock_send_length / sock:sock_recv_length. They fire inside the socket syscall, after
 *   the data moved, so the user buffer is found from the syscall's own registers: one program per socket
 *   operation instead of an enter/exit pair per read() and write() on every fd in the system.
 * - Processes from sched_process_exec / sched_process_exit; security facts from a few syscall tracepoints.
 * - Dropped binaries: every successful open for writing remembers the file's inode (LRU, by device and inode
 *   number); an exec of an inode written within DROP_WINDOW_NS carries the writer and how long ago it wrote.
 *
 * Nothing here blocks: a full ring is counted (CNT_RING_FULL) and the record dropped. Wakeups are batched
 * (BPF_RB_NO_WAKEUP) unless the ring passes a fill mark, because one wakeup per record doubles the latency
 * added to a loopback round trip.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "collector.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define ECONNREFUSED 111
#define ETIMEDOUT 110
#define ECONNRESET 104
#define EPIPE 32

/* x86_64 syscall numbers: the HTTP hook dispatches on the syscall it runs inside. */
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47

/* Set by the loader before load. */
const volatile __u32 self_tgid = 0;
const volatile bool cgroup_filter = false;
const volatile __u64 wakeup_bytes = 1 << 20;
const volatile __u32 http_sample = 1; /* keep 1 in N HTTP exchanges */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* cgroup v2 ids the operator asked to watch, when cgroup_filter is set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_allow SEC(".maps");

/* struct conn (the value of `conns`) is in collector.h: the loader reads this map for periodic reports. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

/* Listening sockets' addresses: an auto-bound port is released before the LISTEN->CLOSE tracepoint fires. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct addr_pair);
} listeners SEC(".maps");

/* One copy from user memory per socket operation: each bpf_probe_read_user() has a fixed cost (user-access
 * barriers) that dwarfs the bytes, so the prefix is read once here and classified in kernel memory. */
struct io_scratch {
	char buf[REQ_CAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_scratch);
} io_scratch SEC(".maps");

struct http_state {
	__u64 start_ns;
	__u64 req_bytes;
	__u32 side;         /* SIDE_* of the request awaiting its response, 0 when none */
	__u32 pending_side;
	__u32 req_len;
	__u32 _pad;
	char req[REQ_CAP];
};

/* The request waiting for its response, stored on the socket itself: no hash lookup on the hot path, and
 * freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct http_state);
} http_pending SEC(".maps");

/* open()/mount() arguments between syscall entry and exit, so the record carries the result. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ev_file);
} open_pending SEC(".maps");

/* What an open for writing in flight needs at its exit (OPEN_* bits), by pid_tgid. Only opens for writing by
 * watched processes have an entry, so the exit of every other open costs one missed lookup. LRU: an entry left
 * by a thread that died inside the syscall is evicted rather than filling the map. */
#define OPEN_TRACK 1     /* remember the inode as just written (dropped-binary detection) */
#define OPEN_SENSITIVE 2 /* an ev_file waits in open_pending */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u32);
} open_kind SEC(".maps");

/* Regular files recently opened for writing, by device and inode: the exec of one is a dropped binary's. */
struct file_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad;
};

struct file_writer {
	__u64 ts_ns; /* when it was opened for writing (CLOCK_MONOTONIC) */
	__u32 tgid;
	__u32 _pad;
	char comm[COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct file_key);
	__type(value, struct file_writer);
} written SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct ev_mount);
} mount_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ev_file);
} file_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sample_tick SEC(".maps");

/* Tracepoint layouts from tracefs `format` files (vmlinux.h names for them change between kernels). */
struct tp_sys_enter {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};

struct tp_sys_exit {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

struct tp_exec {
	__u64 common;
	__u32 filename_loc;
	__s32 pid;
	__s32 old_pid;
};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline bool allowed(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == self_tgid)
		return false;
	if (!cgroup_filter)
		return true;
	/* The watched cgroups and everything below them: walk up the current task's ancestors. */
	for (int level = 0; level <= 16; level++) {
		__u64 cg = bpf_get_current_ancestor_cgroup_id(level);
		if (!cg)
			return false; /* past the task's own cgroup */
		if (bpf_map_lookup_elem(&cgroup_allow, &cg))
			return true;
	}
	return false;
}

static __always_inline void *reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		count(CNT_RING_FULL);
	return e;
}

static __always_inline void submit(void *e)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(e, avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void fill_hdr(struct ev_hdr *h, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->type = type;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->vpid = 0;
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Socket addresses by direct (BTF) loads: every caller has the kernel's own, trusted socket pointer. */
static __always_inline void fill_addr(struct addr_pair *a, const struct sock *sk)
{
	a->family = sk->__sk_common.skc_family;
	a->local_port = sk->__sk_common.skc_num;
	a->peer_port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (a->family == AF_INET6) {
		__builtin_memcpy(a->local, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(a->peer, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		__u32 l = sk->__sk_common.skc_rcv_saddr;
		__u32 p = sk->__sk_common.skc_daddr;
		__builtin_memcpy(a->local, &l, 4);
		__builtin_memcpy(a->peer, &p, 4);
	}
}

/* ---------------------------------------------------------------- TCP */

static __always_inline void emit_listen(const struct sock *sk, __u32 open)
{
	__u64 key = (__u64)sk;
	struct ev_listen *e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_hdr(&e->h, EV_LISTEN);
	if (open) {
		fill_addr(&e->a, sk);
		bpf_map_update_elem(&listeners, &key, &e->a, BPF_ANY);
	} else {
		struct addr_pair *a = bpf_map_lookup_elem(&listeners, &key);
		if (a)
			__builtin_memcpy(&e->a, a, sizeof(*a));
		else
			fill_addr(&e->a, sk);
	}
	e->open = open;
	submit(e);
}

static __always_inline void emit_conn(const struct sock *sk, struct conn *c, int oldstate)
{
	struct ev_conn *e = reserve(sizeof(*e));
	if (!e)
		return;
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	e->h.type = EV_CONN;
	e->h.tgid = c->tgid;
	e->h.tid = c->tid;
	e->h.vpid = 0;
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.cgroup_id = c->cgroup_id;
	__builtin_memcpy(e->h.comm, c->comm, COMM_LEN);
	if (c->a.local_port)
		__builtin_memcpy(&e->a, &c->a, sizeof(e->a));
	else
		fill_addr(&e->a, sk);
	e->direction = c->direction;
	e->start_ns = c->start_ns;
	e->established_ns = c->established_ns;
	int err = BPF_CORE_READ(sk, sk_err);
	e->sk_err = err;
	if (!c->established_ns)
		e->result = err == ECONNREFUSED ? RES_REFUSED : err == ETIMEDOUT ? RES_TIMEOUT : RES_ERROR;
	else if (err == ECONNRESET || err == EPIPE)
		e->result = RES_RESET;
	else
		e->result = err ? RES_ERROR : RES_OK;
	/* bytes_sent counts retransmitted payload again; bytes_received counts a received FIN as one byte. */
	e->bytes_sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	__u64 rcvd = BPF_CORE_READ(tp, bytes_received);
	__u8 shut = BPF_CORE_READ(sk, sk_shutdown);
	if (rcvd && (shut & 1 /* RCV_SHUTDOWN */) && !err && oldstate != TCP_SYN_SENT)
		rcvd -= 1;
	e->bytes_received = rcvd;
	e->retransmits = BPF_CORE_READ(tp, total_retrans);
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	submit(e);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u64 key = (__u64)sk;

	if (newstate == TCP_SYN_SENT) {
		/* connect() runs this in the caller's context: the pid is right here, and only here. */
		if (!allowed())
			return 0;
		struct conn c = {};
		__u64 id = bpf_get_current_pid_tgid();
		c.start_ns = bpf_ktime_get_ns();
		c.tgid = id >> 32;
		c.tid = (__u32)id;
		c.direction = DIR_OUTBOUND;
		c.cgroup_id = bpf_get_current_cgroup_id();
		bpf_get_current_comm(c.comm, sizeof(c.comm));
		fill_addr(&c.a, sk);
		bpf_map_update_elem(&conns, &key, &c, BPF_ANY);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED) {
		struct conn *c = bpf_map_lookup_elem(&conns, &key);
		if (c) {
			c->established_ns = bpf_ktime_get_ns();
			fill_addr(&c->a, sk);
			return 0;
		}
		if (oldstate == TCP_SYN_RECV) {
			/* Server side of a handshake, in softirq: the owner is filled in at accept(). */
			struct conn n = {};
			n.start_ns = bpf_ktime_get_ns();
			n.established_ns = n.start_ns;
			n.direction = DIR_INBOUND;
			fill_addr(&n.a, sk);
			bpf_map_update_elem(&conns, &key, &n, BPF_ANY);
		}
		return 0;
	}
	if (newstate == TCP_LISTEN) {
		if (allowed())
			emit_listen(sk, 1);
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		if (oldstate == TCP_LISTEN) {
			__u64 lkey = (__u64)sk;
			if (allowed())
				emit_listen(sk, 0);
			bpf_map_delete_elem(&listeners, &lkey);
			return 0;
		}
		struct conn *c = bpf_map_lookup_elem(&conns, &key);
		if (!c)
			return 0;
		if (c->tgid || !cgroup_filter)
			emit_conn(sk, c, oldstate);
		bpf_map_delete_elem(&conns, &key);
	}
	return 0;
}

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(t, files, fdt, max_fds);
	struct file *f = NULL;
	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline int on_accept_exit(struct tp_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct file *f = fd_file((int)ctx->ret);
	if (!f)
		return 0;
	struct socket *so = (struct socket *)BPF_CORE_READ(f, private_data);
	__u64 key = (__u64)BPF_CORE_READ(so, sk);
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	if (!allowed()) {
		bpf_map_delete_elem(&conns, &key);
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	c->tgid = id >> 32;
	c->tid = (__u32)id;
	c->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	return 0;
}

SEC("tp/syscalls/sys_exit_accept4")
int on_accept4_exit(struct tp_sys_exit *ctx) { return on_accept_exit(ctx); }

SEC("tp/syscalls/sys_exit_accept")
int on_accept_exit_plain(struct tp_sys_exit *ctx) { return on_accept_exit(ctx); }

/* ---------------------------------------------------------------- HTTP */

static __always_inline bool is_request(__u64 w)
{
	__u32 lo = (__u32)w;
	/* First four bytes, little-endian: "GET ", "POST", "PUT ", "HEAD", "DELE", "PATC", "OPTI", "CONN", "TRAC". */
	return lo == 0x20544547 || lo == 0x54534f50 || lo == 0x20545550 || lo == 0x44414548 || lo == 0x454c4544 ||
	       lo == 0x43544150 || lo == 0x4954504f || lo == 0x4e4e4f43 || lo == 0x43415254;
}

static __always_inline bool is_response(__u64 w)
{
	/* "HTTP/1." */
	return (w & 0x00ffffffffffffffULL) == 0x002e312f50545448ULL;
}

/* The user buffer of the socket syscall this tracepoint fires inside: its address and length. */
static __always_inline bool syscall_buffer(const void **buf, __u64 *len)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	long nr = regs->orig_ax;
	const void *arg1 = (const void *)regs->si;
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_sendto:
	case NR_recvfrom:
		*buf = arg1;
		*len = regs->dx;
		return true;
	case NR_readv:
	case NR_writev: {
		struct iovec iov;
		if (bpf_probe_read_user(&iov, sizeof(iov), arg1))
			return false;
		*buf = iov.iov_base;
		*len = iov.iov_len;
		return true;
	}
	case NR_sendmsg:
	case NR_recvmsg: {
		struct user_msghdr msg;
		struct iovec iov;
		if (bpf_probe_read_user(&msg, sizeof(msg), arg1))
			return false;
		if (bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov))
			return false;
		*buf = iov.iov_base;
		*len = iov.iov_len;
		return true;
	}
	}
	return false; /* io_uring, sendfile, splice: not captured */
}

static __always_inline bool sampled(void)
{
	if (http_sample <= 1)
		return true;
	__u32 zero = 0;
	__u64 *tick = bpf_map_lookup_elem(&sample_tick, &zero);
	if (!tick)
		return true;
	*tick += 1;
	return (*tick % http_sample) == 0;
}

static __always_inline void http_emit(struct sock *sk, struct http_state *st, const struct io_scratch *sc, __u64 n,
				      __u64 total)
{
	st->side = 0; /* answered: the next response on this socket needs a new request */
	struct ev_http *e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_hdr(&e->h, EV_HTTP);
	fill_addr(&e->a, sk);
	e->side = st->pending_side;
	e->req_len = st->req_len;
	e->req_bytes = st->req_bytes;
	e->start_ns = st->start_ns;
	e->end_ns = e->h.ts_ns;
	e->resp_bytes = total;
	__u32 rl = st->req_len;
	if (rl > REQ_CAP)
		rl = REQ_CAP;
	bpf_probe_read_kernel(e->req, rl, st->req); /* only what was captured: requests are mostly short */
	e->resp_len = n > RESP_CAP ? RESP_CAP : n;
	__builtin_memcpy(e->resp, sc->buf, RESP_CAP);
	submit(e);
}

static __always_inline void http_request(struct sock *sk, __u32 side, const struct io_scratch *sc, __u64 n,
					 __u64 total)
{
	if (!sampled())
		return;
	struct http_state *st = bpf_sk_storage_get(&http_pending, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return;
	__builtin_memcpy(st->req, sc->buf, REQ_CAP);
	st->start_ns = bpf_ktime_get_ns();
	st->req_bytes = total;
	st->req_len = n;
	st->pending_side = side;
	st->side = side;
}

static __always_inline int on_sock_io(struct sock *sk, int ret, int flags, bool send)
{
	if (ret <= 0 || (!send && (flags & MSG_PEEK)))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (!allowed())
		return 0;
	const void *buf;
	__u64 buflen;
	if (!syscall_buffer(&buf, &buflen))
		return 0;
	__u64 n = (__u64)ret;
	if (buflen < n)
		n = buflen;
	if (n < 8)
		return 0;
	if (n > REQ_CAP)
		n = REQ_CAP;
	__u32 zero = 0;
	struct io_scratch *sc = bpf_map_lookup_elem(&io_scratch, &zero);
	if (!sc)
		return 0;
	if (bpf_probe_read_user(sc->buf, n, buf))
		return 0;
	__u64 head = *(__u64 *)sc->buf;
	if (is_request(head)) {
		http_request(sk, send ? SIDE_CLIENT : SIDE_SERVER, sc, n, ret);
		return 0;
	}
	if (!is_response(head))
		return 0;
	struct http_state *st = bpf_sk_storage_get(&http_pending, sk, 0, 0);
	if (!st || !st->side) {
		if (http_sample <= 1)
			count(CNT_HTTP_PARTIAL);
		return 0;
	}
	/* A client reads the response; a server writes it. Anything else is not this exchange. */
	if ((st->side == SIDE_CLIENT) == send)
		return 0;
	http_emit(sk, st, sc, n, ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send, struct sock *sk, int ret, int flags) { return on_sock_io(sk, ret, flags, true); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv, struct sock *sk, int ret, int flags) { return on_sock_io(sk, ret, flags, false); }

/* ---------------------------------------------------------------- processes */

static __always_inline __u32 task_vpid(struct task_struct *t)
{
	struct pid *p = BPF_CORE_READ(t, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up;
	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level & 31]);
	return up.nr;
}

SEC("tp/sched/sched_process_exec")
int on_exec(struct tp_exec *ctx)
{
	if (!allowed())
		return 0;
	struct ev_exec *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	fill_hdr(&e->h, EV_EXEC);
	e->h.vpid = task_vpid(t);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&e->parent_comm, t, real_parent, comm);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->tty = BPF_CORE_READ(t, signal, tty) != NULL;
	e->start_ns = BPF_CORE_READ(t, start_time);
	/* bprm is not among this tracepoint's arguments, but exec has set mm->exe_file to the new executable. */
	struct inode *ino = BPF_CORE_READ(t, mm, exe_file, f_inode);
	struct file_key k = {};
	k.ino = BPF_CORE_READ(ino, i_ino);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	struct file_writer *w = bpf_map_lookup_elem(&written, &k);
	__u64 ago = w && e->h.ts_ns > w->ts_ns ? e->h.ts_ns - w->ts_ns : 0;
	if (w && ago < DROP_WINDOW_NS) {
		e->written_ns = w->ts_ns;
		e->writer_tgid = w->tgid;
		__builtin_memcpy(e->writer_comm, w->comm, COMM_LEN);
	} else {
		e->written_ns = 0;
		e->writer_tgid = 0;
	}
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (ctx->filename_loc & 0xffff));
	unsigned long a0 = BPF_CORE_READ(t, mm, arg_start);
	unsigned long a1 = BPF_CORE_READ(t, mm, arg_end);
	__u64 len = a1 > a0 ? a1 - a0 : 0;
	if (len > ARGS_CAP)
		len = ARGS_CAP;
	e->args_len = len;
	bpf_probe_read_user(e->args, len & (ARGS_CAP * 2 - 1), (void *)a0);
	submit(e);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int on_exit(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	/* One record per process: when its last thread goes (the group's live count already dropped). */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	if (!allowed())
		return 0;
	struct ev_exit *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_EXIT);
	int code = BPF_CORE_READ(t, exit_code);
	e->exit_code = (code >> 8) & 0xff;
	e->signal = code & 0x7f;
	e->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	submit(e);
	return 0;
}

/* ---------------------------------------------------------------- security facts */

#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
#define TRACK_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) /* opens that can write the file's content */

static __always_inline bool has_prefix(const char *s, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}
#define PREFIX(s, lit) has_prefix((s), (lit), sizeof(lit) - 1)

/* System configuration, binaries, libraries and package databases: writes there change what runs. */
static __always_inline bool sensitive_path(const char *s)
{
	if (s[0] != '/')
		return false;
	return PREFIX(s, "/etc/") || PREFIX(s, "/bin/") || PREFIX(s, "/sbin/") || PREFIX(s, "/usr/bin/") ||
	       PREFIX(s, "/usr/sbin/") || PREFIX(s, "/usr/local/bin/") || PREFIX(s, "/usr/local/sbin/") ||
	       PREFIX(s, "/lib/") || PREFIX(s, "/lib64/") || PREFIX(s, "/usr/lib/") || PREFIX(s, "/boot/") ||
	       PREFIX(s, "/root/.ssh/") || PREFIX(s, "/var/lib/dpkg/") || PREFIX(s, "/var/lib/rpm/") ||
	       PREFIX(s, "/var/lib/apk/");
}

/*
 * Every open for writing by a watched process is marked for its exit (OPEN_TRACK: the inode it returns is
 * remembered in `written`); one under a system path also keeps its arguments for the sensitive_write record.
 */
static __always_inline int open_enter(const char *path, __s64 flags, __u32 nr)
{
	if (!(flags & WRITE_FLAGS) || !allowed())
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 kind = (flags & TRACK_FLAGS) ? OPEN_TRACK : 0;
	__u32 zero = 0;
	struct ev_file *e = bpf_map_lookup_elem(&file_scratch, &zero);
	if (e && bpf_probe_read_user_str(e->path, sizeof(e->path), path) > 0 && sensitive_path(e->path)) {
		fill_hdr(&e->h, EV_FILE_WRITE);
		e->flags = (__s32)flags;
		e->syscall_nr = nr;
		if (!bpf_map_update_elem(&open_pending, &id, e, BPF_ANY))
			kind |= OPEN_SENSITIVE;
	}
	if (kind)
		bpf_map_update_elem(&open_kind, &id, &kind, BPF_ANY);
	return 0;
}

/* The file an open just returned, remembered as written now by the current process (regular files only). */
static __always_inline void remember_write(int fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	umode_t mode = BPF_CORE_READ(ino, i_mode);
	if ((mode & S_IFMT) != S_IFREG)
		return;
	struct file_key k = {};
	k.ino = BPF_CORE_READ(ino, i_ino);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	struct file_writer w = {};
	w.ts_ns = bpf_ktime_get_ns();
	w.tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(w.comm, sizeof(w.comm));
	bpf_map_update_elem(&written, &k, &w, BPF_ANY);
}

static __always_inline int open_exit(struct tp_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *kp = bpf_map_lookup_elem(&open_kind, &id);
	if (!kp)
		return 0;
	__u32 kind = *kp;
	bpf_map_delete_elem(&open_kind, &id);
	if ((kind & OPEN_TRACK) && ctx->ret >= 0)
		remember_write((int)ctx->ret);
	if (!(kind & OPEN_SENSITIVE))
		return 0;
	struct ev_file *p = bpf_map_lookup_elem(&open_pending, &id);
	if (!p)
		return 0;
	struct ev_file *e = reserve(sizeof(*e));
	if (e) {
		__builtin_memcpy(e, p, sizeof(*e));
		e->ret = (__s32)ctx->ret;
		submit(e);
	}
	bpf_map_delete_elem(&open_pending, &id);
	return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int on_openat(struct tp_sys_enter *ctx) { return open_enter((const char *)ctx->args[1], ctx->args[2], 257); }
SEC("tp/syscalls/sys_exit_openat")
int on_openat_exit(struct tp_sys_exit *ctx) { return open_exit(ctx); }

SEC("tp/syscalls/sys_enter_open")
int on_open(struct tp_sys_enter *ctx) { return open_enter((const char *)ctx->args[0], ctx->args[1], 2); }
SEC("tp/syscalls/sys_exit_open")
int on_open_exit(struct tp_sys_exit *ctx) { return open_exit(ctx); }

SEC("tp/syscalls/sys_enter_creat")
int on_creat(struct tp_sys_enter *ctx) { return open_enter((const char *)ctx->args[0], O_CREAT | O_WRONLY | O_TRUNC, 85); }
SEC("tp/syscalls/sys_exit_creat")
int on_creat_exit(struct tp_sys_exit *ctx) { return open_exit(ctx); }

SEC("tp/syscalls/sys_enter_openat2")
int on_openat2(struct tp_sys_enter *ctx)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]); /* struct open_how.flags */
	return open_enter((const char *)ctx->args[1], flags, 437);
}
SEC("tp/syscalls/sys_exit_openat2")
int on_openat2_exit(struct tp_sys_exit *ctx) { return open_exit(ctx); }

SEC("tp/syscalls/sys_enter_mount")
int on_mount(struct tp_sys_enter *ctx)
{
	if (!allowed())
		return 0;
	struct ev_mount m = {};
	fill_hdr(&m.h, EV_MOUNT);
	bpf_probe_read_user_str(m.source, sizeof(m.source), (const void *)ctx->args[0]);
	bpf_probe_read_user_str(m.target, sizeof(m.target), (const void *)ctx->args[1]);
	bpf_probe_read_user_str(m.fstype, sizeof(m.fstype), (const void *)ctx->args[2]);
	m.flags = ctx->args[3];
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&mount_pending, &id, &m, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_mount")
int on_mount_exit(struct tp_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ev_mount *p = bpf_map_lookup_elem(&mount_pending, &id);
	if (!p)
		return 0;
	struct ev_mount *e = reserve(sizeof(*e));
	if (e) {
		__builtin_memcpy(e, p, sizeof(*e));
		e->ret = (__s32)ctx->ret;
		submit(e);
	}
	bpf_map_delete_elem(&mount_pending, &id);
	return 0;
}

/* dup2/dup3 of a socket onto stdin, stdout or stderr: the shape of a reverse shell. */
static __always_inline int dup_enter(__u64 oldfd, __u64 newfd, __u32 nr)
{
	if (newfd > 2 || !allowed())
		return 0;
	struct file *f = fd_file((int)oldfd);
	if (!f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	/* Only network sockets: shells dup unix-socket stdio (journald, piped stdio) back all the time. */
	struct socket *so = (struct socket *)BPF_CORE_READ(f, private_data);
	__u16 family = BPF_CORE_READ(so, sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct ev_dup *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_hdr(&e->h, EV_DUP_SOCKET);
	e->oldfd = oldfd;
	e->newfd = newfd;
	e->syscall_nr = nr;
	submit(e);
	return 0;
}

SEC("tp/syscalls/sys_enter_dup2")
int on_dup2(struct tp_sys_enter *ctx) { return dup_enter(ctx->args[0], ctx->args[1], 33); }
SEC("tp/syscalls/sys_enter_dup3")
int on_dup3(struct tp_sys_enter *ctx) { return dup_enter(ctx->args[0], ctx->args[1], 292); }
