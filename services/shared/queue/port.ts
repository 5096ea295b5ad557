/**
 * Queue port: the only job-queue surface the services see.
 *
 * Two adapters implement it (in-process memory and BullMQ on Redis) and one contract suite
 * (test/contract/queue.contract.ts) checks both. Nothing here names Redis or BullMQ, so a
 * service can run on either without knowing which.
 *
 * Semantics every adapter honours:
 * - at-least-once delivery: a processor may see a job more than once, so processors must be idempotent;
 * - a `jobId` given twice enqueues once while the queue still knows that id (live or in retained history);
 * - a failing job is retried with exponential backoff (`backoffMs * 2^(n-1)` before retry n) up to `attempts`;
 * - {@link UnrecoverableJobError} fails a job at once, without retry;
 * - a worker never runs more than `concurrency` processors at once;
 * - `delayMs` holds a job back at least that long;
 * - jobs of equal priority start in the order they were added when concurrency is 1;
 * - `close()` waits for running processors to finish.
 *
 * @module
 */

/** Options for one job. */
export interface JobOptions {
  /** Caller-chosen id; adding an id the queue still knows is a no-op that returns that id. Must not be an integer string nor contain ':'. */
  jobId?: string;
  /** Total attempts including the first one; default {@link DEFAULT_ATTEMPTS}. */
  attempts?: number;
  /** Base of the exponential backoff between attempts, in ms; default {@link DEFAULT_BACKOFF_MS}. */
  backoffMs?: number;
  /** Hold the job back this long before it can start, in ms; default 0. */
  delayMs?: number;
}

/** Default for {@link JobOptions.attempts}. */
export const DEFAULT_ATTEMPTS = 3;
/** Default for {@link JobOptions.backoffMs}. */
export const DEFAULT_BACKOFF_MS = 1000;
/** Default for {@link BackendOptions.keepFinished}. */
export const DEFAULT_KEEP_FINISHED = 1000;

/** Progress a processor reports; a percentage or a small JSON object. */
export type JobProgress = number | Record<string, unknown>;

/** A job as a processor sees it: plain data, no driver object. */
export interface Job<T> {
  /** Queue-unique id: the caller's `jobId` or one the adapter assigned. */
  readonly id: string;
  /** Job name given to `add`, used to tell job kinds apart inside one queue. */
  readonly name: string;
  /** Payload, a JSON copy of what was added (class instances lose their prototype). */
  readonly data: T;
  /** Attempts that finished before this one: 0 on the first run. */
  readonly attemptsMade: number;
  /** Records progress for observers; resolves once stored and never fails the job. */
  updateProgress(progress: JobProgress): Promise<void>;
}

/** Handles one job; resolve to complete it, throw to fail this attempt. */
export type Processor<T, R = unknown> = (job: Job<T>) => Promise<R>;

/**
 * Thrown by a processor to fail its job at once, without the remaining attempts.
 * Use it for poison jobs: input that no retry can fix.
 */
