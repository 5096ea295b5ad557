/**
 * The user's monitoring system, played by the RCA evaluation: it watches every service of the replayed
 * system (per-service latency and error alerts, as SLO-style rules would, and CPU saturation alerts) and the entry services' request
 * traces, and raises an alert when a signal leaves its baseline. Nothing here reads a fault label or knows a
 * service name: entry services are the services that own root spans in the data.
 *
 * Signals, one per-minute series per service (each only where the data has it; the trace ones for entry
 * services only):
 *
 * | signal                  | from                                                      | alerts when | alert name          |
 * |-------------------------|-----------------------------------------------------------|-------------|---------------------|
 * | `metric.server_latency_p90` | the pods' `k8s.pod.server.latency.p90_seconds` (max over the service's pods) | above | LatencyHigh |
 * | `metric.caller_latency`     | latency its callers measure (service-graph client side), worst caller | above | LatencyHigh |
 * | `metric.cpu_usage`          | the pods' `k8s.pod.cpu.usage_rate_percent` (max over the service's pods) | above | CpuHigh |
 * | `trace.root_latency_p90`    | p90 duration of the service's root spans started in the minute | above    | LatencyHigh    |
 * | `trace.spans_per_request`   | spans per root trace of the service (requests that fail stop early and call less) | below | RequestsFailing |
 * | `log.errors`                | ERROR-or-worse log lines of the service's pods             | above       | ErrorsHigh     |
 *
 * The trace CSVs have no status and the metric CSVs' success rate is always 0, so an error signal comes from
 * logs when there are any; the fan-out of entry traces is the error proxy the traces allow (a request that
 * fails returns before making its downstream calls).
 *
 * Rule, per series: a minute is anomalous when its value is beyond `median ± k·scale` (k = 3.5) of its
 * baseline. The baseline is the same series' earlier minutes that were not flagged: the last `maxBaseline`
 * (20) of them within `lookbackMs` (60 min; a dense per-minute series thus uses exactly the previous 20
 * minutes, a sparse one such as traces kept only around incidents reaches further back), and at least
 * `minBaseline` (5) of them (a warm-up: the MAD of fewer points is too unsteady). `scale` is 1.4826·MAD,
 * floored at `floorRel` (10 %) of the median so a flat baseline does not turn noise into alerts. A minute
 * without enough baseline is never anomalous and joins later baselines. Flagged minutes (see below) never
 * join a baseline, so a long incident does not become its own baseline.
 *
 * A series flags anomalous minutes only in runs of `confirm` (2) consecutive ones (a one-minute blip is not an
 * incident; the alert's start is still the run's first minute, as Prometheus' `for:` keeps `activeAt`).
 *
 * Alerting, per entry service: the first flagged minute (of any of its series) raises an alert; further
 * flagged minutes belong to it until the service has had no flagged minute for `quietMs` (the cool-down),
 * after which the next flagged minute raises a new alert.
 */
import type { MetricPoint, OtlpLogRecord, OtlpSpan, Resourced } from './otlp.ts';
import { EDGE_METRICS, SPAN_KIND, nanosToMs } from './otlp.ts';
import { mad, median } from '../engine/stats.ts';

export { mad, median };
export { DEFAULT_DETECT, alertName, detect, flagSeries, type DetectOptions, type Detection, type Flag, type MinutePoint, type Series } from '../detect/rules.ts';
import type { Detection, MinutePoint, Series } from '../detect/rules.ts';

// ---------------------------------------------------------------------------------------------------------
// Building the series from the replayed records

const MINUTE = 60_000;
const floorMinute = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

/** Quantile by nearest rank on a sorted copy. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

/** What the observer needs to know about the metric and log layout; generic defaults. */
export interface ObserverOptions {
  /** The per-pod server latency gauge (seconds) to watch. */
  latencyMetric: string;
  /** The per-pod CPU gauge: watched (saturation alerts) and kept per service for the naive ranking. */
  cpuMetric: string;
  /**
   * A metric point at time T describes the minute before it ([T − 60 s, T]: the Nezha collector samples rates
   * over the last minute), so its minute starts at T − this.
   */
  metricCoversMs: number;
  /** Trace-derived minutes with fewer root spans than this are not judged (partial minutes at file edges). */
  minRoots: number;
  /** A service owning at least this share of all root spans is an entry service. */
  entryShare: number;
}

