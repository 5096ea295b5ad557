/**
 * Reports flag series anomalies with the streaming detector that `rootline eval nab` scores: the first
 * minute of the recent window it scores at or above the threshold, judged only against earlier minutes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REPORT_SETTINGS, firstAnomaly } from '../../services/predict/reports/builder.ts';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

/** Three hours of per-minute p95 latency around 20 ms with deterministic jitter. */
function latency(): { t: number[]; y: number[] } {
  const t: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 180; i++) {
    t.push(T0 + i * MIN);
    y.push(20 + 3 * Math.sin(i * 1.7) + 2 * Math.cos(i * 0.31));
  }
  return { t, y };
}

describe('series anomalies in reports', () => {
  const score = DEFAULT_REPORT_SETTINGS.anomalyScore;

  it('finds nothing in a steady noisy series', () => {
    const { t, y } = latency();
    assert.equal(firstAnomaly(t, y, T0 + 150 * MIN, score), null);
  });

  it('flags the first minute of a latency jump inside the recent window, not later ones', () => {
    const { t, y } = latency();
    for (let i = 170; i < 180; i++) y[i] = 80 + (i % 3);
    const a = firstAnomaly(t, y, T0 + 165 * MIN, score);
    assert.ok(a, 'jump not flagged');
    assert.equal(a.at, T0 + 170 * MIN);
    assert.ok(a.value >= 80 && a.score >= score && a.score <= 1, JSON.stringify(a));
  });

  it('leaves a jump before the recent window out', () => {
    const { t, y } = latency();
    for (let i = 100; i < 110; i++) y[i] = 80;
    assert.equal(firstAnomaly(t, y, T0 + 150 * MIN, score), null);
  });
});
