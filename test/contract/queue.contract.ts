/**
 * The queue contract: one suite every QueueBackend adapter must pass.
 * Timings are small so it runs in seconds, but every wait polls for an outcome with a generous
 * deadline instead of sleeping a fixed time, so a slow shared machine only makes it slower.
 * The only fixed sleeps are where the claim is that something does NOT happen.
 */
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableJobError } from '../../services/shared/queue/port.ts';
import type {
  CompletedEvent,
  FailedEvent,
  Queue,
  QueueBackend,
  QueueCounts,
  Worker,
} from '../../services/shared/queue/port.ts';

/** A backend to test and how to tear it down (close it, drop its data). */
export interface BackendUnderTest {
  backend: QueueBackend;
  cleanup: () => Promise<void>;
}

/** Options of {@link queueContract}. */
export interface ContractOptions {
  /** When set, the suite is reported as skipped with this reason. */
  skip?: string | undefined;
}

const WAIT_MS = 15_000;

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Polls until the counts match, then asserts, so a mismatch still shows a readable diff. */
async function waitForCounts(queue: Queue<unknown>, expected: QueueCounts): Promise<void> {
  let last: QueueCounts | undefined;
  await waitFor(`counts ${JSON.stringify(expected)}`, async () => {
    last = await queue.counts();
    return JSON.stringify(last) === JSON.stringify({ ...last, ...expected });
  }).catch(() => undefined);
  assert.deepEqual(last, expected);
}

function events(worker: Worker): { completed: CompletedEvent[]; failed: FailedEvent[] } {
  const seen = { completed: [] as CompletedEvent[], failed: [] as FailedEvent[] };
  worker.on('completed', (e) => seen.completed.push(e));
  worker.on('failed', (e) => seen.failed.push(e));
  return seen;
}

/** A latch a processor can wait on, so the test decides when a job finishes. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

/**
 * Defines the contract suite for one adapter. `makeBackend` is called once per test, so every
 * test gets a fresh backend and a fresh queue name.
 */