export const DEFAULT_OBSERVER: ObserverOptions = {
  latencyMetric: 'k8s.pod.server.latency.p90_seconds',
  cpuMetric: 'k8s.pod.cpu.usage_rate_percent',
  metricCoversMs: 60_000,
  minRoots: 20,
  entryShare: 0.01,
};

/** Server-span durations kept per service and minute (a uniform sample beyond this). */
const RESERVOIR = 256;

interface RootMinute {
  durations: number[];
  spans: number;
}

/**
 * Collects, while the replay streams records, what the monitoring needs: per service and minute the root
 * span durations and the spans of those traces, the watched latency gauge, and log error counts. Feed it
 * de-duplicated records in roughly time order (a trace's root before or with its children).
 */
export class EntryObserver {
  readonly options: ObserverOptions;
  private readonly roots = new Map<string, Map<number, RootMinute>>();
  private readonly rootCount = new Map<string, number>();
  /** traceId → the root's minute record; pruned by data time so memory stays bounded on long replays. */
  private readonly traceRoot = new Map<string, { minute: RootMinute; t: number }>();
  private latestMs = 0;
  private readonly latency = new Map<string, Map<number, number>>();
  private readonly logs = new Map<string, Map<number, { all: number; errors: number }>>();
  private readonly cpu = new Map<string, Map<number, number>>();
  /** Per server service: the latency its callers measure (service-graph client side), worst caller. */
  private readonly callerLatency = new Map<string, Map<number, number>>();
  private readonly server = new Map<string, Map<number, { seen: number; sample: number[] }>>();
  private rand = 0x2545f491;

  constructor(options: Partial<ObserverOptions> = {}) {
    this.options = { ...DEFAULT_OBSERVER, ...options };
  }

  addSpans(items: readonly Resourced<OtlpSpan>[]): void {
    for (const it of items) {
      if (it.record.kind === SPAN_KIND.SERVER) this.sampleServer(it);
      if (it.record.parentSpanId !== '') continue;
      const service = it.resource['service.name'] ?? '';
      const start = nanosToMs(it.record.startTimeUnixNano);
      const minute = floorMinute(start);
      let perMinute = this.roots.get(service);
      if (!perMinute) this.roots.set(service, (perMinute = new Map()));
      let m = perMinute.get(minute);
      if (!m) perMinute.set(minute, (m = { durations: [], spans: 0 }));
      m.durations.push(Number(BigInt(it.record.endTimeUnixNano) - BigInt(it.record.startTimeUnixNano)) / 1e6);
      this.rootCount.set(service, (this.rootCount.get(service) ?? 0) + 1);
      this.traceRoot.set(it.record.traceId, { minute: m, t: start });
      this.latestMs = Math.max(this.latestMs, start);
    }
    for (const it of items) {
      const r = this.traceRoot.get(it.record.traceId);
      if (r) r.minute.spans++;
    }
    if (this.traceRoot.size > 500_000) {
      const keepFrom = this.latestMs - 10 * MINUTE;
      for (const [id, r] of this.traceRoot) if (r.t < keepFrom) this.traceRoot.delete(id);
    }
  }

  private sampleServer(it: Resourced<OtlpSpan>): void {
    const service = it.resource['service.name'] ?? '';
    const minute = floorMinute(nanosToMs(it.record.startTimeUnixNano));
    let perMinute = this.server.get(service);
    if (!perMinute) this.server.set(service, (perMinute = new Map()));
    let m = perMinute.get(minute);
    if (!m) perMinute.set(minute, (m = { seen: 0, sample: [] }));
    const d = Number(BigInt(it.record.endTimeUnixNano) - BigInt(it.record.startTimeUnixNano)) / 1e6;
    m.seen++;
    if (m.sample.length < RESERVOIR) m.sample.push(d);
    else {
      // xorshift32: a deterministic reservoir sample.
      this.rand ^= this.rand << 13;
      this.rand ^= this.rand >>> 17;
      this.rand ^= this.rand << 5;
      const j = (this.rand >>> 0) % m.seen;
      if (j < RESERVOIR) m.sample[j] = d;
    }
  }

