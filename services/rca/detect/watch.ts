/**
 * Rootline's own detection: every service's golden signals, minute by minute, against the service's own
 * baseline ({@link flagSeries}), raised as alerts into the same flow as any sender's, so an incident (and its
 * RCA) starts without outside monitoring. Signals, per service and minute, from stored telemetry:
 *
 * | signal                   | from                                                        | bad when | alert               |
 * |--------------------------|-------------------------------------------------------------|----------|---------------------|
 * | `span.server_latency_p90` | p90 duration of the service's server, consumer and root spans | up     | LatencyHigh         |
 * | `span.error_ratio`        | share of those spans in error (status ERROR or HTTP ≥ 500)   | up       | ErrorsHigh          |
 * | `log.errors`              | log records at ERROR or worse                                | up       | ErrorsHigh          |
 * | `caller_latency`          | latency its callers measure (service-graph client metrics)   | up       | LatencyHigh         |
 * | `metric.<memory metric>`  | memory the service reports (e.g. process.memory.usage)       | up       | MemoryHigh          |
 * | `metric.<cpu metric>`     | CPU the service reports (e.g. process.cpu.utilization)       | up       | CpuHigh             |
 *
 * A service only the eBPF collector sees (one that sends no server spans) gets the first two from the server
 * side of its HTTP as the collector measures it (../../topology/workloads.ts), under the same names.
 *
 * Each tick judges the last `lookbackMs` of data up to `settleMs` ago (late data has landed by then). An
 * episode (flags of one service and alert name, gaps shorter than `quietMs`) fires while its last flag is
 * recent and resolves after; its fingerprint carries its start, so a later episode is a new alert.
 */
import type { Logger } from 'pino';
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import type { IncomingAlert } from '../alerts/formats.ts';
import { DEFAULT_DETECT, alertName, flagSeries, type DetectOptions, type Flag, type Series } from './rules.ts';
import { ebpfServices, workloadHttp } from '../../topology/workloads.ts';

export interface WatchSettings {
  /** How often to judge (ms). */
  intervalMs: number;
  /** How much history a tick reads (ms); also the rules' baseline reach. */
  lookbackMs: number;
  /** Minutes that ended less than this long ago are not judged yet (ms). */
  settleMs: number;
  /** Points with fewer requests than this are not judged for latency and error ratio. */
  minRequests: number;
  /**
   * Length of one point of every series (ms), a minute by default. A finer step detects sooner (two steps
   * confirm an anomaly) at the price of noisier points; it needs telemetry that arrives within the settle time.
   */
  stepMs: number;
  tenant: string;
  rules: Partial<DetectOptions>;
}

export const DEFAULT_WATCH: WatchSettings = { intervalMs: 60_000, lookbackMs: 60 * 60_000, settleMs: 30_000, minRequests: 5, stepMs: 60_000, tenant: 'default', rules: {} };

const SOURCE = 'rootline-watch';

interface Episode {
  service: string;
  name: string;
  start: number;
  last: number;
  flags: Flag[];
}

export type Notify = (tenant: string, alerts: IncomingAlert[]) => Promise<unknown>;

/** The watch's alerts still firing in the alert engine (after a restart, to resolve what ended meanwhile). */
export type Firing = () => { fingerprint: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: number }[];

export class ServiceWatch {
  private readonly settings: WatchSettings;
  private timer: NodeJS.Timeout | undefined;
  /** Fingerprints of the episodes this watch has raised and not yet resolved. */
  private readonly open = new Map<string, Episode>();
  /** The tick under way, if any. */
  private running: Promise<void> | undefined;
  private seeded = false;
  private readonly stale = new Map<string, IncomingAlert>();

  constructor(
    private readonly telemetry: TelemetryStore,
    private readonly notify: Notify,
    private readonly log: Logger,
    settings: Partial<WatchSettings> = {},
    private readonly firing?: Firing,
  ) {
    this.settings = { ...DEFAULT_WATCH, ...settings };
  }

  start(): void {
    this.timer = setInterval(() => void this.tick().catch((err: unknown) => this.log.warn({ err }, 'service watch tick failed')), this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Judges the data up to `now − settleMs`; raises and resolves alerts. Returns the episodes firing now. */
  async tick(now = Date.now()): Promise<Episode[]> {
    // One tick at a time: a slow tick finishing after a newer one would undo what the newer one raised.
    if (this.running) return [];
    const run = this.judge(now);
    this.running = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.running = undefined;
    });
    return run;
  }

