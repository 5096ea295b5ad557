/**
 * The API call-sequence model at work: training as a queue job with progress, and online scoring of new
 * traces. Anomalous traces become `sequence_anomaly` events, kept for RCA to use as evidence and raised as
 * `ApiSequenceAnomaly` alerts, deduplicated per (entry service, unexpected call) within a window.
 *
 * Online scoring polls the telemetry store: every `pollMs` it reads the traces whose last span started in
 * [cursor, now − settleMs), so a trace still running is not cut; spans that arrive later than the settle
 * delay after they started are not scored.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JobProgress, QueueBackend, Worker } from '../shared/queue/index.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { traceSequences } from './reports/builder.ts';
import type { SequenceDetector } from './sequence/detector.ts';
import { UNSEEN_RANK } from './sequence/scorer.ts';

export const TRAIN_QUEUE = 'predict-train';

export interface TrainJob {
  from: number;
  to: number;
  tenant: string;
}

export interface TrainStatus {
  jobId: string;
  state: 'queued' | 'running' | 'completed' | 'failed';
  from: number;
  to: number;
  queuedAt: number;
  progress: JobProgress | null;
  finishedAt?: number;
  /** Version saved by a completed job. */
  version?: string;
  sessions?: number;
  error?: string;
}

/** One trace whose call sequence the model found anomalous. */
export interface SequenceAnomaly {
  kind: 'sequence_anomaly';
  /** Start of the trace (ms). */
  t: number;
  traceId: string;
  /** Service of the trace's first call, and of the unexpected call (topology ids). */
  entryService: string;
  callService: string;
  unexpected: string;
  /** The call before the unexpected one, or `(start)`. */
  previous: string;
  calls: string[];
  /** Largest surprisal of the trace (Infinity for a call never seen in training) and the model's threshold. */
  score: number;
  threshold: number;
  /** A call never seen, or one of many rare flows at its entry service (see RARE_FLOW_ALERT): alerted on and RCA evidence. */
  significant: boolean;
}

/** Raises one alert; the role is wired to the alert service's generic ingestion when RCA runs alongside. */
export type AlertSink = (tenant: string, alert: { labels: Record<string, string>; annotations: Record<string, string>; startsAt: number; endsAt?: number; upstreamKey?: string }) => Promise<void>;

export interface OnlineSettings {
  pollMs: number;
  settleMs: number;
  /** One alert per (entry service, unexpected call) within this long. */
  dedupMs: number;
  /** Anomalies kept in memory for RCA. */
  keep: number;
  maxTraces: number;
  /** A flow alert ends this long after the last anomalous trace that raised or refreshed it was scored. */
  alertTtlMs: number;
}

export const DEFAULT_ONLINE: OnlineSettings = { pollMs: 2000, settleMs: 5000, dedupMs: 10 * 60_000, keep: 10_000, maxTraces: 5000, alertTtlMs: 60_000 };

/**
 * When a rare flow is worth an alert. A call never seen in training is news by itself. A flow the model
 * only finds unlikely is expected now and then: the threshold lets `targetFpr` of normal traces through
 * (1 %), and a model trained on minutes of traffic has not seen every rare branch. Such traces become an
 * alert only when, over the last minute of an entry service's traces, at least `minCount` of them are
 * anomalous and they are `rateFactor` times more common than the threshold allows: a new release whose
 * flows changed, not the odd customer.
 */
export const RARE_FLOW_ALERT = { windowMs: 60_000, minCount: 3, rateFactor: 3 };

/** Small model options: business APIs have a few dozen calls and short flows. */
const TRAIN_OPTIONS = { window: 4, units: 16, layers: 1, targetFpr: 0.01, train: { epochs: 30, batchSize: 64, learningRate: 0.02, patience: 5 } };
const MAX_TRAIN_TRACES = 50_000;

const serviceOf = (call: string) => `service:${call.slice(0, call.indexOf(':') < 0 ? call.length : call.indexOf(':'))}`;

/** The call the model least expected: the first never seen in training, else the worst-ranked one. */
function unexpectedCall(calls: readonly string[], ranks: Int32Array): { index: number; call: string; previous: string } {
  let index = ranks.indexOf(UNSEEN_RANK);
  if (index < 0) {
    index = 0;
    for (let i = 1; i < ranks.length; i++) if (ranks[i]! > ranks[index]!) index = i;
  }
  return { index, call: index < calls.length ? calls[index]! : '(end of trace)', previous: index > 0 ? calls[index - 1]! : '(start)' };
}

export class SequenceOnline {
  private readonly jobs = new Map<string, TrainStatus>();
  private readonly anomalies: SequenceAnomaly[] = [];
  private readonly raised = new Map<string, { startsAt: number; refreshed: number; endsAt: number }>();
  /** Per entry service: the start and verdict of each trace scored in the last RARE_FLOW_ALERT.windowMs. */
  private readonly recent = new Map<string, { t: number; anomalous: boolean }[]>();
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cursor: number;
  private polling: Promise<void> | undefined;
  private tenant: string;

