import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AlertEngine } from '../../services/rca/alerts/engine.ts';
import { fingerprint } from '../../services/rca/alerts/fingerprint.ts';
import { candidateEntities, type Correlator } from '../../services/rca/alerts/correlate.ts';
import { DEFAULT_SETTINGS } from '../../services/rca/alerts/model.ts';
import type { IncomingAlert } from '../../services/rca/alerts/formats.ts';
import { AlertJournal } from '../../services/rca/alerts/journal.ts';
import { AlertService } from '../../services/rca/alerts/service.ts';

/** A fixed undirected graph: a–b–c–d chain, e alone; node n runs pod p which implements service a. */
function graphCorrelator(): Correlator {
  const edges: [string, string][] = [['service:a', 'service:b'], ['service:b', 'service:c'], ['service:c', 'service:d'], ['node:n', 'pod:default/p'], ['pod:default/p', 'service:a']];
  const adj = new Map<string, string[]>();
  for (const [x, y] of edges) {
    adj.set(x, [...(adj.get(x) ?? []), y]);
    adj.set(y, [...(adj.get(y) ?? []), x]);
  }
  return {
    entitiesFor: async (labels) => candidateEntities(labels).filter((c) => adj.has(c) || c === 'service:e'),
    around: async (id, _t, hops) => {
      const seen = new Set([id]);
      let frontier = [id];
      for (let h = 0; h < hops; h++) frontier = frontier.flatMap((n) => (adj.get(n) ?? []).filter((m) => !seen.has(m) && seen.add(m)));
      return seen;
    },
    below: async (id) => new Set(id === 'node:n' ? ['node:n', 'pod:default/p', 'service:a'] : [id]),
  };
}

const T = Date.UTC(2026, 0, 1, 12);
const alert = (name: string, service: string, status: 'firing' | 'resolved' = 'firing', extra: Record<string, string> = {}): IncomingAlert => ({
  source: 'generic', status, labels: { alertname: name, service, ...extra }, annotations: {}, startsAt: T,
});
const engine = (settings = {}) => new AlertEngine({ ...DEFAULT_SETTINGS, hops: 1, ...settings }, graphCorrelator());

