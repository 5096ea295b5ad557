#include "rules.h"
#include "collector.h"
#include "meta.h"
#include <string.h>
#include <stdio.h>

static void rule(struct jobj *o, const struct rule_hit *r)
{
	jo_str(o, "security_rule.name", r->name);
	jo_str(o, "aiops.security.kind", r->kind);
	jo_str(o, "security_rule.category", r->category);
	jo_str(o, "security_rule.reference", r->reference);
	jo_str(o, "aiops.severity", r->severity);
}

static bool prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static bool package_db(const char *p)
{
	return prefix(p, "/var/lib/dpkg/") || prefix(p, "/var/lib/rpm/") || prefix(p, "/var/lib/apk/") ||
	       prefix(p, "/lib/apk/");
}

static bool binary_dir(const char *p)
{
	return prefix(p, "/bin/") || prefix(p, "/sbin/") || prefix(p, "/usr/bin/") || prefix(p, "/usr/sbin/") ||
	       prefix(p, "/usr/local/bin/") || prefix(p, "/usr/local/sbin/");
}

bool rules_security_fields(struct jobj *o, const void *data, uint32_t type)
{
	struct rule_hit r;
	if (type == EV_FILE_WRITE) {
		const struct ev_file *e = data;
		if (package_db(e->path))
			r = (struct rule_hit){"Write below rpm database", "package_management", "Persistence", "T1072", "Error"};
		else if (binary_dir(e->path))
			r = (struct rule_hit){"Write below binary dir", "sensitive_write", "Persistence", "T1543", "Error"};
		else if (prefix(e->path, "/etc/"))
			r = (struct rule_hit){"Write below etc", "sensitive_write", "Persistence", "T1098", "Error"};
		else
			r = (struct rule_hit){"Write below system dir", "sensitive_write", "Persistence", "T1543", "Error"};
		rule(o, &r);
		jo_str(o, "file.path", e->path);
		jo_str(o, "aiops.syscall", e->syscall_nr == 257 ? "openat" : e->syscall_nr == 2 ? "open" : e->syscall_nr == 85 ? "creat" : "openat2");
		jo_i64(o, "aiops.syscall.result", e->ret);
		jo_i64(o, "aiops.open.flags", e->flags);
		return true;
	}
	if (type == EV_MOUNT) {
		const struct ev_mount *e = data;
		r = (struct rule_hit){"Mount launched", "mount", "Privilege Escalation", "T1611", "Warning"};
		rule(o, &r);
		jo_str(o, "aiops.syscall", "mount");
		jo_i64(o, "aiops.syscall.result", e->ret);
		jo_strn(o, "aiops.mount.source", e->source, MNT_CAP);
		jo_strn(o, "aiops.mount.target", e->target, MNT_CAP);
		jo_strn(o, "aiops.mount.fstype", e->fstype, sizeof(e->fstype));
		jo_u64(o, "aiops.mount.flags", e->flags);
		return true;
	}
	if (type == EV_DUP_SOCKET) {
		const struct ev_dup *e = data;
		r = (struct rule_hit){"Redirect STDOUT/STDIN to Network Connection", "reverse_shell", "Execution", "T1059", "Critical"};
		rule(o, &r);
		jo_str(o, "aiops.syscall", e->syscall_nr == 33 ? "dup2" : "dup3");
		jo_u64(o, "aiops.dup.oldfd", e->oldfd);
		jo_u64(o, "aiops.dup.newfd", e->newfd);
		return true;
	}
	return false;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return true;
	return false;
}

bool rules_check(const void *data, uint32_t type, struct rule_hit *hit)
{
	static const char *const shells[] = {"sh", "bash", "dash", "zsh", "ash", "ksh", "csh", "tcsh", "fish", "busybox", NULL};
	static const char *const net_tools[] = {"nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "nmap", "telnet", "tcpdump", NULL};
	static const char *const pkg[] = {"apt", "apt-get", "dpkg", "yum", "dnf", "rpm", "apk", "pip", "pip3", "npm", NULL};
	if (type == EV_EXEC) {
		const struct ev_exec *e = data;
		struct cgroup_info cg;
		meta_cgroup(e->h.cgroup_id, &cg);
		bool container = cg.container_id[0] != 0;
		const char *name = base(e->filename);
		if (in_list(name, net_tools)) {
			*hit = (struct rule_hit){"Launch Suspicious Network Tool", "network_tool", "Discovery", "T1046", container ? "Warning" : "Notice"};
			return true;
		}
		if (!container)
			return false; /* shells and package managers are everyday on hosts */
		if (in_list(name, shells)) {
			*hit = (struct rule_hit){"Terminal shell in container", "shell_in_container", "Execution", "T1059", "Notice"};
			return true;
		}
		if (in_list(name, pkg)) {
			*hit = (struct rule_hit){"Package management process launched in container", "package_management", "Persistence", "T1072", "Error"};
			return true;
		}
		return false;
	}
	if (type == EV_LISTEN) {
		const struct ev_listen *e = data;
		static uint16_t seen[4096];
		static int n_seen;
		if (!e->open || meta_port_was_listening(e->a.local_port))
			return false;
		for (int i = 0; i < n_seen; i++)
			if (seen[i] == e->a.local_port)
				return false;
		if (n_seen < 4096)
			seen[n_seen++] = e->a.local_port;
		*hit = (struct rule_hit){"New listening port", "new_listen_port", "Command and Control", "T1571", "Notice"};
		return true;
	}
	return false;
}

void rules_alert_fields(struct jobj *o, const void *data, uint32_t type, const struct rule_hit *hit, uint64_t evidence_seq)
{
	rule(o, hit);
	char ev[24];
	snprintf(ev, sizeof(ev), "%llu", (unsigned long long)evidence_seq);
	jo_str(o, "aiops.evidence_event_ids", ev);
	if (type == EV_EXEC) {
		const struct ev_exec *e = data;
		jo_u64(o, "process.parent_pid", e->ppid);
		jo_strn(o, "aiops.process.parent_executable.name", e->parent_comm, COMM_LEN);
	} else if (type == EV_LISTEN) {
		const struct ev_listen *e = data;
		jo_str(o, "network.transport", "tcp");
		jo_u64(o, "network.local.port", e->a.local_port);
	}
}