  constructor(
    private readonly deps: {
      telemetry: TelemetryStore;
      queues: QueueBackend;
      log: Logger;
      modelsDir: string;
      modelName: string;
      /** The loaded model, or null when none is trained. */
      model: () => Promise<SequenceDetector | null>;
      /** Drops the loaded model so the next call loads the newest version. */
      reload: () => void;
      alert?: AlertSink;
      /** Tenant alerts go to until a training job names one. */
      defaultTenant: string;
    },
    private readonly settings: OnlineSettings = DEFAULT_ONLINE,
  ) {
    this.cursor = Date.now() - settings.settleMs;
    this.tenant = deps.defaultTenant;
  }

  start(): void {
    this.worker = this.deps.queues.worker<TrainJob, TrainStatus>(TRAIN_QUEUE, (job) => this.train(job.id, job.data, (p) => job.updateProgress(p)), { concurrency: 1 });
    this.worker.on('failed', (e) => {
      const s = this.jobs.get(e.jobId);
      if (s) Object.assign(s, { state: 'failed', error: e.error, finishedAt: Date.now() });
      this.deps.log.warn({ job: e.jobId, error: e.error }, 'sequence model training failed');
    });
    this.timer = setInterval(() => void this.poll(), this.settings.pollMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
    await this.worker?.close();
  }

  /** Enqueues a training job on the traces of [from, to). */
  async enqueueTraining(input: TrainJob): Promise<TrainStatus> {
    const jobId = `train-${randomUUID()}`;
    const status: TrainStatus = { jobId, state: 'queued', from: input.from, to: input.to, queuedAt: Date.now(), progress: null };
    this.jobs.set(jobId, status);
    if (this.jobs.size > 1000) this.jobs.delete(this.jobs.keys().next().value!);
    await this.deps.queues.queue<TrainJob>(TRAIN_QUEUE).add('train', input, { jobId, attempts: 1 });
    return status;
  }

  /** Status of a training job this process enqueued or ran. */
  job(jobId: string): TrainStatus | undefined {
    return this.jobs.get(jobId);
  }

  /** Training jobs, newest first. */
  trainingJobs(): TrainStatus[] {
    return [...this.jobs.values()].reverse();
  }

  private async train(jobId: string, data: TrainJob, report: (p: JobProgress) => Promise<void>): Promise<TrainStatus> {
    const status = this.jobs.get(jobId) ?? { jobId, state: 'queued', from: data.from, to: data.to, queuedAt: Date.now(), progress: null };
    this.jobs.set(jobId, status);
    const progress = (p: Record<string, unknown>) => {
      status.progress = p;
      void report(p);
    };
    status.state = 'running';
    progress({ stage: 'extracting' });
    const rows = await traceSequences(this.deps.telemetry, data.from, data.to, MAX_TRAIN_TRACES);
    const sessions = rows.map((r) => r.calls).filter((c) => c.length > 0);
    if (sessions.length < 20) throw new Error(`too few traces to train on: ${sessions.length} in the window (need 20)`);
    // Oldest first: the later fifth checks early stopping and sets the thresholds.
    const cut = Math.floor(sessions.length * 0.8);
    const [{ loadTf }, { SequenceDetector }] = await Promise.all([import('./sequence/backend.ts'), import('./sequence/detector.ts')]);
    const runtime = await loadTf();
    const { detector } = await SequenceDetector.train(
      runtime,
      { train: sessions.slice(0, cut), validation: sessions.slice(cut), window: { from: new Date(data.from).toISOString(), to: new Date(data.to).toISOString(), sessions: sessions.length, source: 'spans' } },
      TRAIN_OPTIONS,
      {
        onEpoch: (p) => progress({ stage: 'training', ...p }),
        onScore: (p) => progress({ stage: 'calibrating', ...p }),
      },
    );
    const { metadata } = await detector.save(this.deps.modelsDir, this.deps.modelName);
    detector.dispose();
    this.tenant = data.tenant;
    this.deps.reload();
    Object.assign(status, { state: 'completed', version: metadata.version, sessions: sessions.length, finishedAt: Date.now(), progress: { stage: 'done' } });
    this.deps.log.info({ job: jobId, version: metadata.version, sessions: sessions.length }, 'sequence model trained');
    return { ...status };
  }

  /** Scores the traces settled since the last poll; one poll at a time. */
  poll(now = Date.now()): Promise<void> {
    this.polling ??= this.scoreNew(now)
      .catch((err: unknown) => this.deps.log.warn({ err }, 'online sequence scoring failed'))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async scoreNew(now: number): Promise<void> {
    const to = now - this.settings.settleMs;
    if (to <= this.cursor) return;
    const model = await this.deps.model();
    const from = this.cursor;
    if (!model) {
      this.cursor = to;
      return;
    }
    // Traces that began up to a minute before the cursor still count when they ended after it. Spans are
    // read past `to` (up to now) so that a trace with a span after `to` is seen as unsettled and waits for
    // the next poll whole; reading only up to `to` would score its head as if the trace had ended there.
    const rows = (await traceSequences(this.deps.telemetry, from - 60_000, Math.max(now, to) + 60_000, this.settings.maxTraces, to)).filter((r) => r.last >= from && r.calls.length > 0);
    this.cursor = to;
    if (rows.length === 0) return;
    const raw = await model.scoreRaw(rows.map((r) => r.calls));
    const targetFpr = model.metadata.thresholds.targetFpr;
    for (let i = 0; i < rows.length; i++) {
      const s = raw[i]!;
      const r = rows[i]!;
      const entry = serviceOf(r.calls[0]!);
      const seen = this.recent.get(entry) ?? [];
      seen.push({ t: r.first, anomalous: s.score > model.thresholds.score });
      while (seen.length > 0 && seen[0]!.t < r.first - RARE_FLOW_ALERT.windowMs) seen.shift();
      this.recent.set(entry, seen);
      if (!(s.score > model.thresholds.score)) continue;
      const u = unexpectedCall(r.calls, s.ranks);
      const a: SequenceAnomaly = {
        kind: 'sequence_anomaly', t: r.first, traceId: r.trace_id, entryService: serviceOf(r.calls[0]!),
        callService: serviceOf(u.call === '(end of trace)' ? r.calls[r.calls.length - 1]! : u.call),
        unexpected: u.call, previous: u.previous, calls: r.calls, score: s.score, threshold: model.thresholds.score, significant: false,
      };
      this.anomalies.push(a);
      const bad = seen.filter((x) => x.anomalous).length;
      a.significant = !Number.isFinite(s.score) || (bad >= RARE_FLOW_ALERT.minCount && bad / seen.length > RARE_FLOW_ALERT.rateFactor * targetFpr);
      if (!a.significant) continue;
      // The earlier rare flows of this entry in the window were the same change beginning.
      for (const b of this.anomalies) if (b.entryService === a.entryService && b.t >= a.t - RARE_FLOW_ALERT.windowMs) b.significant = true;
      await this.raise(a);
    }
    if (this.anomalies.length > this.settings.keep) this.anomalies.splice(0, this.anomalies.length - this.settings.keep);
    for (const [entry, seen] of this.recent) if (seen.length === 0 || seen[seen.length - 1]!.t < to - 10 * RARE_FLOW_ALERT.windowMs) this.recent.delete(entry);
  }

  private async raise(a: SequenceAnomaly): Promise<void> {
    // One alert per (entry, unexpected call) episode: refreshed (endsAt moved on) by later anomalous traces,
    // at most every half TTL, so it ends on its own once the flow is gone.
    // An episode lasts while its alert does: once the alert has ended (the alert service resolves it at
    // endsAt), the next anomalous trace starts a new one, with its own identity, rather than firing the ended
    // alert again (which would count as flapping and hold its incident open).
    const ttl = this.settings.alertTtlMs;
    const now = Date.now();
    const key = `${a.entryService}\u0000${a.unexpected}`;
    const last = this.raised.get(key);
    const live = last !== undefined && now < last.endsAt;
    if (live && a.t - last.refreshed < ttl / 2 && a.t >= last.refreshed) return;
    const startsAt = live ? last.startsAt : a.t;
    // The end counts from now, when the trace was scored: scoring waits for traces to settle, and that wait
    // must not eat into the alert's life.
    const endsAt = now + ttl;
    this.raised.set(key, { startsAt, refreshed: Math.max(a.t, last?.refreshed ?? -Infinity), endsAt });
    if (!this.deps.alert) return;
    const score = Number.isFinite(a.score) ? a.score.toFixed(2) : 'unseen call';
    try {
      await this.deps.alert(this.tenant, {
        labels: { alertname: 'ApiSequenceAnomaly', service: a.entryService.slice('service:'.length), unexpected_call: a.unexpected, severity: 'warning' },
        annotations: {
          summary: `unexpected call ${a.unexpected} after ${a.previous}`,
          trace_id: a.traceId, score, threshold: a.threshold.toFixed(2), unexpected_call: a.unexpected, previous_call: a.previous,
        },
        startsAt,
        endsAt,
        // One alert per episode, as the service watch does: the same broken flow a while later is news (a new
        // incident, analysed at its own time), not the last one's incident reopened.
        upstreamKey: `api-sequence|${a.entryService}|${a.unexpected}|${startsAt}`,
      });
    } catch (err) {
      this.deps.log.warn({ err, trace: a.traceId }, 'could not raise the API sequence alert');
    }
  }

  /** Significant anomalies of traces that started in [from, to), oldest first (the odd rare flow is no evidence). */
  anomaliesBetween(from: number, to: number): SequenceAnomaly[] {
    return this.anomalies.filter((a) => a.significant && a.t >= from && a.t < to);
  }
}
