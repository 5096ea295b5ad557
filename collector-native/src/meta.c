#define _GNU_SOURCE
#include "meta.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ftw.h>
#include <mntent.h>
#include <sys/stat.h>
#include <time.h>
#include <ctype.h>
#include <fcntl.h>

static char host_name[256];
static char host_id[64];
static char cg_root[512] = "/sys/fs/cgroup";

/* cgroup id -> path, rebuilt by walking the hierarchy when an id is not known (at most every 200 ms). */
#define CG_BUCKETS 4096
struct cg_entry {
	uint64_t id;
	char *path;
	struct cg_entry *next;
};
static struct cg_entry *cg_table[CG_BUCKETS];
static uint64_t cg_last_scan_ns;

/* tgid -> executable path; direct-mapped, a collision just means reading /proc again. */
#define EXE_SLOTS 8192
struct exe_slot {
	uint32_t tgid;
	char path[256];
};
static struct exe_slot *exe_cache;

static uint16_t listening[1024];
static int n_listening;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void read_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)n, f))
		out[strcspn(out, "\r\n")] = 0;
	fclose(f);
}

static void load_listening(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned port, state;
		/* "  sl  local_address rem_address   st": local is ADDR:PORT in hex, state 0A is LISTEN */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &port, &state) == 2 && state == 0x0a &&
		    n_listening < (int)(sizeof(listening) / sizeof(listening[0])))
			listening[n_listening++] = (uint16_t)port;
	}
	fclose(f);
}

int meta_init(const char *host_name_override)
{
	if (host_name_override)
		snprintf(host_name, sizeof(host_name), "%s", host_name_override);
	else if (gethostname(host_name, sizeof(host_name)))
		snprintf(host_name, sizeof(host_name), "unknown");
	read_line("/etc/machine-id", host_id, sizeof(host_id));
	if (!host_id[0])
		read_line("/sys/class/dmi/id/product_uuid", host_id, sizeof(host_id));
	FILE *m = setmntent("/proc/self/mounts", "r");
	struct mntent *e;
	while (m && (e = getmntent(m)))
		if (!strcmp(e->mnt_type, "cgroup2")) {
			snprintf(cg_root, sizeof(cg_root), "%s", e->mnt_dir);
			break;
		}
	if (m)
		endmntent(m);
	exe_cache = calloc(EXE_SLOTS, sizeof(*exe_cache));
	load_listening("/proc/net/tcp");
	load_listening("/proc/net/tcp6");
	return exe_cache ? 0 : -1;
}

const char *meta_host_name(void) { return host_name; }
const char *meta_host_id(void) { return host_id; }
const char *meta_cgroup_root(void) { return cg_root; }

int meta_cgroup_id_of(const char *dir, uint64_t *id)
{
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return -1;
	*id = st.st_ino;
	return 0;
}

static void cg_put(uint64_t id, const char *path)
{
	struct cg_entry **slot = &cg_table[id % CG_BUCKETS];
	for (struct cg_entry *e = *slot; e; e = e->next)
		if (e->id == id) {
			if (strcmp(e->path, path)) {
				free(e->path);
				e->path = strdup(path);
			}
			return;
		}
	struct cg_entry *e = malloc(sizeof(*e));
	if (!e)
		return;
	e->id = id;
	e->path = strdup(path);
	e->next = *slot;
	*slot = e;
}

static int scan_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_D)
		return 0;
	size_t root = strlen(cg_root);
	cg_put(sb->st_ino, fpath[root] ? fpath + root : "/");
	return 0;
}

static const char *cg_get(uint64_t id)
{
	for (struct cg_entry *e = cg_table[id % CG_BUCKETS]; e; e = e->next)
		if (e->id == id)
			return e->path;
	return NULL;
}

