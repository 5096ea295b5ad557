/**
 * Public entry of the queue module: the port, both adapters, and the factory services call.
 * Re-exports are named one by one because the lint rule forbids `export *`.
 */
import { createBullmqQueueBackend } from './bullmq.ts';
import { createMemoryQueueBackend } from './memory.ts';
import type { BackendOptions, QueueBackend } from './port.ts';

export type {
  BackendOptions,
  BulkJob,
  CompletedEvent,
  FailedEvent,
  Job,
  JobOptions,
  JobProgress,
  Processor,
  Queue,
  QueueBackend,
  QueueCounts,
  Worker,
  WorkerEvents,
  WorkerOptions,
} from './port.ts';
export { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS, DEFAULT_KEEP_FINISHED, QueueFullError, UnrecoverableJobError } from './port.ts';
export type { MemoryBackendOptions } from './memory.ts';
export { DEFAULT_MAX_JOBS, createMemoryQueueBackend } from './memory.ts';
export type { BullmqBackendOptions } from './bullmq.ts';
export { createBullmqQueueBackend } from './bullmq.ts';

/** Options of {@link createQueueBackend}. */
export interface QueueBackendOptions extends BackendOptions {
  /** Redis URL; when set (and not empty) jobs go to BullMQ on it, otherwise they stay in this process. */
  redisUrl?: string;
  /** BullMQ key prefix; ignored by the memory backend. */
  prefix?: string;
  /** Bound on live jobs per queue for the memory backend; Redis is bounded by its own memory. */
  maxJobs?: number;
}

/** Picks the backend from configuration: BullMQ when `redisUrl` is set, memory otherwise. */
export function createQueueBackend(opts: QueueBackendOptions = {}): QueueBackend {
  const { redisUrl, prefix, maxJobs, ...common } = opts;
  // An empty REDIS_URL from an env file means "not configured", not "connect to localhost".
  if (redisUrl !== undefined && redisUrl !== '') {
    return createBullmqQueueBackend({ ...common, url: redisUrl, ...(prefix === undefined ? {} : { prefix }) });
  }
  return createMemoryQueueBackend({ ...common, ...(maxJobs === undefined ? {} : { maxJobs }) });
}