describe('alert engine', () => {
  it('computes the same fingerprint as Alertmanager for every captured alert', () => {
    const dir = new URL('../../../shared/fixtures/alertmanager/', import.meta.url).pathname;
    let checked = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const { body } = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { body: { alerts: { labels: Record<string, string>; fingerprint: string }[] } };
      for (const a of body.alerts) {
        assert.equal(fingerprint(a.labels), a.fingerprint, JSON.stringify(a.labels));
        checked++;
      }
    }
    assert.ok(checked >= 5);
  });

  it('changes nothing when the same notification arrives again', async () => {
    const e = engine();
    const first = await e.apply('t', [alert('Down', 'a')], T);
    assert.equal(first.touched.length, 1);
    const again = await e.apply('t', [alert('Down', 'a')], T + 1000);
    assert.deepEqual(again, { changes: [], touched: [] });
    assert.equal(e.visibleIncidents('t').length, 1);
  });

  it('groups alerts within k hops, keeps unrelated ones apart, and merges incidents a new alert bridges', async () => {
    const e = engine();
    await e.apply('t', [alert('Slow', 'a')], T);
    await e.apply('t', [alert('Slow', 'c')], T);
    await e.apply('t', [alert('Down', 'e')], T);
    assert.equal(e.visibleIncidents('t').length, 3, 'a and c are 2 hops apart, e unrelated');
    await e.apply('t', [alert('Errors', 'b')], T + 1000); // b neighbours both a and c
    const open = e.visibleIncidents('t').filter((i) => i.status !== 'resolved');
    assert.equal(open.length, 2);
    const merged = open.find((i) => i.alerts.length === 3)!;
    assert.deepEqual([...merged.entities].sort(), ['service:a', 'service:b', 'service:c']);
  });

  it('resolves the incident only when every alert is resolved (partial, then full)', async () => {
    const e = engine();
    await e.apply('t', [alert('Slow', 'a'), alert('Slow', 'b')], T);
    const [inc] = e.visibleIncidents('t');
    await e.apply('t', [alert('Slow', 'a', 'resolved'), alert('Slow', 'b')], T + 60_000);
    assert.equal(inc!.status, 'open');
    await e.apply('t', [alert('Slow', 'a', 'resolved'), alert('Slow', 'b', 'resolved')], T + 120_000);
    assert.equal(inc!.status, 'resolved');
  });

  it('reopens a resolved incident when its alert fires again within the window, from the new episode on', async () => {
    const e = engine({ flapThreshold: 10 });
    await e.apply('t', [alert('Slow', 'a')], T);
    const [inc] = e.visibleIncidents('t');
    await e.apply('t', [alert('Slow', 'a', 'resolved')], T + 60_000);
    assert.equal(inc!.status, 'resolved');
    await e.apply('t', [{ ...alert('Slow', 'a'), startsAt: T + 300_000 }], T + 310_000);
    assert.equal(inc!.status, 'open');
    assert.equal(inc!.createdAt, T);
    assert.equal(inc!.reopenedAt, T + 300_000, 'RCA of the reopened incident looks at the new episode');
    assert.equal(e.visibleIncidents('t').length, 1);
    // The same alert, re-sent with its old start after the incident was resolved again: the new episode
    // began after that resolve.
    await e.apply('t', [{ ...alert('Slow', 'a', 'resolved'), startsAt: T + 300_000 }], T + 400_000);
    assert.equal(inc!.status, 'resolved');
    await e.apply('t', [{ ...alert('Slow', 'a'), startsAt: T + 300_000 }], T + 500_000);
    assert.equal(inc!.status, 'open');
    assert.equal(inc!.reopenedAt, T + 400_000);
  });

  it('holds down the resolve of a flapping alert until it is quiet', async () => {
    const e = engine({ flapThreshold: 4, holdDownMs: 300_000 });
    let t = T;
    for (const s of ['firing', 'resolved', 'firing', 'resolved'] as const) await e.apply('t', [alert('Flaky', 'a', s)], (t += 10_000));
    const [inc] = e.visibleIncidents('t');
    assert.equal(e.alertsOf(inc!)[0]!.flapping, true);
    assert.equal(inc!.status, 'open', 'held down');
    assert.equal(e.tick(t + 100_000).length, 0);
    assert.equal(e.tick(t + 300_001).length, 1);
    assert.equal(inc!.status, 'resolved');
  });

  it('silences by matchers and by topology subtree, only while active', async () => {
    const e = engine();
    e.putSilence({ id: 's1', tenant: 't', matchers: [{ name: 'alertname', value: 'Noisy.*', isRegex: true }], startsAt: T - 1, endsAt: T + 60_000, createdBy: 'me', comment: '' });
    e.putSilence({ id: 's2', tenant: 't', matchers: [], entity: 'node:n', startsAt: T - 1, endsAt: T + 60_000, createdBy: 'me', comment: 'node maintenance' });
    await e.apply('t', [alert('NoisyDisk', 'c')], T);
    await e.apply('t', [alert('Down', 'a')], T); // service a runs on node n
    await e.apply('t', [alert('Down', 'd')], T);
    await e.apply('t', [alert('NoisyDisk', 'e')], T + 120_000); // silence expired
    const states = [...e.alerts.values()].map((a) => [a.labels.service, a.silencedBy ?? null]);
    assert.deepEqual(states, [['c', 's1'], ['a', 's2'], ['d', null], ['e', null]]);
    assert.equal(e.visibleIncidents('t').length, 2);
  });

  it('keeps tenants apart', async () => {
    const e = engine();
    await e.apply('t1', [alert('Down', 'a')], T);
    await e.apply('t2', [alert('Down', 'a')], T);
    assert.equal(e.visibleIncidents('t1').length, 1);
    assert.equal(e.visibleIncidents('t2').length, 1);
    assert.notEqual(e.visibleIncidents('t1')[0]!.id, e.visibleIncidents('t2')[0]!.id);
  });

  it('rebuilds the same alerts and incidents from its journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
    const make = () => new AlertService({ ...DEFAULT_SETTINGS, hops: 1 }, graphCorrelator(), new AlertJournal(join(dir, 'j.jsonl')), undefined, pino({ level: 'silent' }));
    const a = make();
    await a.notify('t', [alert('Slow', 'a'), alert('Slow', 'e')], T);
    await a.notify('t', [alert('Slow', 'a', 'resolved')], T + 1);
    const [first] = a.engine.visibleIncidents('t');
    await a.acknowledge('t', first!.id, 'me');
    const b = make();
    await b.recover();
    assert.deepEqual(b.engine.visibleIncidents('t').map((i) => [i.id, i.status, i.alerts.length]), a.engine.visibleIncidents('t').map((i) => [i.id, i.status, i.alerts.length]));
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends a firing alert whose endsAt passed without a refresh, and its incident with it; a refresh moves the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
    const a = new AlertService({ ...DEFAULT_SETTINGS, hops: 1 }, graphCorrelator(), new AlertJournal(join(dir, 'j.jsonl')), undefined, pino({ level: 'silent' }));
    await a.notify('t', [{ ...alert('Flow', 'a'), startsAt: T, endsAt: T + 120_000 }], T);
    await a.notify('t', [{ ...alert('Flow', 'a'), startsAt: T, endsAt: T + 200_000 }], T + 60_000);
    await a.tick(T + 150_000);
    assert.equal(a.engine.visibleIncidents('t')[0]!.status, 'open', 'refreshed: still firing');
    await a.tick(T + 200_000);
    assert.equal([...a.engine.alerts.values()][0]!.status, 'resolved');
    assert.equal(a.engine.visibleIncidents('t')[0]!.status, 'resolved');
    rmSync(dir, { recursive: true, force: true });
  });
});
