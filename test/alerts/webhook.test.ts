/**
 * The alert webhooks, incident and silence APIs end to end over HTTP, against ONE embedded service with all
 * roles (chDB allows one engine per process):
 *
 * 1. the captured Alertmanager 0.25 bodies (/work/shared/fixtures/alertmanager) replayed in order give exactly
 *    Alertmanager's fingerprints, the partial then full resolve, the expected incidents and timelines, and the
 *    retried (identical) body changes nothing;
 * 2. Grafana's documented webhook body (version "1", with its extra per-alert fields), firing then resolved;
 * 3. PagerDuty Events API v2: trigger, dedup, acknowledge, resolve, and the 400s;
 * 4. the generic form;
 * 5. bad bodies on every webhook: a clear 4xx, nothing changed, and the service still answers;
 * 6. incident acknowledge/resolve and silences (CRUD, matchers, entity, validation);
 * 7. tenancy;
 * 8. the journal holds one `notify` line per accepted notification and none for refused ones.
 *
 * Each section uses its own tenant (token), so its exact expectations do not depend on the other sections.
 * HMAC signatures and the rate limit need other settings: see webhook-security.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { newToken, startTestService } from '../helpers/service.ts';
import type { Silence } from '../../services/rca/alerts/model.ts';

// ---------------------------------------------------------------------------------------------------------
// The service

const MAX_BODY = 262_144;
const TENANTS = ['am', 'grafana', 'pd', 'generic', 'bad', 'api', 'a', 'b'] as const;
type Tenant = (typeof TENANTS)[number];
const TOKENS = Object.fromEntries(TENANTS.map((t) => [t, newToken()])) as Record<Tenant, string>;

const svc = await startTestService({ after }, {
  ROOTLINE_ROLES: 'all',
  ROOTLINE_TOKENS: TENANTS.map((t) => `${t}:${TOKENS[t]}`).join(','),
  ROOTLINE_INGEST_WORKERS: '1',
  ROOTLINE_MAX_BODY_BYTES: String(MAX_BODY),
});
const dataDir = svc.dataDir;
const BASE = svc.url;
const JOURNAL = join(dataDir, 'alerts', 'journal.jsonl');

// ---------------------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

interface CallOptions {
  /** Whose token to send; null sends none. */
  tenant?: Tenant | null;
  token?: string;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (with `contentType`). */
  raw?: string | Buffer;
  /** Default application/json when there is a body; null sends no Content-Type. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, o: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...o.headers };
  const token = o.token ?? (o.tenant === null ? undefined : TOKENS[o.tenant ?? 'am']);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const body = o.raw ?? (o.json === undefined ? undefined : JSON.stringify(o.json));
  if (body !== undefined && o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
  const init = { method, headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body), signal: AbortSignal.timeout(10_000) };
  const res = await fetch(`${BASE}${path}`, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** Asserts the status (showing the body when it differs) and returns the parsed body. */
function expectStatus<T>(r: Reply, status: number, what = ''): T {
  assert.equal(r.status, status, `${what} → HTTP ${r.status}: ${r.text.slice(0, 500)}`);
  return r.body as T;
}

const get = async <T>(tenant: Tenant, path: string): Promise<T> => expectStatus<T>(await call('GET', path, { tenant }), 200, `GET ${path}`);

// ---------------------------------------------------------------------------------------------------------
// Response shapes

interface AlertOut {
  fingerprint: string;
  status: string;
  source: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: number;
  endsAt?: number;
  flapping: boolean;
  silencedBy?: string;
  incidentId?: string;
  entities: string[];
}
interface IncidentSummary {
  id: string;
  status: string;
  title: string;
  severity: string;
  createdAt: number;
  updatedAt: number;
  resolvedAt?: number;
  alertCount: number;
  entities: string[];
  version: number;
}
interface TimelineEntry {
  t: number;
  event: string;
  detail?: string;
}
interface IncidentDetail extends IncidentSummary {
  alerts: AlertOut[];
  timeline: TimelineEntry[];
  rootCauses: unknown[] | null;
}
interface Accepted {
  status: string;
  alerts: number;
  incidents: string[];
}
/** A silence as the API returns it: the stored record without its tenant. */
type SilenceOut = Omit<Silence, 'tenant'>;
interface ErrorBody {
  code: number;
  message: string;
}

const alertsOf = async (tenant: Tenant, query = ''): Promise<AlertOut[]> =>
  (await get<{ alerts: AlertOut[] }>(tenant, `/api/v1/alerts${query}`)).alerts.sort((x, y) => x.fingerprint.localeCompare(y.fingerprint));
const incidentsOf = async (tenant: Tenant, query = ''): Promise<IncidentSummary[]> => (await get<{ incidents: IncidentSummary[] }>(tenant, `/api/v1/incidents${query}`)).incidents;
/** An incident's details without `rootCauses`: the RCA worker fills those in on its own time. */
const incident = async (tenant: Tenant, id: string): Promise<Omit<IncidentDetail, 'rootCauses'>> => {
  const { rootCauses: _rc, ...rest } = await get<IncidentDetail>(tenant, `/api/v1/incidents/${encodeURIComponent(id)}`);
  return rest;
};
const byFp = (list: AlertOut[], fp: string): AlertOut => {
  const a = list.find((x) => x.fingerprint === fp);
  assert.ok(a, `no alert ${fp} in ${JSON.stringify(list.map((x) => x.fingerprint))}`);
  return a;
};

// ---------------------------------------------------------------------------------------------------------
// Webhooks, with a record of what was accepted (for the journal check)

const WEBHOOKS = {
  alertmanager: '/api/v1/alerts/alertmanager',
  grafana: '/api/v1/alerts/grafana',
  pagerduty: '/api/v1/alerts/pagerduty',
  generic: '/api/v1/alerts',
} as const;
type Hook = keyof typeof WEBHOOKS;

/** Every notification the service accepted, in order: [tenant, number of alerts]. */
const accepted: [string, number][] = [];

interface Timed {
  res: Reply;
  from: number;
  to: number;
}

/** POSTs to a webhook; records it when accepted (a PagerDuty acknowledge is not a notification). */
async function hook(tenant: Tenant, kind: Hook, o: Omit<CallOptions, 'tenant'>): Promise<Timed> {
  const from = Date.now();
  const res = await call('POST', WEBHOOKS[kind], { ...o, tenant });
  const to = Date.now();
  if (res.status >= 200 && res.status < 300) {
    if (kind === 'pagerduty') {
      if ((o.json as { event_action?: string } | undefined)?.event_action !== 'acknowledge') accepted.push([tenant, 1]);
    } else accepted.push([tenant, (res.body as Accepted).alerts]);
  }
  return { res, from, to };
}

function within(t: number, w: { from: number; to: number }, what: string): void {
  assert.ok(t >= w.from && t <= w.to, `${what}: ${t} is not within [${w.from}, ${w.to}]`);
}

/** Compares a timeline with [event, detail, window it must fall in]. */
function assertTimeline(actual: TimelineEntry[], expected: [string, string | undefined, { from: number; to: number }][]): void {
  assert.deepEqual(
    actual.map((e) => [e.event, e.detail]),
    expected.map(([event, detail]) => [event, detail]),
  );
  actual.forEach((e, i) => within(e.t, expected[i]![2], `timeline[${i}] ${e.event}`));
}

