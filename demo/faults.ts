/**
 * The faults the demo injects, their parameters, and the bookkeeping of which are active. Every fault is real:
 * in-process faults (latency, errors, exception, cpu, memory) are carried out by the service process itself
 * (demo/framework.mjs); dependency-down kills or stops the process; bad-deploy restarts it as a new version with a
 * bug. Clearing undoes each: the process is told, restarted, or rolled back.
 */

export const FAULT_KINDS = ['latency', 'errors', 'exception', 'cpu', 'memory', 'dependency-down', 'bad-deploy'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultParams = Record<string, string | number | boolean>;

/** Faults the service process carries out itself. */
export const IN_PROCESS: readonly FaultKind[] = ['latency', 'errors', 'exception', 'cpu', 'memory'];

export interface Fault {
  id: string;
  kind: FaultKind;
  service: string;
  params: FaultParams;
  /** Epoch ms. */
  startedAt: number;
  /** What it does, for people. */
  description: string;
}

/** A refused fault request; `status` is the HTTP status the control API answers with. */
export class FaultError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

/** What the fault manager needs from the supervisor of one service. */
export interface FaultTarget {
  /** Applies (or clears, with `fault` undefined) an in-process fault in the running process. */
  apply(fault: Fault): Promise<void>;
  unapply(fault: Fault): Promise<void>;
  /** Kills (SIGKILL) or stops (SIGSTOP) the process and keeps it that way. */
  takeDown(mode: 'kill' | 'stop'): Promise<void>;
  /** Undoes takeDown: SIGCONT, or a fresh start. */
  bringUp(): Promise<void>;
  /** Restarts the service as `version`; `bad` ships the bug, failing `failRate` of requests. */
  deploy(version: string, bad: boolean, failRate: number): Promise<void>;
  readonly baseVersion: string;
  nextVersion(): string;
}

interface Spec {
  /** name → [default, check]; the default may depend on the parameters given. */
  params: Record<string, { def: (p: FaultParams, t: FaultTarget) => string | number; check: (v: unknown) => string | number | undefined; help: string }>;
  describe(p: FaultParams, service: string): string;
}

const num = (min: number, max: number, int = false) => (v: unknown) => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= min && n <= max && (!int || Number.isInteger(n)) ? n : undefined;
};
const oneOf = (...xs: string[]) => (v: unknown) => (typeof v === 'string' && xs.includes(v) ? v : undefined);
const pct = (x: unknown) => `${Math.round(Number(x) * 100)}%`;

export const SPECS: Record<FaultKind, Spec> = {
  latency: {
    params: {
      ms: { def: () => 500, check: num(1, 60_000), help: 'added delay in ms (1–60000, default 500)' },
      jitter: { def: (p) => Math.round(Number(p.ms ?? 500) * 0.2), check: num(0, 60_000), help: '± random ms (default a fifth of ms)' },
      rate: { def: () => 1, check: num(0, 1), help: 'share of requests delayed (0–1, default 1)' },
    },
    describe: (p, s) => `${s} answers ${p.ms} ms (±${p.jitter}) later on ${pct(p.rate)} of requests`,
  },
  errors: {
    params: {
      rate: { def: () => 0.5, check: num(0, 1), help: 'share of requests failed (0–1, default 0.5)' },
      status: { def: () => 500, check: num(500, 599, true), help: 'HTTP status (500–599, default 500)' },
    },
    describe: (p, s) => `${s} answers HTTP ${p.status} to ${pct(p.rate)} of requests`,
  },
  exception: {
    params: { rate: { def: () => 0.5, check: num(0, 1), help: 'share of requests whose handler throws (0–1, default 0.5)' } },
    describe: (p, s) => `${s}'s handler throws a TypeError on ${pct(p.rate)} of requests (HTTP 500, exception on the span, error log)`,
  },
  cpu: {
    params: {
      threads: { def: () => 1, check: num(1, 16, true), help: 'busy threads (1–16, default 1)' },
      duty: { def: () => 1, check: num(0.05, 1), help: 'share of time each is busy (default 1)' },
      mode: { def: () => 'thread', check: oneOf('thread', 'sibling'), help: "'thread' (in the service process, default) or 'sibling' (a helper process in its cgroup)" },
    },
    describe: (p, s) => `${p.threads} busy ${p.mode === 'sibling' ? 'helper process(es) beside' : 'thread(s) in'} ${s} (${pct(p.duty)} duty)`,
  },
  memory: {
    params: {
      mbPerSec: { def: () => 2, check: num(0.1, 100), help: 'heap growth in MB/s (default 2)' },
      maxMb: { def: () => 1024, check: num(16, 16_384), help: 'stop growing at this many MB (default 1024)' },
    },
    describe: (p, s) => `${s} leaks ${p.mbPerSec} MB/s of heap (up to ${p.maxMb} MB)`,
  },
  'dependency-down': {
    params: { mode: { def: () => 'kill', check: oneOf('kill', 'stop'), help: "'kill' (SIGKILL: callers are refused, default) or 'stop' (SIGSTOP: callers time out)" } },
    describe: (p, s) => (p.mode === 'stop' ? `${s} is frozen (SIGSTOP): callers time out` : `${s} is killed: callers are refused`),
  },
  'bad-deploy': {
    params: {
      version: { def: (_p, t) => t.nextVersion(), check: (v) => (typeof v === 'string' && /^[\w.+-]{1,40}$/.test(v) ? v : undefined), help: 'the new service.version (default the next minor version)' },
      failRate: { def: () => 0.25, check: num(0, 1), help: 'share of requests the bug fails (0–1, default 0.25)' },
    },
    describe: (p, s) => `${s} redeployed as ${p.version}: new call order, extra calls, ${pct(p.failRate)} of requests fail`,
  },
};

