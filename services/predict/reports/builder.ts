/**
 * Builds one prediction report for a period [from, to) from the telemetry store (parameterized SQL only):
 * per-service golden signals per minute from spans (calls, error rate, p95 latency) over a history window
 * ending at `to`, forecast with Holt's method; predicted breaches of the SLO thresholds; drift of the recent
 * window against the one before it; anomalies of each series in the period, scored point by point by the
 * streaming detector that `rootline eval nab` measures; and, when a trained call-sequence model is given,
 * the traces of the period whose (service, operation) sequence it finds anomalous.
 */
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import { detectSeries } from '../nab/detector.ts';
import { holtForecast, predictBreach } from './forecast.ts';
import { SIGNALS, type AnomalousSequence, type DriftingEntity, type ForecastSeries, type PredictedBreach, type Report, type SeriesAnomaly, type Signal } from './model.ts';

const MIN = 60_000;

export interface ReportSettings {
  historyMinutes: number;
  horizonMinutes: number;
  /** Error-rate SLO (fraction of calls). */
  errorRateThreshold: number;
  /** p95 latency SLO as a multiple of the service's median p95 over the history. */
  latencyFactor: number;
  driftSigmas: number;
  /** Length of the recent (and of the previous) drift window; at least the period. */
  driftWindowMinutes: number;
  /**
   * Detector score at or above which a point is a series anomaly: the threshold NAB's optimiser picks for
   * this detector under the standard profile (0.52), rounded down.
   */
  anomalyScore: number;
  maxServices: number;
  maxTraces: number;
}

export const DEFAULT_REPORT_SETTINGS: ReportSettings = {
  historyMinutes: 180,
  horizonMinutes: 60,
  errorRateThreshold: 0.05,
  latencyFactor: 2,
  driftSigmas: 4,
  driftWindowMinutes: 15,
  anomalyScore: 0.5,
  maxServices: 200,
  maxTraces: 2000,
};

/** Scores completed call sequences; the trained DeepLog-style detector fits this. */
export interface SequenceScorer {
  score(sessions: readonly (readonly string[])[]): Promise<{ anomalous: boolean; score: number; misses: number; unknown: number }[]>;
}

export interface BuildInput {
  from: number;
  to: number;
  trigger: 'schedule' | 'api';
  now?: number;
}

interface MinuteRow {
  service: string;
  minute: number | string;
  calls: number | string;
  errors: number | string;
  p95_ms: number | string;
}

export function reportId(from: number, to: number): string {
  return `r${to}-${to - from}`;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Dense per-minute series [minute, calls, errors/calls, p95] for one service; gaps: 0 calls, rates carried forward. */
function densify(rows: MinuteRow[]): { t: number[]; series: Record<Signal, number[]> } {
  const byMinute = new Map(rows.map((r) => [Number(r.minute), r]));
  const minutes = [...byMinute.keys()].sort((a, b) => a - b);
  const t: number[] = [];
  const series: Record<Signal, number[]> = { rate: [], error_rate: [], p95_ms: [] };
  if (minutes.length === 0) return { t, series };
  let lastErr = 0;
  let lastP95 = 0;
  for (let m = minutes[0]!; m <= minutes[minutes.length - 1]!; m += MIN) {
    const r = byMinute.get(m);
    const calls = r ? Number(r.calls) : 0;
    if (r && calls > 0) {
      lastErr = Number(r.errors) / calls;
      lastP95 = Number(r.p95_ms);
    }
    t.push(m);
    series.rate.push(calls);
    series.error_rate.push(lastErr);
    series.p95_ms.push(lastP95);
  }
  return { t, series };
}

/** Recent window mean against the previous window's median, in robust sigmas (1.4826 · MAD, floored at 5% of the median). */
export function driftOf(values: readonly number[], window: number): { previousMedian: number; recentMean: number; robustZ: number } | null {
  if (values.length < 2 * Math.min(window, 3)) return null;
  const recent = values.slice(-window);
  const previous = values.slice(-2 * window, -window);
  if (recent.length < 3 || previous.length < 3) return null;
  const med = median(previous);
  const mad = median(previous.map((v) => Math.abs(v - med)));
  const sigma = Math.max(1.4826 * mad, 0.05 * Math.abs(med), 1e-9);
  const recentMean = recent.reduce((a, b) => a + b, 0) / recent.length;
  return { previousMedian: med, recentMean, robustZ: (recentMean - med) / sigma };
}

/**
 * The first minute at or after `from` (ms) that the streaming detector scores at or above `minScore`, scoring the
 * whole history point by point so that each minute is judged against the minutes before it. The first is
 * what would have paged; the detector damps the rest of a burst anyway.
 */
export function firstAnomaly(t: readonly number[], y: readonly number[], from: number, minScore: number): { at: number; value: number; score: number } | null {
  const scores = detectSeries(y, {}, t);
  for (let i = 0; i < t.length; i++) {
    if (t[i]! >= from && scores[i]! >= minScore) return { at: t[i]!, value: y[i]!, score: Math.round(scores[i]! * 1000) / 1000 };
  }
  return null;
}

/** One trace's calls as `service:operation`, in call-tree order (see {@link callOrder}). */
export interface TraceSequence {
  trace_id: string;
  calls: string[];
  /** Start of the trace's first span and of its last span (ms). */
  first: number;
  last: number;
}

interface SpanRef {
  t: number;
  id: string;
  parent: string;
  call: string;
}

/**
 * The calls of one trace in the order of a depth-first walk of its call tree, children by start time.
 * Sorting all spans by start time instead mixes up processes: each OpenTelemetry SDK stamps spans from its
 * own process's time origin, which can be milliseconds off another's, so a child's server span may seem to
 * start before its parent's client span. Siblings come from one process and one clock. Spans whose parent
 * is not in the trace (an uninstrumented hop between) are roots, in start order.
 */
export function callOrder(spans: readonly SpanRef[]): string[] {
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string, SpanRef[]>();
  const roots: SpanRef[] = [];
  for (const s of spans) {
    if (s.parent && ids.has(s.parent) && s.parent !== s.id) children.set(s.parent, [...(children.get(s.parent) ?? []), s]);
    else roots.push(s);
  }
  const byStart = (a: SpanRef, b: SpanRef) => a.t - b.t || a.id.localeCompare(b.id);
  const out: string[] = [];
  const seen = new Set<string>();
  const stack = [...roots].sort(byStart).reverse();
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (seen.has(s.id)) continue; // a cycle of bad parent ids must not loop
    seen.add(s.id);
    out.push(s.call);
    stack.push(...[...(children.get(s.id) ?? [])].sort(byStart).reverse());
  }
  return out;
}

