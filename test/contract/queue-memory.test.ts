/**
 * The queue contract on the in-process adapter, plus what only that adapter promises: its bounds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryQueueBackend } from '../../services/shared/queue/memory.ts';
import { QueueFullError } from '../../services/shared/queue/port.ts';
import { createQueueBackend } from '../../services/shared/queue/index.ts';
import { queueContract } from './queue.contract.ts';

queueContract('memory', async () => {
  const backend = createMemoryQueueBackend();
  return { backend, cleanup: () => backend.close() };
});

void describe('memory queue bounds', () => {
  void it('rejects add with QueueFullError at maxJobs, and accepts again once jobs finish', async () => {
    const backend = createMemoryQueueBackend({ maxJobs: 3 });
    try {
      const queue = backend.queue<number>('bounded');
      await queue.addBulk([1, 2].map((n) => ({ name: 'n', data: n })));
      await queue.add('n', 3, { jobId: 'dup' });
      const err = await queue.add('n', 4).then(
        () => assert.fail('add beyond maxJobs resolved'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof QueueFullError);
      assert.equal(err.limit, 3);
      assert.match(err.message, /queue "bounded" is full/);
      // A known id is not a new job, so it is accepted even when full.
      assert.equal(await queue.add('n', 5, { jobId: 'dup' }), 'dup');
      assert.equal((await queue.counts()).waiting, 3);

      const done: unknown[] = [];
      const worker = backend.worker<number>('bounded', async (job) => job.data);
      worker.on('completed', (e) => done.push(e.result));
      while (done.length < 3) await sleep(5);
      assert.equal(typeof (await queue.add('n', 4)), 'string');
    } finally {
      await backend.close();
    }
  });

  void it('addBulk is all or nothing when it would pass the bound', async () => {
    const backend = createMemoryQueueBackend({ maxJobs: 3 });
    try {
      const queue = backend.queue<number>('bulk-bounded');
      await queue.add('n', 1);
      await assert.rejects(queue.addBulk([2, 3, 4].map((n) => ({ name: 'n', data: n }))), QueueFullError);
      assert.equal((await queue.counts()).waiting, 1);
      // Ids it already knows do not count against the bound.
      await queue.add('n', 2, { jobId: 'known' });
      assert.equal((await queue.addBulk([{ name: 'n', data: 3, opts: { jobId: 'known' } }, { name: 'n', data: 4 }])).length, 2);
      assert.equal((await queue.counts()).waiting, 3);
    } finally {
      await backend.close();
    }
  });

  void it('keeps at most keepFinished completed and failed jobs', async () => {
    const backend = createMemoryQueueBackend({ keepFinished: 2 });
    try {
      const queue = backend.queue<number>('history');
      const worker = backend.worker<number>('history', async (job) => {
        if (job.data % 2 === 1) throw new Error('odd');
      });
      let finished = 0;
      worker.on('completed', () => (finished += 1));
      worker.on('failed', () => (finished += 1));
      await queue.addBulk(Array.from({ length: 10 }, (_, n) => ({ name: 'n', data: n, opts: { attempts: 1 } })));
      while (finished < 10) await sleep(5);
      assert.deepEqual(await queue.counts(), { waiting: 0, active: 0, delayed: 0, completed: 2, failed: 2 });
    } finally {
      await backend.close();
    }
  });

  void it('rejects a non-JSON payload without enqueuing it', async () => {
    const backend = createMemoryQueueBackend();
    try {
      const queue = backend.queue<unknown>('json');
      await assert.rejects(queue.add('big', { n: 1n }), TypeError);
      assert.equal((await queue.counts()).waiting, 0);
    } finally {
      await backend.close();
    }
  });

  void it('createQueueBackend picks memory without a Redis URL', async () => {
    const backend = createQueueBackend({ redisUrl: '' });
    assert.equal(backend.kind, 'memory');
    await backend.close();
    const fallback = createQueueBackend();
    assert.equal(fallback.kind, 'memory');
    await fallback.close();
  });
});
