/** Robust statistics for baselines: median, MAD-based z-scores, and onset detection. */

export function median(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Median absolute deviation scaled to a standard deviation (×1.4826). */
export function mad(xs: readonly number[]): number {
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

/**
 * How far the observed window sits above its baseline, in robust standard deviations. The scale has a floor
 * (a share of the level, and an absolute epsilon) so that a perfectly flat baseline does not turn noise into
 * infinite z.
 */
export function robustZ(baseline: readonly number[], observed: readonly number[], floor = 0): { z: number; base: number; obs: number } {
  const base = median(baseline);
  const obs = upperMedian(observed);
  if (!Number.isFinite(base) || !Number.isFinite(obs)) return { z: 0, base, obs };
  return { z: (obs - base) / scaleOf(baseline, base, floor), base, obs };
}

/**
 * The spread a deviation is measured in: the MAD, but at least the upper half's spread ((p75 − median) /
 * 0.6745, which is σ for normal data), 5 % of the level and the signal's own floor. A baseline that sits at
 * one value more than half the time (quantized latencies) has a MAD of zero; the upper-half term still sees
 * its spread. p75, not p90: a baseline may hold a few minutes of an earlier incident, which must not widen it.
 */
export function scaleOf(baseline: readonly number[], base = median(baseline), floor = 0): number {
  const v = baseline.filter(Number.isFinite).sort((a, b) => a - b);
  const p75 = v.length ? v[Math.min(v.length - 1, Math.ceil(0.75 * v.length) - 1)]! : base;
  return Math.max(mad(baseline), (p75 - base) / 0.6745, Math.abs(base) * 0.05, floor, 1e-9);
}

/** The median of the upper half: a fault that lasts part of the window still shows. */
function upperMedian(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return median(v.slice(Math.floor(v.length / 2)));
}

/** Index of the first observed point beyond `threshold` robust deviations that the next point confirms. */
export function onsetIndex(baseline: readonly number[], observed: readonly number[], threshold = 3, floor = 0): number | undefined {
  const base = median(baseline);
  const scale = scaleOf(baseline, base, floor);
  for (let i = 0; i < observed.length; i++) {
    const hit = (x: number | undefined) => x !== undefined && (x - base) / scale > threshold;
    if (hit(observed[i]) && (i === observed.length - 1 || hit(observed[i + 1]))) return i;
  }
  return undefined;
}
