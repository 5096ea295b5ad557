/**
 * The service a workload stands for when only the eBPF collector sees it, named the way Coroot, DeepFlow and
 * Grafana Beyla name such workloads: its Kubernetes workload, else its container's name, else its systemd
 * unit (`payment.service` → `payment`). Pure: it reads the attributes of one collector event.
 *
 * The security watch keys its baselines differently (a cgroup path per host is enough there, and the key
 * must stay stable across releases), but a pod's workload is named by {@link podWorkload} in both.
 */

/** The attributes a name is read from; the only ones {@link workloadService} looks at. */
export const WORKLOAD_ATTRS = [
  'k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name',
  'k8s.pod.name', 'k8s.container.name', 'container.name', 'process.linux.cgroup',
] as const;

export type WorkloadAttrs = Readonly<Partial<Record<string, unknown>>>;

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v).trim());

/** A pod's workload: deployment-7d9f8c6b5-x2k4q → deployment; daemonset-x2k4q → daemonset; statefulset-0 stays. */
export function podWorkload(pod: string): string {
  return pod.replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, '').replace(/-[a-z0-9]{5}$/, '');
}

/**
 * Cgroup path components that belong to a container or a Kubernetes pod: the runtime's scope or directory
 * (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`, `/docker/<id>`),
 * `kubepods…`. Such a workload is named by its container or pod, never by a unit above it (that would be
 * `containerd` or `docker`, the runtime, not the application).
 */
const CONTAINER = /(^|[-_])[0-9a-f]{64}(\.scope)?$|^kubepods/;

/** Units every host has, that name no application: a user's session and manager, the init process. */
const GENERIC_UNIT = /^(user@|user-runtime-dir@|session-|init$)/;

/**
 * The systemd service a cgroup path belongs to: the deepest `<name>.service` component (a unit may delegate
 * sub-cgroups below itself), with a template's instance dropped (`worker@3.service` → `worker`). Scopes and
 * slices name no service (a login session, a `systemd-run` transient, a container's scope). Undefined for a
 * container's or pod's cgroup, and for paths without a service unit.
 */
export function cgroupService(path: string): string | undefined {
  const parts = path.split('/').filter(Boolean);
  if (parts.some((p) => CONTAINER.test(p))) return undefined;
  for (let i = parts.length - 1; i >= 0; i--) {
    const m = /^(.+)\.service$/.exec(parts[i]!);
    if (!m || GENERIC_UNIT.test(m[1]!)) continue;
    const name = m[1]!.replace(/@.*$/, '');
    if (name) return name;
  }
  return undefined;
}

/** The service name of the workload an event comes from, or undefined when it names none. */
export function workloadService(attrs: WorkloadAttrs): string | undefined {
  for (const k of ['k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name']) {
    if (str(attrs[k])) return str(attrs[k]);
  }
  const pod = str(attrs['k8s.pod.name']);
  if (pod) return podWorkload(pod);
  const cgroup = str(attrs['process.linux.cgroup']);
  const unit = cgroup ? cgroupService(cgroup) : undefined;
  if (unit) return unit;
  // A container (or a pod whose name enrichment did not supply): its name, as the runtime gave it.
  const container = str(attrs['k8s.container.name']) || str(attrs['container.name']).replace(/^\//, '');
  return container || undefined;
}
