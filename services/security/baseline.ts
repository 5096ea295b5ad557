/**
 * Learned behaviour per workload: the programs it runs, the ports it listens on and the destinations it
 * connects to. A workload learns for `learnMs` from the first time it is seen; after that, something outside
 * its baseline is a deviation once (it then joins the baseline, so one change raises one alert, not a storm).
 *
 * Workload identity survives restarts: a Kubernetes pod's name without its ReplicaSet hash, otherwise the
 * cgroup path (a systemd unit's or a container's), otherwise the program on its host.
 */
import { text as s, type Event } from './rules/condition.ts';
import { podWorkload } from '../shared/workload.ts';

export interface WorkloadBaseline {
  first: number;
  processes: Set<string>;
  ports: Set<string>;
  peers: Set<string>;
}

export interface Verdict {
  learning: boolean;
  newProcess?: boolean;
  newPeer?: boolean;
  newListenPort?: boolean;
}


/** The workload an event belongs to. */
export function workloadOf(e: Event): string {
  const pod = s(e['k8s.pod.name']);
  if (pod) {
    // Named as the topology names the pod's workload; the key format is stored in baselines, so it stays.
    return `k8s:${s(e['k8s.namespace.name']) || 'default'}/${podWorkload(pod)}`;
  }
  const uid = s(e['k8s.pod.uid']);
  if (uid) return `pod:${uid}`;
  const host = s(e['host.name']);
  const cgroup = s(e['process.linux.cgroup']);
  if (cgroup && cgroup !== '/') return `${host}:${cgroup}`;
  return `${host}:${s(e['process.executable.path']) || s(e['process.executable.name'])}`;
}

export class Baselines {
  private readonly byWorkload = new Map<string, WorkloadBaseline>();
  /** Set when something changed since the last {@link snapshot}. */
  dirty = false;

  constructor(private readonly learnMs: number, private readonly maxWorkloads = 20_000, private readonly maxItems = 2_000) {}

  get size(): number {
    return this.byWorkload.size;
  }

  get(workload: string): WorkloadBaseline | undefined {
    return this.byWorkload.get(workload);
  }

  /** Judges `e` against its workload's baseline at time `t`, and learns from it. */
  observe(workload: string, e: Event, t: number): Verdict {
    let b = this.byWorkload.get(workload);
    if (!b) {
      // Bounded: the workload seen least recently first is forgotten (it relearns if it comes back).
      if (this.byWorkload.size >= this.maxWorkloads) this.byWorkload.delete(this.byWorkload.keys().next().value!);
      b = { first: t, processes: new Set(), ports: new Set(), peers: new Set() };
      this.dirty = true;
    } else this.byWorkload.delete(workload);
    this.byWorkload.set(workload, b);
    const learning = t - b.first < this.learnMs;
    const v: Verdict = { learning };
    const learn = (set: Set<string>, item: string): boolean => {
      // A full set no longer judges (a workload that churns names, e.g. random ports, has no usable baseline
      // of that kind; it would otherwise alert on every new one forever).
      if (!item || set.has(item) || set.size >= this.maxItems) return false;
      set.add(item);
      this.dirty = true;
      return !learning;
    };
    const quietly = (set: Set<string>, item: string) => {
      if (item && !set.has(item) && set.size < this.maxItems) {
        set.add(item);
        this.dirty = true;
      }
    };
    const name = s(e['event.name']);
    const exe = s(e['process.executable.path']) || s(e['process.executable.name']);
    if (name === 'aiops.process.exec') v.newProcess = learn(b.processes, exe);
    else if (name === 'aiops.tcp.listen' && s(e['aiops.listen.action']) === 'open') v.newListenPort = learn(b.ports, s(e['network.local.port']));
    else if (name === 'aiops.tcp.connection' && s(e['aiops.tcp.direction']) === 'outbound') {
      const peer = s(e['server.address']) || s(e['network.peer.address']);
      const port = s(e['server.port']) || s(e['network.peer.port']);
      if (peer) v.newPeer = learn(b.peers, `${peer}:${port}`);
    }
    // What a workload already did before monitoring began shows in its other events: the programs behind its
    // connections and samples, the ports it accepts on. Learned without judging, so a restart of a service
    // that was running when the collector started is not a deviation.
    if (name !== 'aiops.process.exec' && exe) quietly(b.processes, exe);
    if (name === 'aiops.tcp.connection' && s(e['aiops.tcp.direction']) === 'inbound') quietly(b.ports, s(e['network.local.port']) || s(e['server.port']));
    // Connections are reported when they close, and not at all when they opened before the collector started:
    // a keep-alive client's connections can outlive the learning period without one report, and its first
    // reconnection after it (the server restarted) would look new. Its requests over them do show while it
    // learns, as HTTP client events with the same server address and port. Only while learning: after it, a
    // new destination is judged when its connection closes.
    if (learning && name === 'aiops.http.request' && s(e['aiops.http.side']) === 'client' && s(e['server.address'])) {
      quietly(b.peers, `${s(e['server.address'])}:${s(e['server.port'])}`);
    }
    return v;
  }

  /** The most recently active workloads first. */
  list(limit: number): { workload: string; first: number; processes: string[]; ports: string[]; peers: string[] }[] {
    return [...this.byWorkload].reverse().slice(0, limit).map(([workload, b]) => ({ workload, first: b.first, processes: [...b.processes], ports: [...b.ports], peers: [...b.peers] }));
  }

  snapshot(): { workload: string; first: number; processes: string[]; ports: string[]; peers: string[] }[] {
    this.dirty = false;
    return [...this.byWorkload].map(([workload, b]) => ({ workload, first: b.first, processes: [...b.processes], ports: [...b.ports], peers: [...b.peers] }));
  }

  restore(rows: ReturnType<Baselines['snapshot']>): void {
    for (const r of rows) this.byWorkload.set(r.workload, { first: r.first, processes: new Set(r.processes), ports: new Set(r.ports), peers: new Set(r.peers) });
  }
}
