/**
 * Webhook signatures and the per-tenant alert rate limit, over HTTP against one embedded service (all roles)
 * with ROOTLINE_WEBHOOK_HMAC_SECRET set and ROOTLINE_ALERT_RATE_PER_S=5 (a bucket of 10 alerts, refilled at
 * 5 a second):
 *
 * - a body without `X-Rootline-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, or with a wrong one, is
 *   refused with 401 on every webhook and stores nothing; the right one is accepted;
 * - more firing alerts than the bucket holds get 429 with Retry-After and store nothing; a notification that
 *   resolves anything is accepted while limited; tenants have their own buckets; after Retry-After the tenant
 *   is served again;
 * - the journal holds one `notify` line per accepted notification and none for refused ones.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { newToken, startTestService } from '../helpers/service.ts';

const SECRET = 'webhook-secret-for-tests-0123456789';
const RATE_PER_S = 5;
const BURST = RATE_PER_S * 2;
const TENANTS = ['sec', 'rate', 'other'] as const;
type Tenant = (typeof TENANTS)[number];
const TOKENS = Object.fromEntries(TENANTS.map((t) => [t, newToken()])) as Record<Tenant, string>;

const svc = await startTestService({ after }, {
  ROOTLINE_ROLES: 'all',
  ROOTLINE_TOKENS: TENANTS.map((t) => `${t}:${TOKENS[t]}`).join(','),
  ROOTLINE_INGEST_WORKERS: '1',
  ROOTLINE_WEBHOOK_HMAC_SECRET: SECRET,
  ROOTLINE_ALERT_RATE_PER_S: String(RATE_PER_S),
});
const dataDir = svc.dataDir;
const BASE = svc.url;
const JOURNAL = join(dataDir, 'alerts', 'journal.jsonl');

const WEBHOOKS = {
  alertmanager: '/api/v1/alerts/alertmanager',
  grafana: '/api/v1/alerts/grafana',
  pagerduty: '/api/v1/alerts/pagerduty',
  generic: '/api/v1/alerts',
} as const;
type Hook = keyof typeof WEBHOOKS;

const sign = (raw: string | Buffer, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** Every notification the service accepted, in order: [tenant, number of alerts]. */
const accepted: [string, number][] = [];

/**
 * POSTs `raw` (or JSON of `json`) to a webhook as `tenant`; `signature` undefined signs it correctly, null
 * sends none. Accepted notifications are recorded for the journal check.
 */
