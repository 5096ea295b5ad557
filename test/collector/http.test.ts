/**
 * HTTP/1.x calls seen from both ends: a Node keep-alive server in namespace A and a Node client in B making
 * several requests on one connection; curl against Python's http.server on loopback, with a query string.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertCleanStop,
  Cleanup, createCgroup, inCgroup, PEERS, pythonPath, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';
import { createNetPair, type NetPair } from '../helpers/netns.ts';

const DELAY_MS = 50;
const cleanup = new Cleanup();
after(() => cleanup.run());

interface ClientResult {
  method: string;
  path: string;
  status: number;
  localPort: number;
  ms: number;
}

describe('collector: HTTP requests', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let net: NetPair;
  let collector: RunningCollector;
  const node = process.execPath;
  const http = (e: Ev) => e['event.name'] === 'aiops.http.request' && inCgroup(cg)(e);

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-http`);
    net = await createNetPair(cleanup);
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path] });
  });

  it('reports each call on a keep-alive connection from both ends', async () => {
    const server = startProc(cleanup, cg.wrap(net.exec(net.a, [node, PEERS, 'http-server', net.addrA, String(DELAY_MS)])));
    const { port } = await server.json<{ port: number }>();
    const client = startProc(cleanup, cg.wrap(net.exec(net.b, [node, PEERS, 'http-client', net.addrA, String(port)])));
    const { results } = await client.json<{ results: ClientResult[] }>();
    assert.deepEqual(results.map((r) => `${r.method} ${r.path} ${r.status}`), ['GET /ok 200', 'POST /items 201', 'GET /fail 503']);
    const ports = new Set(results.map((r) => r.localPort));
    assert.equal(ports.size, 1, 'one connection for all three requests');
    const [clientPort] = ports;

    const serverSide = await sink.waitForCount('server-side HTTP events', 3, (e) => http(e) && e['process.pid'] === server.pid);
    const clientSide = await sink.waitForCount('client-side HTTP events', 3, (e) => http(e) && e['process.pid'] === client.pid);
    assert.equal(serverSide.length, 3, 'exactly three on the server');
    assert.equal(clientSide.length, 3, 'exactly three on the client');

    for (const [i, want] of results.entries()) {
      const s = serverSide[i]!;
      const c = clientSide[i]!;
      for (const [side, e] of [['server', s], ['client', c]] as const) {
        const what = `${side} ${want.method} ${want.path}`;
        assert.equal(e['aiops.http.side'], side, what);
        assert.equal(e['http.request.method'], want.method, what);
        assert.equal(e['url.path'], want.path, what);
        assert.equal(e['url.query'], undefined, what);
        assert.equal(e['http.response.status_code'], want.status, what);
        assert.equal(e['network.protocol.version'], '1.1', what);
        assert.equal(e['server.address'], net.addrA, what);
        assert.equal(e['server.port'], port, what);
        assert.equal(e['client.address'], net.addrB, what);
        assert.equal(e['client.port'], clientPort, what);
        assert.equal(e['process.executable.name'], 'node', what);
        assert.equal(e['aiops.http.partial'], undefined, what);
        assert.equal(e['error.type'], want.status === 503 ? '503' : undefined, what);
        const ms = Number(e['aiops.http.duration_ns']) / 1e6;
        assert.ok(ms >= DELAY_MS - 5 && ms < 5000, `${what}: duration ${ms} ms (the handler waits ${DELAY_MS} ms)`);
      }
      assert.equal(s['network.local.address'], net.addrA);
      assert.equal(s['network.local.port'], port);
      assert.equal(c['network.local.address'], net.addrB);
      assert.equal(c['network.local.port'], clientPort);
      const sMs = Number(s['aiops.http.duration_ns']) / 1e6;
      const cMs = Number(c['aiops.http.duration_ns']) / 1e6;
      assert.ok(cMs >= sMs, `${want.method} ${want.path}: the client waited ${cMs} ms, at least the server's ${sMs} ms`);
      assert.ok(cMs <= want.ms + 1, `${want.method} ${want.path}: the client measured ${want.ms} ms itself; the collector ${cMs} ms`);
    }
    const post = serverSide[1]!;
    assert.equal(post['http.request.body.size'], Buffer.byteLength(JSON.stringify({ item: 'x'.repeat(100) })));
    server.endInput();
    await server.done();
  });

  it('reports curl against python http.server, with the query redacted', async () => {
    const python = await pythonPath();
    const dir = mkdtempSync(join(tmpdir(), 'rootline-http-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'hello.txt'), 'hello\n');
    const server = startProc(cleanup, cg.wrap([python, '-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir]));
    const until = Date.now() + 20_000;
    let m: RegExpMatchArray | null;
    while (!(m = server.stdout().match(/port (\d+)/))) {
      assert.ok(Date.now() < until && server.child.exitCode === null, `http.server did not start: ${server.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const port = Number(m[1]);
    const curl = startProc(cleanup, cg.wrap(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{local_port}', `http://127.0.0.1:${port}/hello.txt?a=1&b=secret`]));
    assert.deepEqual(await curl.done(), { code: 0, signal: null }, curl.stderr());
    const [status, localPort] = curl.stdout().split(' ').map(Number);
    assert.equal(status, 200);

    for (const [side, pid, exe] of [['server', server.pid, 'python'], ['client', curl.pid, 'curl']] as const) {
      const e = await sink.waitFor(`the ${side} side of the curl request`, (x) => http(x) && x['process.pid'] === pid);
      assert.equal(e['aiops.http.side'], side);
      assert.ok(String(e['process.executable.name']).startsWith(exe), `${side}: ${e['process.executable.name']}`);
      assert.equal(e['http.request.method'], 'GET');
      assert.equal(e['url.path'], '/hello.txt');
      assert.equal(e['url.query'], 'a=REDACTED&b=REDACTED', 'query values are redacted by default');
      assert.equal(e['network.protocol.version'], '1.1');
      assert.equal(e['http.response.status_code'], 200);
      assert.equal(e['server.address'], '127.0.0.1');
      assert.equal(e['server.port'], port);
      assert.equal(e['client.port'], localPort);
      const ms = Number(e['aiops.http.duration_ns']) / 1e6;
      assert.ok(ms > 0 && ms < 5000, `${side}: duration ${ms} ms`);
    }
    server.child.kill('SIGTERM');
    await server.done();
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
