/**
 * Matches collector events against the loaded rules. Before the rules run, each event gets the fields rules
 * cannot compute from one event alone: its workload, whether it runs in a container, its workload baseline's
 * verdict, and its process's recent outbound ports and CPU (a miner is "CPU together with a pool port", two
 * facts that arrive as separate events).
 */
import type { Baselines} from './baseline.ts';
import { workloadOf } from './baseline.ts';
import type { Event, Scalar, Value } from './rules/condition.ts';
import type { Rule, RuleSet } from './rules/load.ts';

export interface Match {
  rule: Rule;
  /** The event with its derived fields. */
  event: Event;
  t: number;
  output: string;
}

/** How long a process's CPU sample and outbound ports count as "recent". */
const RECENT_MS = 10 * 60_000;
const MAX_PROCESSES = 50_000;

/** mount(2) flags by bit (linux/mount.h), so rules can name them: a propagation change is not a new mount. */
const MOUNT_FLAGS: [number, string][] = [
  [1, 'MS_RDONLY'], [2, 'MS_NOSUID'], [4, 'MS_NODEV'], [8, 'MS_NOEXEC'], [16, 'MS_SYNCHRONOUS'], [32, 'MS_REMOUNT'], [64, 'MS_MANDLOCK'],
  [128, 'MS_DIRSYNC'], [1024, 'MS_NOATIME'], [2048, 'MS_NODIRATIME'], [4096, 'MS_BIND'], [8192, 'MS_MOVE'], [16384, 'MS_REC'],
  [32768, 'MS_SILENT'], [1 << 16, 'MS_POSIXACL'], [1 << 17, 'MS_UNBINDABLE'], [1 << 18, 'MS_PRIVATE'], [1 << 19, 'MS_SLAVE'],
  [1 << 20, 'MS_SHARED'], [1 << 21, 'MS_RELATIME'], [1 << 24, 'MS_STRICTATIME'], [1 << 25, 'MS_LAZYTIME'],
];

export function mountFlagNames(flags: number): string[] {
  return MOUNT_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

interface ProcessState {
  cores?: number;
  coresAt?: number;
  ports: Map<string, number>;
}

export class SecurityEngine {
  private readonly processes = new Map<string, ProcessState>();

  constructor(private ruleSet: RuleSet, readonly baselines: Baselines) {}

  get rules(): readonly Rule[] {
    return this.ruleSet.rules;
  }

  /** Swaps in rules that already loaded cleanly. */
  setRules(rules: RuleSet): void {
    this.ruleSet = rules;
  }

  /** Every rule `e` (at time `t`, epoch ms) matches, in rule order. */
  evaluate(e: Event, t: number): Match[] {
    const workload = workloadOf(e);
    const derived: Record<string, Value | undefined> = { ...e, 'aiops.workload': workload };
    derived['aiops.container'] = !!(e['container.id'] || e['k8s.pod.uid'] || e['k8s.pod.name']);
    // Facts the collector classified are not behaviour to learn: only execs, listens and connections are.
    if (e['event.name'] !== 'aiops.security.alert') {
      const v = this.baselines.observe(workload, e, t);
      derived['aiops.baseline.learning'] = v.learning;
      if (v.newProcess !== undefined) derived['aiops.baseline.new_process'] = v.newProcess;
      if (v.newPeer !== undefined) derived['aiops.baseline.new_peer'] = v.newPeer;
      if (v.newListenPort !== undefined) derived['aiops.baseline.new_listen_port'] = v.newListenPort;
    }
    if (e['aiops.mount.flags'] !== undefined) derived['aiops.mount.flag_names'] = mountFlagNames(Number(e['aiops.mount.flags']) || 0);
    this.processFields(e, t, derived);
    const out: Match[] = [];
    for (const rule of this.ruleSet.rules) {
      if (rule.match(derived)) out.push({ rule, event: derived, t, output: rule.render(derived) });
    }
    return out;
  }

  private processFields(e: Event, t: number, derived: Record<string, Value | undefined>): void {
    const pid = e['process.pid'];
    if (pid === undefined || pid === '') return;
    const key = `${String(e['host.name'] ?? '')}/${String(pid)}`;
    let p = this.processes.get(key);
    const name = e['event.name'];
    if (name === 'aiops.process.exec' && p) {
      this.processes.delete(key); // a new program in this pid starts afresh
      p = undefined;
    }
    if (!p) {
      if (name !== 'aiops.tcp.connection' && name !== 'aiops.process.sample') return;
      if (this.processes.size >= MAX_PROCESSES) this.processes.delete(this.processes.keys().next().value!);
      p = { ports: new Map() };
      this.processes.set(key, p);
    }
    if (name === 'aiops.process.sample') {
      p.cores = Number(e['aiops.process.cpu.cores']);
      p.coresAt = t;
    } else if (name === 'aiops.tcp.connection' && e['aiops.tcp.direction'] === 'outbound') {
      const port = String(e['server.port'] ?? e['network.peer.port'] ?? '');
      if (port) p.ports.set(port, t);
    } else if (name === 'aiops.process.exit') {
      this.processes.delete(key);
    }
    for (const [port, at] of p.ports) if (t - at > RECENT_MS) p.ports.delete(port);
    const ports: Scalar[] = [...p.ports.keys()];
    if (ports.length > 0) derived['aiops.process.peer_ports'] = ports;
    if (p.cores !== undefined && p.coresAt !== undefined && t - p.coresAt <= RECENT_MS) derived['aiops.process.recent_cpu_cores'] = p.cores;
  }
}
