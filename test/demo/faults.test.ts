/**
 * Issue #8 end to end: the demo shop under the eBPF collector, one fault of every kind, one after another.
 * For each: the system's own detection (the service watch; the sequence model for the bad deploy's flow)
 * opens an incident, no label used, and RCA of that incident ranks the faulty service first within 60 s of
 * the injection. The bad deploy's new version shows in the topology diff, and the sequence model, trained
 * on the demo's normal traffic, flags its abnormal API flow.
 *
 * One demo for every fault (a baseline is minutes of life): 12–13 minutes in all in CI, the longest test of
 * `npm test` (alone: `node test/run.mjs test/demo/faults`). Root only: network namespaces, cgroups and the
 * collector. Screenshots of each incident page go to test-artifacts/demo/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { rootSkipReason } from '../helpers/collector.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/ui.ts';
import { startDemo, type Demo } from '../../demo/runner.ts';

const skip = rootSkipReason();
const WARMUP_MS = 100_000;
const RCA_WITHIN_MS = 60_000;

interface Incident { id: string; status: string; createdAt: number; updatedAt: number; reopenedAt?: number; entities: string[]; title: string }
interface Rca { services: { service: string; kind: string }[]; causes: { entity: string; kind: string; evidence: { signal: string; indicator: string }[] }[] }

let demo: Demo;
let browser: Browser | undefined;
const SHOTS = fileURLToPath(new URL('../../test-artifacts/demo/', import.meta.url));

/**
 * The incident as an SRE sees it in the UI: its page must name the faulty service first, and show the API's
 * first cause (the service, or a process or pod of it) first; a screenshot is kept
 * (test-artifacts/demo/<kind>.png). Skipped only where Chromium is not installed outside CI (the UI tests
 * say so too).
 */
