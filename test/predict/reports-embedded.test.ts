/**
 * Scheduled prediction reports in embedded mode (in-process queue scheduler, chDB): with a short period the
 * predict role stores a report every period; once traces are stored, a report shows the predicted error-rate
 * breach of a service whose errors climb (and the minute they leave their range), the drift of a service
 * whose latency stepped up, and its HTML page
 * has SVG charts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestService, type TestService } from '../helpers/service.ts';

const MIN = 60_000;
const PERIOD_MS = 1500;
const NOW_MINUTE = Math.floor(Date.now() / MIN) * MIN;
const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const res = (service: string) => ({ attributes: [{ key: 'service.name', value: { stringValue: service } }] });

interface Summary { id: string; period: { from: number; to: number }; createdAt: number; trigger: string; predictedBreaches: number }
interface Report {
  id: string;
  period: { from: number; to: number };
  createdAt: number;
  predictedBreaches: { service: string; signal: string; leadMinutes: number; confidence: number; threshold: number }[];
  anomalousSequences: { available: boolean; note: string; items: unknown[] };
  driftingEntities: { service: string; signal: string; robustZ: number }[];
  seriesAnomalies: { service: string; signal: string; at: number; value: number; score: number }[];
  forecasts: { service: string; signal: string; observed: [number, number][]; forecast: number[][] }[];
}

/** 40 minutes of traces frontend → payment, 100 a minute; frontend's error rate climbs 0.1 point a minute; payment's latency steps up 15 minutes ago. */
function batches(): object[][] {
  const out: object[][] = [];
  for (let i = 0; i < 40; i++) {
    const minute = NOW_MINUTE - (40 - i) * MIN;
    const errors = Math.round(100 * 0.001 * i);
    const payMs = i >= 25 ? 60 : 10;
    const rs: object[] = [];
    for (let k = 0; k < 100; k++) {
      const traceId = randomBytes(16).toString('hex');
      const [f, p] = [randomBytes(8).toString('hex'), randomBytes(8).toString('hex')];
      const t = minute + k * 500;
      const jitter = (k % 7) * 0.5;
      rs.push(
        { resource: res('frontend'), scopeSpans: [{ spans: [{ traceId, spanId: f, name: 'GET /buy', kind: 2, startTimeUnixNano: ns(t), endTimeUnixNano: ns(t + payMs + 20 + jitter), status: { code: k < errors ? 2 : 0 } }] }] },
        { resource: res('payment'), scopeSpans: [{ spans: [{ traceId, spanId: p, parentSpanId: f, name: 'POST /pay', kind: 2, startTimeUnixNano: ns(t + 5), endTimeUnixNano: ns(t + 5 + payMs + jitter) }] }] },
      );
    }
    out.push(rs);
  }
  return out;
}

const svc: TestService = await startTestService({ after }, { ROOTLINE_ROLES: 'ingest,predict', ROOTLINE_RETENTION_DAYS: '0', ROOTLINE_REPORT_PERIOD_MS: String(PERIOD_MS) });

async function getJson<T>(path: string): Promise<T> {
  const r = await fetch(`${svc.url}${path}`, { headers: svc.headers });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as T;
}

