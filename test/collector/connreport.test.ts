/**
 * Long-lived TCP connections are reported while they are open (every --conn-report-ms), not only at close:
 * a connection held open ~3.8 s with a 1 s period is reported at least twice as `established`, without a result
 * or byte counts, with a growing duration, and then closes with exactly one close event; a connection that lives
 * less than the period is only reported at close.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  assertCleanStop, Cleanup, createCgroup, inCgroup, PEERS, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const HOLD_MS = 3_800;

describe('collector: periodic reports of long-lived TCP connections', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let collector: RunningCollector;
  const node = process.execPath;
  const conn = (e: Ev) => e['event.name'] === 'aiops.tcp.connection' && inCgroup(cg)(e);
  const periodic = (e: Ev) => conn(e) && e['network.connection.state'] === 'established';
  const closed = (e: Ev) => conn(e) && e['network.connection.state'] === undefined;

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-connreport`);
    collector = await startCollector(cleanup, {
      ingest: sink.url, token: sink.token, cgroups: [cg.path], args: ['--conn-report-ms', '1000', '--cpu-sample-ms', '0'],
    });
  });

  it('reports a connection held open while it is open, then once at close; a short one only at close', async () => {
    const server = startProc(cleanup, cg.wrap([node, PEERS, 'tcp-server', '127.0.0.1', '1', '1']));
    const { port } = await server.json<{ port: number }>();
    const long = startProc(cleanup, cg.wrap([node, PEERS, 'hold', '127.0.0.1', String(port), String(HOLD_MS)]));
    const { localPort } = await long.json<{ localPort: number }>();
    // A short connection while the long one is open: the 1 s passes run during its life, and skip it.
    const short = startProc(cleanup, cg.wrap([node, PEERS, 'hold', '127.0.0.1', String(port), '200']));
    const { localPort: shortPort } = await short.json<{ localPort: number }>();
    assert.equal((await short.done()).code, 0, short.stderr());
    assert.equal((await long.done()).code, 0, long.stderr());

    const isLong = (e: Ev) => e['process.pid'] === long.pid && e['network.peer.port'] === port && e['network.local.port'] === localPort;
    const closeEv = await sink.waitFor('the long connection\'s close event', (e) => closed(e) && isLong(e));
    await sleep(2_500); // two more report passes: nothing more may come for a closed connection

    const reports = sink.events.filter((e) => periodic(e) && isLong(e));
    assert.ok(reports.length >= 2, `at least 2 periodic reports in ${HOLD_MS} ms with a 1 s period: ${JSON.stringify(reports)}`);
    assert.ok(reports.length <= 4, `at most one report per pass: ${JSON.stringify(reports)}`);
    let lastDuration = 0;
    for (const r of reports) {
      assert.equal(r['aiops.tcp.result'], undefined, 'no result on a periodic report');
      assert.equal(r['aiops.tcp.bytes_sent'], undefined, 'no byte counts on a periodic report');
      assert.equal(r['aiops.tcp.bytes_received'], undefined);
      assert.equal(r['error.type'], undefined);
      assert.equal(r['aiops.tcp.direction'], 'outbound');
      assert.equal(r['process.executable.name'], 'node');
      assert.equal(r['network.transport'], 'tcp');
      assert.equal(r['network.peer.address'], '127.0.0.1');
      assert.equal(r['server.port'], port);
      assert.equal(r['client.port'], localPort);
      assert.equal(r['aiops.cgroup.id'], cg.id);
      assert.ok(Number(r['aiops.tcp.connect_duration_ns']) > 0, 'connect duration known');
      const d = Number(r['aiops.tcp.duration_ns']);
      assert.ok(d >= 1e9, `reported only after being open for the period: ${d} ns`);
      assert.ok(d > lastDuration + 0.9e9, `duration grows by about a period between reports: ${JSON.stringify(reports)}`);
      assert.ok(d <= Number(closeEv['aiops.tcp.duration_ns']), 'reported before it closed');
      lastDuration = d;
    }

    const closes = sink.events.filter((e) => closed(e) && isLong(e));
    assert.equal(closes.length, 1, `exactly one close event: ${JSON.stringify(closes)}`);
    assert.equal(closeEv['aiops.tcp.result'], 'ok');
    assert.equal(closeEv['aiops.tcp.bytes_sent'], 0, 'the close event keeps its totals');
    const seconds = Number(closeEv['aiops.tcp.duration_ns']) / 1e9;
    assert.ok(seconds >= HOLD_MS / 1000 && seconds < HOLD_MS / 1000 + 5, `closed after ${seconds} s`);
    assert.ok(reports.every((r) => Number(r['aiops.seq']) < Number(closeEv['aiops.seq'])), 'reports come before the close event');

    // The server's end of it is reported too (inbound, owned at accept).
    const inbound = sink.events.filter((e) => periodic(e) && e['process.pid'] === server.pid && e['network.peer.port'] === localPort);
    assert.ok(inbound.length >= 2, `the inbound end is reported too: ${JSON.stringify(inbound)}`);
    for (const r of inbound) {
      assert.equal(r['aiops.tcp.direction'], 'inbound');
      assert.equal(r['aiops.tcp.result'], undefined);
      assert.equal(r['server.port'], port);
      assert.equal(r['aiops.tcp.connect_duration_ns'], undefined, 'the inbound handshake is not timed');
    }

    // The short connection: its close event, and no periodic report.
    const isShort = (e: Ev) => e['process.pid'] === short.pid && e['network.peer.port'] === port && e['network.local.port'] === shortPort;
    const shortClose = await sink.waitFor('the short connection\'s close event', (e) => closed(e) && isShort(e));
    assert.equal(shortClose['aiops.tcp.result'], 'ok');
    assert.deepEqual(sink.events.filter((e) => periodic(e) && isShort(e)), [], 'a connection shorter than the period is not reported periodically');
    assert.deepEqual(sink.events.filter((e) => e['network.connection.state'] !== undefined && !inCgroup(cg)(e)), [], 'only the watched cgroup');

    server.endInput();
    await server.done();
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
