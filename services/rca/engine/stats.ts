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
export function robustZ(baseline: readonly number[], observed: readonly number[]): { z: number; base: number; obs: number } {
  const base = median(baseline);
  const obs = upperMedian(observed);
  if (!Number.isFinite(base) || !Number.isFinite(obs)) return { z: 0, base, obs };
  return { z: (obs - base) / scaleOf(baseline, base), base, obs };
}

/**
 * The spread a deviation is measured in: the MAD, but at least the upper tail's spread ((p90 − median) /
 * 1.2816, which is σ for normal data) and 5 % of the level. A baseline that is flat most of the time but
 * spikes now and then (a sparse edge: 0 ms of network time in most minutes, 150 ms in a few) has a MAD of
 * zero; without the tail term its next spike reads as millions of σ.
 */
export function scaleOf(baseline: readonly number[], base = median(baseline)): number {
  const v = baseline.filter(Number.isFinite).sort((a, b) => a - b);
  const p90 = v.length ? v[Math.min(v.length - 1, Math.ceil(0.9 * v.length) - 1)]! : base;
  return Math.max(mad(baseline), (p90 - base) / 1.2816, Math.abs(base) * 0.05, 1e-9);
}

/** The median of the upper half: a fault that lasts part of the window still shows. */
function upperMedian(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return median(v.slice(Math.floor(v.length / 2)));
}

/** Index of the first observed point beyond `threshold` robust deviations that the next point confirms. */
export function onsetIndex(baseline: readonly number[], observed: readonly number[], threshold = 3): number | undefined {
  const base = median(baseline);
  const scale = scaleOf(baseline, base);
  for (let i = 0; i < observed.length; i++) {
    const hit = (x: number | undefined) => x !== undefined && (x - base) / scale > threshold;
    if (hit(observed[i]) && (i === observed.length - 1 || hit(observed[i + 1]))) return i;
  }
  return undefined;
}
