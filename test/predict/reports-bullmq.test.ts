/**
 * Scheduled prediction reports on BullMQ with a real redis-server (REDIS_URL set, so the service uses the
 * BullMQ adapter and its job scheduler). Skips visibly when redis-server is missing, except in CI (CI=true),
 * where that fails the run, like the queue contract.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { REPORT_QUEUE, REPORT_SCHEDULER } from '../../services/predict/index.ts';
import { REDIS_MISSING, startRedis } from '../helpers/redis.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const PERIOD_MS = 1000;
interface Summary { id: string; period: { from: number; to: number }; createdAt: number; trigger: string }

const redis = await startRedis();
let svc: TestService | undefined;
if (redis) {
  // Close the service (and its BullMQ connections) before the server goes away.
  const cleanups: (() => Promise<void> | void)[] = [];
  svc = await startTestService({ after: (fn) => cleanups.push(fn) }, { ROOTLINE_ROLES: 'ingest,predict', REDIS_URL: redis.url, ROOTLINE_REPORT_PERIOD_MS: String(PERIOD_MS) });
  after(async () => {
    for (const fn of cleanups) await fn();
    if (process.env.REDIS_URL) {
      const q = new Queue(REPORT_QUEUE, { connection: { url: redis.url } });
      await q.obliterate({ force: true }).finally(() => q.close());
    }
    await redis.stop();
  });
}

describe('scheduled prediction reports (BullMQ, real Redis)', { skip: redis ? undefined : REDIS_MISSING }, () => {
  it('runs as a BullMQ job scheduler and stores a report every period', async () => {
    const s = svc!;
    assert.equal(s.service.predict?.reports !== undefined, true);
    const q = new Queue(REPORT_QUEUE, { connection: { url: redis!.url } });
    try {
      const schedulers = await q.getJobSchedulers();
      const mine = schedulers.find((j) => j.key === REPORT_SCHEDULER || j.id === REPORT_SCHEDULER);
      assert.ok(mine, JSON.stringify(schedulers));
      assert.equal(Number(mine.every), PERIOD_MS);
    } finally {
      await q.close();
    }

    let list: Summary[];
    for (let i = 0; ; i++) {
      const r = await fetch(`${s.url}/api/v1/reports?limit=100`, { headers: s.headers });
      list = ((await r.json()) as { reports: Summary[] }).reports.filter((x) => x.trigger === 'schedule');
      if (list.length >= 4) break;
      assert.ok(i < 100, `only ${list.length} scheduled reports after ${i * 0.2} s`);
      await sleep(200);
    }
    for (const r of list) {
      assert.equal(r.period.to - r.period.from, PERIOD_MS);
      assert.ok(r.createdAt >= r.period.to);
    }
    // Four reports made about one period apart each: the span from first to last is ~3 periods.
    const sorted = [...list].sort((a, b) => a.createdAt - b.createdAt).slice(-4);
    const span = sorted[3]!.createdAt - sorted[0]!.createdAt;
    assert.ok(span > 1.5 * PERIOD_MS && span < 6 * PERIOD_MS, `4 reports over ${span} ms, period ${PERIOD_MS}`);
    const one = await fetch(`${s.url}/api/v1/reports/${list[0]!.id}`, { headers: s.headers });
    assert.equal(one.status, 200);
    const body = (await one.json()) as { forecasts: unknown[]; anomalousSequences: { available: boolean } };
    assert.ok(Array.isArray(body.forecasts));
    assert.equal(body.anomalousSequences.available, false);
  });
});