describe('scheduled prediction reports (embedded)', () => {
  let storedAt = 0;
  before(async () => {
    const all = batches();
    for (let i = 0; i < all.length; i += 10) {
      const r = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: all.slice(i, i + 10).flat() }) });
      assert.equal(r.status, 200, await r.text());
    }
    await svc.flush();
    storedAt = Date.now();
  });

  it('stores a report every period, listed newest first', async () => {
    let list: Summary[];
    for (let i = 0; ; i++) {
      list = (await getJson<{ reports: Summary[] }>('/api/v1/reports?limit=100')).reports.filter((r) => r.trigger === 'schedule');
      if (list.length >= 4) break;
      assert.ok(i < 100, `only ${list.length} scheduled reports after ${i * 0.2} s`);
      await sleep(200);
    }
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1]!.period.to > list[i]!.period.to, 'not newest first');
    for (const r of list) {
      assert.equal(r.period.to - r.period.from, PERIOD_MS);
      assert.equal(r.period.to % PERIOD_MS, 0, 'period not aligned');
      assert.ok(r.createdAt >= r.period.to, 'report created before its period ended');
    }
    // Consecutive scheduled reports cover consecutive periods and were made about one period apart.
    const [a, b] = [list[1]!, list[0]!];
    assert.ok(b.period.to - a.period.to <= 2 * PERIOD_MS, `gap ${b.period.to - a.period.to} ms between periods`);
    const spacing = b.createdAt - a.createdAt;
    assert.ok(spacing > 0.3 * PERIOD_MS && spacing < 2.5 * PERIOD_MS, `reports ${spacing} ms apart, period ${PERIOD_MS}`);
  });

  it('a report after the data landed predicts the error-rate breach and flags the latency drift', async () => {
    let latest: Report | undefined;
    for (let i = 0; ; i++) {
      const [s] = (await getJson<{ reports: Summary[] }>('/api/v1/reports?limit=1')).reports;
      if (s && s.createdAt > storedAt + 100) {
        latest = await getJson<Report>(`/api/v1/reports/${s.id}`);
        break;
      }
      assert.ok(i < 100, 'no report after the data was stored');
      await sleep(200);
    }
    const r = latest;
    const series = new Set(r.forecasts.map((f) => `${f.service}/${f.signal}`));
    for (const s of ['frontend/rate', 'frontend/error_rate', 'frontend/p95_ms', 'payment/p95_ms']) assert.ok(series.has(s), `no forecast for ${s}`);
    const fe = r.forecasts.find((f) => f.service === 'frontend' && f.signal === 'error_rate')!;
    assert.ok(fe.observed.length >= 35, `${fe.observed.length} observed minutes`);
    assert.equal(fe.forecast.length, 60);

    const breach = r.predictedBreaches.find((b) => b.service === 'frontend' && b.signal === 'error_rate');
    assert.ok(breach, JSON.stringify(r.predictedBreaches));
    assert.equal(breach.threshold, 0.05);
    // 3.9% a minute before the end, climbing 0.1 point a minute: about 11 minutes from the last minute.
    assert.ok(breach.leadMinutes >= 5 && breach.leadMinutes <= 20, `lead ${breach.leadMinutes}`);
    assert.ok(breach.confidence > 0.5, `confidence ${breach.confidence}`);

    const drift = r.driftingEntities.find((d) => d.service === 'payment' && d.signal === 'p95_ms');
    assert.ok(drift && drift.robustZ > 4, JSON.stringify(r.driftingEntities));
    assert.ok(!r.driftingEntities.some((d) => d.service === 'payment' && d.signal === 'rate'), 'steady traffic flagged as drift');

    // The climbing error rate leaves the range it had (0.03 → 0.04) five minutes before the end; the steady
    // traffic never moves.
    const jump = r.seriesAnomalies.find((a) => a.service === 'frontend' && a.signal === 'error_rate');
    assert.ok(jump && jump.value >= 0.04 && jump.score >= 0.5, JSON.stringify(r.seriesAnomalies));
    assert.ok(!r.seriesAnomalies.some((a) => a.signal === 'rate'), 'steady traffic flagged as an anomaly');

    assert.equal(r.anomalousSequences.available, false);
    assert.match(r.anomalousSequences.note, /no trained/);
  });

  it('serves the HTML page with inline SVG charts, and needs the token', async () => {
    const [s] = (await getJson<{ reports: Summary[] }>('/api/v1/reports?limit=1')).reports;
    const page = await fetch(`${svc.url}/api/v1/reports/${s!.id}/html`, { headers: svc.headers });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /<svg[^>]*>.*<path d="M/s);
    assert.match(html, /Predicted breaches/);
    assert.match(html, /frontend — error_rate/);
    assert.equal((await fetch(`${svc.url}/api/v1/reports`)).status, 401);
    assert.equal((await fetch(`${svc.url}/api/v1/reports/nope`, { headers: svc.headers })).status, 404);
  });

  it('builds one on demand for a given period', async () => {
    const to = NOW_MINUTE;
    const r = await fetch(`${svc.url}/api/v1/reports`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ from: to - 30 * MIN, to }) });
    const body = (await r.json()) as Report & { trigger: string };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.trigger, 'api');
    assert.deepEqual(body.period, { from: to - 30 * MIN, to });
    const again = await getJson<Report>(`/api/v1/reports/${body.id}`);
    assert.equal(again.id, body.id);
    const bad = await fetch(`${svc.url}/api/v1/reports`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ from: to, to }) });
    assert.equal(bad.status, 400);
  });
});
