/* Who an event belongs to: host identity, cgroup id to path, container and pod, process executables. */
#ifndef ROOTLINE_META_H
#define ROOTLINE_META_H
#include <stdint.h>
#include <stdbool.h>

struct cgroup_info {
	const char *path;      /* relative to the cgroup v2 root, "/" for the root; NULL when unknown */
	char container_id[65]; /* "" when the path names no container */
	char pod_uid[37];      /* "" when the path names no Kubernetes pod */
};

int meta_init(const char *host_name_override);
const char *meta_host_name(void);
const char *meta_host_id(void);
const char *meta_cgroup_root(void); /* mount point of the cgroup v2 hierarchy */
/* The inode of a cgroup v2 directory: the id bpf_get_current_cgroup_id() returns for its members. */
int meta_cgroup_id_of(const char *dir, uint64_t *id);
void meta_cgroup(uint64_t id, struct cgroup_info *out);
/* The executable path of a process: remembered from exec events, else read from /proc. */
const char *meta_exe(uint32_t tgid);
void meta_set_exe(uint32_t tgid, const char *path);
void meta_forget(uint32_t tgid);
/* Whether a TCP port was listening when the collector started (a later listen on it is not new). */
bool meta_port_was_listening(uint16_t port);
#endif
