/** The report forecaster: Holt's method predicts a ramp's crossing at the right lead time, and flat noise predicts none. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { driftOf } from '../../services/predict/reports/builder.ts';
import { holtForecast, normalCdf, predictBreach } from '../../services/predict/reports/forecast.ts';

/** Deterministic noise in [-1, 1). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

describe('report forecaster', () => {
  it('predicts the breach of a linear ramp with the right lead time and high confidence', () => {
    // y = 10 + 2t for t = 0..59; threshold 201 is crossed when 10 + 2(59 + h) > 201, i.e. h = 37.
    const y = Array.from({ length: 60 }, (_, t) => 10 + 2 * t);
    const fc = holtForecast(y, 60)!;
    assert.ok(Math.abs(fc.trend - 2) < 1e-6, `trend ${fc.trend}`);
    const b = predictBreach(y, 201, 60);
    assert.ok(b, 'no breach predicted');
    assert.equal(b.leadMinutes, 37);
    assert.ok(b.confidence > 0.99, `confidence ${b.confidence}`);
    // Not within a 30-minute horizon.
    assert.equal(predictBreach(y, 201, 30), null);
  });

  it('predicts a noisy ramp within a few minutes of the true crossing, with an interval that widens', () => {
    for (let seed = 1; seed <= 9; seed++) {
      const r = noise(seed);
      // An error rate climbing 0.05 percentage points a minute, noise of the same size.
      const y = Array.from({ length: 90 }, (_, t) => 0.01 + 0.0005 * t + 0.0005 * r());
      // True crossing of 0.07: 0.01 + 0.0005 (89 + h) > 0.07, i.e. h ≈ 31.
      const b = predictBreach(y, 0.07, 60);
      assert.ok(b, `no breach predicted (seed ${seed})`);
      assert.ok(Math.abs(b.leadMinutes - 31) <= 5, `lead ${b.leadMinutes} (seed ${seed})`);
      assert.ok(b.confidence > 0.5 && b.confidence <= 1, `confidence ${b.confidence}`);
      const fc = holtForecast(y, 60)!;
      const w = (i: number) => fc.points[i]!.hi - fc.points[i]!.lo;
      assert.ok(w(59) > w(0), 'the interval does not widen with the horizon');
    }
  });

  it('predicts no breach from flat noise below the threshold', () => {
    const r = noise(42);
    for (const seed of [1, 2, 3]) {
      const y = Array.from({ length: 120 }, () => 100 + 5 * r() * seed);
      assert.equal(predictBreach(y, 200, 60), null, `seed ${seed}`);
      assert.equal(predictBreach(y.map((v) => v / 10_000), 0.05, 60), null, `error-rate scale, seed ${seed}`);
    }
  });

  it('reports an ongoing breach with lead time 0', () => {
    const y = [0.01, 0.01, 0.02, 0.08, 0.09];
    assert.equal(predictBreach(y, 0.05, 30)?.leadMinutes, 0);
  });

  it('flags drift by robust sigmas, not on noise', () => {
    const r = noise(3);
    const flat = Array.from({ length: 30 }, () => 50 + r());
    assert.ok(Math.abs(driftOf(flat, 15)!.robustZ) < 4);
    const shifted = [...flat.slice(0, 15), ...flat.slice(15).map((v) => v + 30)];
    assert.ok(driftOf(shifted, 15)!.robustZ > 4);
  });

  it('normalCdf is a CDF', () => {
    assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-7);
    assert.ok(Math.abs(normalCdf(1.2816) - 0.9) < 1e-3);
    assert.ok(Math.abs(normalCdf(-1.96) - 0.025) < 1e-3);
  });
});
