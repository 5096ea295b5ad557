/**
 * For the web UI tests: headless Chromium (Debian's, through playwright-core), and seeding a test service
 * with real telemetry through its public APIs: OTLP/JSON traces, alerts, a report.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TestService } from './service.ts';

export const CHROMIUM = process.env.ROOTLINE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));
export const MIN = 60_000;

/**
 * Why the browser tests cannot run here, or undefined when they can. In CI a missing Chromium is not a
 * reason to skip: there it is undefined, so the tests run and fail on the launch, saying why.
 */
export function chromiumSkipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env.CI === 'true') return undefined;
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, as test/setup.sh does; ROOTLINE_CHROMIUM points elsewhere)`;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (test/setup.sh does), required when CI=true`);
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start. WebGL 2 (sigma 4) comes from
  // SwiftShader, Chromium's software GPU, which newer builds only use for WebGL when told it is fine to.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-swiftshader'] });
}

/** A page that fails the test on any uncaught error in the UI, with screenshots under test-artifacts/ui/. */
export async function newPage(browser: Browser, errors: string[]): Promise<Page> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`); });
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return page;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Waits until the map on the page has drawn a graph (data-state=ready) and returns its node count. */
export async function mapReady(page: Page, timeout = 60_000): Promise<number> {
  await page.waitForSelector('#map[data-state=ready]', { timeout });
  return Number(await page.getAttribute('#map', 'data-nodes'));
}

const attr = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } });
const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const id = (bytes: number) => randomBytes(bytes).toString('hex');

export async function post(svc: TestService, path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`${svc.url}${path}`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.ok, `${path}: HTTP ${r.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export async function get<T>(svc: TestService, path: string): Promise<T> {
  const r = await fetch(`${svc.url}${path}`, { headers: svc.headers });
  const text = await r.text();
  assert.ok(r.ok, `${path}: HTTP ${r.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Polls the topology at `at` until `done` holds (the worker extracts a little after each flush). */
export async function waitTopology(svc: TestService, at: number, done: (s: { entities: { id: string; attrs: Record<string, string> }[]; edges: { id: string }[] }) => boolean, what: string): Promise<void> {
  for (let i = 0; ; i++) {
    const snap = await get<{ entities: { id: string; attrs: Record<string, string> }[]; edges: { id: string }[] }>(svc, `/api/v1/topology?at=${at}`);
    if (done(snap)) return;
    assert.ok(i < 240, `topology never showed ${what}`);
    await sleep(250);
  }
}

/**
 * A small shop on Kubernetes: frontend → checkout → payment, each in its pod on a node of cluster `prod`.
 * `checkoutVersion` is the checkout's service.version; `payMs` payment's own time; with `fraud`, payment also
 * calls a fraud service.
 */
export function shopTrace(t: number, o: { payMs: number; checkoutVersion: string; fraud: boolean }): object[] {
  const traceId = id(16);
  const [f, cc, c, pc, p, pf, fr] = [id(8), id(8), id(8), id(8), id(8), id(8), id(8)];
  const res = (service: string, version: string, node: string) => ({
    attributes: [attr('service.name', service), attr('service.version', version), attr('k8s.cluster.name', 'prod'), attr('k8s.namespace.name', 'shop'), attr('k8s.pod.name', `${service}-7d9f`), attr('k8s.node.name', node)],
  });
  const span = (spanId: string, parent: string, name: string, kind: number, start: number, dur: number, attrs: object[] = []) => ({
    traceId, spanId, parentSpanId: parent, name, kind, startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + dur), attributes: attrs,
  });
  const pay = 10 + o.payMs;
  const fraudMs = o.fraud ? 5 : 0;
  return [
    { resource: res('frontend', '1.4', 'node-a'), scopeSpans: [{ spans: [span(f, '', 'GET /checkout', 2, t, 30 + pay + fraudMs, [attr('http.route', '/checkout')]), span(cc, f, 'POST', 3, t + 2, 20 + pay + fraudMs)] }] },
    { resource: res('checkout', o.checkoutVersion, 'node-b'), scopeSpans: [{ spans: [span(c, cc, 'POST /checkout', 2, t + 4, 15 + pay + fraudMs, [attr('http.route', '/checkout')]), span(pc, c, 'POST', 3, t + 6, 11 + pay + fraudMs)] }] },
    {
      resource: res('payment', '3.1', 'node-b'),
      scopeSpans: [{ spans: [span(p, pc, 'POST /pay', 2, t + 8, pay + fraudMs, [attr('http.route', '/pay')]), ...(o.fraud ? [span(pf, p, 'POST', 3, t + 9, fraudMs)] : [])] }],
    },
    ...(o.fraud ? [{ resource: res('fraud', '0.9', 'node-a'), scopeSpans: [{ spans: [span(fr, pf, 'POST /score', 2, t + 9, fraudMs - 1)] }] }] : []),
  ];
}

export interface ShopSeed {
  /** The incident minute: payment is slow from a minute before it. */
  t: number;
  /** Before checkout's deploy (2.0 at t − 10 min) and before fraud existed (from t − 5 min). */
  early: number;
  incidentId: string;
  reportId: string;
}

/**
 * Forty minutes of shop traffic in two batches (the deploy is recorded as a change only when the older version
 * is extracted first), an alert on the frontend that opens an incident, its RCA, and a prediction report.
 */
export async function seedShop(svc: TestService): Promise<ShopSeed> {
  const t = Math.floor((Date.now() - 3 * MIN) / MIN) * MIN;
  const batch = (from: number, to: number) => {
    const rs: object[] = [];
    for (let m = from; m <= to; m++) {
      for (let i = 0; i < 6; i++) {
        const jitter = (i * 7) % 5;
        rs.push(...shopTrace(t + m * MIN + i * 9000, { payMs: m >= -1 ? 300 + jitter * 20 : 5 + jitter, checkoutVersion: m >= -10 ? '2.0' : '1.0', fraud: m >= -5 }));
      }
    }
    return { resourceSpans: rs };
  };
  await post(svc, '/v1/traces', batch(-40, -11));
  await svc.flush();
  await waitTopology(svc, t - 11 * MIN, (s) => s.edges.some((e) => e.id === 'CALLS:service:checkout->service:payment'), 'checkout → payment before the deploy');
  await post(svc, '/v1/traces', batch(-10, 1));
  await svc.flush();
  await waitTopology(svc, t, (s) => s.edges.some((e) => e.id === 'CALLS:service:payment->service:fraud') && s.entities.some((e) => e.id === 'service:checkout' && e.attrs['service.version'] === '2.0'), 'the deploy and fraud');
  const alert = { alerts: [{ name: 'FrontendLatencyHigh', labels: { service: 'frontend', severity: 'critical' }, annotations: { summary: 'p90 of GET /checkout above 200 ms' }, startsAt: new Date(t).toISOString() }] };
  const posted = (await post(svc, '/api/v1/alerts', alert)) as { incidents: string[] };
  const incidentId = posted.incidents[0];
  assert.ok(incidentId, `the alert opened no incident: ${JSON.stringify(posted)}`);
  const rca = await get<{ causes: { entity: string }[] }>(svc, `/api/v1/incidents/${incidentId}/rca`);
  assert.equal(rca.causes[0]?.entity, 'service:payment', `RCA: ${JSON.stringify(rca.causes.slice(0, 3))}`);
  const report = (await post(svc, '/api/v1/reports', { from: t - 30 * MIN, to: t + MIN })) as { id: string };
  return { t, early: t - 30 * MIN, incidentId, reportId: report.id };
}

/**
 * `services` services in Kubernetes (seen over the 5 s after `t`) (a pod each, on 20 nodes) calling each other: service i calls i+1 and
 * a seeded pick further on, so the horizontal view holds every service with about two edges each.
 */
export async function seedLargeTopology(svc: TestService, services: number, t: number): Promise<void> {
  let seed = 42;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;
  const res = (i: number) => ({
    attributes: [attr('service.name', name(i)), attr('service.version', '1.0'), attr('k8s.cluster.name', 'big'), attr('k8s.namespace.name', 'load'), attr('k8s.pod.name', `${name(i)}-0`), attr('k8s.node.name', `node-${i % 20}`)],
  });
  const calls: [number, number][] = [];
  for (let i = 0; i + 1 < services; i++) {
    calls.push([i, i + 1]);
    const j = i + 2 + Math.floor(rnd() * 40);
    if (j < services) calls.push([i, j]);
  }
  for (let k = 0; k < calls.length; k += 1000) {
    const rs = calls.slice(k, k + 1000).flatMap(([a, b], n) => {
      const traceId = id(16);
      const [s, c, r] = [id(8), id(8), id(8)];
      const start = t + (n % 50) * 100;
      const sp = (spanId: string, parent: string, kind: number, off: number, dur: number) => ({ traceId, spanId, parentSpanId: parent, name: 'GET /', kind, startTimeUnixNano: ns(start + off), endTimeUnixNano: ns(start + off + dur) });
      return [
        { resource: res(a), scopeSpans: [{ spans: [sp(s, '', 2, 0, 30), sp(c, s, 3, 2, 20)] }] },
        { resource: res(b), scopeSpans: [{ spans: [sp(r, c, 2, 4, 15)] }] },
      ];
    });
    await post(svc, '/v1/traces', { resourceSpans: rs });
  }
  await svc.flush();
  // An entity's sighting is the last span of its minute: look a little after the spans.
  await waitTopology(svc, t + 30_000, (s) => s.entities.filter((e) => e.id.startsWith('service:svc-')).length >= services, `${services} services`);
}
