/**
 * Rootline's own detection: a small system's golden signals watched against their own baselines. Healthy
 * traffic raises nothing; a slow leaf service raises a LatencyHigh alert on its own, which opens an
 * incident whose RCA names the leaf (while a 1 ms store that turns 3.5 ms raises nothing); when the slowness
 * is over, the alert resolves.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/service.ts';
import { randomBytes } from 'node:crypto';
import { MIN, ns, slowLeafTrace } from '../helpers/shop-traces.ts';

const svc: TestService = await startTestService({ after }, { ROOTLINE_ROLES: 'ingest,topology,rca', ROOTLINE_RETENTION_DAYS: '0', ROOTLINE_WATCH_INTERVAL_MS: '3600000', ROOTLINE_WATCH_TENANT: 'test' });
const json = { ...svc.headers, 'content-type': 'application/json' };
const watch = svc.service.rca!.watch!;

/**
 * A fast store beside the shop: its requests take about 1 ms, and 3.5 ms while payment is slow (a scheduling
 * hiccup on a busy machine). Millisecond moves of a millisecond service page no one.
 */
function kvSpan(t: number, ms: number): object {
  const span = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'GET', kind: 2, startTimeUnixNano: ns(t), endTimeUnixNano: ns(t + ms) };
  return { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'kv' } }] }, scopeSpans: [{ spans: [span] }] };
}

async function send(from: number, to: number, slowMs: number): Promise<void> {
  const rs: object[] = [];
  for (let t = from, i = 0; t < to; t += 2_000, i++) rs.push(...slowLeafTrace(t, slowMs, (i * 7) % 11), kvSpan(t, slowMs > 0 ? 3.5 : 1 + ((i * 7) % 11) * 0.02));
  const res = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: json, body: JSON.stringify({ resourceSpans: rs }) });
  assert.equal(res.status, 200, await res.text());
  await svc.flush();
}

describe('the service watch (own golden-signal detection)', () => {
  // Minutes before M are complete at `now` (the watch leaves the last 30 s to settle).
  const now = Date.now();
  const M = Math.floor((now - 30_000) / MIN) * MIN;

  it('raises nothing on healthy traffic', async () => {
    await send(M - 40 * MIN, M - 4 * MIN, 0);
    const firing = await watch.tick(now - 4 * MIN);
    assert.deepEqual(firing, []);
    const incidents = (await (await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers })).json()) as { incidents: unknown[] };
    assert.equal(incidents.incidents.length, 0);
  });

  it('raises LatencyHigh on the slow service, opens an incident, and its RCA names that service', async () => {
    await send(M - 4 * MIN, M, 400);
    // The watch runs beside a live topology: let it catch up with the calls, so alerts correlate along them.
    for (let i = 0; ; i++) {
      const topo = (await (await fetch(`${svc.url}/api/v1/topology?view=horizontal&from=${M - 10 * MIN}&to=${M}`, { headers: svc.headers })).json()) as { edges: { from: string; to: string }[] };
      if (topo.edges.some((e) => e.from === 'service:checkout' && e.to === 'service:payment')) break;
      assert.ok(i < 120, 'the topology shows checkout → payment within 60 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    const firing = await watch.tick(now);
    const payment = firing.find((e) => e.service === 'payment');
    assert.ok(payment, `payment fires: ${JSON.stringify(firing.map((e) => [e.service, e.name]))}`);
    assert.equal(payment.name, 'LatencyHigh');
    assert.equal(payment.start, M - 4 * MIN, 'the alert starts at the first slow minute');
    assert.ok(!firing.some((e) => e.service === 'kv'), 'a 1 ms service at 3.5 ms raises nothing (latency deviations count from 1 ms)');
    const { incidents } = (await (await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers })).json()) as { incidents: { id: string; entities?: string[] }[] };
    const incident = incidents.find((i) => i.entities?.includes('service:payment'));
    assert.ok(incident, `an incident holds payment: ${JSON.stringify(incidents)}`);
    const res = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: json, body: JSON.stringify({ incident: incident.id, time: String(M - 4 * MIN) }) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const rca = JSON.parse(text) as { services: { service: string }[]; causes: { entity: string; evidence: { signal: string }[] }[] };
    assert.equal(rca.services[0]?.service, 'service:payment', JSON.stringify(rca.causes.slice(0, 3)));
  });

  it('resolves the alert once the service is healthy again past the cool-down', async () => {
    await send(M, M + 6 * MIN, 0);
    const firing = await watch.tick(now + 6 * MIN);
    assert.ok(!firing.some((e) => e.service === 'payment'), 'payment no longer fires');
    const alerts = (await (await fetch(`${svc.url}/api/v1/alerts`, { headers: svc.headers })).json()) as { alerts: { labels: Record<string, string>; status: string }[] };
    const mine = alerts.alerts.filter((a) => a.labels.source === 'rootline-watch' && a.labels.service === 'payment');
    assert.ok(mine.length >= 1);
    assert.ok(mine.every((a) => a.status === 'resolved'), JSON.stringify(mine.map((a) => a.status)));
  });
});
