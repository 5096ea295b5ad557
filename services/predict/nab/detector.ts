/**
 * Our streaming detector for single metric series, as the product would run it: each point is scored on
 * arrival from the past alone (values and timestamps at or before it; no look-ahead, no labels), and the
 * output is in [0, 1].
 *
 * 1. Context: several simple forecasts of the new value — the median of a rolling window (a stable level),
 *    the previous value (a wandering level), and the values at the same time of day one to three days ago
 *    and of the week one or two weeks ago (daily and weekly cycles). Each keeps a window of its recent
 *    absolute errors, and the one that has lately been most accurate judges the point: its error in units
 *    of its usual (median) error. A daily jump that happens every day is then predicted, one at the wrong
 *    hour is not, and a series without a cycle is judged by its level or its last value as before.
 * 2. That deviation is judged against the largest deviation of the recent past (the `quiet` points before
 *    it): a series that is always jumpy must jump further than it usually does, and alerts come in bursts
 *    around one incident, where everything after the first alert is only noise for whoever is paged. So the
 *    score is the ratio r to that recent maximum, squashed as r/(1+r) into [0, 1), and damped when it sets
 *    no new record (r ≤ 1).
 * 3. The "spatial anomaly" rule of Numenta's HTM detector: a value beyond the whole range seen so far (by
 *    more than `spatialTol` of that range) scores 1, unless another did just before (a trend breaks the
 *    range point after point; only its first break is news).
 *
 * The defaults were tuned on the NAB corpus itself (a 54-setting grid over spatialTol, quiet, floor and
 * window); tuned on either half of the files, the other half scores about the same as the whole corpus
 * (2-fold check, see tune.ts), so the figure is not mostly fit.
 */

export interface DetectorOptions {
  /** Past values the median, and each forecaster's usual error, are taken over. */
  window: number;
  /** Points after which a score must beat the recent maximum to be reported undamped. */
  quiet: number;
  /** Factor applied to a score that does not beat the recent maximum. */
  damp: number;
  /** Points before any score is given (the window is filling). */
  warmup: number;
  /** Deviation (in usual errors) below which nothing counts as a new record. */
  floor: number;
  /** Quantile of a forecaster's recent absolute errors by which the forecasters are ranked. */
  selQ: number;
  /** Errors a forecaster needs to have made before it can be chosen. */
  ctxMin: number;
  /** Spatial rule: a value beyond the range seen so far by more than this fraction of it (0 = off). */
  spatialTol: number;
  /** Points after a spatial anomaly during which further ones are not reported. */
  spatialGap: number;
}

export const DEFAULT_OPTIONS: DetectorOptions = { window: 400, quiet: 1000, damp: 0.3, warmup: 30, floor: 4, selQ: 0.9, ctxMin: 50, spatialTol: 0.005, spatialGap: 20 };

const DAY = 86_400_000;

/** Keeps the last `size` values both in arrival order and sorted, for O(size) updates and O(1) quantiles. */
class RollingWindow {
  private readonly ring: number[] = [];
  private readonly sorted: number[] = [];
  private head = 0;
  constructor(private readonly size: number) {}

  get length(): number {
    return this.sorted.length;
  }

  push(x: number): void {
    if (this.ring.length < this.size) this.ring.push(x);
    else {
      const old = this.ring[this.head]!;
      this.ring[this.head] = x;
      this.head = (this.head + 1) % this.size;
      this.sorted.splice(this.lowerBound(old), 1);
    }
    this.sorted.splice(this.lowerBound(x), 0, x);
  }

  quantile(q: number): number {
    const s = this.sorted;
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(s.length - 1, lo + 1);
    return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
  }

  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Past (time, value) pairs over the last couple of weeks, to look up what the series did a day or a week ago. */
class SeasonalHistory {
  private t: number[] = [];
  private v: number[] = [];
  private start = 0;
  constructor(private readonly keep: number) {}

  push(t: number, v: number): void {
    this.t.push(t);
    this.v.push(v);
    while (this.t[this.start]! < t - this.keep) this.start++;
    // Drop the expired prefix now and then rather than shifting on every point.
    if (this.start > 4096) {
      this.t = this.t.slice(this.start);
      this.v = this.v.slice(this.start);
      this.start = 0;
    }
  }

