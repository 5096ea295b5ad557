/**
 * In-process queue adapter: no Redis, no dependencies. For tests, single-node runs and dev.
 * Jobs live in this process only, so they are lost when it exits; everything else follows the port.
 * Memory is bounded: at most `maxJobs` live jobs per queue and `keepFinished` finished ones per state.
 */
import type {
  BackendOptions,
  BulkJob,
  Job,
  JobOptions,
  JobProgress,
  Processor,
  Queue,
  QueueBackend,
  QueueCounts,
  ResolvedJobOptions,
  Worker,
  WorkerEvents,
  WorkerOptions,
} from './port.ts';
import {
  DEFAULT_KEEP_FINISHED,
  QueueFullError,
  assertValidEvery,
  backoffDelay,
  defaultOnError,
  isUnrecoverable,
  resolveConcurrency,
  resolveJobOptions,
} from './port.ts';

/** Options of {@link createMemoryQueueBackend}. */
export interface MemoryBackendOptions extends BackendOptions {
  /** Most live (waiting, delayed or active) jobs per queue; `add` rejects with QueueFullError beyond it. Default {@link DEFAULT_MAX_JOBS}. */
  maxJobs?: number;
}

/** Default for {@link MemoryBackendOptions.maxJobs}. */
export const DEFAULT_MAX_JOBS = 100_000;

interface JobRecord {
  readonly id: string;
  readonly name: string;
  /** JSON text, parsed afresh for every attempt as BullMQ reads it back from Redis. */
  readonly json: string;
  readonly opts: ResolvedJobOptions;
  attemptsMade: number;
  state: 'waiting' | 'delayed' | 'active';
  timer: NodeJS.Timeout | undefined;
  progress: JobProgress | undefined;
}

interface Entry {
  name: string;
  data: unknown;
  opts: ResolvedJobOptions;
  /** Set for scheduler runs, whose ids carry ':' and so bypass caller-id validation. */
  internalId?: string;
}

interface Schedule {
  timer: NodeJS.Timeout | undefined;
  lastJobId: string | undefined;
}

/** Drops the oldest entries so a history map never outgrows its bound. */
function remember<V>(map: Map<string, V>, id: string, value: V, limit: number): void {
  map.set(id, value);
  while (map.size > limit) {
    const oldest = map.keys().next();
    if (oldest.done === true) break;
    map.delete(oldest.value);
  }
}

/** Everything one queue name holds; shared by its producer handle and its workers. */
class Store {
  readonly live = new Map<string, JobRecord>();
  /** Map insertion order gives FIFO with O(1) removal of the head. */
  readonly waiting = new Map<string, JobRecord>();
  readonly completed = new Map<string, unknown>();
  readonly failed = new Map<string, string>();
  readonly workers: MemoryWorker[] = [];
  readonly schedules = new Map<string, Schedule>();
  private delayed = 0;
  private active = 0;
  private seq = 0;
  private nextWorker = 0;
  private pumpQueued = false;

  constructor(
    readonly name: string,
    private readonly maxJobs: number,
    readonly keepFinished: number,
    readonly onError: (err: Error) => void,
  ) {}

  /** Adds all entries or none: the bound is checked for the whole batch before anything is stored. */
  enqueue(entries: readonly Entry[]): string[] {
    const ids: string[] = [];
    const fresh = new Map<string, Entry>();
    // Counter ids never clash with caller ids, which may not be integer strings.
    let seq = this.seq;
    for (const entry of entries) {
      const id = entry.internalId ?? entry.opts.jobId ?? String((seq += 1));
      ids.push(id);
      if (!this.knows(id) && !fresh.has(id)) fresh.set(id, entry);
    }
    if (this.live.size + fresh.size > this.maxJobs) throw new QueueFullError(this.name, this.maxJobs);
    // Serialise before storing anything so a non-JSON payload rejects the batch without side effects.
    const records = [...fresh].map(([id, entry]) => this.record(id, entry));
    this.seq = seq;
    for (const rec of records) {
      this.live.set(rec.id, rec);
      if (rec.opts.delayMs > 0) this.hold(rec, rec.opts.delayMs);
      else this.makeReady(rec);
    }
    return ids;
  }

  counts(): QueueCounts {
    return {
      waiting: this.waiting.size,
      active: this.active,
      delayed: this.delayed,
      completed: this.completed.size,
      failed: this.failed.size,
    };
  }

  /** True while a scheduler's last job has not started, so the next tick must not pile up another. */
  isPending(id: string): boolean {
    const rec = this.live.get(id);
    return rec !== undefined && rec.state !== 'active';
  }

  schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // A microtask batches the adds of one tick and keeps processors off the caller's stack.
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Records the end of an attempt: complete, fail for good, or hold for the backoff. */
  settle(rec: JobRecord, worker: MemoryWorker, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): void {
    this.active -= 1;
    rec.attemptsMade += 1;
    const base = { jobId: rec.id, name: rec.name, attemptsMade: rec.attemptsMade };
    if (outcome.ok) {
      this.live.delete(rec.id);
      remember(this.completed, rec.id, outcome.result, this.keepFinished);
      worker.emit('completed', { ...base, result: outcome.result });
    } else if (isUnrecoverable(outcome.error) || rec.attemptsMade >= rec.opts.attempts) {
      const message = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      this.live.delete(rec.id);
      remember(this.failed, rec.id, message, this.keepFinished);
      worker.emit('failed', { ...base, error: message });
    } else {
      this.hold(rec, backoffDelay(rec.opts.backoffMs, rec.attemptsMade));
    }
    this.schedulePump();
  }

  /** Stops timers; the jobs they guard are dropped with the backend. */
  dispose(): void {
    for (const schedule of this.schedules.values()) clearInterval(schedule.timer);
    this.schedules.clear();
    for (const rec of this.live.values()) clearTimeout(rec.timer);
  }

  private knows(id: string): boolean {
    return this.live.has(id) || this.completed.has(id) || this.failed.has(id);
  }

  private record(id: string, entry: Entry): JobRecord {
    // JSON.stringify(undefined) is undefined; store null as BullMQ would read it back.
    const json = JSON.stringify(entry.data) ?? 'null';
    return { id, name: entry.name, json, opts: entry.opts, attemptsMade: 0, state: 'waiting', timer: undefined, progress: undefined };
  }

  private makeReady(rec: JobRecord): void {
    rec.state = 'waiting';
    this.waiting.set(rec.id, rec);
    this.schedulePump();
  }

  private hold(rec: JobRecord, ms: number): void {
    rec.state = 'delayed';
    this.delayed += 1;
    // Unref'd: a process with nothing else to do should not stay up for an in-memory delay.
    rec.timer = setTimeout(() => {
      rec.timer = undefined;
      this.delayed -= 1;
      this.makeReady(rec);
    }, ms);
    rec.timer.unref();
  }

  private pump(): void {
    while (this.waiting.size > 0) {
      const worker = this.pickWorker();
      if (worker === undefined) return;
      const head = this.waiting.values().next();
      if (head.done === true) return;
      const rec = head.value;
      this.waiting.delete(rec.id);
      rec.state = 'active';
      this.active += 1;
      worker.run(rec);
    }
  }

  /** Round-robin over workers with a free slot, so several workers share a queue fairly. */
  private pickWorker(): MemoryWorker | undefined {
    const n = this.workers.length;
    for (let i = 0; i < n; i += 1) {
      const worker = this.workers[(this.nextWorker + i) % n];
      if (worker?.hasCapacity() === true) {
        this.nextWorker = (this.nextWorker + i + 1) % n;
        return worker;
      }
    }
    return undefined;
  }
}

type Listener<E extends keyof WorkerEvents> = (payload: WorkerEvents[E]) => void;

class MemoryWorker implements Worker {
  private running = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly listeners: { [E in keyof WorkerEvents]: Listener<E>[] } = { completed: [], failed: [] };
  private closing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly processor: Processor<unknown, unknown>,
    private readonly concurrency: number,
  ) {}

  hasCapacity(): boolean {
    return this.closing === undefined && this.running < this.concurrency;
  }

  on<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): void {
    this.listeners[event].push(listener);
  }

  emit<E extends keyof WorkerEvents>(event: E, payload: WorkerEvents[E]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(payload);
      } catch (err) {
        this.store.onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  run(rec: JobRecord): void {
    this.running += 1;
    const job: Job<unknown> = {
      id: rec.id,
      name: rec.name,
      data: JSON.parse(rec.json) as unknown,
      attemptsMade: rec.attemptsMade,
      updateProgress: (progress) => {
        rec.progress = progress;
        return Promise.resolve();
      },
    };
    const attempt = (async () => {
      let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, result: await this.processor(job) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      this.running -= 1;
      this.store.settle(rec, this, outcome);
    })();
    this.inflight.add(attempt);
    // settle() cannot throw past its own try/catch, so the promise only ever resolves.
    void attempt.finally(() => this.inflight.delete(attempt));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const at = this.store.workers.indexOf(this);
      if (at >= 0) this.store.workers.splice(at, 1);
      await Promise.all(this.inflight);
      // Jobs this worker left behind go to the workers still open.
      this.store.schedulePump();
    })();
    return this.closing;
  }
}