  addMetricPoints(items: readonly Resourced<MetricPoint>[]): void {
    for (const it of items) {
      const callerSide = it.record.name === EDGE_METRICS.client;
      const into = callerSide ? this.callerLatency : it.record.name === this.options.latencyMetric ? this.latency : it.record.name === this.options.cpuMetric ? this.cpu : undefined;
      if (!into) continue;
      const server = it.record.point.attributes?.find((a) => a.key === 'server')?.value;
      const service = callerSide ? (server && 'stringValue' in server ? server.stringValue : '') : (it.resource['service.name'] ?? '');
      if (!service) continue;
      const minute = nanosToMs(it.record.point.timeUnixNano) - this.options.metricCoversMs;
      let perMinute = into.get(service);
      if (!perMinute) into.set(service, (perMinute = new Map()));
      // Several pods of one service: the worst pod speaks for the service.
      perMinute.set(minute, Math.max(perMinute.get(minute) ?? -Infinity, it.record.point.asDouble));
    }
  }

  addLogs(items: readonly Resourced<OtlpLogRecord>[]): void {
    for (const it of items) {
      const service = it.resource['service.name'] ?? '';
      const minute = floorMinute(nanosToMs(it.record.timeUnixNano));
      let perMinute = this.logs.get(service);
      if (!perMinute) this.logs.set(service, (perMinute = new Map()));
      const m = perMinute.get(minute) ?? { all: 0, errors: 0 };
      m.all++;
      if (it.record.severityNumber >= 17) m.errors++;
      perMinute.set(minute, m);
    }
  }

  /**
   * Per-service series of every service (not only entry services), for a naive ranking that tests the
   * harness without Rootline's RCA: server-span p90 (ms), CPU and server latency gauges.
   */
  serviceSeries(): Map<string, Map<string, MinutePoint[]>> {
    const out = new Map<string, Map<string, MinutePoint[]>>();
    const put = (service: string, signal: string, points: MinutePoint[]) => {
      if (points.length === 0) return;
      let m = out.get(service);
      if (!m) out.set(service, (m = new Map()));
      m.set(signal, points.sort((a, b) => a.t - b.t));
    };
    for (const [service, perMinute] of this.server) put(service, 'trace.server_latency_p90', [...perMinute].map(([t, m]) => ({ t, value: quantile(m.sample, 0.9) })));
    for (const [service, perMinute] of this.cpu) put(service, 'metric.cpu', [...perMinute].map(([t, value]) => ({ t, value })));
    for (const [service, perMinute] of this.latency) put(service, 'metric.server_latency_p90', [...perMinute].map(([t, value]) => ({ t, value })));
    return out;
  }

  /** Minutes (start, epoch ms) with at least one span, and with at least one log record. */
  dataMinutes(): { spans: Set<number>; logs: Set<number> } {
    const spans = new Set<number>();
    for (const perMinute of this.server.values()) for (const t of perMinute.keys()) spans.add(t);
    for (const perMinute of this.roots.values()) for (const t of perMinute.keys()) spans.add(t);
    const logs = new Set<number>();
    for (const perMinute of this.logs.values()) for (const t of perMinute.keys()) logs.add(t);
    return { spans, logs };
  }

  /** Root spans per service, most first. */
  rootCounts(): [string, number][] {
    return [...this.rootCount].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }

  /** Services owning at least `entryShare` of all root spans: where users' requests come in. */
  entryServices(): string[] {
    return entryServicesOf(this.rootCounts(), this.options.entryShare);
  }