export function queueContract(name: string, makeBackend: () => Promise<BackendUnderTest>, opts: ContractOptions = {}): void {
  const withBackend = async (fn: (backend: QueueBackend, queueName: string) => Promise<void>): Promise<void> => {
    const { backend, cleanup } = await makeBackend();
    try {
      await fn(backend, `test-${randomUUID()}`);
    } finally {
      await cleanup();
    }
  };

  // Skip each test rather than the suite, so the report counts every skipped test.
  // describe()/it() return promises node:test tracks itself; `void` marks that as deliberate.
  const TEST = { timeout: 60_000, skip: opts.skip ?? false };

  void describe(`queue contract: ${name}`, () => {
    void it('adds a job, runs it and reports its result; data is a JSON copy', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<{ n: number; at: Date }>(q);
        const seen: unknown[] = [];
        const worker = backend.worker<{ n: number; at: unknown }, number>(q, async (job) => {
          seen.push({ id: job.id, name: job.name, data: job.data, attemptsMade: job.attemptsMade });
          return job.data.n * 2;
        });
        const ev = events(worker);
        const id = await queue.add('double', { n: 21, at: new Date(0) });
        assert.equal(typeof id, 'string');
        assert.notEqual(id, '');
        await waitFor('completion', () => ev.completed.length === 1);
        assert.deepEqual(ev.completed, [{ jobId: id, name: 'double', attemptsMade: 1, result: 42 }]);
        // Both adapters hand the processor what JSON round-tripping gives: a Date becomes its ISO string.
        assert.deepEqual(seen, [{ id, name: 'double', data: { n: 21, at: '1970-01-01T00:00:00.000Z' }, attemptsMade: 0 }]);
        assert.deepEqual(ev.failed, []);
        assert.equal(queue.name, q);
      }),
    );

    void it('addBulk returns ids in order; concurrency 1 runs jobs in FIFO order', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<{ i: number }>(q);
        const first = await queue.add('job', { i: 0 });
        const bulk = await queue.addBulk([1, 2, 3, 4, 5].map((i) => ({ name: 'job', data: { i } })));
        const last = await queue.add('job', { i: 6 });
        const ids = [first, ...bulk, last];
        assert.equal(new Set(ids).size, 7, 'ids are distinct');
        const order: number[] = [];
        let inFlight = 0;
        let maxInFlight = 0;
        const worker = backend.worker<{ i: number }>(q, async (job) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          order.push(job.data.i);
          await sleep(5);
          inFlight -= 1;
        });
        const ev = events(worker);
        await waitFor('7 completions', () => ev.completed.length === 7);
        assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
        assert.deepEqual(
          ev.completed.map((e) => e.jobId),
          ids,
        );
        assert.equal(maxInFlight, 1);
      }),
    );

    void it('enqueues a jobId once, also from addBulk and after it completed', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<{ v: number }>(q);
        assert.equal(await queue.add('once', { v: 1 }, { jobId: 'dedupe-a' }), 'dedupe-a');
        assert.equal(await queue.add('once', { v: 2 }, { jobId: 'dedupe-a' }), 'dedupe-a');
        const bulk = await queue.addBulk([
          { name: 'once', data: { v: 3 }, opts: { jobId: 'dedupe-a' } },
          { name: 'once', data: { v: 4 }, opts: { jobId: 'dedupe-b' } },
          { name: 'once', data: { v: 5 }, opts: { jobId: 'dedupe-b' } },
        ]);
        assert.deepEqual(bulk, ['dedupe-a', 'dedupe-b', 'dedupe-b']);
        await waitForCounts(queue, { waiting: 2, active: 0, delayed: 0, completed: 0, failed: 0 });

        const runs: Array<{ id: string; v: number }> = [];
        const worker = backend.worker<{ v: number }>(q, async (job) => {
          runs.push({ id: job.id, v: job.data.v });
        });
        const ev = events(worker);
        await waitFor('2 completions', () => ev.completed.length === 2);
        // Still in completed history, so adding it again is a no-op.
        assert.equal(await queue.add('once', { v: 6 }, { jobId: 'dedupe-a' }), 'dedupe-a');
        // FIFO at concurrency 1: once the sentinel ran, a duplicate would have run before it.
        const sentinel = await queue.add('sentinel', { v: 0 });
        await waitFor('sentinel', () => ev.completed.some((e) => e.jobId === sentinel));
        assert.deepEqual(runs, [
          { id: 'dedupe-a', v: 1 },
          { id: 'dedupe-b', v: 4 },
          { id: sentinel, v: 0 },
        ]);
      }),
    );

    void it('retries with exponential backoff and succeeds, counting attempts', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        const attempts: Array<{ attemptsMade: number; at: number }> = [];
        const worker = backend.worker<null, string>(q, async (job) => {
          attempts.push({ attemptsMade: job.attemptsMade, at: Date.now() });
          if (job.attemptsMade < 2) throw new Error('transient');
          return 'third time lucky';
        });
        const ev = events(worker);
        const id = await queue.add('flaky', null, { attempts: 3, backoffMs: 40 });
        await waitFor('completion', () => ev.completed.length === 1);
        assert.deepEqual(ev.completed, [{ jobId: id, name: 'flaky', attemptsMade: 3, result: 'third time lucky' }]);
        assert.deepEqual(
          attempts.map((a) => a.attemptsMade),
          [0, 1, 2],
        );
        assert.deepEqual(ev.failed, [], 'retried attempts are not reported as failed');
        const [a0, a1, a2] = attempts.map((a) => a.at) as [number, number, number];
        // Backoff 40 ms then 80 ms; lower bounds with slack for timer and clock granularity.
        assert.ok(a1 - a0 >= 30, `first retry after ${a1 - a0} ms, expected >= ~40`);
        assert.ok(a2 - a1 >= 60, `second retry after ${a2 - a1} ms, expected >= ~80`);
      }),
    );

    void it('fails a job for good once its attempts are exhausted', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        let calls = 0;
        const worker = backend.worker<null>(q, async () => {
          calls += 1;
          throw new Error('always broken');
        });
        const ev = events(worker);
        const id = await queue.add('doomed', null, { attempts: 2, backoffMs: 20 });
        await waitFor('final failure', () => ev.failed.length === 1);
        assert.deepEqual(ev.failed, [{ jobId: id, name: 'doomed', attemptsMade: 2, error: 'always broken' }]);
        assert.equal(calls, 2);
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 1 });
        assert.deepEqual(ev.completed, []);
      }),
    );

    void it('fails a job after one attempt on UnrecoverableJobError', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        let calls = 0;
        const worker = backend.worker<null>(q, async () => {
          calls += 1;
          throw new UnrecoverableJobError('poison pill');
        });
        const ev = events(worker);
        const id = await queue.add('poison', null, { attempts: 5, backoffMs: 20 });
        await waitFor('failure', () => ev.failed.length === 1);
        assert.deepEqual(ev.failed, [{ jobId: id, name: 'poison', attemptsMade: 1, error: 'poison pill' }]);
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 1 });
        assert.equal(calls, 1);
      }),
    );

    void it('never runs more processors than the concurrency limit', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        let inFlight = 0;
        let maxInFlight = 0;
        const worker = backend.worker<null>(
          q,
          async () => {
            inFlight += 1;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await sleep(30);
            inFlight -= 1;
          },
          { concurrency: 3 },
        );
        const ev = events(worker);
        await queue.addBulk(Array.from({ length: 12 }, () => ({ name: 'work', data: null })));
        await waitFor('12 completions', () => ev.completed.length === 12);
        assert.ok(maxInFlight <= 3, `saw ${maxInFlight} processors at once, limit 3`);
        assert.ok(maxInFlight >= 2, `saw at most ${maxInFlight} processor at once: concurrency was not used`);
      }),
    );

    void it('does not run a delayed job before its delay, and it does not hold up later jobs', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        const started = new Map<string, number>();
        const worker = backend.worker<null>(q, async (job) => {
          started.set(job.name, Date.now());
        });
        const ev = events(worker);
        const addedAt = Date.now();
        await queue.add('later', null, { delayMs: 300 });
        await queue.add('now', null);
        await waitFor('both jobs', () => ev.completed.length === 2);
        assert.deepEqual(
          ev.completed.map((e) => e.name),
          ['now', 'later'],
        );
        const waited = (started.get('later') ?? 0) - addedAt;
        assert.ok(waited >= 290, `delayed job started after ${waited} ms, delay was 300`);
      }),
    );

    void it('close() waits for the running processor, and the job completes', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        const latch = gate();
        let started = false;
        const worker = backend.worker<null, string>(q, async () => {
          started = true;
          await latch.wait;
          return 'finished';
        });
        const ev = events(worker);
        const id = await queue.add('slow', null);
        await waitFor('the job to start', () => started);
        let closed = false;
        const closing = worker.close().then(() => {
          closed = true;
        });
        await sleep(100);
        assert.equal(closed, false, 'close() resolved while a processor was still running');
        latch.open();
        await closing;
        assert.deepEqual(ev.completed, [{ jobId: id, name: 'slow', attemptsMade: 1, result: 'finished' }]);
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 0, completed: 1, failed: 0 });
      }),
    );

    void it('a closing worker takes no new job; a later worker gets it (no job lost)', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        const latch = gate();
        const ranBy: Array<[string, string]> = [];
        const first = backend.worker<null>(q, async (job) => {
          ranBy.push(['first', job.name]);
          await latch.wait;
        });
        await queue.add('a', null);
        await queue.add('b', null);
        await waitFor('job a to start', () => ranBy.length === 1);
        const closing = first.close();
        latch.open();
        await closing;
        await waitForCounts(queue, { waiting: 1, active: 0, delayed: 0, completed: 1, failed: 0 });
        const second = backend.worker<null>(q, async (job) => {
          ranBy.push(['second', job.name]);
        });
        const ev = events(second);
        await waitFor('job b', () => ev.completed.length === 1);
        assert.deepEqual(ranBy, [
          ['first', 'a'],
          ['second', 'b'],
        ]);
      }),
    );

    void it('schedule() repeats a job, upserts by id, and unschedule() stops it', TEST, () =>
      withBackend(async (backend, q) => {
        const everyMs = 150;
        const queue = backend.queue<{ v: number }>(q);
        const runs: Array<{ v: number; at: number }> = [];
        backend.worker<{ v: number }>(q, async (job) => {
          assert.equal(job.name, 'tick');
          runs.push({ v: job.data.v, at: Date.now() });
        });
        await queue.schedule('sched', everyMs, 'tick', { v: 1 });
        // Same id again replaces the schedule: new data, still a single schedule.
        await queue.schedule('sched', everyMs, 'tick', { v: 2 });
        await waitFor('3 runs with the new data', () => runs.filter((r) => r.v === 2).length >= 3);
        const windowStart = Date.now();
        const before = runs.length;
        await sleep(6 * everyMs);
        const elapsed = Date.now() - windowStart;
        const inWindow = runs.length - before;
        // One schedule runs at most once per interval (plus edge slack); a duplicate would double that.
        assert.ok(inWindow <= Math.floor(elapsed / everyMs) + 2, `${inWindow} runs in ${elapsed} ms at every ${everyMs} ms`);

        await queue.unschedule('sched');
        // A run already due when unschedule() landed may still arrive; let it drain.
        await sleep(2 * everyMs);
        const settled = runs.length;
        await sleep(4 * everyMs);
        assert.equal(runs.length, settled, 'runs continued after unschedule()');
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 0, completed: settled, failed: 0 });
      }),
    );

    void it('counts() reflects waiting, active, delayed, completed and failed jobs', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        await queue.add('ok', null);
        await queue.add('bad', null);
        await queue.add('hold', null);
        await queue.add('far', null, { delayMs: 60_000 });
        await waitForCounts(queue, { waiting: 3, active: 0, delayed: 1, completed: 0, failed: 0 });
        const latch = gate();
        const worker = backend.worker<null>(q, async (job) => {
          if (job.name === 'bad') throw new UnrecoverableJobError('bad job');
          if (job.name === 'hold') await latch.wait;
        });
        const ev = events(worker);
        await waitFor('ok and bad to finish', () => ev.completed.length === 1 && ev.failed.length === 1);
        await waitForCounts(queue, { waiting: 0, active: 1, delayed: 1, completed: 1, failed: 1 });
        latch.open();
        await waitFor('hold to finish', () => ev.completed.length === 2);
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 1, completed: 2, failed: 1 });
      }),
    );

    void it('updateProgress() accepts numbers and objects without failing the job', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        const worker = backend.worker<null, string>(q, async (job) => {
          await job.updateProgress(10);
          await job.updateProgress({ stage: 'halfway', pct: 50 });
          await job.updateProgress(100);
          return 'done';
        });
        const ev = events(worker);
        await queue.add('progress', null);
        await waitFor('completion', () => ev.completed.length === 1);
        assert.equal(ev.completed[0]?.result, 'done');
        assert.deepEqual(ev.failed, []);
      }),
    );

    void it('rejects options both adapters could not honour alike, enqueuing nothing', TEST, () =>
      withBackend(async (backend, q) => {
        const queue = backend.queue<null>(q);
        await assert.rejects(queue.add('x', null, { jobId: '42' }), RangeError);
        await assert.rejects(queue.add('x', null, { jobId: 'a:b' }), RangeError);
        await assert.rejects(queue.add('x', null, { attempts: 0 }), RangeError);
        await assert.rejects(queue.add('x', null, { delayMs: -1 }), RangeError);
        await assert.rejects(queue.addBulk([{ name: 'ok', data: null }, { name: 'x', data: null, opts: { jobId: '7' } }]), RangeError);
        await assert.rejects(queue.schedule('s', 0, 'x', null), RangeError);
        assert.throws(() => backend.worker(q, async () => undefined, { concurrency: 0 }), RangeError);
        await waitForCounts(queue, { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 });
      }),
    );
  });
}
