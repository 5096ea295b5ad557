/**
 * The queue contract on the BullMQ adapter against a real redis-server.
 * Skips visibly (never passes silently) when redis-server or the ioredis driver is missing,
 * except in CI (CI=true), where a missing prerequisite fails the run.
 */
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import type { QueueBackend } from '../../services/shared/queue/port.ts';
import { createBullmqQueueBackend } from '../../services/shared/queue/bullmq.ts';
import { createQueueBackend } from '../../services/shared/queue/index.ts';
import { REDIS_MISSING, startRedis } from '../helpers/redis.ts';
import { queueContract } from './queue.contract.ts';

const DRIVER_MISSING = "ioredis not installed: bullmq 6 needs it as a peer dependency (npm install ioredis)";

/** bullmq 6 resolves ioredis from its own location, so look for it from there. */
function driverInstalled(): boolean {
  try {
    const fromHere = createRequire(import.meta.url);
    createRequire(fromHere.resolve('bullmq')).resolve('ioredis');
    return true;
  } catch {
    return false;
  }
}

async function prerequisites(): Promise<{ url: string } | { skip: string }> {
  if (!driverInstalled()) {
    if (process.env.CI === 'true') throw new Error(`${DRIVER_MISSING} (CI=true, so the BullMQ tests may not skip)`);
    return { skip: DRIVER_MISSING };
  }
  const redis = await startRedis();
  if (redis === null) return { skip: REDIS_MISSING };
  after(() => redis.stop());
  return { url: redis.url };
}

const env = await prerequisites();
const skip = 'skip' in env ? env.skip : undefined;
const url = 'url' in env ? env.url : '';
// One prefix per run keeps a shared REDIS_URL tidy and runs from colliding.
const prefix = `rootline-test-${process.pid}`;

/** Removes a test's queues from Redis, which matters when REDIS_URL points at a shared server. */
async function obliterate(names: Iterable<string>): Promise<void> {
  for (const name of names) {
    const queue = new Queue(name, { connection: { url }, prefix });
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  }
}

queueContract(
  'bullmq',
  async () => {
    const inner = createBullmqQueueBackend({ url, prefix });
    const names = new Set<string>();
    const backend: QueueBackend = {
      kind: inner.kind,
      queue: (name) => {
        names.add(name);
        return inner.queue(name);
      },
      worker: (name, processor, opts) => inner.worker(name, processor, opts),
      close: () => inner.close(),
    };
    return {
      backend,
      cleanup: async () => {
        await inner.close();
        await obliterate(names);
      },
    };
  },
  { skip },
);

void describe('bullmq queue backend', () => {
  void it('createQueueBackend picks bullmq when a Redis URL is set', { skip: skip ?? false }, async () => {
    const backend = createQueueBackend({ redisUrl: url, prefix });
    try {
      assert.equal(backend.kind, 'bullmq');
      const queue = backend.queue<null>(`factory-${process.pid}`);
      assert.deepEqual(await queue.counts(), { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 });
    } finally {
      await backend.close();
      await obliterate([`factory-${process.pid}`]);
    }
  });
});