async function showInUi(kind: string, incidentId: string, service: string, topCause: string): Promise<void> {
  if (!browser) return;
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await page.goto(`${demo.rootline.url}/ui/#token=${demo.rootline.token}`);
    await page.goto(`${demo.rootline.url}/ui/#/incidents/${incidentId}`);
    const top = page.locator('#causes li.cause[data-rank="1"]');
    await top.waitFor({ timeout: 30_000 });
    await page.waitForSelector('#map[data-state=ready]', { timeout: 30_000 }).catch(() => undefined);
    await page.screenshot({ path: `${SHOTS}${kind}.png` });
    assert.equal(await page.getAttribute('#causes .services .service[data-rank="1"]', 'data-service'), `service:${service}`, `the incident page names ${service} first`);
    assert.equal(await top.getAttribute('data-entity'), topCause, `the incident page shows ${topCause} as the first cause`);
  } finally {
    await page.close();
  }
}
const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${demo.rootline.url}${path}`, { ...init, headers: { authorization: `Bearer ${demo.rootline.token}`, 'content-type': 'application/json', ...init.headers }, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
};
const incidents = async () => (await api<{ incidents: Incident[] }>('/api/v1/incidents')).body.incidents;

/** What each fault's RCA said, for the report at the end. */
const outcomes: { kind: string; service: string; incident?: string; firstRightAfterS?: number; top?: string }[] = [];

/**
 * Injects a fault, then waits for the first incident opened after it (by the watch or the sequence model)
 * and for its RCA, until the RCA ranks `service` first or 60 s have passed since the injection.
 */
async function injectAndExplain(kind: string, service: string, params: Record<string, unknown> = {}): Promise<{ incident: Incident; rca: Rca; t0: number }> {
  const before = new Set((await incidents()).map((i) => i.id));
  const t0 = Date.now();
  await demo.inject(kind, service, params);
  const outcome: (typeof outcomes)[number] = { kind, service };
  outcomes.push(outcome);
  let incident: Incident | undefined;
  let rca: Rca | undefined;
  while (Date.now() - t0 < RCA_WITHIN_MS) {
    await sleep(2000);
    // The first incident opened (or reopened) since the injection: what the on-call engineer would be paged
    // with. (Its start may precede the injection by a step or two: an episode begins at its first flagged step.)
    incident ??= (await incidents())
      .filter((i) => !before.has(i.id) || (i.status !== 'resolved' && (i.reopenedAt ?? 0) >= t0 - 30_000))
      .sort((a, b) => (a.reopenedAt ?? a.createdAt) - (b.reopenedAt ?? b.createdAt))[0];
    if (!incident) continue;
    outcome.incident = incident.id;
    const r = await api<Rca>(`/api/v1/incidents/${incident.id}/rca`);
    if (r.status !== 200) continue;
    rca = r.body;
    // The latest RCA of each fault is kept beside its screenshot, to read when a ranking is wrong.
    if (browser) writeFileSync(`${SHOTS}${kind}.rca.json`, JSON.stringify({ incident, rca }, null, 2));
    outcome.top = rca.services[0]?.service;
    if (outcome.top === `service:${service}`) {
      outcome.firstRightAfterS = Math.round((Date.now() - t0) / 1000);
      break;
    }
  }
  if (!incident) {
    // For the log: every incident, with its start and last change relative to the injection.
    const all = (await incidents()).map((i) => [i.id, i.status, Math.round((i.createdAt - t0) / 1000), Math.round((i.updatedAt - t0) / 1000), i.title.slice(0, 60)]);
    console.log(`incidents at the deadline ([id, status, created s, updated s, title]): ${JSON.stringify(all)}`);
  }
  assert.ok(incident, `no incident was opened within ${RCA_WITHIN_MS / 1000} s of the ${kind} fault on ${service}`);
  assert.ok(rca, `no RCA for incident ${incident.id}`);
  assert.equal(rca.services[0]?.service, `service:${service}`, `${kind} on ${service}: RCA of ${incident.id} (${incident.title}) within ${RCA_WITHIN_MS / 1000} s: ${JSON.stringify(rca.causes.slice(0, 3).map((c) => [c.entity, c.kind, c.evidence.map((e) => e.signal)]))}`);
  await showInUi(kind, incident.id, service, rca.causes[0]!.entity);
  return { incident, rca, t0 };
}

/** Runs one fault's checks, then always clears it and lets the shop recover, so one failure does not spill into the next. */
async function fault(check: () => Promise<void>, { last = false } = {}): Promise<void> {
  try {
    await check();
  } finally {
    if (last) await demo.clear();
    else await recover();
  }
}

/**
 * Clears every fault and waits until no incident is open, and none opens in the 10 s calm step after: in the
 * demo, watch alerts resolve after 30 s of quiet and a flow alert 30 s after its last anomalous trace.
 */
async function recover(): Promise<void> {
  await demo.clear();
  const t0 = Date.now();
  // What still fires, for the log: past the deadline the next fault would be merged into this incident.
  const firing = async (open: Incident[]) => {
    const still = await Promise.all(open.map((i) => api<{ alerts: { labels: Record<string, string>; status: string; startsAt: number; flapping: boolean }[] }>(`/api/v1/incidents/${i.id}`)));
    return JSON.stringify(still.flatMap((r) => r.body.alerts.filter((a) => a.status !== 'resolved').map((a) => [a.labels.alertname, a.labels.service, Math.round((a.startsAt - t0) / 1000), a.flapping])));
  };
  let noted = false;
  for (;;) {
    await sleep(5000);
    const open = (await incidents()).filter((i) => i.status !== 'resolved');
    const s = Math.round((Date.now() - t0) / 1000);
    if (open.length === 0) {
      // A calm step, so the next fault starts from a quiet baseline: nothing may open during it (a late flow
      // alert of the last fault would otherwise hold an incident open that the next fault's alerts join).
      await sleep(10_000);
      if ((await incidents()).some((i) => i.status !== 'resolved')) {
        console.log(`an incident opened during the calm step, ${s + 10} s after the fault was cleared; waiting again`);
        continue;
      }
      console.log(`recovered ${s} s after the fault was cleared`);
      return;
    }
    if (s >= 60 && !noted) {
      noted = true;
      console.log(`still firing ${s} s after the fault was cleared ([alert, service, start s, flapping]): ${await firing(open)}`);
    }
    if (s < 150) continue;
    console.log(`not recovered after 150 s: ${await firing(open)}`);
    return;
  }
}

describe('demo: every fault kind, detected and explained end to end', { skip }, () => {
  before(async () => {
    if (!chromiumSkipReason()) {
      mkdirSync(SHOTS, { recursive: true });
      browser = await launchChromium();
    } else console.log(`incident pages not checked in the UI: ${chromiumSkipReason()}`);
    demo = await startDemo({ rate: 20, dataDir: `/tmp/rootline-demo-e2e-${process.pid}` });
    // Normal life: the baselines of the watch and RCA, and the sequence model's training traffic. Training
    // takes the machine's CPU for a few seconds (it shares two cores with the shop), so it comes early and
    // the baselines get time to settle after it.
    await sleep(WARMUP_MS - 40_000);
    const train = await api<{ jobId: string }>('/api/v1/models/api-sequences/train', { method: 'POST', body: JSON.stringify({ from: Date.now() - WARMUP_MS, to: Date.now() - 5000 }) });
    assert.equal(train.status, 202, JSON.stringify(train.body));
    for (let i = 0; ; i++) {
      const s = await api<{ state: string; error?: string }>(`/api/v1/models/api-sequences/train/${train.body.jobId}`);
      if (s.body.state === 'completed') break;
      assert.notEqual(s.body.state, 'failed', s.body.error);
      assert.ok(i < 120, 'the sequence model trains within two minutes');
      await sleep(1000);
    }
    // Training took the CPU from the shop (two shared cores): a latency alert it caused is a true one, so it
    // is let run its course (logged) before normal life is judged over a quiet 40 s.
    const trained = Date.now();
    while (Date.now() - trained <= 120_000 && (await incidents()).some((i) => i.status !== 'resolved')) await sleep(5000);
    const warmup = await incidents();
    if (warmup.length) console.log(`incidents of the warm-up and training (CPU shared with the shop): ${JSON.stringify(warmup.map((i) => i.title))}`);
    const known = new Set(warmup.map((i) => i.id));
    await sleep(40_000);
    const opened = (await incidents()).filter((i) => i.status !== 'resolved' || !known.has(i.id));
    assert.deepEqual(opened.map((i) => i.title), [], 'normal life opens no incident');
  });
  after(async () => {
    console.log(`outcomes: ${JSON.stringify(outcomes)}`);
    await browser?.close();
    await demo?.stop();
  });

  it('latency: a slow catalog', async () => fault(async () => {
    await injectAndExplain('latency', 'catalog', { ms: 300 });
  }));

  it('errors: cart fails half its requests', async () => fault(async () => {
    await injectAndExplain('errors', 'cart', { rate: 0.5 });
  }));

  it('exceptions: checkout throws', async () => fault(async () => {
    const { rca } = await injectAndExplain('exception', 'checkout', { rate: 0.5 });
    assert.ok(rca.causes.some((c) => c.entity === 'service:checkout' && c.kind === 'errors'), JSON.stringify(rca.causes[0]));
  }));

  it('CPU hog: a busy thread in catalog', async () => fault(async () => {
    const { rca } = await injectAndExplain('cpu', 'catalog', { threads: 1 });
    assert.ok(rca.causes.some((c) => c.entity === 'service:catalog' && c.evidence.some((e) => /cpu/.test(e.signal))), JSON.stringify(rca.causes[0]));
  }));

  it('dependency down: cart is killed', async () => fault(async () => {
    const { rca } = await injectAndExplain('dependency-down', 'cart', { mode: 'kill' });
    assert.ok(rca.causes.some((c) => c.entity === 'service:cart' && c.kind === 'dependency_down'), JSON.stringify(rca.causes[0]));
  }));

  it('bad deploy: frontend 2.x with a new call order; the diff shows the version, the sequence model the flow', async () => fault(async () => {
    const { t0, rca } = await injectAndExplain('bad-deploy', 'frontend', { failRate: 0.25 });
    const version = demo.services.frontend!.version;
    // The topology takes in each window of telemetry some seconds after it is stored (in 15 s batches): the
    // new version is in the diff within a minute of the deploy, even when RCA was quicker.
    type Diff = { changed: { entity: { id: string }; changes: { attr: string; before: string; after: string }[] }[] };
    const shows = (d: Diff) => (d.changed.find((c) => c.entity.id === 'service:frontend')?.changes ?? []).some((c) => c.attr === 'service.version' && c.after === version && c.before !== version);
    let diff = await api<Diff>(`/api/v1/topology/diff?from=${t0 - 30_000}&to=${Date.now()}`);
    while (diff.status === 200 && !shows(diff.body) && Date.now() - t0 < 60_000) {
      await sleep(2000);
      diff = await api<Diff>(`/api/v1/topology/diff?from=${t0 - 30_000}&to=${Date.now()}`);
    }
    assert.equal(diff.status, 200);
    assert.ok(shows(diff.body), `the diff shows frontend ${version} within a minute: ${JSON.stringify(diff.body.changed)}`);
    const seq = await incidents().then((list) => Promise.all(list.map((i) => api<{ alerts: { labels: Record<string, string>; startsAt: number }[] }>(`/api/v1/incidents/${i.id}`))));
    const flagged = seq.flatMap((r) => r.body.alerts).filter((a) => a.labels.alertname === 'ApiSequenceAnomaly' && a.labels.service === 'frontend' && a.startsAt >= t0 - 5000);
    assert.ok(flagged.length > 0, 'the sequence model flags the new flow');
    assert.ok(rca.causes.some((c) => c.entity === 'service:frontend' && c.evidence.some((e) => e.signal === 'api_sequence' || /version/.test(e.indicator))), JSON.stringify(rca.causes[0]));
  }));

  it('memory leak: checkout keeps growing its heap', async () => fault(async () => {
    const { rca } = await injectAndExplain('memory', 'checkout', { mbPerSec: 20 });
    assert.ok(rca.causes.some((c) => c.entity === 'service:checkout' && c.kind === 'memory'), JSON.stringify(rca.causes[0]));
  }, { last: true }));
});