/** Alertmanager's fingerprint (prometheus/common LabelsToSignature), computed independently of the product. */
function amFingerprint(labels: Record<string, string>): string {
  let h = 0xcbf29ce484222325n;
  const feed = (bytes: Iterable<number>) => {
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  for (const name of Object.keys(labels).sort()) {
    feed(Buffer.from(name, 'utf8'));
    feed([0xff]);
    feed(Buffer.from(labels[name]!, 'utf8'));
    feed([0xff]);
  }
  return h.toString(16).padStart(16, '0');
}

/** Everything every tenant can read, and the journal's size: equal snapshots mean nothing changed. */
async function snapshot(): Promise<unknown> {
  const out: Record<string, unknown> = { journalBytes: statSync(JOURNAL, { throwIfNoEntry: false })?.size ?? 0 };
  for (const t of TENANTS) {
    const incidents = await incidentsOf(t);
    out[t] = {
      alerts: await alertsOf(t),
      incidents,
      details: await Promise.all(incidents.map((i) => incident(t, i.id))),
      silences: (await get<{ silences: SilenceOut[] }>(t, '/api/v1/silences')).silences,
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Captured Alertmanager bodies

const FIXTURES = new URL('../../../shared/fixtures/alertmanager/', import.meta.url).pathname;
interface Captured {
  t: string;
  url: string;
  headers?: Record<string, string>;
  body: { alerts: unknown[] };
}
const fixture = (name: string): Captured => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Captured;
const postFixture = (tenant: Tenant, name: string): Promise<Timed> =>
  hook(tenant, 'alertmanager', { raw: JSON.stringify(fixture(name).body), headers: { 'user-agent': 'Alertmanager/0.25.0' } });

const STARTS = Date.parse('2026-11-25T07:56:41.961Z');
const HL1 = { alertname: 'HighLatency', cluster: 'prod', instance: 'checkout-1:8080', service: 'checkout', severity: 'warning' };
const HL2 = { ...HL1, instance: 'checkout-2:8080' };
const DB = { alertname: 'DBDown', cluster: 'staging', service: 'postgres', severity: 'critical' };
const DISK = { alertname: 'DiskFull', cluster: 'staging', service: 'postgres', severity: 'warning' };
const X = { alertname: 'X', instance: 'a' };

describe('captured Alertmanager 0.25 bodies, replayed in order', () => {
  const w: Record<string, { from: number; to: number }> = {};
  const ids = { hl: '', db: '', x: '' };

  it('accepts each body and names the incidents it touched', async () => {
    const expectAccepted = async (name: string, alerts: number, incidentFp: string) => {
      const { res, from, to } = await postFixture('am', name);
      w[name] = { from, to };
      const body = expectStatus<Accepted>(res, 200, name);
      assert.equal(body.status, 'success');
      assert.equal(body.alerts, alerts);
      assert.equal(body.incidents.length, 1, JSON.stringify(body));
      assert.match(body.incidents[0]!, new RegExp(`^inc-[0-9a-z]{6}-${incidentFp.slice(0, 8)}$`));
      return body.incidents[0]!;
    };
    // Grouping: two HighLatency alerts in one body, one incident.
    ids.hl = await expectAccepted('post-1.json', 2, '48ca1ad69155db26');
    ids.db = await expectAccepted('post-2.json', 1, '4a66ce148d18a717');
    // Partial resolve: checkout-1 resolved, checkout-2 still firing.
    assert.equal(await expectAccepted('post-3.json', 2, '48ca1ad69155db26'), ids.hl);
    // DiskFull (released from inhibition) on the same service as DBDown joins its incident.
    assert.equal(await expectAccepted('post-4.json', 1, '4a66ce148d18a717'), ids.db);
    // Full resolve.
    assert.equal(await expectAccepted('post-5.json', 1, '48ca1ad69155db26'), ids.hl);
    // The body the sink answered with HTTP 500 (truncated: max_alerts 1, truncatedAlerts 2).
    ids.x = await expectAccepted('retry-truncation/post-1.json', 1, '109a9abdc9362f9a');
  });

  it('holds exactly the alerts Alertmanager sent, with its fingerprints and the resolves', async () => {
    const all = await alertsOf('am');
    assert.deepEqual(all, [
      {
        fingerprint: '109a9abdc9362f9a', status: 'firing', source: 'alertmanager', labels: X, annotations: {},
        startsAt: Date.parse('2026-11-25T08:00:17.447Z'), flapping: false, entities: ['host:a', 'node:a'], incidentId: ids.x,
      },
      {
        fingerprint: '390384f387522817', status: 'resolved', source: 'alertmanager', labels: HL2,
        annotations: { description: 'checkout-2 slow', summary: 'p99 latency > 1s' }, startsAt: STARTS, endsAt: Date.parse('2026-11-25T07:57:13Z'),
        flapping: false, entities: ['service:checkout', 'host:checkout-2'], incidentId: ids.hl,
      },
      {
        fingerprint: '48ca1ad69155db26', status: 'resolved', source: 'alertmanager', labels: HL1,
        annotations: { description: 'checkout-1 slow', summary: 'p99 latency > 1s' }, startsAt: STARTS, endsAt: Date.parse('2026-11-25T07:56:53Z'),
        flapping: false, entities: ['service:checkout', 'host:checkout-1'], incidentId: ids.hl,
      },
      {
        fingerprint: '4a66ce148d18a717', status: 'firing', source: 'alertmanager', labels: DB, annotations: { summary: 'db down' },
        startsAt: STARTS, flapping: false, entities: ['service:postgres'], incidentId: ids.db,
      },
      {
        fingerprint: '4ba0beee89325a7c', status: 'firing', source: 'alertmanager', labels: DISK, annotations: { summary: 'disk full' },
        startsAt: STARTS, flapping: false, entities: ['service:postgres'], incidentId: ids.db,
      },
    ]);
    // The fingerprints are Alertmanager's, and also what the labels hash to.
    for (const a of all) assert.equal(amFingerprint(a.labels), a.fingerprint);
    assert.deepEqual((await alertsOf('am', '?status=firing')).map((a) => a.fingerprint), ['109a9abdc9362f9a', '4a66ce148d18a717', '4ba0beee89325a7c']);
    assert.deepEqual((await alertsOf('am', '?status=resolved')).map((a) => a.fingerprint), ['390384f387522817', '48ca1ad69155db26']);
  });

  it('builds the expected incidents and timelines', async () => {
    const list = await incidentsOf('am');
    assert.deepEqual(new Set(list.map((i) => i.id)), new Set([ids.hl, ids.db, ids.x]));
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1]!.createdAt >= list[i]!.createdAt, 'newest first');

    const hl = await incident('am', ids.hl);
    const p1 = w['post-1.json']!;
    const p3 = w['post-3.json']!;
    const p5 = w['post-5.json']!;
    assertTimeline(hl.timeline, [
      ['opened', 'HighLatency', p1],
      ['alert added', 'HighLatency', p1],
      ['alert added', 'HighLatency', p1],
      ['alert resolved', 'HighLatency', p3], // partial: still open
      ['alert resolved', 'HighLatency', p5],
      ['resolved', 'all alerts resolved', p5],
    ]);
    const { alerts: hlAlerts, timeline: _t1, ...hlSummary } = hl;
    assert.deepEqual(hlSummary, {
      id: ids.hl, status: 'resolved', title: 'p99 latency > 1s', severity: 'warning', createdAt: STARTS, updatedAt: hl.timeline[5]!.t,
      resolvedAt: hl.timeline[5]!.t, alertCount: 2, entities: ['service:checkout', 'host:checkout-1', 'host:checkout-2'], version: 5,
    });
    assert.deepEqual(hlAlerts.map((a) => [a.fingerprint, a.status]), [['48ca1ad69155db26', 'resolved'], ['390384f387522817', 'resolved']]);

    const db = await incident('am', ids.db);
    assertTimeline(db.timeline, [
      ['opened', 'DBDown', w['post-2.json']!],
      ['alert added', 'DBDown', w['post-2.json']!],
      ['alert added', 'DiskFull', w['post-4.json']!],
    ]);
    const { alerts: dbAlerts, timeline: _t2, ...dbSummary } = db;
    assert.deepEqual(dbSummary, {
      id: ids.db, status: 'open', title: 'db down', severity: 'critical', createdAt: STARTS, updatedAt: db.timeline[2]!.t,
      alertCount: 2, entities: ['service:postgres'], version: 2,
    });
    assert.deepEqual(dbAlerts.map((a) => [a.fingerprint, a.status]), [['4a66ce148d18a717', 'firing'], ['4ba0beee89325a7c', 'firing']]);

    const x = await incident('am', ids.x);
    const wx = w['retry-truncation/post-1.json']!;
    assertTimeline(x.timeline, [['opened', 'X', wx], ['alert added', 'X', wx]]);
    assert.equal(x.status, 'open');
    assert.equal(x.title, 'X');
    assert.equal(x.severity, 'none');
    assert.equal(x.alertCount, 1);
    assert.equal(x.version, 1);

    // The list carries the same summaries as the details.
    for (const s of list) {
      const { alerts: _a, timeline: _t, ...summary } = await incident('am', s.id);
      assert.deepEqual(s, summary);
    }
    assert.deepEqual((await incidentsOf('am', '?status=resolved')).map((i) => i.id), [ids.hl]);
    assert.deepEqual(new Set((await incidentsOf('am', '?status=open')).map((i) => i.id)), new Set([ids.db, ids.x]));
    assert.equal((await incidentsOf('am', '?limit=1')).length, 1);
  });

  it('changes nothing when Alertmanager retries the identical body', async () => {
    assert.deepEqual(fixture('retry-truncation/post-2.json').body, fixture('retry-truncation/post-1.json').body, 'the capture is a retry');
    const before = await snapshot();
    const versionBefore = (await incident('am', ids.x)).version;
    const { res } = await postFixture('am', 'retry-truncation/post-2.json');
    assert.deepEqual(expectStatus<Accepted>(res, 200), { status: 'success', alerts: 1, incidents: [] });
    // The journal grew by the retry's notify line; nothing a user can read changed.
    const after = (await snapshot()) as Record<string, unknown>;
    assert.ok((after.journalBytes as number) > ((before as Record<string, unknown>).journalBytes as number));
    assert.deepEqual({ ...after, journalBytes: 0 }, { ...(before as Record<string, unknown>), journalBytes: 0 });
    assert.equal((await incident('am', ids.x)).version, versionBefore);

    // So does a re-sent firing group (DiskFull) and a re-sent resolve.
    const again = await snapshot();
    for (const name of ['post-4.json', 'post-5.json']) {
      assert.deepEqual(expectStatus<Accepted>((await postFixture('am', name)).res, 200, name), { status: 'success', alerts: 1, incidents: [] });
    }
    const { journalBytes: _j1, ...a1 } = again as Record<string, unknown>;
    const { journalBytes: _j2, ...a2 } = (await snapshot()) as Record<string, unknown>;
    assert.deepEqual(a2, a1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 2. Grafana

/** Grafana's documented webhook body (docs: "Configure the webhook notifier for Alerting"). */
function grafanaBody(status: 'firing' | 'resolved') {
  const resolved = status === 'resolved';
  const alert = (name: string, zone: string, fp: string, startsAt: string, endsAt: string, B: number) => ({
    status,
    labels: { alertname: name, team: 'blue', zone },
    annotations: { description: `The system has ${name.toLowerCase()}`, runbook_url: 'https://myrunbook.com/runbook/1234', summary: `This alert was triggered for zone ${zone}` },
    startsAt,
    endsAt: resolved ? endsAt : '0001-01-01T00:00:00Z',
    generatorURL: `https://play.grafana.org/alerting/${fp}/edit`,
    fingerprint: fp,
    silenceURL: `https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3D${encodeURIComponent(name)}%2Cteam%3Dblue%2Czone%3D${zone}`,
    dashboardURL: '',
    panelURL: '',
    values: { B, C: 1 },
    valueString: `[ var='B' labels={} value=${B} ], [ var='C' labels={} value=1 ]`,
    imageURL: '',
    orgId: 1,
  });
  return {
    receiver: 'My Super Webhook',
    status,
    orgId: 1,
    alerts: [
      alert('High memory usage', 'us-1', 'c6eadffa33fcdf37', '2021-10-12T09:51:03.157076+02:00', '2021-10-12T10:01:03.157076+02:00', 44.23943737541908),
      alert('High CPU usage', 'eu-1', 'bc97ff14869b13e3', '2021-10-12T09:56:03.157076+02:00', '2021-10-12T10:02:03+02:00', 81.5),
    ],
    groupLabels: {},
    commonLabels: { team: 'blue' },
    commonAnnotations: {},
    externalURL: 'https://play.grafana.org/',
    version: '1',
    groupKey: '{}:{}',
    truncatedAlerts: 0,
    title: resolved ? '[RESOLVED]  (blue)' : '[FIRING:2]  (blue)',
    state: resolved ? 'ok' : 'alerting',
    message: resolved ? '**Resolved**\n\nLabels:\n - alertname = High memory usage\n' : '**Firing**\n\nLabels:\n - alertname = High memory usage\n',
  };
}

describe('Grafana alerting webhook', () => {
  it('takes the documented body (with silenceURL, dashboardURL, panelURL, values, valueString, imageURL), firing then resolved', async () => {
    const firing = await hook('grafana', 'grafana', { json: grafanaBody('firing') });
    const ok = expectStatus<Accepted>(firing.res, 200, 'firing');
    assert.equal(ok.status, 'success');
    assert.equal(ok.alerts, 2);
    assert.equal(ok.incidents.length, 2, 'different alert names, no topology: two incidents');
    const mem = byFp(await alertsOf('grafana'), 'c6eadffa33fcdf37');
    const memIncident = mem.incidentId!;
    assert.deepEqual(mem, {
      fingerprint: 'c6eadffa33fcdf37', status: 'firing', source: 'grafana', labels: { alertname: 'High memory usage', team: 'blue', zone: 'us-1' },
      annotations: { description: 'The system has high memory usage', runbook_url: 'https://myrunbook.com/runbook/1234', summary: 'This alert was triggered for zone us-1' },
      startsAt: Date.parse('2021-10-12T07:51:03.157Z'), flapping: false, entities: [], incidentId: memIncident,
    });
    const cpu = byFp(await alertsOf('grafana'), 'bc97ff14869b13e3');
    assert.equal(cpu.status, 'firing');
    assert.equal(cpu.startsAt, Date.parse('2021-10-12T07:56:03.157Z'));
    assert.deepEqual(new Set(ok.incidents), new Set([memIncident, cpu.incidentId]));
    const inc = await incident('grafana', memIncident);
    assert.equal(inc.status, 'open');
    assert.equal(inc.title, 'This alert was triggered for zone us-1');
    assert.equal(inc.alertCount, 1);
    assertTimeline(inc.timeline, [['opened', 'High memory usage', firing], ['alert added', 'High memory usage', firing]]);

    const resolved = await hook('grafana', 'grafana', { json: grafanaBody('resolved') });
    assert.deepEqual(new Set(expectStatus<Accepted>(resolved.res, 200, 'resolved').incidents), new Set(ok.incidents));
    const after = await alertsOf('grafana');
    assert.deepEqual(after.map((a) => [a.fingerprint, a.status, a.endsAt]), [
      ['bc97ff14869b13e3', 'resolved', Date.parse('2021-10-12T08:02:03Z')],
      ['c6eadffa33fcdf37', 'resolved', Date.parse('2021-10-12T08:01:03.157Z')],
    ]);
    const incidents = await incidentsOf('grafana');
    assert.deepEqual(incidents.map((i) => [i.status, i.alertCount]), [['resolved', 1], ['resolved', 1]]);
    const done = await incident('grafana', memIncident);
    assertTimeline(done.timeline, [
      ['opened', 'High memory usage', firing],
      ['alert added', 'High memory usage', firing],
      ['alert resolved', 'High memory usage', resolved],
      ['resolved', 'all alerts resolved', resolved],
    ]);
    assert.equal(done.resolvedAt, done.timeline[3]!.t);
  });

  it('takes a Grafana body whose alert carries no fingerprint (identity from the labels)', async () => {
    const body = grafanaBody('firing');
    const { fingerprint: _f, ...alert } = body.alerts[0]!;
    const labels = { ...alert.labels, alertname: 'No fingerprint' };
    const r = await hook('grafana', 'grafana', { json: { ...body, alerts: [{ ...alert, labels }] } });
    expectStatus<Accepted>(r.res, 200);
    assert.equal(byFp(await alertsOf('grafana'), amFingerprint(labels)).status, 'firing');
  });
});

// ---------------------------------------------------------------------------------------------------------
// 3. PagerDuty Events API v2

const PD_ROUTING = 'R0UT1NGKEY0000000000000000000000';
/** The PagerDuty Events v2 documentation's example event, with our dedup_key. */
const pdTrigger = (dedup_key?: string) => ({
  payload: {
    summary: 'Example alert on host1.example.com',
    timestamp: '2015-07-17T08:42:58.315+0000',
    severity: 'info',
    source: 'monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003',
    component: 'postgres',
    group: 'prod-datapipe',
    class: 'deploy',
    custom_details: { 'ping time': '1500ms', 'load avg': 0.75 },
  },
  routing_key: PD_ROUTING,
  ...(dedup_key ? { dedup_key } : {}),
  images: [{ src: 'https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png', href: 'https://example.com/', alt: 'Example text' }],
  links: [{ href: 'https://example.com/', text: 'Link text' }],
  event_action: 'trigger',
  client: 'Sample Monitoring Service',
  client_url: 'https://monitoring.service.com',
});

describe('PagerDuty Events API v2', () => {
  const KEY = 'srv01/disk-full';
  let incId = '';

  it('trigger → 202 with the dedup_key, one alert and one incident', async () => {
    const r = await hook('pd', 'pagerduty', { json: pdTrigger(KEY) });
    assert.deepEqual(expectStatus(r.res, 202), { status: 'success', message: 'Event processed', dedup_key: KEY });
    const [a, ...rest] = await alertsOf('pd');
    assert.equal(rest.length, 0);
    incId = a!.incidentId!;
    assert.deepEqual(a, {
      fingerprint: KEY, status: 'firing', source: 'pagerduty',
      labels: { alertname: 'deploy', dedup_key: KEY, severity: 'info', source: pdTrigger().payload.source, service: 'postgres', group: 'prod-datapipe' },
      annotations: { summary: 'Example alert on host1.example.com' }, startsAt: Date.parse('2015-07-17T08:42:58.315Z'), flapping: false,
      entities: ['service:postgres'], incidentId: incId,
    });
    const inc = await incident('pd', incId);
    assert.deepEqual([inc.status, inc.title, inc.severity, inc.alertCount, inc.version], ['open', 'Example alert on host1.example.com', 'info', 1, 1]);
  });

  it('a trigger with the same dedup_key adds no alert and changes no incident', async () => {
    const before = await snapshot();
    const r = await hook('pd', 'pagerduty', { json: pdTrigger(KEY) });
    assert.deepEqual(expectStatus(r.res, 202), { status: 'success', message: 'Event processed', dedup_key: KEY });
    const { journalBytes: _a, ...now } = (await snapshot()) as Record<string, unknown>;
    const { journalBytes: _b, ...then } = before as Record<string, unknown>;
    assert.deepEqual(now, then);
  });

  it('acknowledge → the incident is acknowledged (once)', async () => {
    const w = await hook('pd', 'pagerduty', { json: { routing_key: PD_ROUTING, dedup_key: KEY, event_action: 'acknowledge', client: 'oncall-bot' } });
    assert.deepEqual(expectStatus(w.res, 202), { status: 'success', message: 'Event processed', dedup_key: KEY });
    const inc = await incident('pd', incId);
    assert.equal(inc.status, 'acknowledged');
    assert.equal(inc.version, 2);
    assert.deepEqual(inc.timeline.at(-1), { t: inc.timeline.at(-1)!.t, event: 'acknowledged', detail: 'pagerduty:oncall-bot' });
    within(inc.timeline.at(-1)!.t, w, 'acknowledged');
    assert.equal((await alertsOf('pd'))[0]!.status, 'firing', 'acknowledging does not resolve the alert');
    // Again: no change.
    expectStatus((await hook('pd', 'pagerduty', { json: { routing_key: PD_ROUTING, dedup_key: KEY, event_action: 'acknowledge' } })).res, 202);
    assert.equal((await incident('pd', incId)).version, 2);
    // An unknown dedup_key: accepted (as PagerDuty does), nothing changes.
    const before = await snapshot();
    expectStatus((await hook('pd', 'pagerduty', { json: { routing_key: PD_ROUTING, dedup_key: 'never-triggered', event_action: 'acknowledge' } })).res, 202);
    const { journalBytes: _a, ...now } = (await snapshot()) as Record<string, unknown>;
    const { journalBytes: _b, ...then } = before as Record<string, unknown>;
    assert.deepEqual(now, then);
  });

  it('resolve → the alert and the incident are resolved', async () => {
    const w = await hook('pd', 'pagerduty', { json: { routing_key: PD_ROUTING, dedup_key: KEY, event_action: 'resolve' } });
    assert.deepEqual(expectStatus(w.res, 202), { status: 'success', message: 'Event processed', dedup_key: KEY });
    const [a] = await alertsOf('pd');
    assert.equal(a!.status, 'resolved');
    assert.deepEqual(a!.labels, { alertname: 'deploy', dedup_key: KEY, severity: 'info', source: pdTrigger().payload.source, service: 'postgres', group: 'prod-datapipe' }, 'a resolve keeps the labels');
    const inc = await incident('pd', incId);
    assert.equal(inc.status, 'resolved');
    assert.deepEqual(inc.timeline.slice(-2).map((e) => [e.event, e.detail]), [['alert resolved', 'deploy'], ['resolved', 'all alerts resolved']]);
    within(inc.resolvedAt!, w, 'resolvedAt');
  });

  it('a trigger without dedup_key gets a stable key from summary, source and routing_key', async () => {
    const want = amFingerprint({ summary: pdTrigger().payload.summary, source: pdTrigger().payload.source, routing_key: PD_ROUTING });
    for (let i = 0; i < 2; i++) {
      const r = await hook('pd', 'pagerduty', { json: pdTrigger() });
      assert.deepEqual(expectStatus(r.res, 202), { status: 'success', message: 'Event processed', dedup_key: want });
    }
    assert.deepEqual((await alertsOf('pd')).map((a) => [a.fingerprint, a.status]).sort(), [[want, 'firing'], [KEY, 'resolved']].sort());
  });

  it('refuses a trigger without payload and an acknowledge or resolve without dedup_key (400, nothing changes)', async () => {
    const before = await snapshot();
    const cases: [unknown, string][] = [
      [{ routing_key: PD_ROUTING, event_action: 'trigger', dedup_key: KEY }, 'payload is required for trigger events'],
      [{ routing_key: PD_ROUTING, event_action: 'acknowledge' }, 'dedup_key is required for acknowledge events'],
      [{ routing_key: PD_ROUTING, event_action: 'resolve' }, 'dedup_key is required for resolve events'],
    ];
    for (const [json, message] of cases) {
      const r = await hook('pd', 'pagerduty', { json });
      assert.deepEqual(expectStatus(r.res, 400, JSON.stringify(json)), { code: 400, message });
    }
    assert.deepEqual(await snapshot(), before);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 4. The generic form

describe('generic alerts (POST /api/v1/alerts)', () => {
  it('names alerts by `name` or labels.alertname, fingerprints like Alertmanager or by the given key, groups and resolves', async () => {
    // Relative to now: a later alert joins the incident only while it is younger than ROOTLINE_INCIDENT_MAX_AGE_MS.
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 - 5 * 60_000).toISOString();
    const t1 = new Date(Date.parse(t0) + 5 * 60_000).toISOString();
    const backlog = { alertname: 'QueueBacklog', service: 'billing', namespace: 'prod', severity: 'critical' };
    const first = await hook('generic', 'generic', {
      json: { alerts: [{ name: 'QueueBacklog', labels: { service: 'billing', namespace: 'prod', severity: 'critical' }, annotations: { summary: 'queue > 10k' }, startsAt: t0 }] },
    });
    const r1 = expectStatus<Accepted>(first.res, 200);
    assert.equal(r1.alerts, 1);
    assert.equal(r1.incidents.length, 1);
    const incId = r1.incidents[0]!;
    assert.deepEqual(await alertsOf('generic'), [
      {
        fingerprint: amFingerprint(backlog), status: 'firing', source: 'generic', labels: backlog, annotations: { summary: 'queue > 10k' },
        startsAt: Date.parse(t0), flapping: false, entities: ['service:prod/billing', 'service:billing'], incidentId: incId,
      },
    ]);

    // labels.alertname, the sender's own key, no startsAt (now), no status (firing): joins by topology.
    const second = await hook('generic', 'generic', { json: { alerts: [{ labels: { alertname: 'WorkerCrash', service: 'billing', namespace: 'prod' }, fingerprint: 'ext-42' }] } });
    assert.deepEqual(expectStatus<Accepted>(second.res, 200), { status: 'success', alerts: 1, incidents: [incId] });
    const crash = byFp(await alertsOf('generic'), 'ext-42');
    within(crash.startsAt, second, 'startsAt defaults to now');
    assert.deepEqual({ ...crash, startsAt: 0 }, {
      fingerprint: 'ext-42', status: 'firing', source: 'generic', labels: { alertname: 'WorkerCrash', service: 'billing', namespace: 'prod' }, annotations: {},
      startsAt: 0, flapping: false, entities: ['service:prod/billing', 'service:billing'], incidentId: incId,
    });

    // `name` wins over labels.alertname.
    const third = await hook('generic', 'generic', { json: { alerts: [{ name: 'Renamed', labels: { alertname: 'Original', host: 'h1' } }] } });
    const r3 = expectStatus<Accepted>(third.res, 200);
    const renamed = byFp(await alertsOf('generic'), amFingerprint({ alertname: 'Renamed', host: 'h1' }));
    assert.deepEqual([renamed.labels, renamed.entities, renamed.incidentId], [{ alertname: 'Renamed', host: 'h1' }, ['host:h1'], r3.incidents[0]]);
    assert.notEqual(r3.incidents[0], incId);

    // Resolve both billing alerts in one body.
    const res = await hook('generic', 'generic', {
      json: {
        alerts: [
          { name: 'QueueBacklog', status: 'resolved', labels: { service: 'billing', namespace: 'prod', severity: 'critical' }, endsAt: t1 },
          { status: 'resolved', labels: { alertname: 'WorkerCrash', service: 'billing', namespace: 'prod' }, fingerprint: 'ext-42' },
        ],
      },
    });
    assert.deepEqual(expectStatus<Accepted>(res.res, 200), { status: 'success', alerts: 2, incidents: [incId] });
    const after = await alertsOf('generic');
    assert.deepEqual([byFp(after, amFingerprint(backlog)).status, byFp(after, amFingerprint(backlog)).endsAt], ['resolved', Date.parse(t1)]);
    assert.equal(byFp(after, 'ext-42').status, 'resolved');
    const inc = await incident('generic', incId);
    assert.deepEqual([inc.status, inc.alertCount, inc.severity, inc.title, inc.version], ['resolved', 2, 'critical', 'queue > 10k', 5]);
    assertTimeline(inc.timeline, [
      ['opened', 'QueueBacklog', first],
      ['alert added', 'QueueBacklog', first],
      ['alert added', 'WorkerCrash', second],
      ['alert resolved', 'QueueBacklog', res],
      ['alert resolved', 'WorkerCrash', res],
      ['resolved', 'all alerts resolved', res],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 5. Bad bodies

const amBody = (alert: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  version: '4', status: 'firing', receiver: 'r', alerts: [{ status: 'firing', labels: { alertname: 'Bad', service: 'bad' }, startsAt: '2026-11-25T08:00:00Z', ...alert }], ...extra,
});
const grafanaOne = (alert: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ ...amBody(alert, extra), version: '1', orgId: 1 });
const genericBody = (alert: Record<string, unknown> = {}) => ({ alerts: [{ name: 'Bad', labels: { service: 'bad' }, startsAt: '2026-11-25T08:00:00Z', ...alert }] });
const pdBody = (extra: Record<string, unknown> = {}) => ({
  routing_key: PD_ROUTING, event_action: 'trigger', dedup_key: 'bad-1', payload: { summary: 's', source: 'src', severity: 'error', timestamp: '2026-11-25T08:00:00Z' }, ...extra,
});
const VALID: Record<Hook, () => unknown> = { alertmanager: amBody, grafana: grafanaOne, generic: genericBody, pagerduty: pdBody };

/** Strings Date.parse takes that are not RFC 3339 times (nor PagerDuty's ±hhmm variant). */
const NOT_RFC3339 = ['yesterday', '0', '1', '2026-11-25', '2026-11-25T08:00:00', 'Nov 25 2026', '25/11/2026 08:00'];

describe('bad bodies on every webhook', () => {
  it('get a clear 4xx and change nothing', async () => {
    const before = await snapshot();
    const refuse = async (kind: Hook, o: Omit<CallOptions, 'tenant'>, status: number, message: RegExp, what: string) => {
      const r = (await hook('bad', kind, o)).res;
      const body = expectStatus<ErrorBody>(r, status, `${kind}: ${what}`);
      assert.equal(body.code, status, `${kind}: ${what}`);
      assert.match(body.message, message, `${kind}: ${what}`);
    };

    for (const kind of Object.keys(WEBHOOKS) as Hook[]) {
      const valid = JSON.stringify(VALID[kind]());
      await refuse(kind, { raw: '{"alerts": [', contentType: 'application/json' }, 400, /^malformed JSON/, 'truncated JSON');
      await refuse(kind, { raw: "{'alerts': []}" }, 400, /^malformed JSON/, 'single quotes');
      // Valid JSON with bytes that are not UTF-8 inside a string.
      const bytes = Buffer.from(valid.replace('"Bad"', '"B\u0001d"').replace('"s"', '"\u0001"'), 'utf8');
      const at = bytes.indexOf(0x01);
      assert.ok(at > 0);
      bytes[at] = 0xff;
      await refuse(kind, { raw: bytes }, 400, /not valid UTF-8/, 'invalid UTF-8');
      await refuse(kind, { raw: Buffer.from([0xc3, 0x28]) }, 400, /not valid UTF-8/, 'invalid UTF-8 only');
      await refuse(kind, { raw: valid, contentType: 'text/plain' }, 415, /Content-Type/, 'text/plain');
      await refuse(kind, { raw: valid, contentType: 'application/x-www-form-urlencoded' }, 415, /Content-Type/, 'form');
      await refuse(kind, { raw: Buffer.from(valid), contentType: null }, 415, /Content-Type/, 'no content type');
      // Over ROOTLINE_MAX_BODY_BYTES: a valid body padded past the limit.
      const big = JSON.stringify({ ...(VALID[kind]() as object), padding: 'x'.repeat(MAX_BODY + 1024) });
      await refuse(kind, { raw: big }, 413, /larger than the limit/, 'oversized');
      await refuse(kind, { raw: '' }, 400, /body must be object/, 'empty body');
      for (const raw of ['null', '[]', '"alerts"', '42']) await refuse(kind, { raw }, 400, /body must be object|must be object/, `JSON ${raw}`);
    }

    // Alertmanager (and Grafana, same shape).
    await refuse('alertmanager', { json: amBody({}, { version: '3' }) }, 400, /unsupported Alertmanager webhook version "3"; expected "4"/, 'version 3');
    await refuse('alertmanager', { json: { ...amBody(), version: undefined } }, 400, /must have required property 'version'/, 'no version');
    for (const kind of ['alertmanager', 'grafana'] as const) {
      const body = kind === 'alertmanager' ? amBody : grafanaOne;
      await refuse(kind, { json: body({ labels: undefined }) }, 400, /alerts\/0 must have required property 'labels'/, 'no labels');
      await refuse(kind, { json: body({ labels: { service: 'bad' } }) }, 400, /alerts\/0\/labels must have required property 'alertname'/, 'no alertname');
      await refuse(kind, { json: body({ labels: { alertname: '' } }) }, 400, /alertname/, 'empty alertname');
      await refuse(kind, { json: body({ labels: { alertname: 'Bad', n: { v: 1 } } }) }, 400, /labels\/n must be string/, 'an object as a label value');
      await refuse(kind, { json: { ...body(), alerts: [] } }, 400, /alerts must NOT have fewer than 1 items/, 'empty alerts');
      await refuse(kind, { json: { ...body(), alerts: undefined } }, 400, /must have required property 'alerts'/, 'no alerts');
      await refuse(kind, { json: body({ status: 'pending' }) }, 400, /status/, 'unknown alert status');
      await refuse(kind, { json: body({ startsAt: undefined }) }, 400, /startsAt/, 'no startsAt');
      await refuse(kind, { json: body({ fingerprint: 'not-hex!' }) }, 400, /fingerprint/, 'bad fingerprint');
      for (const t of NOT_RFC3339) {
        await refuse(kind, { json: body({ startsAt: t }) }, 400, /alerts\[0\]\.startsAt: .* is not an RFC 3339 time/, `startsAt ${JSON.stringify(t)}`);
        await refuse(kind, { json: body({ status: 'resolved', endsAt: t }) }, 400, /alerts\[0\]\.endsAt: .* is not an RFC 3339 time/, `endsAt ${JSON.stringify(t)}`);
      }
      // One bad alert refuses the whole notification: the good one before it is not stored either.
      const good = { status: 'firing', labels: { alertname: 'GoodButRefused' }, startsAt: '2026-11-25T08:00:00Z' };
      await refuse(kind, { json: { ...body(), alerts: [good, { ...good, labels: { alertname: 'Bad' }, startsAt: 'never' }] } }, 400, /alerts\[1\]\.startsAt/, 'second alert bad');
    }

    // Generic.
    await refuse('generic', { json: { alerts: [] } }, 400, /alerts must NOT have fewer than 1 items/, 'empty alerts');
    await refuse('generic', { json: {} }, 400, /must have required property 'alerts'/, 'no alerts');
    await refuse('generic', { json: genericBody({ labels: undefined }) }, 400, /must have required property 'labels'/, 'no labels');
    await refuse('generic', { json: { alerts: [{ labels: { service: 'bad' } }] } }, 400, /alerts\[0\]: a name or labels\.alertname is required/, 'no name');
    await refuse('generic', { json: { alerts: [{ name: 'Ok', labels: {} }, { labels: { alertname: '' } }] } }, 400, /alerts\[1\]: a name or labels\.alertname is required/, 'second unnamed');
    await refuse('generic', { json: genericBody({ name: '' }) }, 400, /name/, 'empty name');
    await refuse('generic', { json: genericBody({ status: 'pending' }) }, 400, /status/, 'unknown status');
    await refuse('generic', { json: genericBody({ startsAt: 1795593401961 }) }, 400, /startsAt/, 'epoch-ms number as startsAt');
    for (const t of NOT_RFC3339) {
      await refuse('generic', { json: genericBody({ startsAt: t }) }, 400, /alerts\[0\]\.startsAt: .* is not an RFC 3339 time/, `startsAt ${JSON.stringify(t)}`);
      await refuse('generic', { json: genericBody({ status: 'resolved', endsAt: t }) }, 400, /alerts\[0\]\.endsAt: .* is not an RFC 3339 time/, `endsAt ${JSON.stringify(t)}`);
    }

    // PagerDuty.
    await refuse('pagerduty', { json: pdBody({ payload: undefined }) }, 400, /^payload is required for trigger events$/, 'trigger without payload');
    await refuse('pagerduty', { json: pdBody({ event_action: 'acknowledge', dedup_key: undefined }) }, 400, /^dedup_key is required for acknowledge events$/, 'ack without dedup_key');
    await refuse('pagerduty', { json: pdBody({ event_action: 'resolve', dedup_key: undefined }) }, 400, /^dedup_key is required for resolve events$/, 'resolve without dedup_key');
    await refuse('pagerduty', { json: pdBody({ event_action: 'escalate' }) }, 400, /event_action/, 'unknown event_action');
    await refuse('pagerduty', { json: pdBody({ routing_key: undefined }) }, 400, /routing_key/, 'no routing_key');
    await refuse('pagerduty', { json: pdBody({ dedup_key: '' }) }, 400, /dedup_key/, 'empty dedup_key');
    await refuse('pagerduty', { json: pdBody({ payload: { summary: 's', source: 'src', severity: 'fatal' } }) }, 400, /severity/, 'unknown severity');
    await refuse('pagerduty', { json: pdBody({ payload: { summary: 's', severity: 'error' } }) }, 400, /source/, 'no source');
    for (const t of NOT_RFC3339) {
      await refuse('pagerduty', { json: pdBody({ payload: { summary: 's', source: 'src', severity: 'error', timestamp: t } }) }, 400, /payload\.timestamp: .* is not an RFC 3339 time/, `timestamp ${JSON.stringify(t)}`);
    }

    assert.deepEqual(await snapshot(), before, 'no bad body changed anything (alerts, incidents, silences, journal)');

    // The service still answers, and takes a good body on every webhook.
    assert.deepEqual(expectStatus(await call('GET', '/healthz', { tenant: null }), 200), { status: 'ok' });
    for (const kind of Object.keys(WEBHOOKS) as Hook[]) {
      const r = (await hook('bad', kind, { json: VALID[kind]() })).res;
      assert.equal(r.status, kind === 'pagerduty' ? 202 : 200, `${kind}: ${r.text}`);
    }
    // AM, Grafana and generic name the same labels: one alert; PagerDuty's key is its own.
    assert.deepEqual((await alertsOf('bad')).map((a) => a.fingerprint).sort(), [amFingerprint({ alertname: 'Bad', service: 'bad' }), 'bad-1'].sort());
  });

  it('accepts application/json with a charset parameter', async () => {
    const r = await hook('bad', 'generic', { raw: JSON.stringify(genericBody({ name: 'Charset' })), contentType: 'application/json; charset=utf-8' });
    expectStatus<Accepted>(r.res, 200);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 6. Incident and silence APIs

const iso = (ms: number) => new Date(ms).toISOString();

describe('incident API', () => {
  it('acknowledges and resolves an incident (idempotently); 404 for unknown ids', async () => {
    const r = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'ApiDown', labels: { service: 'api-gw', severity: 'critical' } }] } })).res, 200);
    const id = r.incidents[0]!;
    const opened = await incident('api', id);
    assert.equal(opened.status, 'open');
    assert.equal(opened.version, 1);

    const ackFrom = Date.now();
    const ack = expectStatus<IncidentSummary>(await call('POST', `/api/v1/incidents/${id}/acknowledge`, { tenant: 'api' }), 200);
    const ackTo = Date.now();
    const { alerts: _a, timeline: _t, ...afterAck } = await incident('api', id);
    assert.deepEqual(ack, afterAck);
    assert.deepEqual([ack.status, ack.version], ['acknowledged', 2]);
    assert.deepEqual(expectStatus<IncidentSummary>(await call('POST', `/api/v1/incidents/${id}/acknowledge`, { tenant: 'api' }), 200), ack, 'again: unchanged');

    const resFrom = Date.now();
    const resolved = expectStatus<IncidentSummary>(await call('POST', `/api/v1/incidents/${id}/resolve`, { tenant: 'api' }), 200);
    const resTo = Date.now();
    assert.deepEqual([resolved.status, resolved.version], ['resolved', 3]);
    within(resolved.resolvedAt!, { from: resFrom, to: resTo }, 'resolvedAt');
    assert.deepEqual(expectStatus<IncidentSummary>(await call('POST', `/api/v1/incidents/${id}/resolve`, { tenant: 'api' }), 200), resolved, 'again: unchanged');
    // Acknowledging a resolved incident leaves it resolved.
    assert.deepEqual(expectStatus<IncidentSummary>(await call('POST', `/api/v1/incidents/${id}/acknowledge`, { tenant: 'api' }), 200), resolved);
    const detail = await incident('api', id);
    assertTimeline(detail.timeline.slice(2), [['acknowledged', 'tenant:api', { from: ackFrom, to: ackTo }], ['resolved', 'tenant:api', { from: resFrom, to: resTo }]]);
    assert.equal(detail.alerts[0]!.status, 'firing', 'resolving the incident by hand does not resolve its alert');

    const before = await snapshot();
    for (const path of ['/api/v1/incidents/inc-000000-nope', '/api/v1/incidents/inc-000000-nope/acknowledge', '/api/v1/incidents/inc-000000-nope/resolve']) {
      const res = await call(path.endsWith('nope') ? 'GET' : 'POST', path, { tenant: 'api' });
      assert.deepEqual(expectStatus(res, 404, path), { code: 404, message: 'no incident inc-000000-nope' });
    }
    const { journalBytes: _j1, ...now } = (await snapshot()) as Record<string, unknown>;
    const { journalBytes: _j2, ...then } = before as Record<string, unknown>;
    assert.deepEqual(now, then);
  });
});

describe('silences API', () => {
  const silenceInput = (o: Record<string, unknown> = {}) => ({
    matchers: [{ name: 'alertname', value: 'Noisy.*', isRegex: true }, { name: 'env', value: 'prod' }],
    startsAt: iso(Date.now() - 60_000),
    endsAt: iso(Date.now() + 3_600_000),
    createdBy: 'alice',
    comment: 'disk maintenance',
    ...o,
  });
  let silence: SilenceOut;

  it('creates (201), reads, lists, replaces (PUT) and deletes (204) a silence; 404 after', async () => {
    const input = silenceInput();
    const created = expectStatus<SilenceOut>(await call('POST', '/api/v1/silences', { tenant: 'api', json: input }), 201);
    assert.match(created.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(created, { id: created.id, matchers: input.matchers, startsAt: Date.parse(input.startsAt), endsAt: Date.parse(input.endsAt), createdBy: 'alice', comment: 'disk maintenance' });
    assert.deepEqual(await get('api', `/api/v1/silences/${created.id}`), created);
    assert.deepEqual(await get('api', '/api/v1/silences'), { silences: [created] });

    const replacement = silenceInput({ comment: 'extended', endsAt: iso(Date.now() + 7_200_000), matchers: [{ name: 'alertname', value: 'Noisy.*', isRegex: true }, { name: 'env', value: 'prod' }, { name: 'team', value: 'ops', isEqual: false }] });
    const put = expectStatus<SilenceOut>(await call('PUT', `/api/v1/silences/${created.id}`, { tenant: 'api', json: replacement }), 200);
    assert.deepEqual(put, { id: created.id, matchers: replacement.matchers, startsAt: Date.parse(replacement.startsAt), endsAt: Date.parse(replacement.endsAt), createdBy: 'alice', comment: 'extended' });
    assert.deepEqual(await get('api', '/api/v1/silences'), { silences: [put] });
    silence = put;

    const tmp = expectStatus<SilenceOut>(await call('POST', '/api/v1/silences', { tenant: 'api', json: silenceInput({ comment: 'short-lived' }) }), 201);
    const del = await call('DELETE', `/api/v1/silences/${tmp.id}`, { tenant: 'api' });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    for (const [method, o] of [['GET', {}], ['DELETE', {}], ['PUT', { json: silenceInput() }]] as const) {
      assert.deepEqual(expectStatus(await call(method, `/api/v1/silences/${tmp.id}`, { tenant: 'api', ...o }), 404, method), { code: 404, message: `no silence ${tmp.id}` });
    }
    assert.deepEqual(await get('api', '/api/v1/silences'), { silences: [put] });
  });

  it('silences a new matching alert (silencedBy set, no incident) and only matching ones', async () => {
    const incidentsBefore = await incidentsOf('api');
    const r = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'NoisyDisk', labels: { env: 'prod', team: 'dev', host: 'db-7' } }] } })).res, 200);
    assert.deepEqual(r, { status: 'success', alerts: 1, incidents: [] });
    const silenced = byFp(await alertsOf('api'), amFingerprint({ alertname: 'NoisyDisk', env: 'prod', team: 'dev', host: 'db-7' }));
    assert.equal(silenced.silencedBy, silence.id);
    assert.equal(silenced.incidentId, undefined);
    assert.equal(silenced.status, 'firing');
    assert.deepEqual(await incidentsOf('api'), incidentsBefore, 'no incident for a silenced alert');

    // Not matched: env=dev; team=ops (isEqual false); the regex is anchored (a "Noisy" suffix is not a match).
    for (const labels of [{ env: 'dev', team: 'dev' }, { env: 'prod', team: 'ops' }] as Record<string, string>[]) {
      const res = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'NoisyDisk', labels: { ...labels, host: 'db-8' } }] } })).res, 200);
      assert.equal(res.incidents.length, 1, JSON.stringify(labels));
      assert.equal(byFp(await alertsOf('api'), amFingerprint({ alertname: 'NoisyDisk', ...labels, host: 'db-8' })).silencedBy, undefined);
    }
    const anchored = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'VeryNoisyDisk', labels: { env: 'prod', host: 'db-9' } }] } })).res, 200);
    assert.equal(anchored.incidents.length, 1, 'the regex matches the whole value');
  });

  it('silences by entity (a topology subtree), and a silence that has not started silences nothing', async () => {
    const bySvc = expectStatus<SilenceOut>(await call('POST', '/api/v1/silences', { tenant: 'api', json: silenceInput({ matchers: [], entity: 'service:payments', comment: 'payments deploy' }) }), 201);
    assert.equal(bySvc.entity, 'service:payments');
    assert.deepEqual(bySvc.matchers, []);
    const r = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'PaymentsSlow', labels: { service: 'payments' } }] } })).res, 200);
    assert.deepEqual(r.incidents, []);
    assert.equal(byFp(await alertsOf('api'), amFingerprint({ alertname: 'PaymentsSlow', service: 'payments' })).silencedBy, bySvc.id);

    expectStatus(await call('POST', '/api/v1/silences', { tenant: 'api', json: silenceInput({ matchers: [{ name: 'alertname', value: 'Later' }], startsAt: iso(Date.now() + 3_600_000), endsAt: iso(Date.now() + 7_200_000) }) }), 201);
    const later = expectStatus<Accepted>((await hook('api', 'generic', { json: { alerts: [{ name: 'Later', labels: { host: 'h2' } }] } })).res, 200);
    assert.equal(later.incidents.length, 1);
  });

  it('refuses bad silences with 400 and stores nothing', async () => {
    const before = await get<{ silences: SilenceOut[] }>('api', '/api/v1/silences');
    const now = Date.now();
    const cases: [unknown, RegExp, string][] = [
      [silenceInput({ startsAt: iso(now), endsAt: iso(now - 1000) }), /^endsAt must be after startsAt$/, 'endsAt before startsAt'],
      [silenceInput({ startsAt: iso(now), endsAt: iso(now) }), /^endsAt must be after startsAt$/, 'endsAt equal to startsAt'],
      [silenceInput({ startsAt: undefined, endsAt: iso(now - 60_000) }), /^endsAt must be after startsAt$/, 'endsAt in the past'],
      [silenceInput({ matchers: [{ name: 'alertname', value: '([a-z', isRegex: true }] }), /^matcher alertname: invalid regular expression$/, 'bad regex'],
      [silenceInput({ matchers: [] }), /^a silence needs matchers or an entity$/, 'no matchers, no entity'],
      [silenceInput({ endsAt: 'tomorrow' }), /RFC 3339/, 'bad endsAt'],
      [silenceInput({ startsAt: 'now' }), /RFC 3339/, 'bad startsAt'],
      [silenceInput({ createdBy: undefined }), /createdBy/, 'no createdBy'],
      [silenceInput({ endsAt: undefined }), /endsAt/, 'no endsAt'],
      [silenceInput({ matchers: [{ name: '', value: 'x' }] }), /name/, 'empty matcher name'],
      [silenceInput({ entity: '' }), /entity/, 'empty entity'],
    ];
    for (const [json, message, what] of cases) {
      const body = expectStatus<ErrorBody>(await call('POST', '/api/v1/silences', { tenant: 'api', json }), 400, what);
      assert.match(body.message, message, what);
      const put = expectStatus<ErrorBody>(await call('PUT', `/api/v1/silences/${silence.id}`, { tenant: 'api', json }), 400, `PUT ${what}`);
      assert.match(put.message, message, `PUT ${what}`);
    }
    assert.deepEqual(await get('api', '/api/v1/silences'), before);
  });

  it('a still-firing alert whose silence is deleted is no longer marked silenced', async () => {
    const s = expectStatus<SilenceOut>(await call('POST', '/api/v1/silences', { tenant: 'api', json: silenceInput({ matchers: [{ name: 'alertname', value: 'Unsilenced' }] }) }), 201);
    const alert = { alerts: [{ name: 'Unsilenced', labels: { host: 'h9' } }] };
    expectStatus((await hook('api', 'generic', { json: alert })).res, 200);
    assert.equal(expectStatus(await call('DELETE', `/api/v1/silences/${s.id}`, { tenant: 'api' }), 204), undefined);
    // Alertmanager re-sends the still-firing alert (repeat_interval).
    expectStatus((await hook('api', 'generic', { json: alert })).res, 200);
    const a = byFp(await alertsOf('api'), amFingerprint({ alertname: 'Unsilenced', host: 'h9' }));
    assert.equal(a.silencedBy, undefined, `silencedBy still names the deleted silence ${s.id}`);
    assert.ok(a.incidentId, 'the unsilenced, still-firing alert has no incident');
  });
});