export function isFaultKind(k: unknown): k is FaultKind {
  return typeof k === 'string' && (FAULT_KINDS as readonly string[]).includes(k);
}

/** Help text: every kind with its parameters. */
export function faultHelp(): string {
  return FAULT_KINDS.map((k) => `  ${k}${Object.entries(SPECS[k].params).map(([n, s]) => `\n      --${n}: ${s.help}`).join('')}`).join('\n');
}

/** Active faults, at most one per kind and service; operations run one at a time. */
export class FaultManager {
  private readonly active = new Map<string, Fault>();
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly targets: ReadonlyMap<string, FaultTarget>) {}

  list(): Fault[] {
    return [...this.active.values()].sort((a, b) => a.startedAt - b.startedAt);
  }

  /** The in-process faults active on `service`, to apply again after its process restarts. */
  inProcess(service: string): Fault[] {
    return this.list().filter((f) => f.service === service && IN_PROCESS.includes(f.kind));
  }

  inject(kind: string, service: string, params: Record<string, unknown> = {}): Promise<Fault> {
    return this.serial(async () => {
      if (!isFaultKind(kind)) throw new FaultError(`unknown fault kind ${JSON.stringify(kind)}: one of ${FAULT_KINDS.join(', ')}`);
      const target = this.targets.get(service);
      if (!target) throw new FaultError(`unknown service ${JSON.stringify(service)}: one of ${[...this.targets.keys()].join(', ')}`, 404);
      const spec = SPECS[kind];
      const unknown = Object.keys(params).filter((k) => !(k in spec.params));
      if (unknown.length > 0) throw new FaultError(`${kind} takes ${Object.keys(spec.params).join(', ')}; not ${unknown.join(', ')}`);
      const p: FaultParams = {};
      for (const [name, s] of Object.entries(spec.params)) {
        if (params[name] === undefined) continue;
        const v = s.check(params[name]);
        if (v === undefined) throw new FaultError(`${kind} ${name}=${JSON.stringify(params[name])}: ${s.help}`);
        p[name] = v;
      }
      for (const [name, s] of Object.entries(spec.params)) p[name] ??= s.def(p, target);
      const down = this.active.get(`${service}\u0000dependency-down`);
      if (down && kind !== 'dependency-down') throw new FaultError(`${service} is down (fault ${down.id}); clear that first`, 409);
      const previous = this.active.get(`${service}\u0000${kind}`);
      if (previous) await this.undo(previous);
      const fault: Fault = { id: `f${++this.seq}`, kind, service, params: p, startedAt: Date.now(), description: spec.describe(p, service) };
      if (IN_PROCESS.includes(kind)) await target.apply(fault);
      else if (kind === 'dependency-down') await target.takeDown(p.mode === 'stop' ? 'stop' : 'kill');
      else await target.deploy(String(p.version), true, Number(p.failRate));
      this.active.set(`${service}\u0000${kind}`, fault);
      return fault;
    });
  }

  /** Clears one fault (by id) or all; returns what was cleared. */
  clear(id?: string): Promise<Fault[]> {
    return this.serial(async () => {
      const chosen = this.list().filter((f) => id === undefined || f.id === id);
      if (id !== undefined && chosen.length === 0) throw new FaultError(`no active fault ${id}`, 404);
      // A service that is down comes back before anything else about it is undone.
      chosen.sort((a, b) => Number(b.kind === 'dependency-down') - Number(a.kind === 'dependency-down'));
      const errors: unknown[] = [];
      for (const f of chosen) await this.undo(f).catch((err: unknown) => errors.push(err));
      if (errors.length > 0) throw new AggregateError(errors, errors.map(String).join('; '));
      return chosen;
    });
  }

  private async undo(f: Fault): Promise<void> {
    const target = this.targets.get(f.service)!;
    this.active.delete(`${f.service}\u0000${f.kind}`);
    if (IN_PROCESS.includes(f.kind)) await target.unapply(f);
    else if (f.kind === 'dependency-down') await target.bringUp();
    else await target.deploy(target.baseVersion, false, 0);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