/* The last 64-hex-digit run in a path: how Docker, containerd, CRI-O and Podman name container cgroups. */
static void container_from_path(const char *path, char out[65])
{
	out[0] = 0;
	size_t n = strlen(path);
	for (size_t i = n; i >= 64; i--) {
		size_t start = i - 64, j;
		for (j = start; j < i && isxdigit((unsigned char)path[j]) && !isupper((unsigned char)path[j]); j++)
			;
		bool edge_ok = (start == 0 || !isxdigit((unsigned char)path[start - 1])) &&
			       (i == n || !isxdigit((unsigned char)path[i]));
		if (j == i && edge_ok) {
			memcpy(out, path + start, 64);
			out[64] = 0;
			return;
		}
	}
}

/* Kubernetes pod cgroups: ".../kubepods-burstable-pod<uid with _>.slice/..." or ".../pod<uid>/...". */
static void pod_from_path(const char *path, char out[37])
{
	out[0] = 0;
	const char *p = path;
	while ((p = strstr(p, "pod"))) {
		p += 3;
		size_t k = 0;
		char uid[37];
		while (k < 36 && (isxdigit((unsigned char)p[k]) || p[k] == '_' || p[k] == '-')) {
			uid[k] = p[k] == '_' ? '-' : p[k];
			k++;
		}
		if (k == 36 && uid[8] == '-' && uid[13] == '-' && uid[18] == '-' && uid[23] == '-') {
			memcpy(out, uid, 36);
			out[36] = 0;
			return;
		}
	}
}

/*
 * A cgroup v2 id is its kernfs node id, which open_by_handle_at() takes as a FILEID_KERNFS handle: the path of
 * one new cgroup without walking the tree (and without missing a cgroup created since the last walk).
 */
static const char *cg_resolve(uint64_t id)
{
	static int root_fd = -1;
	if (root_fd < 0)
		root_fd = open(cg_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return NULL;
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = {.fh = {.handle_bytes = sizeof(uint64_t), .handle_type = 0xfe /* FILEID_KERNFS */}, .id = id};
	int fd = open_by_handle_at(root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char link[64], buf[1024];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	close(fd);
	size_t root = strlen(cg_root);
	if (n <= 0 || (size_t)n < root || strncmp(buf, cg_root, root))
		return NULL;
	buf[n] = 0;
	cg_put(id, buf[root] ? buf + root : "/");
	return cg_get(id);
}

void meta_cgroup(uint64_t id, struct cgroup_info *out)
{
	const char *path = cg_get(id);
	if (!path)
		path = cg_resolve(id);
	if (!path) {
		uint64_t now = mono_ns();
		if (now - cg_last_scan_ns > 200000000ull) {
			cg_last_scan_ns = now;
			nftw(cg_root, scan_one, 32, FTW_PHYS | FTW_MOUNT);
			path = cg_get(id);
		}
	}
	out->path = path;
	out->container_id[0] = out->pod_uid[0] = 0;
	if (path) {
		container_from_path(path, out->container_id);
		pod_from_path(path, out->pod_uid);
	}
}

void meta_set_exe(uint32_t tgid, const char *path)
{
	struct exe_slot *s = &exe_cache[tgid % EXE_SLOTS];
	s->tgid = tgid;
	snprintf(s->path, sizeof(s->path), "%s", path);
}

const char *meta_exe(uint32_t tgid)
{
	struct exe_slot *s = &exe_cache[tgid % EXE_SLOTS];
	if (s->tgid == tgid && s->path[0])
		return s->path;
	char link[64], buf[256];
	snprintf(link, sizeof(link), "/proc/%u/exe", tgid);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	meta_set_exe(tgid, buf);
	return s->path;
}

void meta_forget(uint32_t tgid)
{
	struct exe_slot *s = &exe_cache[tgid % EXE_SLOTS];
	if (s->tgid == tgid)
		s->tgid = 0, s->path[0] = 0;
}

bool meta_port_was_listening(uint16_t port)
{
	for (int i = 0; i < n_listening; i++)
		if (listening[i] == port)
			return true;
	return false;
}
