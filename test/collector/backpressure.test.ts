/**
 * Ingest slow or gone: the collector retries what ingest turned away (503 + Retry-After) and loses nothing;
 * with ingest unreachable, its buffer stays within --buffer-events and every event it could not keep or send
 * is counted (buffer_full, send_failed), never silently gone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Cleanup, createCgroup, inCgroup, rootSkipReason, startCollector, startProc, type Ev, type TestCgroup,
} from '../helpers/collector.ts';
import { freePort } from '../../services/shared/net.ts';

const RUNS = 20;
const RECORDS = 1 + 2 * RUNS + 1; // exec of the loop shell, exec + exit of each /bin/true, exit of the shell
const TOKEN = 'backpressure-token-0123456789';
/** Exact event counts: no per-process CPU samples (from /proc, not records) in these runs. */
const NO_SAMPLES = ['--cpu-sample-ms', '0', '--conn-report-ms', '0']; // exact event counts: no periodic events
const cleanup = new Cleanup();
after(() => cleanup.run());

const body = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });

/** Runs RUNS × /bin/true inside the cgroup, so exactly RECORDS records are made there. */
async function workload(cg: TestCgroup): Promise<void> {
  const loop = `i=0; while [ $i -lt ${RUNS} ]; do /bin/true; i=$((i+1)); done`;
  const p = startProc(cleanup, cg.wrap(['/bin/sh', '-c', loop]), { stdio: 'ignore' });
  assert.deepEqual(await p.done(30_000), { code: 0, signal: null });
}

describe('collector: ingest overloaded or down', { skip: rootSkipReason() }, () => {
  let cg: TestCgroup;
  before(() => {
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-backpressure`);
  });

  it('retries batches turned away with 503 and Retry-After, and loses none', async () => {
    const events: Ev[] = [];
    let refused = 0;
    const server = createServer((req, res) => {
      void body(req).then((text) => {
        if (refused < 2) {
          refused++;
          res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"error":"overloaded"}');
          return;
        }
        const batch = JSON.parse(text) as { events: Ev[] };
        events.push(...batch.events);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: batch.events.length, gaps: 0 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const collector = await startCollector(cleanup, { ingest: url, token: TOKEN, cgroups: [cg.path], args: NO_SAMPLES });

    await workload(cg);
    const until = Date.now() + 20_000;
    while (events.filter(inCgroup(cg)).length < RECORDS && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await collector.stop(), 0, collector.stderr());
    const stats = collector.stats();
    assert.equal(refused, 2);
    assert.ok(stats.post_errors >= 2, JSON.stringify(stats));
    assert.equal(events.filter(inCgroup(cg)).length, RECORDS, 'every event arrived once ingest took them');
    assert.equal(stats.sent, stats.events_total);
    assert.equal(stats.ring_full + stats.buffer_full + stats.send_failed, 0, JSON.stringify(stats));
    const seqs = events.map((e) => Number(e['aiops.seq']));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'in order, no duplicates');
  });

  it('keeps its buffer within --buffer-events while ingest is unreachable, and counts what it lost', async () => {
    const closedPort = await freePort(); // nothing listens there
    const collector = await startCollector(cleanup, {
      ingest: `http://127.0.0.1:${closedPort}`, token: TOKEN, cgroups: [cg.path],
      args: ['--buffer-events', '10', '--batch-events', '5', ...NO_SAMPLES],
    });
    await workload(cg);
    await new Promise((r) => setTimeout(r, 500)); // the last flush tick
    const during = collector.stats();
    assert.ok(during.queued <= 10, `the buffer stays bounded: ${JSON.stringify(during)}`);
    assert.equal(await collector.stop(), 0, collector.stderr());
    const stats = collector.stats();
    assert.equal(stats.events_total, RECORDS, JSON.stringify(stats));
    assert.equal(stats.sent, 0);
    assert.ok(stats.buffer_full >= RECORDS - 10, `the oldest batches went first: ${JSON.stringify(stats)}`);
    assert.equal(stats.buffer_full + stats.send_failed, RECORDS, `every event is sent or counted: ${JSON.stringify(stats)}`);
    assert.match(collector.stderr(), /not sent before exit/);
  });
});
