/**
 * Converts Nezha-layout CSV rows (trace, log and per-pod metric files) into OTLP/JSON export requests, the
 * shape POST /v1/traces, /v1/metrics and /v1/logs take, so a replay builds topology and baselines through the
 * normal ingest path. Ids are lowercase hex, times decimal-string nanoseconds, enums numbers (OTLP/JSON).
 *
 * Converters return items tagged with their resource; the `*Requests` helpers group them by resource and cut
 * them into requests of bounded size. Nothing here knows a service name.
 */
import { serviceOfPod } from './nezha.ts';
import { dockerLogText, parseSeverity } from './log-text.ts';
import { metricForColumn } from './metric-names.ts';

// One import site for callers: the helpers split into small files are re-exported here by name.
export { dockerLogText, parseSeverity } from './log-text.ts';
export { METRIC_COLUMNS, metricForColumn } from './metric-names.ts';
export {
  DEFAULT_BATCH_LIMITS,
  REPLAY_SCOPE,
  dedupe,
  logIdentity,
  logRequests,
  metricRequests,
  spanIdentity,
  traceRequests,
  type BatchLimits,
} from './batch.ts';

/** An OTLP/JSON attribute value (only the kinds we emit). */
export type AnyValue = { stringValue: string } | { doubleValue: number } | { intValue: string } | { boolValue: boolean };
/** An OTLP/JSON attribute. */
export interface KeyValue {
  key: string;
  value: AnyValue;
}
/** Resource attributes as a flat string map (`service.name`, `k8s.pod.name`, `k8s.node.name`…). */
export type ResourceAttrs = Readonly<Record<string, string>>;
/** A converted record and the resource it belongs to. */
export interface Resourced<T> {
  resource: ResourceAttrs;
  record: T;
}
/** Converted items; per reason, how many rows (or metric cells) were dropped, and how many were kept after a repair. */
export interface Converted<T> {
  items: Resourced<T>[];
  skipped: Record<string, number>;
  fixed: Record<string, number>;
}

/** OTLP span kinds (numbers, as OTLP/JSON encodes enums). */
export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

/** An OTLP/JSON span. The Nezha CSVs carry no status or attributes, so neither is set. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}
/** An OTLP/JSON log record. */
export interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: KeyValue[];
  traceId?: string;
  spanId?: string;
}
/** One gauge data point of a named metric. */
export interface MetricPoint {
  name: string;
  unit: string;
  point: { timeUnixNano: string; asDouble: number; attributes?: KeyValue[] };
}

/** An OTLP instrumentation scope. */
export interface Scope {
  name: string;
  version: string;
}
/** OTLP/JSON ExportTraceServiceRequest. */
export interface ExportTraceRequest {
  resourceSpans: { resource: { attributes: KeyValue[] }; scopeSpans: { scope: Scope; spans: OtlpSpan[] }[] }[];
}
/** OTLP/JSON ExportLogsServiceRequest. */
export interface ExportLogsRequest {
  resourceLogs: { resource: { attributes: KeyValue[] }; scopeLogs: { scope: Scope; logRecords: OtlpLogRecord[] }[] }[];
}
/** An OTLP/JSON gauge metric. */
export interface OtlpGaugeMetric {
  name: string;
  unit: string;
  gauge: { dataPoints: MetricPoint['point'][] };
}
/** OTLP/JSON ExportMetricsServiceRequest. */
export interface ExportMetricsRequest {
  resourceMetrics: { resource: { attributes: KeyValue[] }; scopeMetrics: { scope: Scope; metrics: OtlpGaugeMetric[] }[] }[];
}


// ---------------------------------------------------------------------------------------------------------
// Ids, times, resources

const HEX = /^[0-9a-f]+$/;
const DIGITS = /^\d{1,20}$/;
const U64_MAX = 2n ** 64n - 1n;

/**
 * A trace (16-byte) or span (8-byte) id as lowercase hex of exactly that length. Shorter hex ids (64-bit
 * trace ids from Jaeger-style tracers) are left-padded with zeros, as OTLP bridges do; anything longer,
 * non-hex or all zeros (invalid in OTLP) gives undefined. Both Nezha systems use 32/16-digit lowercase ids.
 */
