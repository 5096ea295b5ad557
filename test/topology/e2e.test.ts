/**
 * End to end through ingest: OTLP spans and collector events go in over HTTP, the topology worker extracts
 * them from the telemetry store, and the REST API shows both views as of two times, and the diff between
 * them including a deploy (service.version 1.0 → 2.0).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../services/shared/config.ts';
import { startService, type RunningService } from '../../services/main.ts';

const TOKEN = randomBytes(16).toString('hex');
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const T1 = Date.now() - 30 * 60_000;
const T2 = Date.now() - 10 * 60_000;

const attr = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } });
const res = (service: string, version: string, pod: string, node: string) => ({
  attributes: [attr('service.name', service), attr('service.version', version), attr('k8s.namespace.name', 'shop'), attr('k8s.pod.name', pod), attr('k8s.node.name', node), attr('k8s.cluster.name', 'prod')],
});
const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;

/** frontend → cart (→ redis, uninstrumented), plus frontend → `extra` when given. */
function traces(t: number, cartVersion: string, extra?: string) {
  const trace = randomBytes(16).toString('hex');
  const id = () => randomBytes(8).toString('hex');
  const [root, client, server, redis, client2, server2] = [id(), id(), id(), id(), id(), id()];
  const span = (spanId: string, parent: string, name: string, kind: number, attrs: object[] = []) => ({
    traceId: trace, spanId, parentSpanId: parent, name, kind, startTimeUnixNano: ns(t), endTimeUnixNano: ns(t + 20), attributes: attrs,
  });
  const rs = [
    { resource: res('frontend', '1.0', 'frontend-1', 'node-a'), scopeSpans: [{ spans: [span(root, '', 'GET /', 2, [attr('http.route', '/')]), span(client, root, 'GET', 3, [attr('server.address', 'cart')]), ...(extra ? [span(client2, root, 'POST', 3)] : [])] }] },
    { resource: res('cart', cartVersion, 'cart-1', 'node-b'), scopeSpans: [{ spans: [span(server, client, 'GET /cart', 2, [attr('http.route', '/cart')]), span(redis, server, 'GET', 3, [attr('server.address', 'redis'), attr('server.port', 6379)])] }] },
  ];
  if (extra) rs.push({ resource: res(extra, '1.0', `${extra}-1`, 'node-b'), scopeSpans: [{ spans: [span(server2, client2, 'POST /pay', 2)] }] });
  return { resourceSpans: rs };
}

function connections(t: number, seq: number) {
  const ev = (host: string, pid: number, dir: string, local: string, lport: number, peer: string, pport: number, s: number) => ({
    'event.name': 'aiops.tcp.connection', time_unix_nano: ns(t), 'aiops.seq': s, 'host.name': host, 'process.pid': pid,
    'process.executable.name': 'node', 'aiops.tcp.direction': dir, 'network.local.address': local, 'network.local.port': lport,
    'network.peer.address': peer, 'network.peer.port': pport, 'network.transport': 'tcp', 'aiops.tcp.result': 'ok',
  });
  return [
    { collector: { 'host.name': 'host-a' }, events: [ev('host-a', 100, 'outbound', '10.0.0.1', 40000, '10.0.0.2', 8080, seq)] },
    { collector: { 'host.name': 'host-b' }, events: [ev('host-b', 200, 'inbound', '10.0.0.2', 8080, '10.0.0.1', 40000, seq)] },
  ];
}

