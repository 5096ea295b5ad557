/** Snapshot rows → engine signals: new error log templates (Drain-mined) as evidence with the template shown. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSignals } from '../../services/rca/engine/signals.ts';
import { rankCauses } from '../../services/rca/engine/rank.ts';

const MIN = 60_000;
const t = Date.UTC(2026, 0, 1, 12);
const win = { t, baseFrom: t - 40 * MIN, baseTo: t - 5 * MIN, obsFrom: t - 3 * MIN, obsTo: t + 5 * MIN };

describe('signals from stored rows', () => {
  // Both services log the same known error all along; only checkout starts a new kind of error at t.
  const errorLogs: { entity: string; t: number; body: string }[] = [];
  for (let m = -40; m < 5; m++) {
    for (const s of ['frontend', 'checkout']) errorLogs.push({ entity: `service:${s}`, t: t + m * MIN + 1000, body: `connection to cache 10.0.0.${(m + 50) % 7} timed out after ${100 + m} ms` });
    if (m >= 0) for (let i = 0; i < 5; i++) errorLogs.push({ entity: 'service:checkout', t: t + m * MIN + 2000 + i, body: `NullPointerException in OrderService.place order=${1000 + i * 7 + m}` });
  }
  errorLogs.sort((a, b) => a.t - b.t);
  const signals = buildSignals({ metricRows: [], spanRows: [], edgeRows: [], logRows: [], connRows: [], errorLogs }, win);

  it('counts, per minute, the error lines of templates never seen before the observed window', () => {
    const checkout = signals.find((s) => s.entity === 'service:checkout' && s.signal === 'log.new_error_templates');
    const frontend = signals.find((s) => s.entity === 'service:frontend' && s.signal === 'log.new_error_templates');
    assert.ok(checkout && frontend);
    assert.ok(checkout.baseline.filter(Number.isFinite).every((v) => v === 0), 'nothing is new in the baseline');
    assert.equal(Math.max(...checkout.observed.filter(Number.isFinite)), 5);
    assert.ok(frontend.observed.filter(Number.isFinite).every((v) => v === 0), 'the known error is not new');
    assert.match(checkout.detail ?? '', /new error template \(25×\): NullPointerException in OrderService\.place order=<\*>/);
  });

  it('makes the service with the new error the top cause, showing the template', () => {
    const causes = rankCauses({ symptom: 'service:frontend', t, entities: ['service:frontend', 'service:checkout'], edges: [{ from: 'service:frontend', to: 'service:checkout', type: 'CALLS' }], signals });
    assert.equal(causes[0]!.entity, 'service:checkout');
    assert.equal(causes[0]!.kind, 'errors');
    assert.match(causes[0]!.evidence[0]!.indicator, /NullPointerException/);
    assert.ok(!causes.some((c) => c.entity === 'service:frontend'), 'the steady known error blames nobody');
  });
});

describe('a dependency that stops serving', () => {
  // frontend → checkout → payment on a 10 s step; payment is killed at t: no spans of its own from then on,
  // and checkout's calls to it fail (its client spans, with no child, in error).
  const STEP = 10_000;
  const w = { t, baseFrom: t - 40 * MIN, baseTo: t - 5 * MIN, obsFrom: t - 3 * STEP, obsTo: t + 5 * MIN, step: STEP };
  const spanRows: Parameters<typeof buildSignals>[0]['spanRows'] = [];
  const now = t + 40_000;
  for (let m = t - 20 * MIN; m < now; m += STEP) {
    const down = m >= t;
    const row = (entity: string, p90: number, errors: number) => ({ entity, callee: '', minute: m, self_p90: p90 / 2, p90, errors, spans: 50, fanout: 1 });
    spanRows.push(row('service:frontend', 120, down ? 50 : 0), row('service:checkout', 80, down ? 50 : 0));
    if (!down) spanRows.push(row('service:payment', 40, 0));
    // checkout's calls to payment: answered (a child span names the callee), then refused (resolved by peer).
    spanRows.push({ ...row('service:checkout', 30, down ? 50 : 0), callee: 'service:payment' });
    // recommendation lost its only caller long ago: silent, but nobody calls it in vain.
    if (m < t - 10 * MIN) spanRows.push(row('service:recommendation', 20, 0));
  }
  const signals = buildSignals({ metricRows: [], spanRows, edgeRows: [], logRows: [], connRows: [] }, w);

  it('marks the steps the dead service stays silent in, up to the newest step seen anywhere', () => {
    const silent = signals.find((s) => s.entity === 'service:payment' && s.signal === 'span.silent_steps');
    assert.ok(silent);
    assert.ok(silent.baseline.filter(Number.isFinite).every((v) => v === 0));
    const seen = silent.observed.filter(Number.isFinite);
    assert.deepEqual(seen, [0, 0, 0, 1, 1, 1, 1], 'three live steps before t, then four silent ones; later steps unknown');
    assert.ok(signals.filter((s) => s.signal === 'span.silent_steps' && s.entity !== 'service:payment').every((s) => s.observed.every((v) => !(v > 0))), 'idle is not down');
    assert.ok(signals.some((s) => s.signal === 'span.silent_steps' && s.entity === 'service:recommendation'));
  });

  it('names the silent service first, as a dependency that is down, over the callers that fail because of it', () => {
    const causes = rankCauses({
      symptom: 'service:frontend', t, entities: ['service:frontend', 'service:checkout', 'service:payment'],
      edges: [{ from: 'service:frontend', to: 'service:checkout', type: 'CALLS' }, { from: 'service:checkout', to: 'service:payment', type: 'CALLS' }], signals,
    });
    assert.equal(causes[0]?.entity, 'service:payment', JSON.stringify(causes.slice(0, 3)));
    assert.equal(causes[0]?.kind, 'dependency_down');
    assert.match(causes[0]!.evidence[0]!.indicator, /no spans of its own/);
  });
});

describe('callers that give up', () => {
  // frontend → checkout → {cart, payment, email}, per minute, as service-graph edge latency (client and
  // server side). From t checkout still takes orders and reads the cart but never calls payment or email:
  // it throws before charging the card.
  const edgeRows: Parameters<typeof buildSignals>[0]['edgeRows'] = [];
  for (let m = t - 40 * MIN; m < t + 5 * MIN; m += MIN) {
    const failing = m >= t && m < t + 3 * MIN;
    const edges: [string, string][] = [['frontend', 'checkout'], ['checkout', 'cart'], ...(failing ? [] : [['checkout', 'payment'], ['checkout', 'email']] as [string, string][])];
    for (const [client, server] of edges) for (const side of ['client', 'server']) edgeRows.push({ client, server, side, minute: m, value: 0.01 });
  }
  const signals = buildSignals({ metricRows: [], spanRows: [], edgeRows, logRows: [], connRows: [] }, win);

  it('counts, per caller and step, the share of its usual callees it no longer calls', () => {
    const checkout = signals.find((s) => s.entity === 'service:checkout' && s.signal === 'edge.usual_calls_missing');
    assert.ok(checkout);
    assert.ok(checkout.baseline.filter(Number.isFinite).every((v) => v === 0));
    assert.deepEqual(checkout.observed.filter(Number.isFinite).map((v) => Math.round(v * 100) / 100), [0, 0, 0, 0.67, 0.67, 0.67, 0, 0]);
    const frontend = signals.find((s) => s.entity === 'service:frontend' && s.signal === 'edge.usual_calls_missing');
    assert.ok(frontend?.observed.every((v) => !(v > 0)), 'frontend still calls checkout');
  });

  it('blames the caller that stopped calling, not the callees it stopped calling', () => {
    const edges = [
      { from: 'service:frontend', to: 'service:checkout', type: 'CALLS' },
      ...['cart', 'payment', 'email'].map((s) => ({ from: 'service:checkout', to: `service:${s}`, type: 'CALLS' })),
    ];
    const causes = rankCauses({ symptom: 'service:frontend', t, entities: [...new Set(edges.flatMap((e) => [e.from, e.to]))], edges, signals });
    assert.equal(causes[0]?.entity, 'service:checkout', JSON.stringify(causes.slice(0, 3)));
    assert.equal(causes[0]?.kind, 'errors');
    assert.ok(!causes.some((c) => c.entity === 'service:payment' || c.entity === 'service:email'));
  });

  it('reads callers abandoning requests right after calling a service as that service failing them', () => {
    // The share of calls to catalog after which the caller made no further call: ~0 until t, then most.
    const stopRows = [];
    for (let m = t - 40 * MIN; m < t + 5 * MIN; m += MIN) {
      stopRows.push({ entity: 'service:catalog', signal: 'span.caller_stops_after', minute: m, value: m >= t ? 0.85 : 0.01 * ((m / MIN) % 3) });
      stopRows.push({ entity: 'service:cart', signal: 'span.caller_stops_after', minute: m, value: 0.1 + 0.01 * ((m / MIN) % 2) });
    }
    const s = buildSignals({ metricRows: [], spanRows: [], edgeRows: [], logRows: [], stopRows, connRows: [] }, win);
    const edges = ['catalog', 'cart'].map((x) => ({ from: 'service:frontend', to: `service:${x}`, type: 'CALLS' }));
    const causes = rankCauses({ symptom: 'service:frontend', t, entities: ['service:frontend', 'service:catalog', 'service:cart'], edges, signals: s });
    assert.equal(causes[0]?.entity, 'service:catalog', JSON.stringify(causes.slice(0, 3)));
    assert.equal(causes[0]?.kind, 'errors');
    assert.ok(!causes.some((c) => c.entity === 'service:cart'), 'a steady share blames nobody');
  });
});