  /** Every service the data names (metrics, traces or logs). */
  services(): string[] {
    return [...new Set([...this.latency.keys(), ...this.callerLatency.keys(), ...this.logs.keys(), ...this.server.keys(), ...this.roots.keys()])].filter(Boolean).sort();
  }

  /** The watched series of the given services. */
  series(services: readonly string[] = this.entryServices()): Series[] {
    const out: Series[] = [];
    const sorted = <T>(m: Map<number, T> | undefined) => [...(m ?? new Map<number, T>())].sort((a, b) => a[0] - b[0]);
    for (const service of services) {
      const lat = sorted(this.latency.get(service)).map(([t, value]) => ({ t, value }));
      if (lat.length > 0) out.push({ service, signal: 'metric.server_latency_p90', direction: 'up', points: lat });
      const callers = sorted(this.callerLatency.get(service)).map(([t, value]) => ({ t, value }));
      if (callers.length > 0) out.push({ service, signal: 'metric.caller_latency', direction: 'up', points: callers });
      const roots = sorted(this.roots.get(service)).filter(([, m]) => m.durations.length >= this.options.minRoots);
      if (roots.length > 0) {
        out.push({ service, signal: 'trace.root_latency_p90', direction: 'up', points: roots.map(([t, m]) => ({ t, value: quantile(m.durations, 0.9) })) });
        out.push({ service, signal: 'trace.spans_per_request', direction: 'down', points: roots.map(([t, m]) => ({ t, value: m.spans / m.durations.length })) });
      }
      // Saturation, beside latency and errors: a service burning CPU far above its own baseline is what a
      // resource alert reports, even while its latency holds (a fault that only makes it work harder).
      const cpu = sorted(this.cpu.get(service)).map(([t, value]) => ({ t, value }));
      if (cpu.length > 0) out.push({ service, signal: 'metric.cpu_usage', direction: 'up', points: cpu });
      const logs = sorted(this.logs.get(service));
      if (logs.length > 0) out.push({ service, signal: 'log.errors', direction: 'up', points: logs.map(([t, m]) => ({ t, value: m.errors })) });
    }
    return out;
  }
}

/** The services owning at least `share` of all root spans (at least the top one when there are any). */
export function entryServicesOf(rootCounts: readonly [string, number][], share = DEFAULT_OBSERVER.entryShare): string[] {
  const total = rootCounts.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return [];
  const top = [...rootCounts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return top.filter(([, c], i) => i === 0 || c / total >= share).map(([s]) => s);
}

// ---------------------------------------------------------------------------------------------------------
// Raising the alerts

/** The generic alert body for detections (one alert each, in time order). */
export function alertBody(detections: readonly Detection[]): { alerts: { name: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; fingerprint: string }[] } {
  return {
    alerts: detections.map((d) => {
      const f = d.flags[0]!;
      return {
        name: d.name,
        labels: { service: d.service, signal: f.signal, source: 'rootline-eval-monitor' },
        annotations: {
          summary: `${d.name} on ${d.service}: ${f.signal} ${round(f.value)} beyond ${round(f.threshold)} (baseline ${round(f.baseline)})`,
          signals: d.flags.map((x) => x.signal).join(','),
        },
        startsAt: new Date(d.t).toISOString(),
        // Each detection is its own alert (Alertmanager would resolve and re-fire; we never resolve).
        fingerprint: `${d.service}|${d.name}|${d.t}`.slice(0, 128),
      };
    }),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** POSTs each detection on its own, in time order, to /api/v1/alerts; returns the incident each one joined. */
export async function raiseAlertsEach(url: string, token: string, detections: readonly Detection[]): Promise<Map<Detection, string>> {
  const out = new Map<Detection, string>();
  for (const d of detections) {
    const res = await fetch(`${url}/api/v1/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(alertBody([d])),
    });
    if (!res.ok) throw new Error(`POST /api/v1/alerts: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { incidents?: string[] };
    const id = body.incidents?.[0];
    if (id) out.set(d, id);
  }
  return out;
}