async function hook(tenant: Tenant, kind: Hook, o: { json?: unknown; raw?: string; signature?: string | null }): Promise<Reply> {
  const raw = o.raw ?? JSON.stringify(o.json);
  const headers: Record<string, string> = { authorization: `Bearer ${TOKENS[tenant]}`, 'content-type': 'application/json' };
  const signature = o.signature === undefined ? sign(raw) : o.signature;
  if (signature !== null) headers['x-rootline-signature'] = signature;
  const res = await fetch(`${BASE}${WEBHOOKS[kind]}`, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : undefined;
  if (res.ok) {
    if (kind === 'pagerduty') {
      if ((JSON.parse(raw) as { event_action: string }).event_action !== 'acknowledge') accepted.push([tenant, 1]);
    } else accepted.push([tenant, (body as { alerts: number }).alerts]);
  }
  return { status: res.status, headers: res.headers, text, body };
}

function expectStatus<T>(r: Reply, status: number, what = ''): T {
  assert.equal(r.status, status, `${what} → HTTP ${r.status}: ${r.text.slice(0, 500)}`);
  return r.body as T;
}

async function get<T>(tenant: Tenant, path: string): Promise<T> {
  const res = await fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${TOKENS[tenant]}` } });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path} → ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

interface AlertOut {
  fingerprint: string;
  status: string;
  labels: Record<string, string>;
  incidentId?: string;
}
interface IncidentSummary {
  id: string;
  status: string;
  alertCount: number;
  version: number;
}
const alertsOf = async (tenant: Tenant): Promise<AlertOut[]> =>
  (await get<{ alerts: AlertOut[] }>(tenant, '/api/v1/alerts')).alerts.sort((a, b) => a.fingerprint.localeCompare(b.fingerprint));
const incidentsOf = async (tenant: Tenant): Promise<IncidentSummary[]> => (await get<{ incidents: IncidentSummary[] }>(tenant, '/api/v1/incidents')).incidents;

async function snapshot(): Promise<unknown> {
  const out: Record<string, unknown> = { journalBytes: statSync(JOURNAL, { throwIfNoEntry: false })?.size ?? 0 };
  for (const t of TENANTS) out[t] = { alerts: await alertsOf(t), incidents: await incidentsOf(t) };
  return out;
}

const amBody = (alerts: { name: string; status?: 'firing' | 'resolved'; instance?: string }[]) => ({
  version: '4',
  status: alerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
  receiver: 'rootline',
  groupKey: '{}:{alertname="Sec"}',
  alerts: alerts.map((a) => ({
    status: a.status ?? 'firing',
    labels: { alertname: a.name, instance: a.instance ?? 'i-1', service: 'sec' },
    annotations: {},
    startsAt: '2026-11-25T08:00:00Z',
    endsAt: a.status === 'resolved' ? '2026-11-25T08:01:00Z' : '0001-01-01T00:00:00Z',
  })),
});
const many = (prefix: string, n: number, status: 'firing' | 'resolved' = 'firing') => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, status }));
const BODIES: Record<Hook, unknown> = {
  alertmanager: amBody([{ name: 'SignedAm' }]),
  grafana: { ...amBody([{ name: 'SignedGrafana' }]), version: '1', orgId: 1, title: '[FIRING:1]', state: 'alerting', message: '' },
  generic: { alerts: [{ name: 'SignedGeneric', labels: { service: 'sec' } }] },
  pagerduty: { routing_key: 'R0UT1NG', event_action: 'trigger', dedup_key: 'signed-pd', payload: { summary: 'signed', source: 'sec-host', severity: 'critical' } },
};
const UNAUTHORIZED = { code: 401, message: 'missing or wrong X-Rootline-Signature (sha256=<hex HMAC of the body>)' };

describe('webhook HMAC signature (ROOTLINE_WEBHOOK_HMAC_SECRET)', () => {
  it('refuses a missing or wrong signature with 401 on every webhook and stores nothing', async () => {
    const before = await snapshot();
    for (const kind of Object.keys(WEBHOOKS) as Hook[]) {
      const raw = JSON.stringify(BODIES[kind]);
      const hex = createHmac('sha256', SECRET).update(raw).digest('hex');
      const wrong: [string | null, string][] = [
        [null, 'no header'],
        ['', 'empty header'],
        [sign(raw, 'another-secret'), 'another secret'],
        [hex, 'no sha256= prefix'],
        [`sha1=${hex}`, 'sha1= prefix'],
        [`sha256=${hex.slice(0, -1)}`, 'one digit short'],
        [`sha256=${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}`, 'last digit changed'],
        [sign(JSON.stringify(BODIES[kind], null, 2)), 'signature of the same JSON formatted differently'],
        [sign(raw + ' '), 'signature of other bytes'],
      ];
      for (const [signature, what] of wrong) {
        assert.deepEqual(expectStatus(await hook('sec', kind, { raw, signature }), 401, `${kind}: ${what}`), UNAUTHORIZED, `${kind}: ${what}`);
      }
    }
    // A PagerDuty acknowledge needs a signature too.
    assert.deepEqual(expectStatus(await hook('sec', 'pagerduty', { json: { routing_key: 'R0UT1NG', event_action: 'acknowledge', dedup_key: 'signed-pd' }, signature: null }), 401), UNAUTHORIZED);
    assert.deepEqual(await snapshot(), before);
  });

  it('accepts the signature over the raw bytes of the body', async () => {
    for (const kind of Object.keys(WEBHOOKS) as Hook[]) {
      const r = await hook('sec', kind, { json: BODIES[kind] });
      expectStatus(r, kind === 'pagerduty' ? 202 : 200, kind);
    }
    // The bytes are what is signed, whatever their formatting.
    const pretty = JSON.stringify(amBody([{ name: 'Pretty' }]), null, 2);
    expectStatus(await hook('sec', 'alertmanager', { raw: pretty, signature: sign(pretty) }), 200, 'pretty-printed');
    const names = (await alertsOf('sec')).map((a) => a.labels.alertname).sort();
    assert.deepEqual(names, ['Pretty', 'SignedAm', 'SignedGeneric', 'SignedGrafana', 'signed']);

    // A signed PagerDuty acknowledge works.
    const pdAlert = (await alertsOf('sec')).find((a) => a.fingerprint === 'signed-pd')!;
    expectStatus(await hook('sec', 'pagerduty', { json: { routing_key: 'R0UT1NG', event_action: 'acknowledge', dedup_key: 'signed-pd' } }), 202);
    const inc = (await incidentsOf('sec')).find((i) => i.id === pdAlert.incidentId)!;
    assert.equal(inc.status, 'acknowledged');
  });
});

describe('per-tenant alert rate limit (ROOTLINE_ALERT_RATE_PER_S=5)', () => {
  it('refuses more firing alerts than the bucket holds with 429 and Retry-After, storing nothing', async () => {
    const before = await snapshot();
    const r = await hook('rate', 'alertmanager', { json: amBody(many('Burst', BURST + 1)) });
    assert.deepEqual(expectStatus(r, 429), { code: 429, message: 'alert rate limit for tenant rate exceeded' });
    assert.equal(r.headers.get('retry-after'), '1');
    // A refused signature spends nothing of the budget either.
    expectStatus(await hook('rate', 'alertmanager', { json: amBody(many('Unsigned', BURST)), signature: null }), 401);
    assert.deepEqual(await snapshot(), before);
  });

  it('takes a full bucket, then refuses more until Retry-After, but never a notification that resolves', async () => {
    expectStatus(await hook('rate', 'alertmanager', { json: amBody(many('Fire', BURST)) }), 200, `${BURST} alerts: the whole bucket`);
    const limitedFrom = Date.now();

    const before = await snapshot();
    const refused = await hook('rate', 'generic', { json: { alerts: many('More', RATE_PER_S).map((a) => ({ name: a.name, labels: { service: 'rate' } })) } });
    assert.ok(Date.now() - limitedFrom < 1000, 'the check ran within a second of emptying the bucket');
    assert.deepEqual(expectStatus(refused, 429), { code: 429, message: 'alert rate limit for tenant rate exceeded' });
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.deepEqual(await snapshot(), before, 'a 429 stores nothing');

    // More alerts than the bucket could ever hold, but one of them resolves: accepted, all of it.
    const mixed = [{ name: 'Fire0', status: 'resolved' as const }, ...many('Late', BURST)];
    const ok = expectStatus<{ status: string; alerts: number }>(await hook('rate', 'alertmanager', { json: amBody(mixed) }), 200, 'a body with a resolve');
    assert.equal(ok.alerts, BURST + 1);
    const alerts = await alertsOf('rate');
    assert.equal(alerts.find((a) => a.labels.alertname === 'Fire0')!.status, 'resolved');
    assert.equal(alerts.filter((a) => a.labels.alertname?.startsWith('Late') && a.status === 'firing').length, BURST);
    // So is a PagerDuty resolve (of a key this tenant never triggered: stored as a resolved alert).
    expectStatus(await hook('rate', 'pagerduty', { json: { routing_key: 'R0UT1NG', event_action: 'resolve', dedup_key: 'never-seen' } }), 202);

    // Another tenant has its own bucket.
    expectStatus(await hook('other', 'alertmanager', { json: amBody(many('Other', BURST)) }), 200, 'another tenant');

    // After Retry-After (and a little more), the tenant is served again.
    await sleep(1200);
    expectStatus(await hook('rate', 'alertmanager', { json: amBody(many('Again', RATE_PER_S)) }), 200, 'after Retry-After');
  });
});

describe('alert journal', () => {
  it('holds one notify line per accepted notification, in order, and none for refused ones', () => {
    const entries = readFileSync(JOURNAL, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; tenant?: string; alerts?: unknown[] });
    assert.deepEqual(entries.filter((e) => e.kind === 'notify').map((e) => [e.tenant, e.alerts!.length]), accepted);
    assert.deepEqual(accepted.map(([t]) => t), ['sec', 'sec', 'sec', 'sec', 'sec', 'rate', 'rate', 'rate', 'other', 'rate']);
  });
});