export function normalizeHexId(v: string, bytes: 8 | 16): string | undefined {
  let s = v.trim().toLowerCase();
  if (s.startsWith('0x')) s = s.slice(2);
  if (s.length === 0 || s.length > bytes * 2 || !HEX.test(s) || /^0+$/.test(s)) return undefined;
  return s.padStart(bytes * 2, '0');
}

/** A decimal nanosecond string without leading zeros, or undefined when `v` is not an unsigned 64-bit integer. */
function nanos(v: string | undefined): string | undefined {
  const s = v?.trim();
  if (!s || !DIGITS.test(s)) return undefined;
  const n = BigInt(s);
  return n > 0n && n <= U64_MAX ? n.toString() : undefined;
}

/** RFC 3339 UTC time with up to nine fraction digits (`2022-08-22T05:18:42.908318Z`) to nanoseconds. */
export function isoToNanos(s: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return undefined;
  return (BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))).toString();
}

/** Nanoseconds (decimal string) to epoch milliseconds, for window filters. */
export function nanosToMs(ns: string): number {
  return Number(BigInt(ns) / 1_000_000n);
}

function resourceOf(pod: string, serviceOf: (pod: string) => string, extra: Record<string, string | undefined> = {}): ResourceAttrs {
  const r: Record<string, string> = { 'service.name': serviceOf(pod), 'k8s.pod.name': pod };
  for (const [k, v] of Object.entries(extra)) if (v) r[k] = v;
  return r;
}

function count(skipped: Record<string, number>, reason: string): void {
  skipped[reason] = (skipped[reason] ?? 0) + 1;
}

/** Options shared by the converters. */
export interface ConvertOptions {
  /** Pod name → service name; {@link serviceOfPod} by default. */
  serviceOf?: (pod: string) => string;
  /**
   * Milliseconds added to every time, to replay a 2022 case as if it happened now (retention TTLs and
   * "recent window" queries would otherwise never see it). 0 by default.
   */
  shiftMs?: number;
}

