/**
 * Services only the eBPF collector sees, through ingest: frontend and checkout send OpenTelemetry spans;
 * payment, shipping and currency are seen only as collector events of their systemd units
 * (`<name>.service`). They become topology services with CALLS edges (checkout → payment by the client span's
 * server.address, checkout → shipping by its peer IP, shipping → currency from collector events alone), the
 * watch judges their latency and errors, and RCA names a slow payment first, not checkout, which waits on it.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestService, type TestService } from '../helpers/service.ts';
import { MIN, ns } from '../helpers/shop-traces.ts';

const STEP = 10_000;
const svc: TestService = await startTestService({ after }, {
  ROOTLINE_ROLES: 'ingest,topology,rca', ROOTLINE_RETENTION_DAYS: '0', ROOTLINE_WATCH_INTERVAL_MS: '3600000', ROOTLINE_WATCH_TENANT: 'test',
  ROOTLINE_STEP_MS: String(STEP), ROOTLINE_WATCH_SETTLE_MS: '5000', ROOTLINE_WATCH_LOOKBACK_MS: String(15 * MIN),
});
const json = { ...svc.headers, 'content-type': 'application/json' };
const watch = svc.service.rca!.watch!;

/** Where each service runs: its collector's host, pid, address and port. */
const AT = {
  frontend: { host: 'node-fe', pid: 100, addr: '10.0.0.1', port: 8000 },
  checkout: { host: 'node-co', pid: 300, addr: '10.0.0.3', port: 8003 },
  payment: { host: 'node-pay', pid: 600, addr: '10.0.0.6', port: 8006 },
  shipping: { host: 'node-ship', pid: 700, addr: '10.0.0.7', port: 8007 },
  currency: { host: 'node-cur', pid: 800, addr: '10.0.0.8', port: 8005 },
} as const;
type Name = keyof typeof AT;

const seqs = new Map<string, number>();
/** One HTTP exchange as the collector of `who`'s host reports it, on the server or the client side. */
function http(who: Name, side: 'server' | 'client', peer: Name | 'load', t: number, ms: number, path: string, status = 200): object {
  const me = AT[who];
  const other = peer === 'load' ? { addr: '10.0.0.99', port: 50_000 } : AT[peer];
  const seq = (seqs.get(me.host) ?? 0) + 1;
  seqs.set(me.host, seq);
  const [local, remote] = side === 'server' ? [[me.addr, me.port], [other.addr, 40_000]] : [[me.addr, 41_000], [other.addr, other.port]];
  return {
    'event.name': 'aiops.http.request', time_unix_nano: ns(t), 'aiops.seq': seq, 'host.name': me.host, 'process.pid': me.pid,
    'process.executable.name': 'node', 'process.linux.cgroup': `/rootline-test/${who}.service`, 'aiops.cgroup.id': me.pid,
    'aiops.http.side': side, 'network.transport': 'tcp', 'network.local.address': local[0]!, 'network.local.port': local[1]!,
    'network.peer.address': remote[0]!, 'network.peer.port': remote[1]!, 'http.request.method': 'POST', 'url.path': path,
    'http.response.status_code': status, 'aiops.http.duration_ns': String(Math.round(ms * 1e6)), ...(status >= 500 && side === 'server' ? { 'error.type': String(status) } : {}),
  };
}

const attr = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } });
const res = (service: 'frontend' | 'checkout') => ({ attributes: [attr('service.name', service), attr('host.name', AT[service].host), attr('process.pid', AT[service].pid)] });

