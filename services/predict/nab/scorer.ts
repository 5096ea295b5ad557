/**
 * The Numenta Anomaly Benchmark (NAB v1.1) scoring rule, re-implemented from its description and checked
 * against the Numenta HTM detector's shipped outputs (test/predict/nab-scorer.test.ts).
 *
 * Each row gets a weight from where it sits relative to the labelled windows, via a scaled sigmoid:
 * - inside a window, the earliest detection is worth up to tpWeight (1 at the left edge, 0 at the right);
 *   only the best (earliest) detection of a window counts, and a window with none costs fnWeight;
 * - outside, a detection costs up to fpWeight, less when it falls just after a window (a late but
 *   related alert) and the full fpWeight from three window-widths after it, or before any window.
 * The first 15% of each file (at most 750 rows) is probationary: detectors are still learning, so those
 * rows are neither rewarded nor penalised, and a window lying wholly inside it is not counted as missed.
 */

export interface CostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
}

/** A window as [first, last] row timestamps (ms), both inclusive. */
export type WindowLimits = readonly [number, number];

export const PROBATION_PERCENT = 0.15;

/** 2·sigmoid(−5x) − 1: about 0.987 at −1 (window start), 0 at the window's end, −1 from 3 widths past it. */
export function scaledSigmoid(x: number): number {
  if (x >= 3) return -1;
  return 2 / (1 + Math.exp(5 * x)) - 1;
}

/** Rows at the start of a file that are not scored (NAB: 15% of the file, capped at 15% of 5000). */
export function probationLength(rows: number, percent = PROBATION_PERCENT): number {
  return Math.min(Math.floor(percent * rows), percent * 5000);
}

/** NAB labels are "YYYY-MM-DD HH:MM:SS[.ffffff]" without a zone; read them all as UTC so they compare equal. */
export function parseNabTime(s: string): number {
  const [date, time = '00:00:00'] = s.trim().split(/[ T]/, 2) as [string, string | undefined];
  const [hms, frac = ''] = time.split('.', 2) as [string, string | undefined];
  const ms = Date.parse(`${date}T${hms}.${(frac + '000').slice(0, 3)}Z`);
  if (Number.isNaN(ms)) throw new Error(`bad NAB timestamp: ${s}`);
  return ms;
}

/**
 * A file's rows reduced to what scoring needs. `window` is a corpus-wide window id for rows inside a
 * window, -1 outside any window; probationary rows are dropped. `sigmoid` is the unweighted position value.
 */
export interface ScoringRows {
  anomaly: Float64Array;
  sigmoid: Float64Array;
  window: Int32Array;
  /** Ids of the windows that have at least one scorable row (a miss costs fnWeight each). */
  windows: number[];
}

/**
 * Places each row relative to the windows. Window rows are found by time (first row at or after the start,
 * last at or before the end), which equals NAB's exact-timestamp lookup when the labels fall on rows.
 * `firstWindowId` keeps ids distinct when files are pooled for a corpus-wide threshold sweep.
 */
