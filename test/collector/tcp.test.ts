/**
 * TCP connections between two real hosts (network namespaces joined by veth): the exact connections with
 * their bytes, from both ends, and connections that fail (refused, timed out).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, createCgroup, inCgroup, PEERS, rootSkipReason, sh, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';
import { createNetPair, SUBNET, type NetPair } from '../helpers/netns.ts';

const N = 10_000; // client → server
const M = 50_000; // server → client
const cleanup = new Cleanup();
after(() => cleanup.run());

describe('collector: TCP connections between network namespaces', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let net: NetPair;
  let collector: RunningCollector;
  const node = process.execPath;
  const inA = (argv: string[]) => cg.wrap(net.exec(net.a, argv));
  const inB = (argv: string[]) => cg.wrap(net.exec(net.b, argv));
  const conn = (e: Ev) => e['event.name'] === 'aiops.tcp.connection' && inCgroup(cg)(e);

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-tcp`);
    net = await createNetPair(cleanup);
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path] });
  });

  it('reports the exact connection from both ends, with bytes', async () => {
    const server = startProc(cleanup, inA([node, PEERS, 'tcp-server', net.addrA, String(N), String(M)]));
    const { port } = await server.json<{ port: number }>();
    const client = startProc(cleanup, inB([node, PEERS, 'tcp-client', net.addrA, String(port), String(N), String(M)]));
    const res = await client.json<{ pid: number; localPort: number; received: number }>();
    assert.equal(res.received, M, 'the client read everything the server wrote');
    assert.equal(res.pid, client.pid, 'ip netns exec and the cgroup wrapper exec in place');

    const out = await sink.waitFor('the outbound connection', (e) => conn(e) && e['aiops.tcp.direction'] === 'outbound' && e['process.pid'] === client.pid);
    assert.deepEqual(pick(out), {
      'process.pid': client.pid, 'process.executable.name': 'node', 'network.transport': 'tcp', 'network.type': 'ipv4',
      'network.local.address': net.addrB, 'network.local.port': res.localPort,
      'network.peer.address': net.addrA, 'network.peer.port': port,
      'server.address': net.addrA, 'server.port': port, 'client.address': net.addrB, 'client.port': res.localPort,
      'aiops.tcp.direction': 'outbound', 'aiops.tcp.result': 'ok',
      'aiops.tcp.bytes_sent': N, 'aiops.tcp.bytes_received': M,
    });
    assert.equal(out['error.type'], undefined);
    assert.equal(out['aiops.tcp.retransmits'], 0);
    assert.ok(Number(out['aiops.tcp.connect_duration_ns']) > 0, 'connect duration');
    assert.ok(Number(out['aiops.tcp.duration_ns']) >= Number(out['aiops.tcp.connect_duration_ns']), 'lifetime covers the handshake');
    assert.ok(Number(out['aiops.tcp.duration_ns']) < 20e9, 'lifetime within bounds');

    const inb = await sink.waitFor('the inbound connection', (e) => conn(e) && e['aiops.tcp.direction'] === 'inbound' && e['process.pid'] === server.pid);
    assert.deepEqual(pick(inb), {
      'process.pid': server.pid, 'process.executable.name': 'node', 'network.transport': 'tcp', 'network.type': 'ipv4',
      'network.local.address': net.addrA, 'network.local.port': port,
      'network.peer.address': net.addrB, 'network.peer.port': res.localPort,
      'server.address': net.addrA, 'server.port': port, 'client.address': net.addrB, 'client.port': res.localPort,
      'aiops.tcp.direction': 'inbound', 'aiops.tcp.result': 'ok',
      'aiops.tcp.bytes_sent': M, 'aiops.tcp.bytes_received': N,
    });
    assert.equal(inb['error.type'], undefined);

    // Exactly one event per end for this connection.
    const forPort = (e: Ev) => conn(e) && (e['network.local.port'] === res.localPort || e['network.peer.port'] === res.localPort);
    assert.equal(sink.events.filter(forPort).length, 2, 'one outbound and one inbound event, nothing more');
    server.endInput();
    await server.done();
  });

  it('reports a refused connection', async () => {
    const closedPort = 9; // nothing listens in namespace A
    const client = startProc(cleanup, inB([node, PEERS, 'connect', net.addrA, String(closedPort)]));
    const res = await client.json<{ error: string | null }>();
    assert.equal(res.error, 'ECONNREFUSED');
    const e = await sink.waitFor('the refused connection', (x) => conn(x) && x['process.pid'] === client.pid);
    assert.equal(e['aiops.tcp.direction'], 'outbound');
    assert.equal(e['aiops.tcp.result'], 'refused');
    assert.equal(e['error.type'], 'ECONNREFUSED');
    assert.equal(e['network.peer.address'], net.addrA);
    assert.equal(e['network.peer.port'], closedPort);
    assert.equal(e['server.port'], closedPort);
    assert.equal(e['aiops.tcp.bytes_sent'], 0);
    assert.equal(e['aiops.tcp.bytes_received'], 0);
    assert.equal(e['aiops.tcp.connect_duration_ns'], undefined, 'never established');
  });

  it('reports a connection that timed out', async () => {
    // One SYN retry in B (per namespace): the kernel gives up after ~3 s. The address answers no one: its
    // neighbour entry is static, so no ARP failure turns this into EHOSTUNREACH.
    const ghost = `${SUBNET}.77`;
    await sh(net.exec(net.b, ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=1']));
    await sh(['ip', '-n', net.b, 'neigh', 'add', ghost, 'lladdr', '02:00:00:00:00:77', 'dev', net.vethB, 'nud', 'permanent']);
    const client = startProc(cleanup, inB([node, PEERS, 'connect', ghost, '8080']));
    const res = await client.json<{ error: string | null; ms: number }>(30_000);
    assert.equal(res.error, 'ETIMEDOUT');
    const e = await sink.waitFor('the timed-out connection', (x) => conn(x) && x['process.pid'] === client.pid);
    assert.equal(e['aiops.tcp.direction'], 'outbound');
    assert.equal(e['aiops.tcp.result'], 'timeout');
    assert.equal(e['error.type'], 'ETIMEDOUT');
    assert.equal(e['network.peer.address'], ghost);
    assert.equal(e['network.peer.port'], 8080);
    assert.equal(e['aiops.tcp.bytes_received'], 0);
    const seconds = Number(e['aiops.tcp.duration_ns']) / 1e9;
    assert.ok(seconds > 2 && seconds < 10, `the connect lasted ${seconds} s (SYN + 1 retry: ~3 s)`);
  });

  it('sent only valid batches, and stops cleanly', async () => {
    assert.equal(await collector.stop(), 0, collector.stderr());
    assert.deepEqual(sink.invalid, []);
    assert.equal(sink.unauthorized, 0);
    assert.ok(sink.batches > 0);
    const stats = collector.stats();
    assert.equal(stats.sent, stats.events_total, 'everything sent');
    assert.equal(stats.ring_full + stats.buffer_full + stats.send_failed, 0, 'nothing dropped');
  });
});

/** The fields compared exactly. */
function pick(e: Ev): Ev {
  const keys = [
    'process.pid', 'process.executable.name', 'network.transport', 'network.type',
    'network.local.address', 'network.local.port', 'network.peer.address', 'network.peer.port',
    'server.address', 'server.port', 'client.address', 'client.port',
    'aiops.tcp.direction', 'aiops.tcp.result', 'aiops.tcp.bytes_sent', 'aiops.tcp.bytes_received',
  ];
  return Object.fromEntries(keys.map((k) => [k, e[k]])) as Ev;
}