/**
 * The call sequences of the traces with spans in [from, to), at most `limit`, oldest first; with
 * `settledBefore`, only traces whose last span started before it (so a trace still running is not cut).
 * Reports, training and online scoring all read sequences through this one query.
 */
export async function traceSequences(telemetry: TelemetryStore, from: number, to: number, limit: number, settledBefore?: number): Promise<TraceSequence[]> {
  const db = telemetry.database;
  const rows = await telemetry.query<{ trace_id: string; spans: [string, string, string, string][]; first: number; last: number }>(
    `SELECT trace_id, groupArray((toString(toUnixTimestamp64Nano(timestamp)), span_id, parent_span_id, concat(service_name, ':', name))) AS spans,
            toUnixTimestamp64Milli(min(timestamp)) AS first, toUnixTimestamp64Milli(max(timestamp)) AS last
     FROM ${db}.spans
     WHERE timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})
     GROUP BY trace_id
     ${settledBefore !== undefined ? 'HAVING max(timestamp) < fromUnixTimestamp64Milli({settled:Int64})' : ''}
     ORDER BY first LIMIT {limit:UInt32}`,
    { from, to, limit, ...(settledBefore !== undefined ? { settled: settledBefore } : {}) },
  );
  return rows.map((r) => ({
    trace_id: r.trace_id,
    // Nanoseconds as text: a Number keeps them to about 0.25 µs at today's epoch, enough to order siblings.
    calls: callOrder(r.spans.map(([t, id, parent, call]) => ({ t: Number(t), id, parent, call }))),
    first: Number(r.first),
    last: Number(r.last),
  }));
}

export class ReportBuilder {
  constructor(
    private readonly telemetry: TelemetryStore,
    private readonly settings: ReportSettings = DEFAULT_REPORT_SETTINGS,
    /** Returns the trained sequence model, or null when none is available. */
    private readonly sequenceModel: () => Promise<SequenceScorer | null> = () => Promise.resolve(null),
  ) {}