class MemoryQueue<T> implements Queue<T> {
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly onClose: () => void,
  ) {}

  get name(): string {
    return this.store.name;
  }

  async add(name: string, data: T, opts?: JobOptions): Promise<string> {
    const [id] = await this.addBulk([{ name, data, opts }]);
    if (id === undefined) throw new Error('unreachable: addBulk returned no id');
    return id;
  }

  async addBulk(jobs: readonly BulkJob<T>[]): Promise<string[]> {
    this.assertOpen();
    return this.store.enqueue(jobs.map((job) => ({ name: job.name, data: job.data, opts: resolveJobOptions(job.opts) })));
  }

  async counts(): Promise<QueueCounts> {
    return this.store.counts();
  }

  async schedule(schedulerId: string, everyMs: number, name: string, data: T): Promise<void> {
    this.assertOpen();
    assertValidEvery(everyMs);
    const opts = resolveJobOptions();
    clearInterval(this.store.schedules.get(schedulerId)?.timer);
    const schedule: Schedule = { timer: undefined, lastJobId: undefined };
    const tick = (): void => {
      if (schedule.lastJobId !== undefined && this.store.isPending(schedule.lastJobId)) return;
      try {
        const internalId = `repeat:${schedulerId}:${Date.now()}`;
        [schedule.lastJobId] = this.store.enqueue([{ name, data, opts, internalId }]);
      } catch (err) {
        // No caller awaits a tick, so a full queue is reported rather than thrown into a timer.
        this.store.onError(err instanceof Error ? err : new Error(String(err)));
      }
    };
    tick();
    schedule.timer = setInterval(tick, everyMs);
    schedule.timer.unref();
    this.store.schedules.set(schedulerId, schedule);
  }

  async unschedule(schedulerId: string): Promise<void> {
    clearInterval(this.store.schedules.get(schedulerId)?.timer);
    this.store.schedules.delete(schedulerId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`queue "${this.store.name}" is closed`);
  }
}

/** Creates the in-process backend; `close()` stops its timers and drops whatever is still queued. */
export function createMemoryQueueBackend(opts: MemoryBackendOptions = {}): QueueBackend {
  const maxJobs = opts.maxJobs ?? DEFAULT_MAX_JOBS;
  const keepFinished = opts.keepFinished ?? DEFAULT_KEEP_FINISHED;
  const onError = opts.onError ?? defaultOnError;
  if (!Number.isInteger(maxJobs) || maxJobs < 1) throw new RangeError(`maxJobs must be an integer >= 1, got ${maxJobs}`);
  if (!Number.isInteger(keepFinished) || keepFinished < 0) throw new RangeError(`keepFinished must be an integer >= 0, got ${keepFinished}`);

  const stores = new Map<string, Store>();
  const queues = new Map<string, MemoryQueue<unknown>>();
  const workers = new Set<MemoryWorker>();
  let closing: Promise<void> | undefined;

  const storeFor = (name: string): Store => {
    if (closing !== undefined) throw new Error('queue backend is closed');
    let store = stores.get(name);
    if (store === undefined) {
      store = new Store(name, maxJobs, keepFinished, onError);
      stores.set(name, store);
    }
    return store;
  };

  return {
    kind: 'memory',
    queue<T>(name: string): Queue<T> {
      const existing = queues.get(name);
      if (existing !== undefined) return existing as Queue<T>;
      const created = new MemoryQueue<unknown>(storeFor(name), () => queues.delete(name));
      queues.set(name, created);
      return created as Queue<T>;
    },
    worker<T, R = unknown>(name: string, processor: Processor<T, R>, workerOpts?: WorkerOptions): Worker {
      const store = storeFor(name);
      // The store hands out JSON-parsed data, typed by the caller's T like BullMQ's generic.
      const worker = new MemoryWorker(store, processor as Processor<unknown, unknown>, resolveConcurrency(workerOpts));
      store.workers.push(worker);
      workers.add(worker);
      store.schedulePump();
      return worker;
    },
    close(): Promise<void> {
      closing ??= (async () => {
        await Promise.all([...workers].map((worker) => worker.close()));
        await Promise.all([...queues.values()].map((queue) => queue.close()));
        for (const store of stores.values()) store.dispose();
      })();
      return closing;
    },
  };
}