// ---------------------------------------------------------------------------------------------------------
// 7. Tenancy

describe('tenancy', () => {
  it('keeps tenant a\'s alerts, incidents and silences from tenant b', async () => {
    const r = expectStatus<Accepted>((await postFixture('a', 'post-1.json')).res, 200);
    const aId = r.incidents[0]!;
    const aAlerts = await alertsOf('a');
    assert.deepEqual(aAlerts.map((x) => x.fingerprint), ['390384f387522817', '48ca1ad69155db26']);
    const aIncident = await incident('a', aId);
    const aSilence = expectStatus<SilenceOut>(await call('POST', '/api/v1/silences', { tenant: 'a', json: { matchers: [{ name: 'alertname', value: 'OnlyA' }], endsAt: iso(Date.now() + 3_600_000), createdBy: 'a', comment: '' } }), 201);

    assert.deepEqual(await alertsOf('b'), []);
    assert.deepEqual(await incidentsOf('b'), []);
    assert.deepEqual(await get('b', '/api/v1/silences'), { silences: [] });
    assert.deepEqual(expectStatus(await call('GET', `/api/v1/incidents/${aId}`, { tenant: 'b' }), 404), { code: 404, message: `no incident ${aId}` });
    for (const action of ['acknowledge', 'resolve']) {
      assert.deepEqual(expectStatus(await call('POST', `/api/v1/incidents/${aId}/${action}`, { tenant: 'b' }), 404, action), { code: 404, message: `no incident ${aId}` });
    }
    for (const [method, o] of [['GET', {}], ['PUT', { json: { matchers: [{ name: 'alertname', value: 'x' }], endsAt: iso(Date.now() + 60_000), createdBy: 'b', comment: '' } }], ['DELETE', {}]] as const) {
      assert.deepEqual(expectStatus(await call(method, `/api/v1/silences/${aSilence.id}`, { tenant: 'b', ...o }), 404, method), { code: 404, message: `no silence ${aSilence.id}` });
    }
    // A PagerDuty acknowledge from b naming a's alert does nothing to a.
    expectStatus((await hook('b', 'pagerduty', { json: { routing_key: PD_ROUTING, dedup_key: '48ca1ad69155db26', event_action: 'acknowledge' } })).res, 202);

    assert.deepEqual(await incident('a', aId), aIncident, 'b changed nothing of a');
    assert.deepEqual(await get('a', `/api/v1/silences/${aSilence.id}`), aSilence);

    // The same body from b: b's own alerts and incident, a's untouched; a's silence does not apply to b.
    const rb = expectStatus<Accepted>((await postFixture('b', 'post-1.json')).res, 200);
    assert.equal(rb.incidents.length, 1);
    assert.notEqual(rb.incidents[0], aId);
    assert.deepEqual((await alertsOf('b')).map((x) => [x.fingerprint, x.incidentId]), [['390384f387522817', rb.incidents[0]], ['48ca1ad69155db26', rb.incidents[0]]]);
    assert.deepEqual(await alertsOf('a'), aAlerts);
    assert.deepEqual(await incident('a', aId), aIncident);
    const onlyA = expectStatus<Accepted>((await hook('b', 'generic', { json: { alerts: [{ name: 'OnlyA', labels: { host: 'hb' } }] } })).res, 200);
    assert.equal(onlyA.incidents.length, 1, "a's silence does not silence b's alert");
    // b's acknowledge of its own incident leaves a's open.
    expectStatus(await call('POST', `/api/v1/incidents/${rb.incidents[0]}/acknowledge`, { tenant: 'b' }), 200);
    assert.equal((await incident('a', aId)).status, 'open');
  });

  it('refuses requests without a known token (401)', async () => {
    const before = await snapshot();
    for (const [method, path, json] of [['POST', WEBHOOKS.alertmanager, fixture('post-2.json').body], ['POST', WEBHOOKS.generic, genericBody()], ['GET', '/api/v1/alerts', undefined], ['GET', '/api/v1/incidents', undefined]] as const) {
      const none = await call(method, path, { tenant: null, json });
      assert.equal(none.status, 401, `${method} ${path} without token`);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="rootline"');
      assert.equal((await call(method, path, { token: newToken(), json })).status, 401, `${method} ${path} unknown token`);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 8. The journal

describe('alert journal', () => {
  it('holds one notify line per accepted notification, in order, and none for refused ones', () => {
    const lines = readFileSync(JOURNAL, 'utf8').split('\n').filter(Boolean);
    const entries = lines.map((l) => JSON.parse(l) as { kind: string; tenant?: string; alerts?: unknown[] });
    const notifies = entries.filter((e) => e.kind === 'notify').map((e) => [e.tenant, e.alerts!.length]);
    assert.ok(accepted.length > 20, `only ${accepted.length} accepted notifications recorded`);
    assert.deepEqual(notifies, accepted);
    assert.deepEqual(new Set(entries.map((e) => e.kind)), new Set(['notify', 'audit', 'ack', 'resolve', 'silence', 'unsilence']));
  });
});