/** One order at `t`: spans of frontend and checkout, and the collector's view of every hop. */
function order(t: number, i: number, o: { slowPayMs: number; currencyFails: boolean }): { spans: object[]; events: object[] } {
  const jitter = (i * 7) % 11;
  const pay = 50 + jitter + o.slowPayMs;
  const cur = 5 + (jitter % 3);
  const ship = 20 + jitter + cur + 2;
  const co = 30 + jitter + (pay + 2) + (ship + 2);
  const fe = 20 + jitter + co + 1;
  const traceId = randomBytes(16).toString('hex');
  const id = () => randomBytes(8).toString('hex');
  const [feS, feC, coS, coPay, coShip] = [id(), id(), id(), id(), id()];
  const span = (spanId: string, parent: string, name: string, kind: number, start: number, ms: number, attrs: object[] = []) => ({
    traceId, spanId, parentSpanId: parent, name, kind, startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + ms), attributes: attrs,
  });
  const spans = [
    { resource: res('frontend'), scopeSpans: [{ spans: [span(feS, '', 'POST /buy', 2, t, fe), span(feC, feS, 'POST /checkout', 3, t + 1, co + 1, [attr('server.address', 'checkout'), attr('server.port', 8003)])] }] },
    {
      resource: res('checkout'),
      scopeSpans: [{
        spans: [
          span(coS, feC, 'POST /checkout', 2, t + 1, co),
          // payment by name (and peer IP); shipping by its IP alone.
          span(coPay, coS, 'POST /pay', 3, t + 2, pay + 2, [attr('server.address', 'payment'), attr('server.port', 8006), attr('network.peer.address', AT.payment.addr), attr('network.peer.port', 8006)]),
          span(coShip, coS, 'POST /quote', 3, t + 4 + pay, ship + 2, [attr('server.address', AT.shipping.addr), attr('server.port', 8007)]),
        ],
      }],
    },
  ];
  const events = [
    http('frontend', 'server', 'load', t, fe, '/buy'),
    http('checkout', 'server', 'frontend', t + 1, co, '/checkout'),
    http('checkout', 'client', 'payment', t + 2, pay + 2, `/pay/${i}`),
    http('payment', 'server', 'checkout', t + 3, pay, `/pay/${i}`),
    http('checkout', 'client', 'shipping', t + 4 + pay, ship + 2, '/quote'),
    http('shipping', 'server', 'checkout', t + 5 + pay, ship, '/quote'),
    http('shipping', 'client', 'currency', t + 6 + pay, cur + 1, '/convert'),
    http('currency', 'server', 'shipping', t + 7 + pay, cur, '/convert', o.currencyFails && i % 2 === 0 ? 503 : 200),
  ];
  return { spans, events };
}

async function send(from: number, to: number, o: { slowPayMs: number; currencyFails: boolean }): Promise<void> {
  const spans: object[] = [];
  const byHost = new Map<string, object[]>();
  for (let t = from, i = 0; t < to; t += 500, i++) {
    const x = order(t, i, o);
    spans.push(...x.spans);
    for (const e of x.events) {
      const host = (e as { 'host.name': string })['host.name'];
      byHost.set(host, [...(byHost.get(host) ?? []), e]);
    }
  }
  const r = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: json, body: JSON.stringify({ resourceSpans: spans }) });
  assert.equal(r.status, 200, await r.text());
  for (const [host, events] of byHost) {
    const c = await fetch(`${svc.url}/v1/collector/events`, { method: 'POST', headers: json, body: JSON.stringify({ collector: { 'host.name': host }, events }) });
    assert.equal(c.status, 200, await c.text());
  }
  await svc.flush();
}

interface Topology {
  entities: { id: string; kind: string; attrs: Record<string, string> }[];
  edges: { id: string; type: string; from: string; to: string }[];
}

