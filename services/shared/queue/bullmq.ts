/**
 * BullMQ adapter: jobs in Redis, shared by every process on the same URL and prefix.
 * Retries, backoff, delays, idempotent ids and schedulers are BullMQ's own; this file only
 * maps between its objects and the port's plain shapes, so no BullMQ type leaks out.
 */
import { createRequire } from 'node:module';
import { Queue as BullQueue, UnrecoverableError, Worker as BullWorker } from 'bullmq';
import type { Job as BullJob, JobsOptions, KeepJobs } from 'bullmq';
import type {
  BackendOptions,
  BulkJob,
  Job,
  JobOptions,
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
  assertValidEvery,
  defaultOnError,
  isUnrecoverable,
  resolveConcurrency,
  resolveJobOptions,
} from './port.ts';

/** Options of {@link createBullmqQueueBackend}. */
export interface BullmqBackendOptions extends BackendOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379/0`. */
  url: string;
  /** Key prefix namespacing every queue in Redis; BullMQ's default (`bull`) when unset. */
  prefix?: string;
}

/**
 * bullmq 6 loads ioredis lazily, as an optional peer, and only fails once a connection is first
 * used, asynchronously. Checking at construction turns that into an error where the backend is built.
 */
function assertRedisDriver(): void {
  try {
    const fromHere = createRequire(import.meta.url);
    createRequire(fromHere.resolve('bullmq')).resolve('ioredis');
  } catch {
    throw new Error(
      "the BullMQ queue backend needs the 'ioredis' package (an optional peer dependency of bullmq 6) and it is not installed",
    );
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

type Listener<E extends keyof WorkerEvents> = (payload: WorkerEvents[E]) => void;

class BullmqWorker<T, R> implements Worker {
  private readonly listeners: { [E in keyof WorkerEvents]: Listener<E>[] } = { completed: [], failed: [] };
  private closing: Promise<void> | undefined;

  constructor(
    private readonly worker: BullWorker<T, R>,
    private readonly onError: (err: Error) => void,
  ) {
    worker.on('error', (err) => onError(err));
    worker.on('completed', (job: BullJob<T, R>, result: R) => {
      this.emit('completed', { jobId: job.id ?? '', name: job.name, attemptsMade: job.attemptsMade, result });
    });
    worker.on('failed', (job: BullJob<T, R> | undefined, err: Error) => {
      if (job === undefined) return;
      // BullMQ reports every failed attempt; the port reports only the final one, as memory does.
      const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (!final) return;
      this.emit('failed', { jobId: job.id ?? '', name: job.name, attemptsMade: job.attemptsMade, error: err.message });
    });
  }

  on<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): void {
    this.listeners[event].push(listener);
  }

  close(): Promise<void> {
    // BullMQ's close() without `force` waits for the active jobs to finish.
    this.closing ??= this.worker.close();
    return this.closing;
  }

  private emit<E extends keyof WorkerEvents>(event: E, payload: WorkerEvents[E]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(payload);
      } catch (err) {
        this.onError(toError(err));
      }
    }
  }
}

class BullmqQueue<T> implements Queue<T> {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly queue: BullQueue,
    private readonly retention: KeepJobs,
    private readonly onClose: () => void,
  ) {}

  get name(): string {
    return this.queue.name;
  }

  async add(name: string, data: T, opts?: JobOptions): Promise<string> {
    // An id already in Redis makes BullMQ return the existing job instead of adding one.
    const job = await this.queue.add(name, data, this.jobsOptions(resolveJobOptions(opts)));
    return jobId(job);
  }

  async addBulk(jobs: readonly BulkJob<T>[]): Promise<string[]> {
    // Resolve every option first so one bad entry rejects the batch before anything reaches Redis.
    const entries = jobs.map((job) => ({ name: job.name, data: job.data, opts: this.jobsOptions(resolveJobOptions(job.opts)) }));
    const added = await this.queue.addBulk(entries);
    return added.map(jobId);
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    return {
      // The port has no priorities; a prioritized job is still just waiting.
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  async schedule(schedulerId: string, everyMs: number, name: string, data: T): Promise<void> {
    assertValidEvery(everyMs);
    const { jobId: _none, delay: _now, ...opts } = this.jobsOptions(resolveJobOptions());
    await this.queue.upsertJobScheduler(schedulerId, { every: everyMs }, { name, data, opts });
  }

  async unschedule(schedulerId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerId);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.onClose();
      await this.queue.close();
    })();
    return this.closing;
  }

  private jobsOptions(o: ResolvedJobOptions): JobsOptions {
    return {
      ...(o.jobId === undefined ? {} : { jobId: o.jobId }),
      attempts: o.attempts,
      backoff: { type: 'exponential', delay: o.backoffMs },
      delay: o.delayMs,
      // Bounded history in Redis, like the memory adapter; BullMQ keeps everything by default.
      removeOnComplete: this.retention,
      removeOnFail: this.retention,
    };
  }
}

function jobId(job: { id?: string | undefined }): string {
  if (job.id === undefined) throw new Error('BullMQ returned a job without an id');
  return job.id;
}

/**
 * Creates the BullMQ backend. Every Queue and Worker opens its own Redis connection, as BullMQ
 * requires (workers block on theirs); `close()` closes them all.
 */
export function createBullmqQueueBackend(opts: BullmqBackendOptions): QueueBackend {
  assertRedisDriver();
  const onError = opts.onError ?? defaultOnError;
  const keepFinished = opts.keepFinished ?? DEFAULT_KEEP_FINISHED;
  if (!Number.isInteger(keepFinished) || keepFinished < 0) throw new RangeError(`keepFinished must be an integer >= 0, got ${keepFinished}`);
  const retention: KeepJobs = { count: keepFinished };
  const prefix = opts.prefix === undefined ? {} : { prefix: opts.prefix };
  const queues = new Map<string, BullmqQueue<unknown>>();
  const workers = new Set<Worker>();
  let closing: Promise<void> | undefined;

  const assertOpen = (): void => {
    if (closing !== undefined) throw new Error('queue backend is closed');
  };

  return {
    kind: 'bullmq',
    queue<T>(name: string): Queue<T> {
      assertOpen();
      const existing = queues.get(name);
      if (existing !== undefined) return existing as Queue<T>;
      const bull = new BullQueue(name, { connection: { url: opts.url }, ...prefix });
      bull.on('error', (err) => onError(err));
      const created = new BullmqQueue<unknown>(bull, retention, () => queues.delete(name));
      queues.set(name, created);
      return created as Queue<T>;
    },
    worker<T, R = unknown>(name: string, processor: Processor<T, R>, workerOpts?: WorkerOptions): Worker {
      assertOpen();
      const run = async (job: BullJob<T, R>): Promise<R> => {
        try {
          return await processor(toJob(job, onError));
        } catch (err) {
          // BullMQ recognises only its own class, so the port's error is translated at the boundary.
          if (isUnrecoverable(err)) throw new UnrecoverableError(err.message);
          throw err;
        }
      };
      const bull = new BullWorker<T, R>(name, run, {
        // Workers block on their connection; BullMQ needs requests there never to give up.
        connection: { url: opts.url, maxRetriesPerRequest: null },
        concurrency: resolveConcurrency(workerOpts),
        removeOnComplete: retention,
        removeOnFail: retention,
        ...prefix,
      });
      const worker = new BullmqWorker(bull, onError);
      workers.add(worker);
      return worker;
    },
    close(): Promise<void> {
      closing ??= (async () => {
        await Promise.all([...workers].map((worker) => worker.close()));
        await Promise.all([...queues.values()].map((queue) => queue.close()));
      })();
      return closing;
    },
  };
}

function toJob<T>(job: BullJob<T>, onError: (err: Error) => void): Job<T> {
  return {
    id: jobId(job),
    name: job.name,
    data: job.data,
    attemptsMade: job.attemptsMade,
    updateProgress: async (progress) => {
      // Progress is advisory: a Redis hiccup here must not fail the job.
      await job.updateProgress(progress).catch((err: unknown) => onError(toError(err)));
    },
  };
}
