/*
 * Records the kernel side hands to user space through the ring buffer. Shared by collector.bpf.c and the
 * loader, so both agree on layout; fixed-width types only.
 */
#ifndef ROOTLINE_COLLECTOR_H
#define ROOTLINE_COLLECTOR_H
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define COMM_LEN 16
#define PATH_CAP 256
#define ARGS_CAP 512
#define REQ_CAP 256  /* bytes of an HTTP request kept: method, path, version and the first headers */
#define RESP_CAP 32  /* bytes of an HTTP response kept: the status line */
#define MNT_CAP 128
#define DROP_WINDOW_NS (600ull * 1000000000ull) /* a write this recent makes an exec a dropped binary's */

enum ev_type {
	EV_EXEC = 1,
	EV_EXIT,
	EV_CONN,
	EV_LISTEN,
	EV_HTTP,
	EV_FILE_WRITE,
	EV_MOUNT,
	EV_DUP_SOCKET,
};

enum counter_idx {
	CNT_RING_FULL = 0,  /* a record the ring had no room for */
	CNT_HTTP_PARTIAL,   /* a response seen without its request (started before us, or pipelined) */
	CNT_MAX,
};

enum conn_dir { DIR_UNKNOWN = 0, DIR_OUTBOUND = 1, DIR_INBOUND = 2 };
enum conn_result { RES_OK = 0, RES_REFUSED, RES_TIMEOUT, RES_RESET, RES_ERROR };
enum http_side { SIDE_CLIENT = 1, SIDE_SERVER = 2 };

struct ev_hdr {
	__u32 type;
	__u32 tgid;  /* process id (thread group), as the host sees it */
	__u32 tid;
	__u32 vpid;  /* process id inside its pid namespace */
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 cgroup_id;
	char comm[COMM_LEN];
};

struct addr_pair {
	__u16 family;
	__u16 local_port;
	__u16 peer_port;
	__u16 _pad;
	__u8 local[16];
	__u8 peer[16];
};

/* A TCP connection the kernel side tracks, in the `conns` map keyed by its struct sock * (an LRU hash, filled at
 * SYN_SENT or at the end of an inbound handshake, deleted at close). The loader iterates it for the periodic
 * reports of long-lived connections (connreport.c). */
struct conn {
	__u64 start_ns;       /* CLOCK_MONOTONIC: SYN sent (outbound) or handshake done (inbound) */
	__u64 established_ns; /* 0 until established */
	__u64 cgroup_id;
	__u32 tgid;           /* 0 for an inbound connection not accepted yet */
	__u32 tid;
	__u32 direction;
	__u32 _pad;
	char comm[COMM_LEN];
	struct addr_pair a; /* kept from the handshake: the local port is released before the CLOSE tracepoint */
};

struct ev_exec {
	struct ev_hdr h;
	__u32 ppid;
	__u32 uid;
	__u32 tty;
	__u32 args_len;
	__u64 start_ns;
	/* The executable was opened for writing shortly before (a dropped binary): when (CLOCK_MONOTONIC) and by
	 * whom. written_ns is 0 when no write within DROP_WINDOW_NS was seen. */
	__u64 written_ns;
	__u32 writer_tgid;
	__u32 _pad;
	char writer_comm[COMM_LEN];
	char parent_comm[COMM_LEN];
	char filename[PATH_CAP];
	char args[ARGS_CAP]; /* argv, NUL-separated, truncated at ARGS_CAP */
};

struct ev_exit {
	struct ev_hdr h;
	__s32 exit_code;
	__s32 signal;
	__u64 start_ns;
};

struct ev_conn {
	struct ev_hdr h;
	struct addr_pair a;
	__u32 direction;
	__u32 result;
	__s32 sk_err;
	__u32 srtt_us;
	__u64 start_ns;       /* SYN sent (outbound) or handshake done (inbound) */
	__u64 established_ns; /* 0 when it never was */
	__u64 bytes_sent;
	__u64 bytes_received;
	__u32 retransmits;
	__u32 _pad;
};

struct ev_listen {
	struct ev_hdr h;
	struct addr_pair a;
	__u32 open;
	__u32 _pad;
};

struct ev_http {
	struct ev_hdr h;
	struct addr_pair a;
	__u32 side;
	__u32 req_len;
	__u32 resp_len;
	__u32 _pad;
	__u64 start_ns;
	__u64 end_ns;
	__u64 req_bytes;  /* first request write/read, whole size */
	__u64 resp_bytes; /* first response write/read, whole size */
	char req[REQ_CAP];
	char resp[RESP_CAP];
};

struct ev_file {
	struct ev_hdr h;
	__s32 flags;
	__s32 ret;
	__u32 syscall_nr;
	__u32 _pad;
	char path[PATH_CAP];
};

struct ev_mount {
	struct ev_hdr h;
	__s32 ret;
	__u32 _pad;
	__u64 flags;
	char source[MNT_CAP];
	char target[MNT_CAP];
	char fstype[32];
};

struct ev_dup {
	struct ev_hdr h;
	__u32 oldfd;
	__u32 newfd;
	__u32 syscall_nr;
	__u32 _pad;
};

#endif