describe('services only the eBPF collector sees', () => {
  const onset = Math.floor((Date.now() - 3 * MIN) / STEP) * STEP;
  let topo: Topology;

  it('are topology services, with the calls into and between them', async () => {
    await send(onset - 10 * MIN, onset, { slowPayMs: 0, currencyFails: false });
    await send(onset, onset + 30_000, { slowPayMs: 400, currencyFails: false });
    const want = ['CALLS:service:checkout->service:payment', 'CALLS:service:checkout->service:shipping', 'CALLS:service:shipping->service:currency'];
    for (let i = 0; ; i++) {
      topo = (await (await fetch(`${svc.url}/api/v1/topology?from=${onset - 10 * MIN}&to=${onset}`, { headers: svc.headers })).json()) as Topology;
      const have = new Set(topo.edges.map((e) => e.id));
      if (want.every((w) => have.has(w))) break;
      assert.ok(i < 120, `the topology shows ${want.join(', ')} within 60 s: ${[...have].filter((e) => e.startsWith('CALLS:service')).join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const entity = (id: string) => topo.entities.find((e) => e.id === id);
    for (const name of ['payment', 'shipping', 'currency']) {
      assert.equal(entity(`service:${name}`)?.kind, 'service', name);
      assert.equal(entity(`service:${name}`)?.attrs['aiops.source'], 'ebpf', name);
    }
    assert.equal(entity('service:frontend')?.attrs['aiops.source'], undefined, 'a service that sends spans stays as it reports itself');
    assert.equal(topo.entities.filter((e) => e.kind === 'service').length, 5, JSON.stringify(topo.entities.filter((e) => e.kind === 'service').map((e) => e.id)));
    assert.ok(!topo.entities.some((e) => e.kind === 'external' && /payment|10\.0\.0\.[678]/.test(e.id)), 'no external peers for known services');
    const edges = new Set(topo.edges.map((e) => e.id));
    assert.ok(edges.has('CALLS:service:frontend->service:checkout'));
    assert.ok(edges.has('IMPLEMENTS:process:node-pay/600->service:payment'));
    assert.ok(edges.has('IMPLEMENTS:process:node-co/300->service:checkout'), 'the collector\'s process of a traced service implements it');
    assert.ok(edges.has('EXPOSES:service:payment->endpoint:payment:POST /pay/:id'), JSON.stringify([...edges].filter((e) => e.startsWith('EXPOSES:service:payment'))));
  });

  it('are watched: a slow payment raises LatencyHigh with service=payment', async () => {
    const firing = await watch.tick(onset + 25_000);
    const payment = firing.find((e) => e.service === 'payment');
    assert.ok(payment, `payment fires: ${JSON.stringify(firing.map((e) => [e.service, e.name]))}`);
    assert.equal(payment.name, 'LatencyHigh');
    assert.equal(payment.start, onset);
    assert.ok(payment.flags.every((f) => f.signal === 'span.server_latency_p90'));
    assert.ok(!firing.some((e) => e.service === 'shipping' || e.service === 'currency'), 'the others are quiet');
  });

  it('are named by RCA: payment first, for a symptom at the front end or at checkout', async () => {
    for (const entity of ['service:frontend', 'service:checkout']) {
      const r = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: json, body: JSON.stringify({ entity, time: String(onset) }) });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      const rca = JSON.parse(text) as { causes: { entity: string; kind: string; evidence: { signal: string; indicator: string }[]; path: string[] }[] };
      const top = rca.causes[0]!;
      assert.equal(top.entity, 'service:payment', `${entity}: ${JSON.stringify(rca.causes.slice(0, 3))}`);
      assert.equal(top.kind, 'latency');
      assert.equal(top.evidence[0]!.signal, 'span.self_time.p90');
      assert.equal(top.path.at(-1), 'service:payment');
      // checkout only waits on payment: its client span is payment's time, not its own.
      const checkout = rca.causes.find((c) => c.entity === 'service:checkout');
      assert.ok(!checkout || checkout.evidence.every((e) => e.signal !== 'span.self_time.p90'), JSON.stringify(checkout));
    }
  });

  it('are watched for errors: currency answering 503 raises ErrorsHigh with service=currency', async () => {
    const from = onset + 60_000;
    await send(onset + 30_000, from, { slowPayMs: 0, currencyFails: false });
    await send(from, from + 30_000, { slowPayMs: 0, currencyFails: true });
    const firing = await watch.tick(from + 25_000);
    const currency = firing.find((e) => e.service === 'currency' && e.name === 'ErrorsHigh');
    assert.ok(currency, `currency fires: ${JSON.stringify(firing.map((e) => [e.service, e.name]))}`);
    assert.equal(currency.start, from);
  });
});