  async build(input: BuildInput): Promise<Report> {
    const s = this.settings;
    const { from, to } = input;
    const db = this.telemetry.database;
    // Only whole minutes: the minute still running at `to` would look like a drop in traffic.
    const end = Math.floor(to / MIN) * MIN;
    const histFrom = end - s.historyMinutes * MIN;
    const rows = await this.telemetry.query<MinuteRow>(
      `SELECT service_name AS service, toUnixTimestamp(toStartOfMinute(timestamp)) * 1000 AS minute, count() AS calls,
              countIf(status_code = 'ERROR' OR http_response_status_code >= 500) AS errors,
              quantile(0.95)(duration_ns) / 1e6 AS p95_ms
       FROM ${db}.spans
       WHERE timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})
         AND service_name != '' AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id = '')
       GROUP BY service, minute ORDER BY service, minute`,
      { from: histFrom, to: end },
    );
    const perService = new Map<string, MinuteRow[]>();
    for (const r of rows) {
      if (!perService.has(r.service) && perService.size >= s.maxServices) continue;
      let list = perService.get(r.service);
      if (!list) perService.set(r.service, (list = []));
      list.push(r);
    }

    const forecasts: ForecastSeries[] = [];
    const breaches: PredictedBreach[] = [];
    const drifting: DriftingEntity[] = [];
    const anomalies: SeriesAnomaly[] = [];
    const driftWindow = Math.max(s.driftWindowMinutes, Math.ceil((to - from) / MIN));
    for (const [service, list] of [...perService].sort(([a], [b]) => a.localeCompare(b))) {
      const { t, series } = densify(list);
      if (t.length === 0) continue;
      const lastT = t[t.length - 1]!;
      for (const signal of SIGNALS) {
        const y = series[signal];
        const threshold = signal === 'error_rate' ? s.errorRateThreshold : signal === 'p95_ms' ? s.latencyFactor * median(y.filter((v) => v > 0).concat(y.every((v) => v <= 0) ? [0] : [])) : null;
        const fc = holtForecast(y, s.horizonMinutes);
        forecasts.push({
          service,
          signal,
          observed: t.map((m, i) => [m, y[i]!] as [number, number]),
          forecast: (fc?.points ?? []).map((p) => [lastT + p.h * MIN, p.value, p.lo, p.hi] as [number, number, number, number]),
          threshold: threshold !== null && threshold > 0 ? threshold : null,
          method: fc ? `Holt linear (alpha ${fc.alpha}, beta ${fc.beta}), 80% interval from one-step errors (sigma ${fc.sigma.toPrecision(3)})` : 'too few points (need 3 minutes)',
        });
        if (threshold !== null && threshold > 0 && fc) {
          const b = predictBreach(y, threshold, s.horizonMinutes, fc);
          if (b) breaches.push({ service, signal, threshold, leadMinutes: b.leadMinutes, at: lastT + b.leadMinutes * MIN, predicted: b.predicted, confidence: b.confidence });
        }
        const d = driftOf(y, driftWindow);
        if (d && Math.abs(d.robustZ) > s.driftSigmas) drifting.push({ service, signal, ...d });
        // The same recent window as drift: a period shorter than a minute holds no whole minute of its own.
        const a = firstAnomaly(t, y, end - driftWindow * MIN, s.anomalyScore);
        if (a) anomalies.push({ service, signal, ...a });
      }
    }
    breaches.sort((a, b) => a.leadMinutes - b.leadMinutes || b.confidence - a.confidence);
    drifting.sort((a, b) => Math.abs(b.robustZ) - Math.abs(a.robustZ));
    anomalies.sort((a, b) => a.at - b.at || b.score - a.score);

    return {
      id: reportId(from, to),
      period: { from, to },
      createdAt: input.now ?? Date.now(),
      trigger: input.trigger,
      settings: {
        historyMinutes: s.historyMinutes,
        horizonMinutes: s.horizonMinutes,
        errorRateThreshold: s.errorRateThreshold,
        latencyFactor: s.latencyFactor,
        driftSigmas: s.driftSigmas,
        driftWindowMinutes: driftWindow,
        anomalyScore: s.anomalyScore,
      },
      predictedBreaches: breaches,
      anomalousSequences: await this.sequences(from, to),
      driftingEntities: drifting,
      seriesAnomalies: anomalies,
      forecasts,
    };
  }

  private async sequences(from: number, to: number): Promise<Report['anomalousSequences']> {
    const model = await this.sequenceModel();
    if (!model) return { available: false, note: 'no trained call-sequence model is available; nothing was scored', scored: 0, items: [] };
    const rows = await traceSequences(this.telemetry, from, to, this.settings.maxTraces);
    const verdicts = await model.score(rows.map((r) => r.calls));
    const items: AnomalousSequence[] = [];
    verdicts.forEach((v, i) => {
      if (v.anomalous) items.push({ traceId: rows[i]!.trace_id, calls: rows[i]!.calls, score: Number.isFinite(v.score) ? v.score : 1e9, misses: v.misses, unknown: v.unknown });
    });
    items.sort((a, b) => b.score - a.score);
    return { available: true, note: `scored ${rows.length} traces of the period with the trained model`, scored: rows.length, items: items.slice(0, 100) };
  }
}