  private async judge(now: number): Promise<Episode[]> {
    const { lookbackMs, settleMs, rules, tenant, stepMs: step } = this.settings;
    const to = Math.floor((now - settleMs) / step) * step; // steps before `to` are complete
    // Twice the reach: the oldest judged minutes still have a full baseline before them (else a long incident
    // would become its own baseline once its start slid out of the window).
    const from = to - 2 * lookbackMs;
    const series = await this.series(from, to);
    const o = { ...DEFAULT_DETECT, runGapMs: 1.5 * step, ...rules, lookbackMs };
    // Flags of one service and alert name, from all its series, in time order, cut where quiet long enough.
    const flagsOf = new Map<string, Flag[]>();
    for (const s of series) {
      for (const f of flagSeries(s, o)) {
        const key = `${s.service}\u0000${alertName(f.signal)}`;
        flagsOf.set(key, [...(flagsOf.get(key) ?? []), f]);
      }
    }
    const episodes = new Map<string, Episode[]>();
    for (const [key, flags] of flagsOf) {
      flags.sort((a, b) => a.t - b.t || a.signal.localeCompare(b.signal));
      const list: Episode[] = [];
      for (const f of flags) {
        const cur = list[list.length - 1];
        if (cur && f.t - cur.last <= o.quietMs) {
          cur.last = Math.max(cur.last, f.t);
          cur.flags.push(f);
        } else list.push({ service: f.service, name: alertName(f.signal), start: f.t, last: f.t, flags: [f] });
      }
      episodes.set(key, list);
    }
    // Firing: an episode whose last flagged minute is within the cool-down of the newest judged minute.
    const newest = to - step;
    const firing = [...episodes.values()].flat().filter((e) => newest - e.last <= o.quietMs);
    const alerts: IncomingAlert[] = [];
    const live = new Set<string>();
    // First tick after a start: what this watch left firing before is ours to resolve if it is over.
    if (!this.seeded) {
      this.seeded = true;
      for (const a of this.firing?.() ?? []) {
        if (a.labels.source !== SOURCE || this.open.has(a.fingerprint)) continue;
        this.stale.set(a.fingerprint, { source: 'generic', upstreamKey: a.fingerprint, status: 'resolved', labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt: to });
      }
    }
    for (const e of firing) {
      const fp = fingerprintOf(e);
      live.add(fp);
      this.open.set(fp, e);
      alerts.push(toAlert(e, 'firing'));
    }
    for (const [fp, a] of this.stale) {
      this.stale.delete(fp);
      if (!live.has(fp)) alerts.push(a);
    }
    for (const [fp, e] of this.open) {
      if (live.has(fp)) continue;
      this.open.delete(fp);
      alerts.push({ ...toAlert(e, 'resolved'), endsAt: Math.max(e.last + step, e.start + step) });
    }
    if (alerts.length > 0) await this.notify(tenant, alerts);
    return firing;
  }

