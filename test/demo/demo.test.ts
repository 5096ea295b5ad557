/**
 * `rootline demo` for real: the shop's services in their own network namespaces and cgroups, the eBPF
 * collectors, the embedded Rootline, the load. Checks that every service shows in the topology with its calls
 * (OpenTelemetry spans and the collector's view), then that each fault kind really happens, measured from
 * outside (this test's own client, /proc, the collector's events), and that clearing it restores the service.
 * RCA results are not asserted here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootSkipReason } from '../helpers/collector.ts';
import { demoForSuite } from '../helpers/demo.ts';
import type { Demo } from '../../demo/runner.ts';

const skip = rootSkipReason();
const t0 = Date.now();

interface Topology {
  entities: { id: string; kind: string; name: string; attrs: Record<string, string> }[];
  edges: { type: string; from: string; to: string }[];
}

async function timed(url: string, init: RequestInit = {}): Promise<{ status: number; ms: number; body: string }> {
  const start = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - start, body };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  timed(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** CPU time (user + system, seconds) of a process from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, after the state field, in ticks of 10 ms
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

function refused(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port });
    s.once('connect', () => (s.destroy(), resolve('connected')));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

describe('rootline demo', { skip, timeout: 240_000 }, () => {
  let demo: Demo;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${demo.rootline.url}${path}`, { ...init, headers: { authorization: `Bearer ${demo.rootline.token}`, ...(init.headers ?? {}) }, signal: AbortSignal.timeout(60_000) });
  const topology = async (): Promise<Topology> => {
    const res = await api(`/api/v1/topology?from=${t0 - 60_000}&to=${Date.now() + 60_000}&view=all`);
    assert.equal(res.status, 200);
    return (await res.json()) as Topology;
  };

  demoForSuite((d) => (demo = d));

  it('runs every service on its own host in its own cgroup, and answers on the control API', async () => {
    assert.ok(demo.netns && demo.collector);
    const names = Object.keys(demo.services).sort();
    assert.deepEqual(names, ['cart', 'catalog', 'checkout', 'currency', 'db', 'frontend', 'payment', 'recommendation', 'shipping']);
    const addresses = new Set(Object.values(demo.services).map((s) => s.address));
    assert.equal(addresses.size, names.length, 'one address per host');
    for (const s of Object.values(demo.services)) {
      assert.equal(s.state, 'up', s.name);
      assert.match(readFileSync(`/proc/${s.pid}/cgroup`, 'utf8'), new RegExp(`/${s.name}\\.service\\n`), `${s.name} runs in ${s.name}.service`);
    }
    const res = await fetch(`${demo.control!.url}/status`, { headers: { authorization: `Bearer ${demo.rootline.token}` } });
    assert.equal(res.status, 200);
    assert.equal((await fetch(`${demo.control!.url}/status`)).status, 401, 'the control API wants the token');
  });

  it('shows every service in the topology with its calls, from OpenTelemetry spans and from the collector', { timeout: 120_000 }, async () => {
    // Some traffic first; the load runs at 20 requests a second.
    await until('the load to make progress', () => ((demo.load()?.ok ?? 0) > 150 ? true : undefined), 60_000);
    assert.equal(demo.load()!.failed, 0, JSON.stringify(demo.load()));
    // The collectors saw HTTP on both sides, including the services without OpenTelemetry, and connections
    // (keep-alive ones are reported every 10 s while open).
    await until('the collectors to see HTTP and connections at every service', () => {
      const { counts } = demo.collectorEvents();
      for (const s of Object.values(demo.services)) {
        const c = counts[s.hostName] ?? {};
        if (s.kind === 'http') assert.ok((c['aiops.http.request'] ?? 0) > 0, `the collector saw HTTP at ${s.name}: ${JSON.stringify(c)}`);
        assert.ok((c['aiops.tcp.connection'] ?? 0) > 0, `the collector saw connections at ${s.name}: ${JSON.stringify(c)}`);
      }
      return true;
    }, 30_000);
    const served = demo.collectorEvents().recent.filter((e) => e['event.name'] === 'aiops.http.request' && e['aiops.http.side'] === 'server' && e['host.name'] === demo.services.payment!.hostName);
    assert.ok(served.some((e) => e['url.path'] === '/charge' && Number(e['http.response.status_code']) < 500), 'payment served /charge');

    assert.equal((await api('/api/v1/telemetry/flush', { method: 'POST' })).status, 200);
    const stats = (await (await api('/api/v1/telemetry/stats')).json()) as { rows: Record<string, number> };
    assert.ok(stats.rows.spans! > 0 && stats.rows.collector_events! > 0 && stats.rows.metric_points! > 0, JSON.stringify(stats));

    const expectCalls = [
      ['service:frontend', 'service:catalog'], ['service:frontend', 'service:cart'], ['service:frontend', 'service:checkout'], ['service:checkout', 'service:cart'],
      // Services without OpenTelemetry are services too, named by their cgroup (`<name>.service`) from the
      // collector's HTTP events, called by instrumented and uninstrumented callers alike.
      ['service:frontend', 'service:recommendation'], ['service:frontend', 'service:currency'], ['service:checkout', 'service:payment'],
      ['service:checkout', 'service:shipping'], ['service:recommendation', 'service:catalog'], ['service:shipping', 'service:currency'],
      // The db speaks its own protocol (no HTTP): the peer its callers reach.
      ['service:catalog', 'external:db:6379'], ['service:cart', 'external:db:6379'],
    ];
    const host = (name: string) => `host:${demo.services[name]!.hostName}`;
    // Every call the collector saw between hosts, including those between services without OpenTelemetry.
    const expectConnects = [['frontend', 'recommendation'], ['recommendation', 'catalog'], ['shipping', 'currency'], ['checkout', 'payment'], ['cart', 'db'], ['catalog', 'db'], ['frontend', 'currency']].map(([a, b]) => [host(a!), host(b!)]);
    const topo = await until('the topology to show every call', async () => {
      const t = await topology();
      const has = (type: string, from: string, to: string) => t.edges.some((e) => e.type === type && e.from === from && e.to === to);
      const missing = [...expectCalls.filter(([a, b]) => !has('CALLS', a!, b!)), ...expectConnects.filter(([a, b]) => !has('CONNECTS', a!, b!))];
      return missing.length === 0 ? t : (assert.fail(`missing edges: ${JSON.stringify(missing)}`) as undefined);
    }, 60_000, 2000);
    for (const s of Object.values(demo.services)) {
      const proc = `process:${s.hostName}/${s.pid}`;
      assert.ok(topo.entities.some((e) => e.id === proc), `${s.name}'s process is in the topology (${proc})`);
      assert.ok(topo.edges.some((e) => e.type === 'RUNS' && e.from === host(s.name) && e.to === proc), `${host(s.name)} runs ${proc}`);
      if (!s.otel && s.kind === 'http') assert.equal(topo.entities.find((e) => e.id === `service:${s.name}`)?.attrs['aiops.source'], 'ebpf', `service:${s.name} from the collector`);
      if (s.otel) {
        const svc = topo.entities.find((e) => e.id === `service:${s.name}`);
        assert.equal(svc?.attrs['service.version'], s.version, `service:${s.name} with its version`);
        assert.ok(topo.edges.some((e) => e.type === 'IMPLEMENTS' && e.from === proc && e.to === `service:${s.name}`), `${proc} implements service:${s.name}`);
      }
    }
    // One trace across services, with W3C trace context propagated: frontend → checkout → cart.
    const traceId = randomBytes(16).toString('hex');
    const user = `trace-${traceId.slice(0, 6)}`;
    const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    assert.equal((await post(`${demo.services.frontend!.url}/cart/${user}`, { productId: 2 }, { traceparent })).status, 201);
    await api('/api/v1/telemetry/flush', { method: 'POST' });
    const spans = await until('the trace', async () => {
      const r = (await (await api(`/api/v1/traces/${traceId}`)).json()) as { spans: { service_name: string; kind: string; name: string }[] };
      return new Set(r.spans.map((s) => s.service_name)).size >= 3 ? r.spans : undefined;
    }, 20_000);
    assert.deepEqual([...new Set(spans.map((s) => s.service_name))].sort(), ['cart', 'catalog', 'frontend']);
  });

  it('latency: the service answers that much later, until cleared', async () => {
    const url = `${demo.services.catalog!.url}/products/3`;
    const before = await timed(url);
    assert.equal(before.status, 200);
    const fault = await demo.inject('latency', 'catalog', { ms: 400, jitter: 0 });
    assert.match(fault.description, /400 ms/);
    for (let i = 0; i < 3; i++) {
      const r = await timed(url);
      assert.equal(r.status, 200);
      assert.ok(r.ms >= 390, `slow: ${r.ms} ms`);
    }
    const through = await timed(`${demo.services.frontend!.url}/product/3`);
    assert.ok(through.ms >= 390, `callers wait too: ${through.ms} ms`);
    await demo.clear(fault.id);
    const again = [await timed(url), await timed(url), await timed(url)];
    assert.ok(again.every((r) => r.status === 200));
    const fastest = Math.min(...again.map((r) => r.ms));
    assert.ok(fastest < 300, `fast again: ${fastest} ms (before ${before.ms} ms)`);
  });

  it('errors: the service answers 500, until cleared', async () => {
    const url = `${demo.services.payment!.url}/charge`;
    await demo.inject('errors', 'payment', { rate: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await post(url, { amount: 10, currency: 'USD' })).status, 500);
    await until('the collector to see the 500s', () =>
      demo.collectorEvents().recent.some((e) => e['host.name'] === demo.services.payment!.hostName && e['aiops.http.side'] === 'server' && Number(e['http.response.status_code']) === 500) || undefined, 15_000);
    // Faults of different kinds on one service add up.
    await demo.inject('latency', 'payment', { ms: 300, jitter: 0 });
    const both = await post(url, { amount: 10, currency: 'USD' });
    assert.ok(both.status === 500 && both.ms >= 290, `slow and failing: ${both.status} after ${both.ms} ms`);
    assert.deepEqual(demo.faults().map((f) => f.kind).sort(), ['errors', 'latency']);
    await demo.clear();
    assert.deepEqual(demo.faults(), []);
    assert.ok([200, 402].includes((await post(url, { amount: 10, currency: 'USD' })).status));
  });

  it('exception: the handler throws, the span records it and an error is logged, until cleared', async () => {
    await demo.inject('exception', 'cart', { rate: 1 });
    const traceId = randomBytes(16).toString('hex');
    const r = await timed(`${demo.services.cart!.url}/carts/someone`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
    assert.equal(r.status, 500);
    // The service's stderr comes through a pipe, which may deliver the line after the response.
    const logged = () => demo.logs('cart').some((l) => /ERROR/.test(l) && /TypeError: Cannot read properties of undefined \(reading 'discount'\)/.test(l));
    await until('the error log line', () => logged() || undefined, 5000, 100).catch(() => undefined);
    assert.ok(logged(), demo.logs('cart').slice(-5).join('\n'));
    await api('/api/v1/telemetry/flush', { method: 'POST' });
    const span = await until('the failed span', async () => {
      const body = (await (await api(`/api/v1/traces/${traceId}`)).json()) as { spans: { service_name: string; status_code: string; attributes: Record<string, string> }[] };
      return body.spans.find((s) => s.service_name === 'cart');
    }, 20_000);
    assert.equal(span.status_code, 'ERROR');
    assert.equal(span.attributes['http.response.status_code'], '500');
    await demo.clear();
    assert.equal((await timed(`${demo.services.cart!.url}/carts/someone`)).status, 200);
  });

  it('cpu: the service process really burns a core, until cleared', async () => {
    const s = demo.services.currency!;
    const pid = s.pid!;
    const usage = async (ms: number) => {
      const a = cpuSeconds(pid);
      await sleep(ms);
      return (cpuSeconds(pid) - a) / (ms / 1000);
    };
    const idle = await usage(1000);
    const fault = await demo.inject('cpu', 'currency', { threads: 2 });
    await sleep(200);
    // Two busy threads: up to two cores on an idle machine, their share of it on a busy one (CI runs other
    // tests beside this one), so the check is that the process's CPU clearly rose.
    const busy = await usage(3000);
    assert.ok(busy > 0.15 && busy > idle + 0.12, `busy: ${busy} cores (idle ${idle})`);
    const sample = await until('the collector\'s CPU sample of the process', () =>
      demo.collectorEvents().recent.find((e) => e['event.name'] === 'aiops.process.sample' && Number(e['process.pid']) === pid && Number(e['aiops.process.cpu.cores']) > Math.max(0.12, idle + 0.1)), 15_000);
    assert.equal(sample['host.name'], s.hostName);
    await demo.clear(fault.id);
    await sleep(300);
    const after = await usage(1000);
    assert.ok(after < 0.3, `idle again: ${after}`);
  });

  it('memory: the service heap keeps growing, until cleared', async () => {
    const s = demo.services.catalog!;
    const start = rssMb(s.pid!);
    await demo.inject('memory', 'catalog', { mbPerSec: 15 });
    await sleep(5000);
    const grown = rssMb(s.pid!);
    assert.ok(grown - start > 40, `RSS ${start} → ${grown} MB`);
    await demo.clear();
    await sleep(2500);
    assert.ok(!s.stats!.faults.includes('memory'), 'the leak stopped');
    const r = await timed(`${s.url}/products`);
    assert.equal(r.status, 200);
  });

  it('dependency-down: the db is killed, callers are refused, until cleared', async () => {
    const db = demo.services.db!;
    const pid = db.pid!;
    await demo.inject('dependency-down', 'db');
    assert.equal(db.state, 'down');
    assert.throws(() => process.kill(pid, 0), 'the db process is gone');
    assert.equal(await refused(db.address, db.port), 'ECONNREFUSED');
    const r = await timed(`${demo.services.cart!.url}/carts/someone`);
    assert.equal(r.status, 500);
    assert.match(r.body, /upstream failure: db/);
    await until('the collector to see a refused connection to the db', () =>
      demo.collectorEvents().recent.some((e) => e['event.name'] === 'aiops.tcp.connection' && e['aiops.tcp.result'] === 'refused' && e['network.peer.address'] === db.address) || undefined, 15_000);
    await demo.clear();
    assert.equal(db.state, 'up');
    assert.notEqual(db.pid, pid);
    await until('cart to work again', async () => ((await timed(`${demo.services.cart!.url}/carts/someone`)).status === 200 ? true : undefined), 10_000, 200);
  });

  it('bad-deploy: the service comes back as a new version that fails some requests, until rolled back', { timeout: 90_000 }, async () => {
    const s = demo.services.checkout!;
    const oldPid = s.pid;
    const fault = await demo.inject('bad-deploy', 'checkout', { failRate: 0.5 });
    assert.equal(fault.params.version, '1.4.0');
    assert.notEqual(s.pid, oldPid);
    const health = JSON.parse((await timed(`${s.url}/health`)).body) as { version: string };
    assert.equal(health.version, '1.4.0');
    let failed = 0;
    for (let i = 0; i < 20; i++) {
      const user = `bad-${i}`;
      await post(`${demo.services.frontend!.url}/cart/${user}`, { productId: 1 + i });
      if ((await post(`${demo.services.frontend!.url}/checkout/${user}`, { currency: 'USD' })).status >= 500) failed++;
    }
    assert.ok(failed >= 2 && failed <= 19, `some checkouts fail: ${failed} of 20`);
    assert.ok(demo.logs('checkout').some((l) => /TypeError: Cannot read properties of undefined \(reading 'split'\)/.test(l)));
    // The new version is what the topology reports for the service.
    await api('/api/v1/telemetry/flush', { method: 'POST' });
    await until('service:checkout at 1.4.0 in the topology', async () => {
      const t = await topology();
      return t.entities.find((e) => e.id === 'service:checkout')?.attrs['service.version'] === '1.4.0' || undefined;
    }, 45_000, 2000);
    await demo.clear();
    assert.equal(s.version, '1.3.0');
    assert.equal((JSON.parse((await timed(`${s.url}/health`)).body) as { version: string }).version, '1.3.0');
    await post(`${demo.services.frontend!.url}/cart/good`, { productId: 4 });
    assert.equal((await post(`${demo.services.frontend!.url}/checkout/good`, { currency: 'EUR' })).status, 200);
  });

  it('stops cleanly: no namespace, cgroup or process is left', async () => {
    const pids = Object.values(demo.services).map((s) => s.pid!);
    await demo.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `process ${pid} is gone`);
    const { execFileSync } = await import('node:child_process');
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list']).toString(), new RegExp(`rl-demo-${process.pid}-`));
    const { cgroup2Root } = await import('../../demo/netns.ts');
    const { existsSync } = await import('node:fs');
    assert.ok(!existsSync(join(cgroup2Root(), `rootline-demo-${process.pid}`)));
  });
});
