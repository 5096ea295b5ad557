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