describe('topology end to end through ingest', () => {
  let svc: RunningService;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'topo-e2e-'));
    svc = await startService(
      loadConfig({ ROOTLINE_PORT: '0', ROOTLINE_DATA_DIR: dir, ROOTLINE_TOKENS: TOKEN, ROOTLINE_LOG_LEVEL: 'warn', ROOTLINE_FLUSH_INTERVAL_MS: '100', ROOTLINE_RETENTION_DAYS: '0' }),
    );
    const post = async (path: string, body: object) => {
      const r = await fetch(`${svc.url}${path}`, { method: 'POST', headers: H, body: JSON.stringify(body) });
      assert.equal(r.status, 200, `${path}: ${await r.text()}`);
    };
    await post('/v1/traces', traces(T1, '1.0'));
    await post('/v1/traces', traces(T2, '2.0', 'payment'));
    for (const b of [...connections(T1, 1), ...connections(T2, 2)]) await post('/v1/collector/events', b);
  });
  after(async () => {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const r = await fetch(`${svc.url}${path}`, { headers: H });
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    return r.json() as Promise<{ entities: { id: string; attrs: Record<string, string> }[]; edges: { id: string }[] }>;
  };
  /** The worker extracts after the flush; wait until the topology at T2 shows the new service. */
  async function settled(): Promise<void> {
    const until = Date.now() + 60_000;
    for (;;) {
      const snap = await get(`/api/v1/topology?at=${T2}`);
      if (snap.edges.some((e) => e.id === 'CALLS:service:frontend->service:payment') && snap.edges.some((e) => e.id.startsWith('CONNECTS:host:host-a'))) return;
      if (Date.now() > until) assert.fail(`topology never settled: ${JSON.stringify(snap.edges.map((e) => e.id))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it('shows the horizontal view as of each time', async () => {
    await settled();
    const h1 = await get(`/api/v1/topology?at=${T1}&view=horizontal`);
    const h2 = await get(`/api/v1/topology?at=${T2}&view=horizontal`);
    const e1 = h1.edges.map((e) => e.id);
    const e2 = h2.edges.map((e) => e.id);
    assert.ok(e1.includes('CALLS:service:frontend->service:cart'));
    assert.ok(e1.includes('CALLS:service:cart->external:redis:6379'), 'uninstrumented redis is an external peer');
    assert.ok(e1.includes('CALLS:endpoint:frontend:/->endpoint:cart:/cart'));
    assert.ok(!e1.includes('CALLS:service:frontend->service:payment'), 'payment did not exist yet');
    assert.ok(e2.includes('CALLS:service:frontend->service:payment'));
    assert.ok(e1.includes('CONNECTS:host:host-a->host:host-b'), 'peer IP resolved to the host that owns it');
    assert.ok(e1.includes('CONNECTS:process:host-a/100->process:host-b/200'));
    assert.ok(h1.edges.every((e) => /^(CALLS|CONNECTS)/.test(e.id)));
  });

  it('shows the vertical stack: cluster, node, pod, service', async () => {
    const v = await get(`/api/v1/topology?at=${T1}&view=vertical`);
    const ids = v.edges.map((e) => e.id);
    for (const want of ['CONTAINS:cluster:prod->node:node-b', 'RUNS:node:node-b->pod:shop/cart-1', 'IMPLEMENTS:pod:shop/cart-1->service:cart', 'EXPOSES:service:cart->endpoint:cart:/cart']) {
      assert.ok(ids.includes(want), `missing ${want}`);
    }
    const r = await fetch(`${svc.url}/api/v1/entities/${encodeURIComponent('service:cart')}?at=${T1}`, { headers: H });
    const cart = (await r.json()) as { stack: { entities: { id: string }[] }; entity: { attrs: Record<string, string> } };
    assert.deepEqual(cart.stack.entities.map((e) => e.id).sort(), ['cluster:prod', 'endpoint:cart:/cart', 'node:node-b', 'pod:shop/cart-1', 'service:cart']);
    assert.equal(cart.entity.attrs['service.version'], '2.0');
  });

  it('diffs the two times: the deploy, the new service, nothing removed that still runs', async () => {
    const r = await fetch(`${svc.url}/api/v1/topology/diff?from=${T1}&to=${T2}`, { headers: H });
    const d = (await r.json()) as {
      added: { entities: { id: string }[]; edges: { id: string }[] };
      removed: { entities: { id: string }[] };
      changed: { entity: { id: string }; changes: { attr: string; before: string; after: string }[] }[];
    };
    assert.ok(d.added.entities.some((e) => e.id === 'service:payment'));
    assert.ok(d.added.edges.some((e) => e.id === 'CALLS:service:frontend->service:payment'));
    const cart = d.changed.find((c) => c.entity.id === 'service:cart');
    assert.ok(cart, 'cart changed');
    assert.deepEqual(cart.changes.map((c) => [c.attr, c.before, c.after]), [['service.version', '1.0', '2.0']]);
    assert.ok(!d.removed.entities.some((e) => e.id === 'service:cart'));
  });

  it('keeps one-minute statistics per edge', async () => {
    const edge = encodeURIComponent('CALLS:service:frontend->service:cart');
    const r = await fetch(`${svc.url}/api/v1/topology/stats?edge=${edge}&from=${T1 - 60_000}&to=${T2 + 60_000}`, { headers: H });
    const body = (await r.json()) as { minutes: { calls: number; errors: number; latency_p99_ms: number }[] };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.minutes.length, 2, JSON.stringify(body));
    for (const m of body.minutes) {
      assert.equal(m.calls, 1);
      assert.equal(m.errors, 0);
      assert.ok(Math.abs(m.latency_p99_ms - 20) < 0.5, `p99 ${m.latency_p99_ms} ms, spans last 20 ms`);
    }
  });

  it('rejects a malformed time with a clear 400', async () => {
    const r = await fetch(`${svc.url}/api/v1/topology?at=yesterday-ish`, { headers: H });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { message: string }).message, /RFC 3339/);
  });
});
