/**
 * De-duplication and batching of converted records into OTLP/JSON export requests of bounded size, so each
 * POST stays well under the ingest body limit however large the replayed window is.
 */
import type {
  ExportLogsRequest,
  ExportMetricsRequest,
  ExportTraceRequest,
  KeyValue,
  MetricPoint,
  OtlpGaugeMetric,
  OtlpLogRecord,
  OtlpSpan,
  ResourceAttrs,
  Resourced,
  Scope,
} from './otlp.ts';

/** The instrumentation scope of everything we replay, so replayed data can be told apart from live data. */
export const REPLAY_SCOPE: Scope = { name: 'rootline.eval.nezha', version: '1' };

/** Span identity, for dropping the records adjacent minute files share. */
export function spanIdentity(item: Resourced<OtlpSpan>): string {
  return `${item.record.traceId}/${item.record.spanId}`;
}

/** Log identity: the same pod, time and text is the same line (adjacent Nezha log files repeat ~1,000 lines). */
export function logIdentity(item: Resourced<OtlpLogRecord>): string {
  return `${item.resource['k8s.pod.name'] ?? ''}\u0000${item.record.timeUnixNano}\u0000${item.record.body.stringValue}`;
}

/** Keeps the first item per identity; pass the same `seen` set across files of one replay. */
export function dedupe<T>(items: readonly Resourced<T>[], identity: (item: Resourced<T>) => string, seen: Set<string> = new Set()): Resourced<T>[] {
  const out: Resourced<T>[] = [];
  for (const it of items) {
    const k = identity(it);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(it);
  }
  return out;
}

/** Request size limits: at most `maxItems` records and about `maxBytes` of JSON per request. */
export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
}
/** ~4 MB keeps each POST well under the ingest body limit (8 MiB by default) with room for estimation error. */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxItems: 10_000, maxBytes: 4_000_000 };

// Envelope bytes a resource group adds (attributes, scope, brackets); an estimate that errs high.
const RESOURCE_OVERHEAD = 400;

function resourceKey(r: ResourceAttrs): string {
  return Object.keys(r)
    .sort()
    .map((k) => `${k}=${r[k]}`)
    .join('\u0000');
}

/** Cuts items into runs that respect the limits; a single item larger than maxBytes still gets its own run. */
function cut<T>(items: readonly Resourced<T>[], limits: Partial<BatchLimits>, size: (r: T) => number): Resourced<T>[][] {
  const maxItems = Math.max(1, limits.maxItems ?? DEFAULT_BATCH_LIMITS.maxItems);
  const maxBytes = limits.maxBytes ?? DEFAULT_BATCH_LIMITS.maxBytes;
  const runs: Resourced<T>[][] = [];
  let run: Resourced<T>[] = [];
  let bytes = 0;
  let keys = new Set<string>();
  for (const it of items) {
    const k = resourceKey(it.resource);
    const own = size(it.record) + 1;
    const envelope = RESOURCE_OVERHEAD + k.length;
    if (run.length > 0 && (run.length >= maxItems || bytes + own + (keys.has(k) ? 0 : envelope) > maxBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
      keys = new Set();
    }
    bytes += own + (keys.has(k) ? 0 : envelope);
    keys.add(k);
    run.push(it);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

function groupByResource<T>(run: readonly Resourced<T>[]): { attributes: KeyValue[]; records: T[] }[] {
  const groups = new Map<string, { attributes: KeyValue[]; records: T[] }>();
  for (const it of run) {
    const k = resourceKey(it.resource);
    let g = groups.get(k);
    if (!g) {
      g = { attributes: Object.entries(it.resource).map(([key, v]) => ({ key, value: { stringValue: v } })), records: [] };
      groups.set(k, g);
    }
    g.records.push(it.record);
  }
  return [...groups.values()];
}

const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

/** Spans to ExportTraceServiceRequests within the limits, grouped by resource. */
export function traceRequests(items: readonly Resourced<OtlpSpan>[], limits: Partial<BatchLimits> = {}): ExportTraceRequest[] {
  return cut(items, limits, jsonBytes).map((run) => ({
    resourceSpans: groupByResource(run).map((g) => ({ resource: { attributes: g.attributes }, scopeSpans: [{ scope: REPLAY_SCOPE, spans: g.records }] })),
  }));
}

/** Log records to ExportLogsServiceRequests within the limits, grouped by resource. */
export function logRequests(items: readonly Resourced<OtlpLogRecord>[], limits: Partial<BatchLimits> = {}): ExportLogsRequest[] {
  return cut(items, limits, jsonBytes).map((run) => ({
    resourceLogs: groupByResource(run).map((g) => ({ resource: { attributes: g.attributes }, scopeLogs: [{ scope: REPLAY_SCOPE, logRecords: g.records }] })),
  }));
}

/** Gauge points to ExportMetricsServiceRequests within the limits: per resource, one gauge per metric name. */
export function metricRequests(items: readonly Resourced<MetricPoint>[], limits: Partial<BatchLimits> = {}): ExportMetricsRequest[] {
  // A point's JSON is small and regular; the name is counted as if every point carried it, which errs high.
  const size = (p: MetricPoint) => 48 + p.point.timeUnixNano.length + String(p.point.asDouble).length + p.name.length + p.unit.length;
  return cut(items, limits, size).map((run) => ({
    resourceMetrics: groupByResource(run).map((g) => {
      const metrics = new Map<string, OtlpGaugeMetric>();
      for (const p of g.records) {
        let m = metrics.get(p.name);
        if (!m) metrics.set(p.name, (m = { name: p.name, unit: p.unit, gauge: { dataPoints: [] } }));
        m.gauge.dataPoints.push(p.point);
      }
      return { resource: { attributes: g.attributes }, scopeMetrics: [{ scope: REPLAY_SCOPE, metrics: [...metrics.values()] }] };
    }),
  }));
}
