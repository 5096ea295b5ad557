/**
 * The security watch: reads collector events as they land in ClickHouse, runs them through the rules, and
 * raises what matches as alerts into the same flow as every other alert (deduplication, incidents, RCA).
 *
 * It follows `inserted_at` (when a row landed), not event time, so events a collector delivers late are
 * still judged; a short overlap with a seen-set covers inserts that commit out of order. Its cursor and the
 * learned baselines are saved under the data directory, so a restart neither re-alerts nor forgets.
 *
 * An alert per (rule, workload, process): one reverse shell dup'ing three descriptors is one alert. Security
 * events are points in time, so an alert resolves once its rule has been quiet for `resolveAfterMs`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import type { IncomingAlert } from '../rca/alerts/formats.ts';
import type { Baselines } from './baseline.ts';
import type { SecurityEngine} from './engine.ts';
import { type Match } from './engine.ts';
import { text as str, type Event } from './rules/condition.ts';
import type { Priority } from './rules/load.ts';
import { ids } from '../topology/model.ts';
import { SECURITY_DETECTOR } from '../shared/security-labels.ts';

export const DETECTOR = SECURITY_DETECTOR;
/** Alerts kept open (to raise each once) at most. */
const MAX_OPEN = 100_000;
/** The cursor and baselines are saved at most this often while nothing resolves. */
const SAVE_EVERY_MS = 10_000;

export interface SecurityWatchSettings {
  intervalMs: number;
  tenant: string;
  resolveAfterMs: number;
  /** Where the cursor and baselines are kept. */
  stateFile: string;
  /** Rows read per query; a backlog is read in several. */
  batch: number;
  overlapMs: number;
}

export type Notify = (tenant: string, alerts: IncomingAlert[]) => Promise<unknown>;

interface Row {
  t_ns: string;
  ins: string;
  event_name: string;
  collector_id: string;
  /** As text (an alias must not shadow the column the query filters and sorts by). */
  seq_text: string;
  host_name: string;
  process_pid: number;
  process_executable_name: string;
  attributes: Record<string, string>;
}

const SEVERITY: Record<Priority, string> = {
  EMERGENCY: 'critical', ALERT: 'critical', CRITICAL: 'critical', ERROR: 'error', WARNING: 'warning', NOTICE: 'info', INFORMATIONAL: 'info', DEBUG: 'info',
};


/** The topology entity a match is about: its pod, else its container, else its process. */
export function entityOf(e: Event): string {
  const pod = str(e['k8s.pod.name']);
  if (pod) return ids.pod(str(e['k8s.namespace.name']) || 'default', pod);
  const host = str(e['host.name']);
  const pid = str(e['process.pid']);
  if (host && pid) return ids.process(host, pid);
  const container = str(e['container.id']);
  return container ? ids.container(container) : ids.host(host);
}

export function alertOf(m: Match): IncomingAlert {
  const e = m.event;
  const labels: Record<string, string> = {
    alertname: m.rule.name,
    severity: SEVERITY[m.rule.priority],
    detector: DETECTOR,
    security_kind: m.rule.kind,
    workload: str(e['aiops.workload']),
    entity: entityOf(e),
    host: str(e['host.name']),
    pid: str(e['process.pid']),
  };
  for (const [label, field] of [['container_id', 'container.id'], ['pod', 'k8s.pod.name'], ['namespace', 'k8s.namespace.name']] as const) {
    if (e[field]) labels[label] = str(e[field]);
  }
  const annotations: Record<string, string> = { summary: m.output, description: m.rule.desc, priority: m.rule.priority, event: str(e['event.name']) };
  if (m.rule.reference) annotations.mitre_technique = m.rule.reference;
  if (m.rule.category) annotations.mitre_tactic = m.rule.category;
  if (e['aiops.seq'] !== undefined) annotations.evidence_seq = str(e['aiops.seq']);
  return { source: SECURITY_DETECTOR, status: 'firing', labels, annotations, startsAt: m.t };
}

