/**
 * The watch and RCA on a finer step (ROOTLINE_STEP_MS=10000): a leaf service turning slow is flagged from
 * the 10-second step its slowness began in, the alert fires once two steps confirm it, and RCA at that
 * moment already names the leaf. With the minute default the same fault needs over two minutes. A memory
 * leak a service reports through OTLP metrics is flagged and named the same way.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/service.ts';
import { MIN, ns, slowLeafTrace } from '../helpers/shop-traces.ts';

const STEP = 10_000;
const svc: TestService = await startTestService({ after }, {
  ROOTLINE_ROLES: 'ingest,topology,rca', ROOTLINE_RETENTION_DAYS: '0', ROOTLINE_WATCH_INTERVAL_MS: '3600000', ROOTLINE_WATCH_TENANT: 'test',
  ROOTLINE_STEP_MS: String(STEP), ROOTLINE_WATCH_SETTLE_MS: '5000', ROOTLINE_WATCH_LOOKBACK_MS: String(15 * MIN),
});
const json = { ...svc.headers, 'content-type': 'application/json' };
const watch = svc.service.rca!.watch!;

async function send(from: number, to: number, slowMs: number): Promise<void> {
  const rs: object[] = [];
  for (let t = from, i = 0; t < to; t += 500, i++) rs.push(...slowLeafTrace(t, slowMs, (i * 7) % 11));
  const res = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: json, body: JSON.stringify({ resourceSpans: rs }) });
  assert.equal(res.status, 200, await res.text());
  await svc.flush();
}

/** cart's process.memory.usage (an up-down counter, as the OpenTelemetry semantic conventions define it), every 2 s. */
async function sendMemory(from: number, to: number, bytes: (t: number) => number): Promise<void> {
  const dataPoints: object[] = [];
  for (let t = from; t < to; t += 2000) dataPoints.push({ startTimeUnixNano: ns(from), timeUnixNano: ns(t), asInt: String(Math.round(bytes(t))) });
  const body = {
    resourceMetrics: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] },
      scopeMetrics: [{ metrics: [{ name: 'process.memory.usage', unit: 'By', sum: { aggregationTemporality: 2, isMonotonic: false, dataPoints } }] }],
    }],
  };
  const res = await fetch(`${svc.url}/v1/metrics`, { method: 'POST', headers: json, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
  await svc.flush();
}

describe('the service watch and RCA on a 10-second step', () => {
  // The fault begins at `onset`, on a step boundary, a little in the past so every step judged is complete.
  const onset = Math.floor((Date.now() - 2 * MIN) / STEP) * STEP;

  it('flags the slow leaf from its first slow step and RCA names it 25 s after the onset', async () => {
    await send(onset - 10 * MIN, onset, 0);
    await send(onset, onset + 30_000, 400);
    for (let i = 0; ; i++) {
      const topo = (await (await fetch(`${svc.url}/api/v1/topology?view=horizontal&from=${onset - 10 * MIN}&to=${onset}`, { headers: svc.headers })).json()) as { edges: { from: string; to: string }[] };
      if (topo.edges.some((e) => e.from === 'service:checkout' && e.to === 'service:payment')) break;
      assert.ok(i < 120, 'the topology shows checkout → payment within 60 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    // Steps before (now − settle) are judged: at onset + 25 s, the two steps [onset, onset + 20 s).
    const quiet = await watch.tick(onset + 15_000);
    assert.ok(!quiet.some((e) => e.service === 'payment'), 'one slow step is not yet an alert');
    const firing = await watch.tick(onset + 25_000);
    const payment = firing.find((e) => e.service === 'payment');
    assert.ok(payment, `payment fires: ${JSON.stringify(firing.map((e) => [e.service, e.name]))}`);
    assert.equal(payment.name, 'LatencyHigh');
    assert.equal(payment.start, onset, 'the alert starts at the first slow step');

    const { incidents } = (await (await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers })).json()) as { incidents: { id: string; entities?: string[] }[] };
    const incident = incidents.find((i) => i.entities?.includes('service:payment'));
    assert.ok(incident, `an incident holds payment: ${JSON.stringify(incidents)}`);
    const res = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: json, body: JSON.stringify({ incident: incident.id, time: String(onset) }) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const rca = JSON.parse(text) as { services: { service: string }[]; causes: { entity: string; evidence: { signal: string; onset?: number }[] }[] };
    assert.equal(rca.services[0]?.service, 'service:payment', JSON.stringify(rca.causes.slice(0, 3)));
    const onsets = rca.causes[0]!.evidence.map((e) => e.onset).filter((x): x is number => x !== undefined);
    assert.ok(onsets.includes(onset), `evidence dated to the 10-second step of the onset: ${JSON.stringify(rca.causes[0]!.evidence)}`);
  });

  it('flags a memory leak the service reports (process.memory.usage) and RCA names it, kind memory', async () => {
    const leak = onset + 60_000;
    const MB = 1024 * 1024;
    // Flat with a little noise, then 4 MB/s from `leak` on.
    await sendMemory(onset - 10 * MIN, leak + 40_000, (t) => 80 * MB + ((t / 2000) % 5) * 0.4 * MB + (t >= leak ? ((t - leak) / 1000) * 4 * MB : 0));
    const firing = await watch.tick(leak + 35_000);
    const cart = firing.find((e) => e.service === 'cart');
    assert.ok(cart, `cart fires: ${JSON.stringify(firing.map((e) => [e.service, e.name]))}`);
    assert.equal(cart.name, 'MemoryHigh');
    assert.ok(cart.start >= leak && cart.start <= leak + 2 * STEP, `the alert starts at the leak's first steps: ${cart.start - leak} ms after`);
    const res = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: json, body: JSON.stringify({ entity: 'service:cart', time: String(cart.start) }) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const rca = JSON.parse(text) as { causes: { entity: string; kind: string; evidence: { signal: string }[] }[] };
    assert.equal(rca.causes[0]?.entity, 'service:cart', JSON.stringify(rca.causes.slice(0, 3)));
    assert.equal(rca.causes[0]?.kind, 'memory');
    assert.ok(rca.causes[0]?.evidence.some((e) => e.signal === 'process.memory.usage'), JSON.stringify(rca.causes[0]?.evidence));
  });
});
