/**
 * Per-series anomaly rules shared by Rootline's own service watch and the RCA evaluation's stand-in for the
 * user's monitoring. A minute is anomalous when its value is beyond `median ± k·scale` of its baseline: the
 * same series' earlier minutes that were not flagged (the last `maxBaseline` of them within `lookbackMs`, at
 * least `minBaseline`). `scale` is 1.4826·MAD, floored at `floorRel` of the median and at the series' own
 * `minScale`, so a flat baseline does not turn noise into alerts. Anomalous minutes count only in runs of
 * `confirm` (like Prometheus' `for:`; the alert still starts at the run's first minute), and never join a
 * baseline, so a long incident does not become its own baseline.
 */
import { mad, median } from '../engine/stats.ts';

export { mad, median };

/** One value of a per-minute series; `t` is the start of the minute it describes (epoch ms). */
export interface MinutePoint {
  t: number;
  value: number;
}

export interface Series {
  /** The service watched (its `service.name`). */
  service: string;
  signal: string;
  /** Which way is bad. */
  direction: 'up' | 'down';
  /** Sorted by time, one point per minute at most. */
  points: MinutePoint[];
  /** The least scale a deviation is measured in, in the series' unit (e.g. 1 pp of error ratio). */
  minScale?: number;
}

export interface DetectOptions {
  /** Robust deviations beyond the median that make a minute anomalous. */
  k: number;
  /** How far back baseline minutes may come from (ms). */
  lookbackMs: number;
  /** At most this many baseline minutes (the most recent). */
  maxBaseline: number;
  /** At least this many baseline minutes, else the minute is not judged. */
  minBaseline: number;
  /** The scale's floor, as a share of the baseline median. */
  floorRel: number;
  /** Cool-down: an alert stays open until the service has been quiet this long (ms). */
  quietMs: number;
  /** Anomalous minutes in a row (each within `runGapMs` of the last) before a series flags them, like Prometheus' `for:`. */
  confirm: number;
  /** Points further apart than this break a run (ms): one and a half steps of the series. */
  runGapMs: number;
}

/**
 * k 3.5 and a 10 % floor: on white noise of 10 % (or uniform ±20 %) around a level, 200 four-hour series raise
 * no alert; with k 3 and a 5 % floor a quarter of them did (the MAD of 20 points is itself noisy).
 */
export const DEFAULT_DETECT: DetectOptions = { k: 3.5, lookbackMs: 60 * 60_000, maxBaseline: 20, minBaseline: 5, floorRel: 0.1, quietMs: 2 * 60_000, confirm: 2, runGapMs: 90_000 };

/** A minute of one series judged anomalous. */
export interface Flag {
  service: string;
  signal: string;
  t: number;
  value: number;
  baseline: number;
  threshold: number;
}

/** An alert the monitoring raises: the first anomalous minute after a quiet period. */
export interface Detection {
  service: string;
  /** Start of the anomalous minute (epoch ms): the alert's `startsAt`. */
  t: number;
  /** The alert name, from the first flag's signal. */
  name: string;
  /** The flags of that minute (several signals may agree). */
  flags: Flag[];
}

/**
 * The flagged minutes of one series under the rule in the file comment: anomalous minutes in runs of at least
 * `confirm`; the first minute of a run is the alert's start. Anomalous minutes never join a baseline.
 */
export function flagSeries(s: Series, options: Partial<DetectOptions> = {}): Flag[] {
  const o = { ...DEFAULT_DETECT, ...options };
  const flags: Flag[] = [];
  // Baseline candidates: earlier, non-anomalous points, newest last.
  const normal: MinutePoint[] = [];
  // The current run of anomalous minutes, and their points: a run too short to alert on was noise, and its
  // minutes join the baseline after all (dropping every high value would bias the baseline low and narrow).
  let run: Flag[] = [];
  let runPoints: MinutePoint[] = [];
  const endRun = () => {
    if (run.length >= Math.max(1, o.confirm)) flags.push(...run);
    else normal.push(...runPoints);
    run = [];
    runPoints = [];
  };
  for (const p of s.points) {
    if (!Number.isFinite(p.value)) continue;
    while (normal.length > 0 && normal[0]!.t < p.t - o.lookbackMs) normal.shift();
    const base = normal.slice(-o.maxBaseline).map((x) => x.value);
    let flag: Flag | undefined;
    if (base.length >= o.minBaseline) {
      const med = median(base);
      const scale = Math.max(mad(base), Math.abs(med) * o.floorRel, s.minScale ?? 0, 1e-9);
      const threshold = s.direction === 'up' ? med + o.k * scale : med - o.k * scale;
      if (s.direction === 'up' ? p.value > threshold : p.value < threshold) flag = { service: s.service, signal: s.signal, t: p.t, value: p.value, baseline: med, threshold };
    }
    const last = run[run.length - 1];
    if (!flag || (last && p.t - last.t > o.runGapMs)) endRun();
    if (flag) {
      run.push(flag);
      runPoints.push(p);
    } else normal.push(p);
  }
  endRun();
  return flags;
}

/** The alert name for a signal. */
export function alertName(signal: string): string {
  if (signal.includes('latency')) return 'LatencyHigh';
  if (signal.includes('memory')) return 'MemoryHigh';
  if (signal.includes('cpu')) return 'CpuHigh';
  if (signal.includes('spans_per_request')) return 'RequestsFailing';
  if (signal.includes('error')) return 'ErrorsHigh';
  return 'SignalAnomalous';
}

/** Flags every series, then turns each service's flags into alerts with the cool-down. Sorted by time. */
export function detect(series: readonly Series[], options: Partial<DetectOptions> = {}): Detection[] {
  const o = { ...DEFAULT_DETECT, ...options };
  const byService = new Map<string, Flag[]>();
  for (const s of series) for (const f of flagSeries(s, o)) byService.set(f.service, [...(byService.get(f.service) ?? []), f]);
  const out: Detection[] = [];
  for (const [service, flags] of byService) {
    flags.sort((a, b) => a.t - b.t || a.signal.localeCompare(b.signal));
    let last = -Infinity;
    let open: Detection | undefined;
    for (const f of flags) {
      if (open && f.t === open.t) open.flags.push(f);
      else if (f.t - last > o.quietMs) {
        open = { service, t: f.t, name: alertName(f.signal), flags: [f] };
        out.push(open);
      }
      last = Math.max(last, f.t);
    }
  }
  return out.sort((a, b) => a.t - b.t || a.service.localeCompare(b.service));
}

