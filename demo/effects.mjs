// The faults a demo service process carries out itself, for real: requests really wait, really fail or
// really throw; the CPU is really burnt by threads or a sibling process; the heap really grows. The runner
// sends them over stdin (demo/framework.mjs passes them here); demo/faults.ts validates them first.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { clearInterval, setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

/** Busy loop for a worker thread or a sibling process: `duty` of every 100 ms on the CPU. */
const BUSY = `
  const { workerData } = require('node:worker_threads');
  const duty = Number(process.env.DEMO_DUTY || (workerData && workerData.duty) || 1);
  const parent = process.ppid;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let x = 1;
  for (;;) {
    const t = Date.now();
    while (Date.now() - t < 100 * duty) x = (x * 1103515245 + 12345) % 2147483648;
    if (duty < 1) Atomics.wait(pause, 0, 0, 100 * (1 - duty));
    if (!process.env.DEMO_WORKER && process.ppid !== parent) process.exit(0); // the service is gone
  }`;

/** A bug that is really there: a lookup that finds nothing, then a property of it. */
function applyPromotion(path) {
  const promotions = new Map([['/summer-sale', { discount: 0.1 }]]);
  const promotion = promotions.get(path);
  return promotion.discount;
}

/** The bug a bad release ships: a feature flag it reads before anyone set it. */
export function readFeatureFlags(flags) {
  return flags.split(',');
}

/** The faults active in this process, at most one per kind. */
export class Faults {
  constructor(name, log) {
    this.name = name;
    this.log = log;
    /** kind → { id, kind, params, stop? } */
    this.active = new Map();
  }

  apply(f) {
    const previous = this.active.get(f.kind);
    if (previous) this.clear(previous.id);
    const p = f.params ?? {};
    const entry = { ...f, params: p };
    if (f.kind === 'cpu') entry.stop = p.mode === 'sibling' ? this.sibling(p) : this.threads(p);
    else if (f.kind === 'memory') entry.stop = this.leak(p);
    else if (!['latency', 'errors', 'exception'].includes(f.kind)) throw new Error(`unknown in-process fault ${f.kind}`);
    this.active.set(f.kind, entry);
  }

  clear(id) {
    for (const [kind, f] of this.active) {
      if (id !== undefined && f.id !== id) continue;
      f.stop?.();
      this.active.delete(kind);
    }
  }

  threads({ threads = 1, duty = 1 }) {
    const workers = Array.from({ length: threads }, () => new Worker(BUSY, { eval: true, workerData: { duty }, env: { ...process.env, DEMO_WORKER: '1' } }));
    for (const w of workers) w.on('error', () => {}).unref();
    return () => workers.forEach((w) => void w.terminate());
  }

  sibling({ threads = 1, duty = 1 }) {
    // A helper process in the service's cgroup and network namespace (it inherits both), as a cron job or a
    // sidecar would be: the CPU shows on its own pid, next to the service.
    const children = Array.from({ length: threads }, () =>
      spawn(process.execPath, ['-e', BUSY, `${this.name}-reindex`], { stdio: 'ignore', env: { ...process.env, DEMO_DUTY: String(duty) } }),
    );
    for (const c of children) c.on('error', () => {});
    this.siblings = [...(this.siblings ?? []), ...children];
    return () => children.forEach((c) => c.kill('SIGKILL'));
  }

  leak({ mbPerSec = 2, maxMb = 1024 }) {
    // A cache that never evicts: small objects with distinct strings, on the V8 heap (not external buffers).
    const kept = [];
    let bytes = 0;
    const timer = setInterval(() => {
      if (bytes >= maxMb * 1048576) return;
      const n = Math.ceil((mbPerSec * 1024) / 5); // 1 KB objects, five times a second
      for (let i = 0; i < n; i++) kept.push({ at: Date.now(), key: `session:${kept.length}`, value: randomBytes(480).toString('hex') });
      bytes += n * 1024;
    }, 200);
    return () => {
      clearInterval(timer);
      kept.length = 0;
    };
  }

  /** Runs before a request's handler: waits, answers with an error, or throws. Returns a response or undefined. */
  async before(path) {
    const lat = this.active.get('latency')?.params;
    if (lat && Math.random() < (lat.rate ?? 1)) await sleep(Math.max(0, (lat.ms ?? 500) + (Math.random() * 2 - 1) * (lat.jitter ?? 0)));
    const err = this.active.get('errors')?.params;
    if (err && Math.random() < (err.rate ?? 0.5)) return { status: err.status ?? 500, body: { error: 'internal server error' } };
    const ex = this.active.get('exception')?.params;
    if (ex && Math.random() < (ex.rate ?? 0.5)) applyPromotion(path);
    return undefined;
  }

  stopAll() {
    this.clear();
    for (const c of this.siblings ?? []) c.kill('SIGKILL');
  }
}