export class SecurityWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private cursor: number;
  /** Rows already judged within the overlap, by identity, with when they landed. */
  private readonly seen = new Map<string, number>();
  /** Alerts raised and not yet resolved, by rule + workload + pid, with their last match. */
  private readonly open = new Map<string, { alert: IncomingAlert; last: number }>();
  private lastTick = 0;
  private stopped = false;
  private savedAt = 0;
  private savedCursor = NaN;
  private savedMatched = 0;
  /** Rule matches since start. */
  matched = 0;
  /** Events judged since start. */
  judged = 0;

  constructor(
    private readonly telemetry: TelemetryStore,
    readonly engine: SecurityEngine,
    private readonly notify: Notify,
    private readonly log: Logger,
    private readonly settings: SecurityWatchSettings,
    now = Date.now(),
  ) {
    this.cursor = now - settings.overlapMs;
    this.loadState();
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.tick().catch((err: unknown) => this.log.warn({ err }, 'security watch tick failed')).finally(loop);
      }, this.settings.intervalMs);
      this.timer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    // Held execs are not saved (the cursor is past them): they stand now rather than be lost.
    const alerts: IncomingAlert[] = [];
    for (const m of this.engine.release(Infinity)) this.raise(m, alerts, []);
    if (alerts.length > 0) await this.notify(this.settings.tenant, alerts).catch((err: unknown) => this.log.warn({ err }, 'security alerts at stop not raised'));
    this.saveState();
  }

  /** Judges what landed since the last tick; one tick at a time. */
  tick(now = Date.now()): Promise<void> {
    this.running ??= this.judge(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** When the watch last finished judging (epoch ms), for readiness and tests. */
  get judgedAt(): number {
    return this.lastTick;
  }

  private async judge(now: number): Promise<void> {
    const db = this.telemetry.database;
    // Pages: the first from the overlap before the cursor, the next ones strictly after the last row read
    // (by the sort key), so a backlog larger than a page, or one insert of more rows than a page (all with
    // one inserted_at), is read through instead of re-read forever.
    let after: { ins: string; cid: string; seq: string } | undefined;
    for (;;) {
      const from = this.cursor - this.settings.overlapMs;
      const rows = await this.telemetry.query<Row>(
        `SELECT toString(toUnixTimestamp64Nano(timestamp)) AS t_ns, toString(toUnixTimestamp64Milli(inserted_at)) AS ins, event_name, collector_id,
                toString(seq) AS seq_text, host_name, process_pid, process_executable_name, attributes
         FROM ${db}.collector_events
         WHERE inserted_at > fromUnixTimestamp64Milli({from:Int64}) AND timestamp > fromUnixTimestamp64Milli({from:Int64}) - INTERVAL 1 DAY
           -- Parts written before the column was added compute its default when read (the query's time): they
           -- are not new, and this keeps them out.
           AND inserted_at < now64(3)
           ${after ? 'AND (inserted_at, collector_id, seq) > (fromUnixTimestamp64Milli({afterIns:Int64}), {afterCid:String}, {afterSeq:UInt64})' : ''}
         ORDER BY inserted_at, collector_id, seq LIMIT {limit:UInt32}`,
        { from, limit: this.settings.batch, ...(after ? { afterIns: Number(after.ins), afterCid: after.cid, afterSeq: after.seq } : {}) },
      );
      const last = rows.at(-1);
      if (last) after = { ins: last.ins, cid: last.collector_id, seq: last.seq_text };
      const undo = { cursor: this.cursor, seen: [] as string[], opened: [] as string[] };
      const alerts: IncomingAlert[] = [];
      for (const r of rows) {
        const ins = Number(r.ins);
        const id = `${r.collector_id}/${r.seq_text}/${r.t_ns}`;
        if (this.seen.has(id)) continue;
        this.seen.set(id, ins);
        undo.seen.push(id);
        this.cursor = Math.max(this.cursor, ins);
        const e: Event = {
          ...r.attributes, 'event.name': r.event_name, 'aiops.seq': r.seq_text, 'host.name': r.attributes['host.name'] || r.host_name,
          'process.pid': r.process_pid ? String(r.process_pid) : r.attributes['process.pid'], 'process.executable.name': r.process_executable_name,
        };
        const t = Number(BigInt(r.t_ns) / 1_000_000n);
        this.judged++;
        for (const m of this.engine.evaluate(e, t, now)) this.raise(m, alerts, undo.opened);
      }
      // Execs the engine held (a possible wrapper) whose process went quiet stand as they were judged.
      for (const m of this.engine.release(now)) this.raise(m, alerts, undo.opened);
      if (alerts.length > 0) {
        try {
          await this.notify(this.settings.tenant, alerts);
        } catch (err) {
          // Not delivered: these rows are read and judged again next tick. (What the baselines learned from
          // them stays learned, so a baseline deviation among them is not raised twice, nor again.)
          this.cursor = undo.cursor;
          for (const id of undo.seen) this.seen.delete(id);
          for (const key of undo.opened) this.open.delete(key);
          throw err;
        }
      }
      for (const [id, ins] of this.seen) if (ins < this.cursor - this.settings.overlapMs) this.seen.delete(id);
      if (rows.length < this.settings.batch || this.stopped) break;
    }
    const resolved: IncomingAlert[] = [];
    for (const [key, o] of this.open) {
      if (now - o.last < this.settings.resolveAfterMs) continue;
      this.open.delete(key);
      resolved.push({ ...o.alert, status: 'resolved', endsAt: now });
    }
    if (resolved.length > 0) await this.notify(this.settings.tenant, resolved);
    // The state is written at most every few seconds (a crash re-judges that much; the alert engine
    // deduplicates what is raised twice), and at once when alerts changed.
    const changed = this.engine.baselines.dirty || this.cursor !== this.savedCursor || this.matched !== this.savedMatched;
    if (resolved.length > 0 || (changed && now - this.savedAt >= SAVE_EVERY_MS)) this.saveState(now);
    this.lastTick = now;
  }

  /** Counts a match, and adds its alert to `alerts` unless the same alert is open (then it is only kept open). */
  private raise(m: Match, alerts: IncomingAlert[], opened: string[]): void {
    this.matched++;
    const a = alertOf(m);
    const key = `${a.labels.alertname}\0${a.labels.workload}\0${a.labels.host}\0${a.labels.pid}`;
    const prev = this.open.get(key);
    if (prev) prev.last = Math.max(prev.last, m.t);
    else {
      // Bounded: past the cap the oldest open alert is forgotten (it resolves downstream by its own timeout
      // only if the sender's; here it simply may be raised again).
      if (this.open.size >= MAX_OPEN) this.open.delete(this.open.keys().next().value!);
      this.open.set(key, { alert: a, last: m.t });
      opened.push(key);
      alerts.push(a);
    }
  }

  private loadState(): void {
    const file = this.settings.stateFile;
    if (!existsSync(file)) return;
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as { cursor: number; baselines: Parameters<Baselines['restore']>[0]; open?: [string, { alert: IncomingAlert; last: number }][] };
      if (Number.isFinite(s.cursor)) this.cursor = s.cursor;
      this.engine.baselines.restore(s.baselines ?? []);
      for (const [k, v] of s.open ?? []) this.open.set(k, v);
    } catch (err) {
      this.log.warn({ err, file }, 'security watch state unreadable: starting afresh');
    }
  }

  private saveState(now = Date.now()): void {
    this.savedAt = now;
    const file = this.settings.stateFile;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ cursor: this.cursor, baselines: this.engine.baselines.snapshot(), open: [...this.open] }));
    renameSync(tmp, file);
    this.savedCursor = this.cursor;
    this.savedMatched = this.matched;
  }
}