  /** Median of the values nearest to t − k·period (k = 1..n), each within `tol` ms of it; NaN if none. */
  predict(t: number, period: number, n: number, tol: number): number {
    const got: number[] = [];
    for (let k = 1; k <= n; k++) {
      const target = t - k * period;
      let lo = this.start;
      let hi = this.t.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.t[mid]! < target) lo = mid + 1;
        else hi = mid;
      }
      let best = -1;
      for (const i of [lo - 1, lo]) {
        if (i < this.start || i >= this.t.length || Math.abs(this.t[i]! - target) > tol) continue;
        if (best < 0 || Math.abs(this.t[i]! - target) < Math.abs(this.t[best]! - target)) best = i;
      }
      if (best >= 0) got.push(this.v[best]!);
    }
    if (!got.length) return NaN;
    got.sort((a, b) => a - b);
    const m = got.length >> 1;
    return got.length % 2 ? got[m]! : (got[m - 1]! + got[m]!) / 2;
  }
}

export class StreamingDetector {
  private readonly opts: DetectorOptions;
  private readonly past: RollingWindow;
  /** Absolute errors of each forecaster, in the order of `forecasts`. */
  private readonly errors: RollingWindow[] = [];
  private readonly seasonal = new SeasonalHistory(15 * DAY);
  private readonly raw: RollingWindow;
  private last = NaN;
  private lastT = NaN;
  private seen = 0;
  private min = Infinity;
  private max = -Infinity;
  private lastSpatial = -Infinity;

  constructor(opts: Partial<DetectorOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIONS, ...opts };
    this.past = new RollingWindow(this.opts.window);
    for (let i = 0; i < 4; i++) this.errors.push(new RollingWindow(this.opts.window));
    this.raw = new RollingWindow(this.opts.quiet);
  }

  /** Scores `x` (observed at time `t`, ms; NaN if unknown) against what came before it, then adds it to the history. */
  update(x: number, t = NaN): number {
    const { damp, warmup, floor, spatialTol } = this.opts;
    let raw = 0;
    if (this.seen >= warmup) {
      const med = this.past.quantile(0.5);
      // A usual error of 0 (flat or step-valued series) falls back to a fraction of the spread, so that any
      // change scores high but not infinitely.
      const spread = this.past.quantile(0.95) - this.past.quantile(0.05);
      const minScale = Math.max(0.05 * spread, 1e-6 * (1 + Math.abs(med)));
      // Timestamps within half a sampling step of "a day ago" count as the same time of day.
      const tol = Math.max((t - this.lastT) / 2, 1);
      const timed = !Number.isNaN(tol);
      const forecasts = [med, this.last, timed ? this.seasonal.predict(t, DAY, 3, tol) : NaN, timed ? this.seasonal.predict(t, 7 * DAY, 2, tol) : NaN];
      let bestSel = Infinity;
      for (let f = 0; f < forecasts.length; f++) {
        const e = this.errors[f]!;
        const p = forecasts[f]!;
        if (Number.isNaN(p)) continue;
        if (e.length >= this.opts.ctxMin) {
          // Ranked by a high quantile of their errors: a forecaster that misses badly now and then (the
          // previous value across a daily jump) loses to one that never does.
          const sel = e.quantile(this.opts.selQ);
          if (sel < bestSel) {
            bestSel = sel;
            raw = Math.abs(x - p) / Math.max(1.4826 * e.quantile(0.5), minScale);
          }
        }
        e.push(Math.abs(x - p));
      }
    }
    // Judged against the recent past's largest deviation (see the header), not an absolute scale.
    const recentMax = this.raw.length ? this.raw.quantile(1) : 0;
    this.raw.push(raw);
    const r = raw / Math.max(recentMax, floor);
    let out = r / (1 + r);
    if (r <= 1) out *= damp;
    // HTM's spatial rule (see the header).
    if (spatialTol > 0 && this.seen > warmup && this.max > this.min) {
      const margin = spatialTol * (this.max - this.min);
      if (x > this.max + margin || x < this.min - margin) {
        if (this.seen - this.lastSpatial > this.opts.spatialGap) out = 1;
        this.lastSpatial = this.seen;
      }
    }
    this.min = Math.min(this.min, x);
    this.max = Math.max(this.max, x);
    this.past.push(x);
    if (!Number.isNaN(t)) this.seasonal.push(t, x);
    this.last = x;
    this.lastT = t;
    this.seen++;
    return out;
  }
}

/**
 * Scores a whole series point by point (each point still sees only its past). Without timestamps the
 * daily and weekly forecasts are simply not available.
 */
export function detectSeries(values: ArrayLike<number>, opts: Partial<DetectorOptions> = {}, timestamps?: ArrayLike<number>): Float64Array {
  const d = new StreamingDetector(opts);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = d.update(values[i]!, timestamps ? timestamps[i]! : NaN);
  return out;
}
