/**
 * Matches collector events against the loaded rules. Before the rules run, each event gets the fields rules
 * cannot compute from one event alone: its workload, whether it runs in a container, its workload baseline's
 * verdict, and its process's recent outbound ports and CPU (a miner is "CPU together with a pool port", two
 * facts that arrive as separate events).
 */
import type { Baselines} from './baseline.ts';
import { workloadOf } from './baseline.ts';
import { text as str, type Event, type Scalar, type Value } from './rules/condition.ts';
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
/** Recent outbound ports kept per process. */
const MAX_PORTS = 64;
/**
 * How long (wall time, from when it was judged) a new program started from outside its workload waits for its
 * process's next event: an exec straight into a program the workload knows makes it a wrapper (see evaluate).
 */
export const WRAPPER_HOLD_MS = 5000;

/** mount(2) flags by bit (linux/mount.h), so rules can name them: a propagation change is not a new mount. */
const MOUNT_FLAGS: [number, string][] = [
  [1, 'MS_RDONLY'], [2, 'MS_NOSUID'], [4, 'MS_NODEV'], [8, 'MS_NOEXEC'], [16, 'MS_SYNCHRONOUS'], [32, 'MS_REMOUNT'], [64, 'MS_MANDLOCK'],
  [128, 'MS_DIRSYNC'], [1024, 'MS_NOATIME'], [2048, 'MS_NODIRATIME'], [4096, 'MS_BIND'], [8192, 'MS_MOVE'], [16384, 'MS_REC'],
  [32768, 'MS_SILENT'], [1 << 16, 'MS_POSIXACL'], [1 << 17, 'MS_UNBINDABLE'], [1 << 18, 'MS_PRIVATE'], [1 << 19, 'MS_SLAVE'],
  [1 << 20, 'MS_SHARED'], [1 << 21, 'MS_RELATIME'], [1 << 24, 'MS_STRICTATIME'], [1 << 25, 'MS_LAZYTIME'],
];


export function mountFlagNames(flags: number): string[] {
  // Callers may still pass the pre-2.4 magic number MS_MGC_VAL (0xC0ED) in the upper half, which the kernel
  // discards; read as flags it would claim MS_PRIVATE and MS_SLAVE.
  const f = (flags & 0xffff0000) >>> 16 === 0xc0ed ? flags & 0xffff : flags;
  return MOUNT_FLAGS.filter(([bit]) => (f & bit) !== 0).map(([, name]) => name);
}

type Derived = Record<string, Value | undefined>;

/** An exec judged a new program, waiting to learn whether it only wraps a known one. */
interface Held {
  derived: Derived;
  t: number;
  seenAt: number;
}

interface ProcessState {
  cores?: number;
  coresAt?: number;
  ports: Map<string, number>;
}

export class SecurityEngine {
  private readonly processes = new Map<string, ProcessState>();
  /** The workload of each process seen (host/pid), to tell a program started from inside its workload from one started from outside. */
  private readonly owners = new Map<string, string>();
  /** Execs held by process (host/pid), in order. */
  private readonly held = new Map<string, Held[]>();

  constructor(private ruleSet: RuleSet, readonly baselines: Baselines) {}

  get rules(): readonly Rule[] {
    return this.ruleSet.rules;
  }

  /** Swaps in rules that already loaded cleanly. */
  setRules(rules: RuleSet): void {
    this.ruleSet = rules;
  }

  /**
   * Every rule `e` (at time `t`, epoch ms) matches, in rule order, with the matches of execs held before it.
   *
   * An exec the baseline calls a new program, started from outside its workload (by the container runtime:
   * an entrypoint, an exec'd probe), is held until its process's next event. When that is an exec of a program
   * the workload knows, the held one only wrapped it (`sh -c '… exec node …'`, `env`, `su-exec`): it is judged
   * as no new program. An entrypoint's wrapper runs before monitoring begins and is never seen while learning,
   * so otherwise every restart after learning would be a deviation. The program it becomes is judged as ever;
   * a shell started by the workload's own processes (command injection), or with a terminal, is never held.
   * Anything else, or {@link WRAPPER_HOLD_MS} without a next event ({@link release}), lets the held exec stand
   * as judged.
   */
  evaluate(e: Event, t: number, now = Date.now()): Match[] {
    const workload = workloadOf(e);
    const derived: Derived = { ...e, 'aiops.workload': workload };
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

    const pid = str(e['process.pid']);
    const host = str(e['host.name']);
    const key = pid ? `${host}/${pid}` : '';
    const exec = e['event.name'] === 'aiops.process.exec';
    const held = key ? this.held.get(key) : undefined;
    const out: Match[] = [];
    // The collector's own alert about a held exec (shell_in_container) is evidence of it, not its next step.
    const evidence = e['event.name'] === 'aiops.security.alert' && !!held?.some((h) => str(h.derived['aiops.seq']) === str(e['aiops.evidence_event_ids']));
    if (held && !evidence && !(exec && derived['aiops.baseline.new_process'] === true)) {
      this.held.delete(key);
      const wrapper = exec && derived['aiops.baseline.new_process'] === false;
      for (const h of held) {
        if (wrapper) h.derived['aiops.baseline.new_process'] = false;
        out.push(...this.match(h.derived, h.t));
      }
    }
    if (key) {
      const ppid = str(e['process.parent_pid']);
      const fromOutside = ppid !== '' && this.owners.get(`${host}/${ppid}`) !== workload;
      if (e['event.name'] === 'aiops.process.exit') this.owners.delete(key);
      else {
        if (this.owners.size >= MAX_PROCESSES && !this.owners.has(key)) this.owners.delete(this.owners.keys().next().value!);
        this.owners.set(key, workload);
      }
      // A chain of wrappers (sh → env → node) waits as one. A program with a terminal is someone at work, not a
      // wrapper: judged at once, so an interactive shell's alert does not wait.
      const interactive = str(e['process.interactive']) === 'true';
      if (exec && derived['aiops.baseline.new_process'] === true && (held || (fromOutside && !interactive && this.held.size < MAX_PROCESSES))) {
        const h = { derived, t, seenAt: now };
        if (held) held.push(h);
        else this.held.set(key, [h]);
        return out;
      }
    }
    out.push(...this.match(derived, t));
    return out;
  }

  /** The matches of held execs whose process did nothing more for {@link WRAPPER_HOLD_MS} by `now`: they stand. */
  release(now: number): Match[] {
    const out: Match[] = [];
    for (const [key, held] of this.held) {
      if (now - held[0]!.seenAt < WRAPPER_HOLD_MS) continue;
      this.held.delete(key);
      for (const h of held) out.push(...this.match(h.derived, h.t));
    }
    return out;
  }

  private match(derived: Derived, t: number): Match[] {
    const out: Match[] = [];
    for (const rule of this.ruleSet.rules) {
      if (rule.match(derived)) out.push({ rule, event: derived, t, output: rule.render(derived) });
    }
    return out;
  }

  private processFields(e: Event, t: number, derived: Derived): void {
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
      // Bounded (a port scan would put thousands in every event): the oldest port makes room.
      if (port && !p.ports.has(port) && p.ports.size >= MAX_PORTS) p.ports.delete(p.ports.keys().next().value!);
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
