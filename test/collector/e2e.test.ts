/**
 * End to end with the real service: the collector posts to ingest, ingest stores every event, and the
 * topology worker turns the connections it saw into a process → process CONNECTS edge.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Cleanup, createCgroup, pythonPath, rootSkipReason, startCollector, startProc,
  type RunningCollector, type TestCgroup,
} from '../helpers/collector.ts';
import { startTestService } from '../helpers/service.ts';

const skip = rootSkipReason();
// Started at the top level: the helper ties the service's lifetime to this file's `after`.
const svc = skip ? undefined : await startTestService({ after }, { ROOTLINE_ROLES: 'ingest,topology', ROOTLINE_RETENTION_DAYS: '0' });
const cleanup = new Cleanup();
after(() => cleanup.run());

const HOST = `rootline-e2e-${process.pid}`;

describe('collector → ingest → storage and topology', { skip }, () => {
  let cg: TestCgroup;
  let collector: RunningCollector;
  const t0 = Date.now();

  before(async () => {
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-e2e`);
    collector = await startCollector(cleanup, { ingest: svc!.url, token: svc!.token, cgroups: [cg.path], args: ['--host-name', HOST] });
  });

  it('stores every event it sent and shows the connections as a CONNECTS edge', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootline-e2e-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'index.html'), '<p>hello</p>\n');
    const server = startProc(cleanup, cg.wrap([await pythonPath(), '-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir]));
    let m: RegExpMatchArray | null;
    for (const until = Date.now() + 20_000; !(m = server.stdout().match(/port (\d+)/)); await sleep(50)) {
      assert.ok(Date.now() < until && server.child.exitCode === null, `http.server did not start: ${server.stderr()}`);
    }
    const port = Number(m[1]);
    const curls = [];
    for (const path of ['/', '/index.html?x=1']) {
      const c = startProc(cleanup, cg.wrap(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}${path}`]));
      assert.deepEqual(await c.done(), { code: 0, signal: null }, c.stderr());
      assert.equal(c.stdout(), '200');
      curls.push(c.pid);
    }
    server.child.kill('SIGTERM');
    await server.done();

    assert.equal(await collector.stop(), 0, collector.stderr());
    const stats = collector.stats();
    assert.ok(stats.events_total >= 2 * 2 + 2 * 2, `at least two connections and two HTTP calls per side: ${JSON.stringify(stats)}`);
    assert.equal(stats.sent, stats.events_total, `ingest acknowledged everything: ${JSON.stringify(stats)}`);
    assert.equal(stats.post_errors + stats.send_failed + stats.ring_full + stats.buffer_full, 0, JSON.stringify(stats));

    await svc!.flush();
    const stored = await svc!.stats();
    assert.equal(stored.rows.collector_events, stats.sent, 'every acknowledged event is stored');

    // The topology worker extracts after the flush: curl (client) → python (server) on this host.
    const edges = curls.map((pid) => `CONNECTS:process:${HOST}/${pid}->process:${HOST}/${server.pid}`);
    const url = `${svc!.url}/api/v1/topology?from=${t0 - 60_000}&to=${Date.now() + 60_000}`;
    let ids: string[] = [];
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(500)) {
      const res = await fetch(url, { headers: svc!.headers });
      assert.equal(res.status, 200);
      ids = ((await res.json()) as { edges: { id: string }[] }).edges.map((e) => e.id);
      if (edges.every((e) => ids.includes(e))) break;
    }
    for (const e of edges) assert.ok(ids.includes(e), `${e} in ${JSON.stringify(ids)}`);
  });
});
