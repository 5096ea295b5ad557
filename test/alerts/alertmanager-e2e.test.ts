/**
 * The real Alertmanager 0.25 posts to Rootline's webhook through a forwarding proxy that can fail requests
 * with 500, through the scenarios of the issue: firing and grouping, a repeated notification, a partial and
 * a full resolve, and a retry after a forced 500. The stored alerts and incidents must come out exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer, request, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../services/shared/config.ts';
import { startService, type RunningService } from '../../services/main.ts';
import { ALERTMANAGER_MISSING, startAlertmanager, type TestAlertmanager } from '../helpers/alertmanager.ts';

const TOKEN = randomBytes(16).toString('hex');
const H = { authorization: `Bearer ${TOKEN}` };

interface Forwarded {
  status: number;
  alerts: { status: string; fingerprint: string }[];
}

/** Forwards to Rootline; answers 500 itself while `failNext` > 0. */
function startProxy(target: string): Promise<{ url: string; seen: Forwarded[]; failNext: { n: number }; close(): Promise<void> }> {
  const seen: Forwarded[] = [];
  const failNext = { n: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const parsed = JSON.parse(body.toString()) as { alerts: { status: string; fingerprint: string }[] };
      if (failNext.n > 0) {
        failNext.n--;
        seen.push({ status: 500, alerts: parsed.alerts });
        res.writeHead(500).end('forced');
        return;
      }
      const fwd = request(`${target}/api/v1/alerts/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: String(req.headers.authorization ?? '') } }, (r) => {
        const out: Buffer[] = [];
        r.on('data', (c: Buffer) => out.push(c));
        r.on('end', () => {
          seen.push({ status: r.statusCode ?? 0, alerts: parsed.alerts });
          res.writeHead(r.statusCode ?? 502, { 'content-type': 'application/json' }).end(Buffer.concat(out));
        });
      });
      fwd.end(body);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}/hook`, seen, failNext, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('real Alertmanager → Rootline webhook', () => {
  let svc: RunningService;
  let dir: string;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let am: TestAlertmanager | null;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'am-e2e-'));
    svc = await startService(loadConfig({ ROOTLINE_PORT: '0', ROOTLINE_DATA_DIR: dir, ROOTLINE_TOKENS: `ops:${TOKEN}`, ROOTLINE_LOG_LEVEL: 'warn' }));
    proxy = await startProxy(svc.url);
    am = await startAlertmanager({ webhookUrl: proxy.url, bearerToken: TOKEN, groupWaitMs: 500, groupIntervalMs: 1000, repeatIntervalMs: 1000, groupBy: ['alertname', 'cluster'] });
  });
  after(async () => {
    await am?.stop();
    await proxy?.close();
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async <T>(path: string) => (await (await fetch(`${svc.url}${path}`, { headers: H })).json()) as T;
  type Alerts = { alerts: { fingerprint: string; status: string; labels: Record<string, string>; incidentId?: string }[] };
  type Incidents = { incidents: { id: string; status: string; alertCount: number; version: number }[] };
  const a1 = { alertname: 'HighLatency', cluster: 'prod', service: 'checkout', instance: 'checkout-1:8080', severity: 'warning' };
  const a2 = { alertname: 'HighLatency', cluster: 'prod', service: 'checkout', instance: 'checkout-2:8080', severity: 'warning' };

  it('stores a firing group as two alerts in one incident', async (t) => {
    if (!am) return t.skip(ALERTMANAGER_MISSING);
    await am.push([{ labels: a1, annotations: { summary: 'p99 > 1s' } }, { labels: a2, annotations: { summary: 'p99 > 1s' } }]);
    const alerts = await until('two firing alerts', async () => {
      const r = await get<Alerts>('/api/v1/alerts');
      return r.alerts.length === 2 ? r.alerts : undefined;
    });
    assert.deepEqual(alerts.map((a) => a.status), ['firing', 'firing']);
    const inc = await get<Incidents>('/api/v1/incidents');
    assert.equal(inc.incidents.length, 1);
    assert.equal(inc.incidents[0]!.alertCount, 2);
    assert.ok(alerts.every((a) => a.incidentId === inc.incidents[0]!.id));
  });

  it('changes nothing on repeated notifications of the same group', async (t) => {
    if (!am) return t.skip(ALERTMANAGER_MISSING);
    const before = await get<Incidents>('/api/v1/incidents');
    const delivered = proxy.seen.length;
    await until('a repeat notification', async () => (proxy.seen.length >= delivered + 2 ? true : undefined));
    const afterRepeat = await get<Incidents>('/api/v1/incidents');
    assert.deepEqual(afterRepeat, before, 'a repeat must not bump the incident');
    assert.equal((await get<Alerts>('/api/v1/alerts')).alerts.length, 2);
  });

  it('retries after a forced 500 and stores the retry once', async (t) => {
    if (!am) return t.skip(ALERTMANAGER_MISSING);
    const a3 = { ...a1, instance: 'checkout-3:8080' };
    proxy.failNext.n = 1;
    const from = proxy.seen.length;
    await am.push([{ labels: a1 }, { labels: a2 }, { labels: a3 }]);
    await until('a 500 then a 200 carrying the new alert', async () => {
      const tail = proxy.seen.slice(from);
      const failed = tail.findIndex((s) => s.status === 500);
      return failed >= 0 && tail.slice(failed + 1).some((s) => s.status === 200 && s.alerts.length === 3) ? true : undefined;
    });
    const alerts = (await get<Alerts>('/api/v1/alerts')).alerts;
    assert.equal(alerts.length, 3);
    const inc = await get<Incidents>('/api/v1/incidents');
    assert.equal(inc.incidents.length, 1);
    assert.equal(inc.incidents[0]!.alertCount, 3);
  });

  it('applies a partial resolve, then a full resolve closes the incident', async (t) => {
    if (!am) return t.skip(ALERTMANAGER_MISSING);
    await am.resolve([{ labels: a1 }]);
    await until('a1 resolved', async () => ((await get<Alerts>('/api/v1/alerts?status=resolved')).alerts.length === 1 ? true : undefined));
    let inc = await get<Incidents>('/api/v1/incidents');
    assert.equal(inc.incidents[0]!.status, 'open', 'two alerts still fire');
    await am.resolve([{ labels: a2 }, { labels: { ...a1, instance: 'checkout-3:8080' } }]);
    await until('all resolved', async () => ((await get<Alerts>('/api/v1/alerts?status=firing')).alerts.length === 0 ? true : undefined));
    inc = await get<Incidents>('/api/v1/incidents');
    assert.equal(inc.incidents.length, 1);
    assert.equal(inc.incidents[0]!.status, 'resolved');
    const detail = await get<{ timeline: { event: string }[] }>(`/api/v1/incidents/${inc.incidents[0]!.id}`);
    assert.deepEqual(
      detail.timeline.map((e) => e.event),
      ['opened', 'alert added', 'alert added', 'alert added', 'alert resolved', 'alert resolved', 'alert resolved', 'resolved'],
    );
    assert.ok(proxy.seen.every((s) => s.status === 200 || s.status === 500));
    // The audit trail holds each state change once, whatever Alertmanager re-sent.
    const fp = (await get<Alerts>('/api/v1/alerts')).alerts.find((a) => a.labels.instance === 'checkout-1:8080')!.fingerprint;
    const audit = await get<{ changes: { change: string }[] }>(`/api/v1/alerts/audit?fingerprint=${fp}`);
    assert.deepEqual(audit.changes.map((c) => c.change), ['new', 'grouped', 'resolved']);
  });
});