export class UnrecoverableJobError extends Error {
  /** @param message - why the job can never succeed. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnrecoverableJobError';
  }
}

/** True for {@link UnrecoverableJobError}, also when another copy of this module created it; for adapters. */
export function isUnrecoverable(err: unknown): err is Error {
  return err instanceof UnrecoverableJobError || (err instanceof Error && err.name === 'UnrecoverableJobError');
}

/** Thrown (as a rejection) by `add`/`addBulk` when a bounded queue is full; nothing was enqueued. */
export class QueueFullError extends Error {
  /** Name of the queue that refused the job. */
  readonly queue: string;
  /** The bound that was reached. */
  readonly limit: number;
  /** @param queue - queue name. @param limit - its bound on live jobs. */
  constructor(queue: string, limit: number) {
    super(`queue "${queue}" is full: ${limit} jobs waiting, delayed or active`);
    this.name = 'QueueFullError';
    this.queue = queue;
    this.limit = limit;
  }
}

/** Number of jobs in each state. Completed and failed count only the retained history. */
export interface QueueCounts {
  /** Ready to start. */
  waiting: number;
  /** Being processed now. */
  active: number;
  /** Held back by `delayMs` or a retry backoff. */
  delayed: number;
  /** Finished successfully (retained history). */
  completed: number;
  /** Failed for good (retained history). */
  failed: number;
}

/** One entry of {@link Queue.addBulk}. */
export interface BulkJob<T> {
  /** Job name. */
  name: string;
  /** Payload; must be JSON-serializable. */
  data: T;
  /** Per-job options. */
  opts?: JobOptions;
}

/** Producer side of a named queue. */
export interface Queue<T> {
  /** Queue name, shared by producers and workers. */
  readonly name: string;
  /** Enqueues one job and resolves to its id; an id the queue still knows is not enqueued again. */
  add(name: string, data: T, opts?: JobOptions): Promise<string>;
  /** Enqueues jobs in order and resolves to their ids in the same order; rejects without enqueuing any when the bound would be passed. */
  addBulk(jobs: readonly BulkJob<T>[]): Promise<string[]>;
  /** Resolves to the number of jobs in each state. */
  counts(): Promise<QueueCounts>;
  /** Creates or replaces the repeating job `schedulerId`: a job now, then one every `everyMs`; a run is skipped while the previous one has not started. */
  schedule(schedulerId: string, everyMs: number, name: string, data: T): Promise<void>;
  /** Stops the repeating job `schedulerId`; a run already due may still be delivered (at-least-once). */
  unschedule(schedulerId: string): Promise<void>;
  /** Releases this handle; schedules and queued jobs stay with the backend. */
  close(): Promise<void>;
}

/** Payload of a worker's `completed` event. */
export interface CompletedEvent {
  /** Job id. */
  jobId: string;
  /** Job name. */
  name: string;
  /** Attempts made, counting the successful one. */
  attemptsMade: number;
  /** What the processor resolved to. */
  result: unknown;
}

/** Payload of a worker's `failed` event, emitted only when a job fails for good (no retry left). */
export interface FailedEvent {
  /** Job id. */
  jobId: string;
  /** Job name. */
  name: string;
  /** Attempts made, counting the last one. */
  attemptsMade: number;
  /** Message of the error the last attempt threw. */
  error: string;
}

/** Events a {@link Worker} emits, by name. */
export interface WorkerEvents {
  /** A job this worker ran completed. */
  completed: CompletedEvent;
  /** A job this worker ran failed for good. */
  failed: FailedEvent;
}

/** Consumer side: runs a processor on the jobs of one queue. */
export interface Worker {
  /** Calls `listener` for every event of that kind from this worker; listener errors are reported, never thrown into the queue. */
  on<E extends keyof WorkerEvents>(event: E, listener: (payload: WorkerEvents[E]) => void): void;
  /** Stops taking jobs and resolves once the running processors have finished; idempotent. */
  close(): Promise<void>;
}

/** Options for {@link QueueBackend.worker}. */
export interface WorkerOptions {
  /** Most processors running at once for this worker; default 1. */
  concurrency?: number;
}

/** A queue implementation: memory or BullMQ. */
export interface QueueBackend {
  /** Which adapter this is, for logs and health output. */
  readonly kind: 'memory' | 'bullmq';
  /** Returns the producer handle for `name`, the same one until it is closed. */
  queue<T>(name: string): Queue<T>;
  /** Starts a worker that runs `processor` on jobs of queue `name`. */
  worker<T, R = unknown>(name: string, processor: Processor<T, R>, opts?: WorkerOptions): Worker;
  /** Closes every worker (waiting for running processors) then every queue; idempotent. */
  close(): Promise<void>;
}

/** Options shared by the adapters' factories. */
export interface BackendOptions {
  /** Jobs kept in completed and in failed history, each; default {@link DEFAULT_KEEP_FINISHED}. */
  keepFinished?: number;
  /** Receives errors nobody awaits (listener throws, connection drops, scheduler ticks); default logs to stderr. */
  onError?: (err: Error) => void;
}

/** Job options with defaults applied and checked; what adapters work from. */
export interface ResolvedJobOptions {
  /** See {@link JobOptions.jobId}. */
  jobId: string | undefined;
  /** See {@link JobOptions.attempts}. */
  attempts: number;
  /** See {@link JobOptions.backoffMs}. */
  backoffMs: number;
  /** See {@link JobOptions.delayMs}. */
  delayMs: number;
}

/** Applies defaults and rejects values both adapters could not honour alike; for adapters, not callers. */
export function resolveJobOptions(opts: JobOptions = {}): ResolvedJobOptions {
  const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
  const backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  const delayMs = opts.delayMs ?? 0;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be an integer >= 1, got ${attempts}`);
  if (!Number.isFinite(backoffMs) || backoffMs < 0) throw new RangeError(`backoffMs must be >= 0, got ${backoffMs}`);
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delayMs must be >= 0, got ${delayMs}`);
  if (opts.jobId !== undefined) assertValidJobId(opts.jobId);
  return { jobId: opts.jobId, attempts, backoffMs, delayMs };
}

/**
 * Rejects ids BullMQ refuses (integer strings clash with its counter ids, ':' with its key layout),
 * so the memory adapter refuses the same ones and code tested on it works on Redis.
 */
export function assertValidJobId(jobId: string): void {
  if (jobId === '') throw new RangeError('jobId must not be empty');
  if (`${Number.parseInt(jobId, 10)}` === jobId) throw new RangeError(`jobId must not be an integer string, got "${jobId}"`);
  if (jobId.includes(':')) throw new RangeError(`jobId must not contain ':', got "${jobId}"`);
}

/** Checks a scheduler interval; for adapters. */
export function assertValidEvery(everyMs: number): void {
  if (!Number.isFinite(everyMs) || everyMs <= 0) throw new RangeError(`everyMs must be > 0, got ${everyMs}`);
}

/** Checks and defaults a worker's concurrency; for adapters. */
export function resolveConcurrency(opts: WorkerOptions = {}): number {
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
  return concurrency;
}

/** Delay before retry number `retry` (1-based): `backoffMs * 2^(retry-1)`, the formula BullMQ's exponential backoff uses. */
export function backoffDelay(backoffMs: number, retry: number): number {
  return backoffMs * 2 ** (retry - 1);
}

/** Default {@link BackendOptions.onError}: errors nobody awaits still reach stderr. */
export function defaultOnError(err: Error): void {
  console.error(`[queue] ${err.stack ?? err.message}`);
}