/** Applies {@link ConvertOptions.shiftMs} to a nanosecond string; undefined in, undefined out. */
function shifter(options: ConvertOptions): (ns: string | undefined) => string | undefined {
  const by = BigInt(Math.round(options.shiftMs ?? 0)) * 1_000_000n;
  if (by === 0n) return (ns) => ns;
  return (ns) => {
    if (ns === undefined) return undefined;
    const v = BigInt(ns) + by;
    return v > 0n && v <= U64_MAX ? v.toString() : undefined;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Spans

/**
 * Trace CSV rows (`TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`)
 * to spans. Pass all rows of a window at once: the span kind depends on other spans of the same trace.
 *
 * Kind rule (the CSV has none): SERVER when the span is a root (`ParentID` = `root`), its parent is in another
 * service, or its parent is not in the input (the earliest span we see of that service in the trace);
 * CLIENT when it has a child in another service (the outgoing call, so topology attributes the call to the
 * server span it runs under); INTERNAL otherwise. Where the end time is unusable, `Duration` (µs) gives it.
 */
export function spansFromRows(rows: Iterable<Record<string, string>>, options: ConvertOptions = {}): Converted<OtlpSpan> {
  const serviceOf = options.serviceOf ?? serviceOfPod;
  const shift = shifter(options);
  const skipped: Record<string, number> = {};
  const fixed: Record<string, number> = {};
  interface Pending {
    span: OtlpSpan;
    pod: string;
    service: string;
  }
  const pending: Pending[] = [];
  const byKey = new Map<string, Pending>();
  for (const row of rows) {
    const traceId = normalizeHexId(row.TraceID ?? '', 16);
    const spanId = normalizeHexId(row.SpanID ?? '', 8);
    const rawParent = (row.ParentID ?? '').trim();
    const isRoot = rawParent === '' || rawParent.toLowerCase() === 'root';
    const parentSpanId = isRoot ? '' : normalizeHexId(rawParent, 8);
    const pod = (row.PodName ?? '').trim();
    const start = shift(nanos(row.StartTimeUnixNano));
    let end = shift(nanos(row.EndTimeUnixNano));
    if (!traceId || !spanId) {
      count(skipped, 'bad_id');
      continue;
    }
    if (parentSpanId === undefined) {
      count(skipped, 'bad_parent_id');
      continue;
    }
    if (!pod) {
      count(skipped, 'no_pod');
      continue;
    }
    if (!start) {
      count(skipped, 'bad_start_time');
      continue;
    }
    if (!end || BigInt(end) < BigInt(start)) {
      const us = Number(row.Duration);
      if (!Number.isFinite(us) || us < 0) {
        count(skipped, 'bad_end_time');
        continue;
      }
      end = (BigInt(start) + BigInt(Math.round(us * 1000))).toString();
      count(fixed, 'end_from_duration');
    }
    if (traceId !== row.TraceID || spanId !== row.SpanID || (parentSpanId && parentSpanId !== rawParent)) count(fixed, 'id_normalized');
    const key = `${traceId}/${spanId}`;
    if (byKey.has(key)) {
      count(skipped, 'duplicate');
      continue;
    }
    const p: Pending = {
      span: { traceId, spanId, parentSpanId, name: row.OperationName ?? '', kind: SPAN_KIND.INTERNAL, startTimeUnixNano: start, endTimeUnixNano: end },
      pod,
      service: serviceOf(pod),
    };
    pending.push(p);
    byKey.set(key, p);
  }
  // Second pass: kinds need the parent's service, and the parent may come later in the file.
  const callsOut = new Set<Pending>();
  for (const p of pending) {
    if (!p.span.parentSpanId) continue;
    const parent = byKey.get(`${p.span.traceId}/${p.span.parentSpanId}`);
    if (parent && parent.service !== p.service) callsOut.add(parent);
  }
  const items: Resourced<OtlpSpan>[] = [];
  const resources = new Map<string, ResourceAttrs>();
  for (const p of pending) {
    const parent = p.span.parentSpanId ? byKey.get(`${p.span.traceId}/${p.span.parentSpanId}`) : undefined;
    if (!p.span.parentSpanId || !parent || parent.service !== p.service) p.span.kind = SPAN_KIND.SERVER;
    else if (callsOut.has(p)) p.span.kind = SPAN_KIND.CLIENT;
    let resource = resources.get(p.pod);
    if (!resource) resources.set(p.pod, (resource = resourceOf(p.pod, () => p.service)));
    items.push({ resource, record: p.span });
  }
  return { items, skipped, fixed };
}

// ---------------------------------------------------------------------------------------------------------
// Logs

/**
 * Log CSV rows (`Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log`) to log records. Time is
 * `TimeUnixNano` (else `Timestamp`); the resource gets the pod, its service, `k8s.node.name` from `Node`
 * and `k8s.container.name` from `Container`; trace and span ids are kept when valid.
 */
export function logsFromRows(rows: Iterable<Record<string, string>>, options: ConvertOptions = {}): Converted<OtlpLogRecord> {
  const serviceOf = options.serviceOf ?? serviceOfPod;
  const shift = shifter(options);
  const skipped: Record<string, number> = {};
  const fixed: Record<string, number> = {};
  const items: Resourced<OtlpLogRecord>[] = [];
  const resources = new Map<string, ResourceAttrs>();
  for (const row of rows) {
    const pod = (row.PodName ?? '').trim();
    const time = shift(nanos(row.TimeUnixNano) ?? isoToNanos(row.Timestamp ?? ''));
    if (!pod) {
      count(skipped, 'no_pod');
      continue;
    }
    if (!time) {
      count(skipped, 'bad_time');
      continue;
    }
    const node = (row.Node ?? '').trim();
    const container = (row.Container ?? '').trim();
    const rkey = `${pod}\u0000${node}\u0000${container}`;
    let resource = resources.get(rkey);
    if (!resource) resources.set(rkey, (resource = resourceOf(pod, serviceOf, { 'k8s.node.name': node, 'k8s.container.name': container })));
    const { text, stream } = dockerLogText(row.Log ?? '');
    const severity = parseSeverity(text);
    const record: OtlpLogRecord = {
      timeUnixNano: time,
      observedTimeUnixNano: time,
      severityNumber: severity.number,
      severityText: severity.text,
      body: { stringValue: text },
      attributes: stream ? [{ key: 'log.iostream', value: { stringValue: stream } }] : [],
    };
    const traceId = row.TraceID ? normalizeHexId(row.TraceID, 16) : undefined;
    const spanId = row.SpanID ? normalizeHexId(row.SpanID, 8) : undefined;
    if (traceId) record.traceId = traceId;
    if (traceId && spanId) record.spanId = spanId;
    items.push({ resource, record });
  }
  return { items, skipped, fixed };
}

// ---------------------------------------------------------------------------------------------------------
// Metrics

/** Columns that identify a row rather than measure something. */
const ROW_KEYS = new Set(['Time', 'TimeStamp', 'PodName']);
/** Textual columns that name the node, in layouts that have one. */
const NODE_KEYS = ['Node', 'NodeName'];

/** Go's time.Time text, as in the metric CSVs' `Time` column: `2022-08-22 03:51:19.799087274 +0000 UTC m=+0.30`. */
function goTimeToNanos(v: string | undefined): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2})(\d{2})\b/.exec(v?.trim() ?? '');
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}Z`);
  if (Number.isNaN(ms)) return undefined;
  const offsetMs = (m[4] === '-' ? -1 : 1) * (Number(m[5]) * 60 + Number(m[6])) * 60_000;
  const ns = BigInt(ms - offsetMs) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
  return ns > 0n ? ns.toString() : undefined;
}

/**
 * How far `TimeStamp` may stray from the `Time` column before we call it corrupt. Online Boutique's
 * 2022-08-22 adservice metric file has many `6` digits turned into `8` (upstream, in values too), which puts
 * its TimeStamps in 2028 (1661140279 → 1861140279) while `Time` stays right.
 */
const TIMESTAMP_TOLERANCE_NS = 90n * 1_000_000_000n;

/** `TimeStamp` (epoch seconds, UTC; fractional allowed) to nanoseconds. */
function secondsToNanos(v: string | undefined): string | undefined {
  const s = v?.trim();
  if (!s) return undefined;
  if (/^\d{1,11}$/.test(s)) return s === '0' ? undefined : `${s}000000000`;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? (BigInt(Math.round(n * 1e6)) * 1000n).toString() : undefined;
}

/**
 * Rows of a `<pod>_metric.csv` to gauge points: one point per numeric cell at the row's `TimeStamp`; NaN,
 * infinite and empty cells are skipped (counted under `empty_or_nan`). When `TimeStamp` disagrees with the
 * `Time` column by more than 90 s, `Time` is used (counted in `fixed.timestamp_from_time_column`).
 * `options.pod` names the pod when a row has no `PodName`.
 */
export function metricsFromRows(rows: Iterable<Record<string, string>>, options: ConvertOptions & { pod?: string } = {}): Converted<MetricPoint> {
  const serviceOf = options.serviceOf ?? serviceOfPod;
  const shift = shifter(options);
  const skipped: Record<string, number> = {};
  const fixed: Record<string, number> = {};
  const items: Resourced<MetricPoint>[] = [];
  const resources = new Map<string, ResourceAttrs>();
  const columns = new Map<string, { name: string; unit: string } | null>();
  for (const row of rows) {
    const pod = (row.PodName ?? '').trim() || options.pod;
    let time = secondsToNanos(row.TimeStamp);
    const wall = goTimeToNanos(row.Time);
    // Both clocks present and far apart: the wall-clock text is the one that survived corruption in the data we know.
    if (wall && (!time || (BigInt(time) > BigInt(wall) ? BigInt(time) - BigInt(wall) : BigInt(wall) - BigInt(time)) > TIMESTAMP_TOLERANCE_NS)) {
      if (time) count(fixed, 'timestamp_from_time_column');
      time = wall;
    }
    time = shift(time);
    if (!pod) {
      count(skipped, 'no_pod');
      continue;
    }
    if (!time) {
      count(skipped, 'bad_time');
      continue;
    }
    const node = NODE_KEYS.map((k) => row[k]?.trim()).find((v) => v && !Number.isFinite(Number(v)));
    const rkey = `${pod}\u0000${node ?? ''}`;
    let resource = resources.get(rkey);
    if (!resource) resources.set(rkey, (resource = resourceOf(pod, serviceOf, { 'k8s.node.name': node })));
    for (const [col, raw] of Object.entries(row)) {
      if (ROW_KEYS.has(col) || NODE_KEYS.includes(col)) continue;
      let metric = columns.get(col);
      if (metric === undefined) columns.set(col, (metric = metricForColumn(col)));
      if (!metric) continue;
      const s = raw.trim();
      const value = s === '' ? NaN : Number(s);
      if (!Number.isFinite(value)) {
        count(skipped, 'empty_or_nan');
        continue;
      }
      items.push({ resource, record: { name: metric.name, unit: metric.unit, point: { timeUnixNano: time, asDouble: value } } });
    }
  }
  return { items, skipped, fixed };
}

/** Metric names of per-edge latency, after the OpenTelemetry service-graph connector (`client`/`server` labels). */
export const EDGE_METRICS = {
  client: 'traces_service_graph_request_client_seconds',
  server: 'traces_service_graph_request_server_seconds',
} as const;

/**
 * Splits an edge column `<client>_<server>` into its two services. Service names may hold `_` themselves,
 * so a split whose both sides are known services wins; otherwise a column with a single `_` splits there.
 */
export function splitEdgeColumn(column: string, known: ReadonlySet<string>): [string, string] | undefined {
  const cuts: number[] = [];
  for (let i = column.indexOf('_'); i > 0; i = column.indexOf('_', i + 1)) cuts.push(i);
  for (const i of cuts) if (known.has(column.slice(0, i)) && known.has(column.slice(i + 1))) return [column.slice(0, i), column.slice(i + 1)];
  return cuts.length === 1 ? [column.slice(0, cuts[0]), column.slice(cuts[0]! + 1)] : undefined;
}

/**
 * Rows of a per-edge latency file (`source_50.csv`: the latency quantile of each `<client>_<server>` edge as
 * the client's proxy measured it; `destination_50.csv`: as the server's proxy measured it) to gauge points of
 * {@link EDGE_METRICS}, with the point attributes `client`, `server` and `quantile`. The resource is the
 * reporting service. The gap between the two is time on the network between them.
 */
export function edgeMetricsFromRows(rows: Iterable<Record<string, string>>, side: 'client' | 'server', quantile: string, known: ReadonlySet<string>, options: ConvertOptions = {}): Converted<MetricPoint> {
  const shift = shifter(options);
  const skipped: Record<string, number> = {};
  const items: Resourced<MetricPoint>[] = [];
  const edges = new Map<string, [string, string] | undefined>();
  const resources = new Map<string, ResourceAttrs>();
  for (const row of rows) {
    let time = secondsToNanos(row.timestamp ?? row.TimeStamp);
    const wall = goTimeToNanos(row.time ?? row.Time);
    if (wall && (!time || (BigInt(time) > BigInt(wall) ? BigInt(time) - BigInt(wall) : BigInt(wall) - BigInt(time)) > TIMESTAMP_TOLERANCE_NS)) time = wall;
    time = shift(time);
    if (!time) {
      count(skipped, 'bad_time');
      continue;
    }
    for (const [col, raw] of Object.entries(row)) {
      if (EDGE_ROW_KEYS.has(col)) continue;
      if (!edges.has(col)) edges.set(col, splitEdgeColumn(col, known));
      const edge = edges.get(col);
      if (!edge) {
        count(skipped, 'unknown_edge');
        continue;
      }
      const value = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(value)) {
        count(skipped, 'empty_or_nan');
        continue;
      }
      const reporter = side === 'client' ? edge[0] : edge[1];
      let resource = resources.get(reporter);
      if (!resource) resources.set(reporter, (resource = { 'service.name': reporter }));
      const attributes = [
        { key: 'client', value: { stringValue: edge[0] } },
        { key: 'server', value: { stringValue: edge[1] } },
        { key: 'quantile', value: { stringValue: quantile } },
      ];
      items.push({ resource, record: { name: EDGE_METRICS[side], unit: 's', point: { timeUnixNano: time, asDouble: value, attributes } } });
    }
  }
  return { items, skipped, fixed: {} };
}

const EDGE_ROW_KEYS = new Set(['time', 'timestamp', 'Time', 'TimeStamp']);
