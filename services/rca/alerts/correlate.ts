/**
 * Maps alert labels to topology entities and answers "are these within k hops at time t", over the
 * TopologyStore. Results are cached per entity and minute, since alert storms ask the same questions.
 */
import type { TopologyStore } from '../../topology/store.ts';

export interface Correlator {
  /** Topology entity ids the labels point at (those known to the topology first). */
  entitiesFor(labels: Record<string, string>, t: number): Promise<string[]>;
  /**
   * Entity ids within `hops` of `id` along dependency paths at `t` — what it depends on and what depends on
   * it, each direction followed throughout — including itself. Two callers of a shared database are not
   * related through it unless the database itself alerts.
   */
  around(id: string, t: number, hops: number): Promise<Set<string>>;
  /** Entity ids at or below `id` in the vertical stack at `t`, including itself. */
  below(id: string, t: number): Promise<Set<string>>;
}

const SERVICE_LABELS = ['service', 'service_name', 'service.name', 'app', 'app_kubernetes_io_name', 'job', 'component'];
const POD_LABELS = ['pod', 'pod_name', 'k8s_pod_name', 'k8s.pod.name'];
const NS_LABELS = ['namespace', 'k8s_namespace_name', 'k8s.namespace.name', 'service_namespace'];
const NODE_LABELS = ['node', 'k8s_node_name', 'kubernetes_node'];
const HOST_LABELS = ['host', 'hostname', 'host_name', 'host.name'];

/** Candidate ids from labels by OpenTelemetry/Kubernetes naming conventions. */
export function candidateEntities(labels: Record<string, string>): string[] {
  const out: string[] = [];
  const first = (keys: string[]) => keys.map((k) => labels[k]).find((v) => v !== undefined && v !== '');
  const ns = first(NS_LABELS);
  const svc = first(SERVICE_LABELS);
  if (svc) {
    if (ns) out.push(`service:${ns}/${svc}`);
    out.push(`service:${svc}`);
  }
  const pod = first(POD_LABELS);
  if (pod) out.push(`pod:${ns ?? 'default'}/${pod}`);
  const node = first(NODE_LABELS);
  if (node) out.push(`node:${node}`);
  const host = first(HOST_LABELS);
  if (host) out.push(`host:${host}`);
  if (labels.container_id) out.push(`container:${labels.container_id}`);
  const instance = labels.instance?.replace(/:\d+$/, '');
  if (instance) out.push(`host:${instance}`, `node:${instance}`, `pod:${ns ?? 'default'}/${instance}`);
  if (labels.entity) out.unshift(labels.entity);
  return [...new Set(out)];
}

export class TopologyCorrelator implements Correlator {
  private readonly cache = new Map<string, Promise<Set<string>>>();
  private readonly known = new Map<string, Promise<boolean>>();

  constructor(private readonly store: TopologyStore) {}

  private exists(id: string): Promise<boolean> {
    let p = this.known.get(id);
    if (!p) {
      p = this.store.entity(id).then((e) => e !== undefined);
      this.known.set(id, p);
      if (this.known.size > 100_000) this.known.clear();
      // Entities appear over time: forget a "no" after a minute.
      setTimeout(() => this.known.delete(id), 60_000).unref();
    }
    return p;
  }

  async entitiesFor(labels: Record<string, string>): Promise<string[]> {
    const candidates = candidateEntities(labels);
    const found: string[] = [];
    for (const c of candidates) if (await this.exists(c)) found.push(c);
    // Unknown to the topology: keep the most specific guesses so equal labels still group.
    return found.length > 0 ? found : candidates.slice(0, 2);
  }

  private cached(key: string, make: () => Promise<Set<string>>): Promise<Set<string>> {
    let p = this.cache.get(key);
    if (!p) {
      p = make();
      this.cache.set(key, p);
      if (this.cache.size > 50_000) this.cache.clear();
    }
    return p;
  }

  around(id: string, t: number, hops: number): Promise<Set<string>> {
    const minute = Math.floor(t / 60_000);
    return this.cached(`a|${id}|${minute}|${hops}`, async () => {
      const [down, up] = await Promise.all([this.store.neighbourhood(id, t, hops, 'down'), this.store.neighbourhood(id, t, hops, 'up')]);
      return new Set([id, ...down.entities.map((e) => e.id), ...up.entities.map((e) => e.id)]);
    });
  }

  below(id: string, t: number): Promise<Set<string>> {
    const minute = Math.floor(t / 60_000);
    return this.cached(`b|${id}|${minute}`, async () => {
      const snap = await this.store.neighbourhood(id, t, 8, 'down');
      const vertical = new Set(['CONTAINS', 'RUNS', 'IMPLEMENTS', 'EXPOSES']);
      const out = new Set([id]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const e of snap.edges) {
          if (vertical.has(e.type) && out.has(e.from) && !out.has(e.to)) {
            out.add(e.to);
            grew = true;
          }
        }
      }
      return out;
    });
  }
}
