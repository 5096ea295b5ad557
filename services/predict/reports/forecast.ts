/**
 * Forecasting for prediction reports: Holt's linear exponential smoothing (level + trend) on a per-minute
 * series. The smoothing constants are picked from a small grid by the smallest k-step-ahead squared error
 * (k a quarter of the series, at most the horizon); the spread of the one-step errors gives the uncertainty,
 * widened with the horizon by Holt's variance formula, var(h) = σ² · (1 + Σ_{j=1}^{h-1} α²(1 + jβ)²). A predicted breach is the first horizon step whose
 * point forecast crosses the threshold; its confidence is the probability, under that normal interval, that
 * the series is above the threshold at the end of the horizon.
 */

export interface ForecastPoint {
  /** Steps (minutes) ahead of the last observation. */
  h: number;
  value: number;
  /** 80% interval. */
  lo: number;
  hi: number;
}

export interface Forecast {
  alpha: number;
  beta: number;
  level: number;
  trend: number;
  /** Root mean square of the one-step-ahead errors. */
  sigma: number;
  points: ForecastPoint[];
}

const Z80 = 1.2816;
const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const BETAS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5];

/**
 * Runs Holt's recursions. `sse` sums the one-step-ahead errors (the interval); `fitErr` sums the k-step-ahead
 * errors, which pick the constants: minimizing only one-step errors lets a high beta chase noise, and the
 * resulting trend is a poor guide 30–60 minutes out.
 */
function run(y: readonly number[], alpha: number, beta: number, k: number): { level: number; trend: number; sse: number; n: number; fitErr: number } {
  let level = y[0]!;
  let trend = y.length > 1 ? y[1]! - y[0]! : 0;
  let sse = 0;
  let n = 0;
  let fitErr = 0;
  const past: { level: number; trend: number }[] = [{ level, trend }];
  for (let t = 1; t < y.length; t++) {
    const predicted = level + trend;
    const err = y[t]! - predicted;
    // The first step's "forecast" uses the initial trend taken from y[1] itself; not an honest error.
    if (t > 1) {
      sse += err * err;
      n += 1;
    }
    const origin = past[t - k];
    if (origin && t - k >= 1) fitErr += (y[t]! - (origin.level + k * origin.trend)) ** 2;
    const prevLevel = level;
    level = alpha * y[t]! + (1 - alpha) * predicted;
    trend = beta * (level - prevLevel) + (1 - beta) * trend;
    past.push({ level, trend });
  }
  return { level, trend, sse, n, fitErr };
}

/** Fits Holt's method to `y` (at least 3 points) and forecasts `horizon` steps ahead. */
export function holtForecast(y: readonly number[], horizon: number): Forecast | null {
  if (y.length < 3 || y.some((v) => !Number.isFinite(v))) return null;
  // Fit on errors a quarter of the series (at most the horizon) ahead, at least one step.
  const k = Math.max(1, Math.min(horizon, Math.floor(y.length / 4)));
  let best: { alpha: number; beta: number; level: number; trend: number; sse: number; n: number; fitErr: number } | null = null;
  for (const alpha of ALPHAS) {
    for (const beta of BETAS) {
      const r = run(y, alpha, beta, k);
      if (!best || r.fitErr < best.fitErr - 1e-15) best = { alpha, beta, ...r };
    }
  }
  const b = best!;
  const scale = Math.max(...y.map(Math.abs), 1e-9);
  // Floor the error spread so a perfectly fitted series still has a (tiny) interval.
  const sigma = Math.max(Math.sqrt(b.sse / Math.max(1, b.n)), 1e-6 * scale);
  const points: ForecastPoint[] = [];
  let acc = 1;
  for (let h = 1; h <= horizon; h++) {
    if (h > 1) acc += (b.alpha * (1 + (h - 1) * b.beta)) ** 2;
    const value = b.level + h * b.trend;
    const sd = sigma * Math.sqrt(acc);
    points.push({ h, value, lo: value - Z80 * sd, hi: value + Z80 * sd });
  }
  return { alpha: b.alpha, beta: b.beta, level: b.level, trend: b.trend, sigma, points };
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 through erf). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

export interface Breach {
  /** Minutes from the last observation until the point forecast first crosses the threshold; 0 when already above. */
  leadMinutes: number;
  /** Probability (0–1) that the series is above the threshold at the end of the horizon. */
  confidence: number;
  threshold: number;
  /** The forecast value at the crossing. */
  predicted: number;
}

/** The first crossing of `threshold` (upwards) in `y`'s forecast, or null when none within the horizon. */
export function predictBreach(y: readonly number[], threshold: number, horizon: number, fc: Forecast | null = holtForecast(y, horizon)): Breach | null {
  if (!fc || !Number.isFinite(threshold)) return null;
  const last = y[y.length - 1]!;
  const z = Z80;
  const sdAt = (p: ForecastPoint) => Math.max((p.hi - p.value) / z, 1e-12);
  const end = fc.points[fc.points.length - 1]!;
  const confidence = normalCdf((end.value - threshold) / sdAt(end));
  if (last > threshold) return { leadMinutes: 0, confidence: Math.max(confidence, 0.5), threshold, predicted: last };
  const crossing = fc.points.find((p) => p.value > threshold);
  if (!crossing) return null;
  return { leadMinutes: crossing.h, confidence, threshold, predicted: crossing.value };
}