  /** Per-service minute series of the golden signals in [from, to). */
  private async series(from: number, to: number): Promise<Series[]> {
    const db = this.telemetry.database;
    const p = { from, to, min: this.settings.minRequests, step: this.settings.stepMs };
    const win = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';
    // The start of a point's step, epoch ms (with a minute step, the same as toStartOfMinute in UTC).
    const minute = 'intDiv(toUnixTimestamp64Milli(timestamp), {step:Int64}) * {step:Int64}';
    const served = "(kind IN ('SERVER', 'CONSUMER') OR parent_span_id = '')";
    const [spans, logs, callers, memory, workloads] = await Promise.all([
      this.telemetry.query<{ service: string; minute: number; p90: number; requests: number; errors: number }>(
        `SELECT service_name AS service, ${minute} AS minute, quantileIf(0.9)(duration_ns, ${served}) / 1e6 AS p90,
                countIf(${served}) AS requests, countIf(${served} AND (status_code = 'ERROR' OR http_response_status_code >= 500)) AS errors
         FROM ${db}.spans WHERE ${win} AND service_name != '' GROUP BY service, minute HAVING requests >= {min:UInt32}`,
        p,
      ),
      this.telemetry.query<{ service: string; minute: number; errors: number }>(
        `SELECT service_name AS service, ${minute} AS minute, countIf(severity_number >= 17) AS errors
         FROM ${db}.logs WHERE ${win} AND service_name != '' GROUP BY service, minute`,
        p,
      ),
      this.telemetry.query<{ service: string; minute: number; value: number }>(
        `SELECT attributes['server'] AS service, ${minute} AS minute, max(value) AS value
         FROM ${db}.metric_points WHERE ${win} AND metric_name = 'traces_service_graph_request_client_seconds' AND metric_type = 'gauge' AND attributes['server'] != ''
         GROUP BY service, minute`,
        p,
      ),
      // Memory and CPU a service reports about itself (OpenTelemetry's process.memory.usage,
      // process.cpu.utilization and the like, gauges or up-down counters; cumulative CPU time is a counter and
      // left out): a leak or a runaway thread shows here before, or without, slowing anything. Attribute sets
      // are summed.
      this.telemetry.query<{ service: string; signal: string; minute: number; value: number }>(
        `SELECT service, signal, minute, sum(v) AS value FROM (
           SELECT service_name AS service, metric_name AS signal, ${minute} AS minute, attributes AS a, avg(value) AS v
           FROM ${db}.metric_points WHERE ${win} AND service_name != '' AND k8s_pod_name = ''
             AND (metric_type = 'gauge' OR (metric_type = 'sum' AND NOT is_monotonic))
             AND match(metric_name, '(^|[._])(memory|cpu)([._]|$)') AND NOT match(metric_name, 'limit|request|available|free|idle')
           GROUP BY service, signal, minute, a)
         GROUP BY service, signal, minute`,
        p,
      ),
      // Services only the eBPF collector sees: the same golden signals from the server side of their HTTP.
      ebpfServices(this.telemetry, from, to).then((w) => workloadHttp(this.telemetry, from, to, this.settings.stepMs, w.keys)),
    ]);
    const out = new Map<string, Series>();
    const add = (service: string, signal: string, t: number, value: number, minScale?: number) => {
      if (!Number.isFinite(value)) return;
      const key = `${service}\u0000${signal}`;
      let s = out.get(key);
      if (!s) out.set(key, (s = { service, signal, direction: 'up', points: [], ...(minScale ? { minScale } : {}) }));
      s.points.push({ t, value });
    };
    for (const r of [...spans, ...workloads.filter((w) => w.requests >= this.settings.minRequests)]) {
      // Latency is measured in at least a millisecond: a service that answers in 1 ms has almost no spread,
      // and a scheduling hiccup to 4 ms must not page anyone (nor hold an incident open after a fault clears).
      add(r.service, 'span.server_latency_p90', Number(r.minute), Number(r.p90), LATENCY_MIN_SCALE_MS);
      // A flat 0 % error ratio has no spread: measured in at least 1 point, a rise needs k (3.5) points to alert.
      add(r.service, 'span.error_ratio', Number(r.minute), Number(r.errors) / Number(r.requests), 0.01);
    }
    for (const r of logs) add(r.service, 'log.errors', Number(r.minute), Number(r.errors), 1);
    for (const r of callers) add(r.service, 'caller_latency', Number(r.minute), Number(r.value), LATENCY_MIN_SCALE_MS / 1000); // seconds
    // CPU utilization (a share of the machine) is measured in at least 5 points: an idle service's spread
    // is tiny, and a garbage collection must not page anyone.
    for (const r of memory) add(r.service, `metric.${r.signal}`, Number(r.minute), Number(r.value), /cpu.*utilization/.test(r.signal) ? 0.05 : undefined);
    for (const s of out.values()) s.points.sort((a, b) => a.t - b.t);
    return [...out.values()].sort((a, b) => (a.service + a.signal).localeCompare(b.service + b.signal));
  }
}

/** The least scale of a latency series (ms): with k 3.5, an alert needs at least 3.5 ms above the baseline. */
const LATENCY_MIN_SCALE_MS = 1;

const fingerprintOf = (e: Episode) => `${SOURCE}|${e.service}|${e.name}|${e.start}`;

function toAlert(e: Episode, status: 'firing' | 'resolved'): IncomingAlert {
  const worst = [...e.flags].sort((a, b) => b.value / (b.threshold || 1) - a.value / (a.threshold || 1))[0]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    source: 'generic',
    upstreamKey: fingerprintOf(e),
    status,
    labels: { alertname: e.name, service: e.service, signal: worst.signal, severity: 'warning', source: SOURCE },
    annotations: {
      summary: `${e.name} on ${e.service}: ${worst.signal} ${round(worst.value)} beyond ${round(worst.threshold)} (baseline ${round(worst.baseline)})`,
      signals: [...new Set(e.flags.map((f) => f.signal))].join(','),
    },
    startsAt: e.start,
  };
}