export function scoringRows(timestamps: readonly number[], anomaly: ArrayLike<number>, limits: readonly WindowLimits[], firstWindowId = 0): ScoringRows {
  const n = timestamps.length;
  if (anomaly.length !== n) throw new Error(`timestamps (${n}) and anomaly scores (${anomaly.length}) differ in length`);
  const spans: [number, number][] = [];
  for (const [t0, t1] of limits) {
    let a = 0;
    while (a < n && timestamps[a]! < t0) a++;
    let b = a - 1;
    while (b + 1 < n && timestamps[b + 1]! <= t1) b++;
    if (b >= a) spans.push([a, b]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  const probation = probationLength(n);
  const keep = n - Math.min(n, Math.ceil(probation));
  const out: ScoringRows = { anomaly: new Float64Array(keep), sigmoid: new Float64Array(keep), window: new Int32Array(keep), windows: [] };
  let k = 0;
  let w = 0;
  // The last window that ended before the current row: FPs are weighed by their distance from it.
  let prevEnd = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    while (w < spans.length && spans[w]![1] < i) {
      prevEnd = spans[w]![1];
      prevWidth = spans[w]![1] - spans[w]![0] + 1;
      w++;
    }
    const span = spans[w];
    const inside = span !== undefined && i >= span[0];
    let sig: number;
    if (inside) {
      const width = span[1] - span[0] + 1;
      sig = scaledSigmoid(-(span[1] - i + 1) / width);
    } else if (prevEnd < 0) sig = -1;
    else sig = scaledSigmoid(Math.abs(prevEnd - i) / (prevWidth - 1));
    if (i < probation) continue;
    out.anomaly[k] = anomaly[i]!;
    out.sigmoid[k] = sig;
    out.window[k] = inside ? firstWindowId + w : -1;
    if (inside && out.windows.at(-1) !== firstWindowId + w) out.windows.push(firstWindowId + w);
    k++;
  }
  return out;
}

export interface FileScore {
  score: number;
  /** Detected rows inside windows / outside; undetected rows inside / outside (NAB's per-row counts). */
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  windows: number;
  windowsDetected: number;
}

const MAX_TP = scaledSigmoid(-1);

/** The raw NAB score of one file (or of pooled files) when rows with anomaly ≥ threshold are detections. */
export function scoreRows(rows: ScoringRows, threshold: number, cost: CostMatrix): FileScore {
  const best = new Map<number, number>();
  let fpScore = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < rows.anomaly.length; i++) {
    const detected = rows.anomaly[i]! >= threshold;
    const w = rows.window[i]!;
    if (w < 0) {
      if (detected) {
        fp++;
        fpScore += rows.sigmoid[i]! * cost.fpWeight;
      } else tn++;
      continue;
    }
    if (!detected) {
      fn++;
      continue;
    }
    tp++;
    // Scaled so that a detection on a window's first row earns exactly tpWeight.
    const v = (rows.sigmoid[i]! * cost.tpWeight) / MAX_TP;
    best.set(w, Math.max(best.get(w) ?? -Infinity, v));
  }
  let windowScore = 0;
  for (const w of rows.windows) windowScore += best.get(w) ?? -cost.fnWeight;
  return { score: windowScore + fpScore, tp, fp, fn, tn, windows: rows.windows.length, windowsDetected: best.size };
}

/**
 * Best threshold over all distinct anomaly values, on rows pooled from every file: NAB's optimiser does the
 * same (one threshold per detector and profile, chosen on the whole corpus). One pass in descending order.
 */
export function sweepThreshold(rows: ScoringRows, cost: CostMatrix): { threshold: number; score: number } {
  const n = rows.anomaly.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => rows.anomaly[b]! - rows.anomaly[a]!);
  const best = new Map<number, number>();
  let windowScore = -cost.fnWeight * rows.windows.length;
  let fpScore = 0;
  // Nothing detected (a threshold above every score) is the starting point.
  let result = { threshold: Infinity, score: windowScore };
  for (let j = 0; j < n; j++) {
    const i = order[j]!;
    const w = rows.window[i]!;
    if (w < 0) fpScore += rows.sigmoid[i]! * cost.fpWeight;
    else {
      const v = (rows.sigmoid[i]! * cost.tpWeight) / MAX_TP;
      const old = best.get(w);
      if (old === undefined) {
        windowScore += v + cost.fnWeight;
        best.set(w, v);
      } else if (v > old) {
        windowScore += v - old;
        best.set(w, v);
      }
    }
    // Score only once every row sharing this anomaly value is in.
    const next = order[j + 1];
    if (next !== undefined && rows.anomaly[next] === rows.anomaly[i]) continue;
    const score = windowScore + fpScore;
    if (score > result.score) result = { threshold: rows.anomaly[i]!, score };
  }
  return result;
}

/** Concatenates per-file rows (window ids must already be distinct, see {@link scoringRows}). */
export function poolRows(files: readonly ScoringRows[]): ScoringRows {
  const n = files.reduce((s, f) => s + f.anomaly.length, 0);
  const out: ScoringRows = { anomaly: new Float64Array(n), sigmoid: new Float64Array(n), window: new Int32Array(n), windows: [] };
  let k = 0;
  for (const f of files) {
    out.anomaly.set(f.anomaly, k);
    out.sigmoid.set(f.sigmoid, k);
    out.window.set(f.window, k);
    out.windows.push(...f.windows);
    k += f.anomaly.length;
  }
  return out;
}

/**
 * NAB's normalisation: 0 is the null detector (nothing detected: every window missed), 100 the perfect one
 * (every labelled window detected on its first row). `labelledWindows` counts all windows in the labels,
 * as NAB does, even one inside a probationary period.
 */
export function normalize(raw: number, countedWindows: number, labelledWindows: number, cost: CostMatrix): number {
  const nullScore = -cost.fnWeight * countedWindows;
  const perfect = cost.tpWeight * labelledWindows;
  return (100 * (raw - nullScore)) / (perfect - nullScore);
}
