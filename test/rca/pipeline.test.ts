/**
 * RCA through the real pipeline: traces of frontend → checkout → payment go through ingest for forty minutes;
 * in the last minutes payment's own time grows (its callers' end-to-end latency grows more). An alert on the
 * frontend opens an incident; its RCA, and the on-demand API, name payment.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestService, type TestService } from '../helpers/service.ts';

const MIN = 60_000;
const T = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const res = (service: string) => ({ attributes: [{ key: 'service.name', value: { stringValue: service } }, { key: 'k8s.pod.name', value: { stringValue: `${service}-1` } }] });

/** One trace at `t`: frontend (server) → checkout (server) → payment (server); payment adds `payMs` of its own time. */
function trace(t: number, payMs: number) {
  const traceId = randomBytes(16).toString('hex');
  const [f, c, p] = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
  const span = (spanId: string, parent: string, name: string, start: number, dur: number) => ({ traceId, spanId, parentSpanId: parent, name, kind: 2, startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + dur) });
  const pay = 10 + payMs;
  return [
    { resource: res('frontend'), scopeSpans: [{ spans: [span(f, '', 'GET /', t, 20 + 15 + pay)] }] },
    { resource: res('checkout'), scopeSpans: [{ spans: [span(c, f, 'POST /checkout', t + 5, 15 + pay)] }] },
    { resource: res('payment'), scopeSpans: [{ spans: [span(p, c, 'POST /pay', t + 10, pay)] }] },
  ];
}

// Started at the top level: the helper ties the service's lifetime to this file's `after`.
const svc: TestService = await startTestService({ after }, { ROOTLINE_ROLES: 'all', ROOTLINE_RETENTION_DAYS: '0' });

describe('RCA through ingest, topology and incidents', () => {
  before(async () => {
    const rs: object[] = [];
    for (let m = -40; m <= 3; m++) {
      for (let i = 0; i < 6; i++) {
        const jitter = (i * 7) % 5;
        rs.push(...trace(T + m * MIN + i * 9000, m >= -1 ? 300 + jitter * 20 : 5 + jitter));
      }
    }
    const r = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: rs }) });
    assert.equal(r.status, 200, await r.text());
    await svc.flush();
    // The topology worker extracts the touched minutes after the flush.
    for (let i = 0; ; i++) {
      const topo = (await (await fetch(`${svc.url}/api/v1/topology?at=${T}`, { headers: svc.headers })).json()) as { edges: { id: string }[] };
      if (topo.edges.some((e) => e.id === 'CALLS:service:checkout->service:payment')) break;
      assert.ok(i < 120, 'topology never showed checkout → payment');
      await new Promise((res2) => setTimeout(res2, 500));
    }
  });

  it('ranks the culprit first on demand, with its own time as evidence and the path to it', async () => {
    const r = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'service:frontend', time: String(T) }) });
    const body = (await r.json()) as { causes: { entity: string; kind: string; path: string[]; evidence: { signal: string }[] }[]; services: { service: string }[] };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.services[0]!.service, 'service:payment', JSON.stringify(body.services));
    const top = body.causes[0]!;
    assert.equal(top.entity, 'service:payment');
    assert.deepEqual(top.path, ['service:frontend', 'service:checkout', 'service:payment']);
    assert.equal(top.evidence[0]!.signal, 'span.self_time.p90');
  });

  it('runs for an incident raised by an alert on the front end, and shows the causes on the incident', async () => {
    const alert = { alerts: [{ name: 'FrontendLatencyHigh', labels: { service: 'frontend', severity: 'critical' }, startsAt: new Date(T).toISOString() }] };
    const posted = (await (await fetch(`${svc.url}/api/v1/alerts`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify(alert) })).json()) as { incidents: string[] };
    const id = posted.incidents[0]!;
    const rca = (await (await fetch(`${svc.url}/api/v1/incidents/${id}/rca`, { headers: svc.headers })).json()) as { services: { service: string }[] };
    assert.equal(rca.services[0]!.service, 'service:payment');
    const detail = (await (await fetch(`${svc.url}/api/v1/incidents/${id}`, { headers: svc.headers })).json()) as { rootCauses: { entity: string }[] | null };
    assert.equal(detail.rootCauses?.[0]?.entity, 'service:payment');
  });

  it('gives the same answer for the same inputs, and refuses a request without a target', async () => {
    const ask = async () => (await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ entity: 'service:frontend', time: String(T) }) })).json();
    assert.deepEqual(await ask(), await ask());
    const bad = await fetch(`${svc.url}/api/v1/rca`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(bad.status, 400);
  });
});
