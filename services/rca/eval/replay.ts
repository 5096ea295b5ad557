/**
 * Replays a data set in the Nezha layout into a running Rootline over its public ingest API (OTLP/JSON over
 * HTTP with a bearer token), so the evaluation exercises the same path as production telemetry:
 *
 * - metrics: every pod's metric file (rca_data and construct_data), rows within the span of the labelled
 *   cases (from 30 min before the first to 15 min after the last), de-duplicated by pod, name and time;
 * - traces and logs: every minute file present (rca_data and construct_data), in time order, in chunks of
 *   a few adjacent files. A chunk is converted together with the last file of the previous chunk when the two
 *   are adjacent, so span kinds see parents across the boundary; records adjacent files share are dropped.
 *
 * Requests stay within {@link DEFAULT_BATCH_LIMITS} (~4 MB), a few are in flight, 429/503 are retried after
 * their Retry-After. Then POST /api/v1/telemetry/flush waits until everything is queryable.
 */
import { stat } from 'node:fs/promises';
import { readCsvBatches } from './csv.ts';
import { baselineDays, baselineFiles, caseFiles, listCases, resolveNezhaRoot, serviceOfPod, type CaseFiles, type MetricFile, type MinuteFile, type NezhaLayout } from './nezha.ts';
import {
  dedupe,
  edgeMetricsFromRows,
  logIdentity,
  logRequests,
  logsFromRows,
  metricRequests,
  metricsFromRows,
  nanosToMs,
  spanIdentity,
  spansFromRows,
  traceRequests,
  type BatchLimits,
  type MetricPoint,
  type Resourced,
} from './otlp.ts';
import type { EntryObserver } from './detect.ts';

export interface ReplayProgress {
  phase: 'metrics' | 'traces' | 'logs' | 'flush' | 'done';
  /** 0–100, by bytes of input files read. */
  percent: number;
  doneBytes: number;
  totalBytes: number;
  spans: number;
  points: number;
  logs: number;
  requests: number;
}

export interface ReplayOptions {
  /** Requests in flight at once; 4 by default. */
  concurrency?: number;
  limits?: Partial<BatchLimits>;
  /** Receives every record sent (after de-duplication): the monitoring's view of the data. */
  observer?: EntryObserver;
  /** Metric rows from this long before the first case (ms); 30 min by default. */
  metricsBeforeMs?: number;
  /** …to this long after the last case (ms); 15 min by default. */
  metricsAfterMs?: number;
  /** Replay construct_data (fault-free baselines) too; true by default. */
  baselines?: boolean;
  /** Minute files converted together (a chunk); 4 by default. */
  chunkFiles?: number;
  /** Read and convert, feed the observer, but send nothing (the data is already in a reused data dir). */
  dryRun?: boolean;
}

export interface ReplayResult {
  ms: number;
  flushMs: number;
  files: { traces: number; logs: number; metrics: number };
  sent: { spans: number; points: number; logs: number };
  requests: number;
  retries: number;
  bodyBytes: number;
  /** Rows dropped by the converters (by reason), and records dropped as duplicates of adjacent files. */
  skipped: Record<string, number>;
  fixed: Record<string, number>;
  duplicates: { spans: number; logs: number; points: number };
  metricWindow: { from: number; to: number };
}

const MINUTE = 60_000;

/** A bounded pool of POSTs with retry on 429/503 (after Retry-After) and on connection errors. */
class Sender {
  requests = 0;
  retries = 0;
  bodyBytes = 0;
  private inFlight = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly concurrency: number,
    private readonly dryRun = false,
  ) {}

  /** Queues a POST; resolves once it is in flight (waits while the pool is full). */
  async send(path: string, body: unknown): Promise<void> {
    if (this.dryRun) return;
    if (this.failure) throw this.failure;
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const data = JSON.stringify(body);
    const p: Promise<void> = this.post(path, data)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async post(path: string, data: string): Promise<void> {
    let networkErrors = 0;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' }, body: data });
      } catch (err) {
        if (++networkErrors > 5) throw err;
        this.retries++;
        await sleep(500 * networkErrors);
        continue;
      }
      if (res.ok) {
        await res.arrayBuffer();
        this.requests++;
        this.bodyBytes += Buffer.byteLength(data);
        return;
      }
      const text = await res.text();
      if ((res.status === 429 || res.status === 503) && attempt < 200) {
        this.retries++;
        const after = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 30_000) : 500);
        continue;
      }
      throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 500)}`);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

async function rowsOf(path: string): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for await (const batch of readCsvBatches(path, { columnMismatch: 'pad' })) for (const r of batch) rows.push(r);
  return rows;
}

/** Minute files in time order, cut into chunks of adjacent files; `contiguous` says the chunk follows the previous one. */
export function chunkMinuteFiles(files: readonly MinuteFile[], maxFiles: number): { files: MinuteFile[]; contiguous: boolean }[] {
  const sorted = [...files].sort((a, b) => a.minuteEnd - b.minuteEnd || a.path.localeCompare(b.path));
  const chunks: { files: MinuteFile[]; contiguous: boolean }[] = [];
  let prevEnd = -Infinity;
  for (const f of sorted) {
    const adjacent = f.minuteEnd - prevEnd <= MINUTE;
    const last = chunks[chunks.length - 1];
    if (last && adjacent && last.files.length < maxFiles) last.files.push(f);
    else chunks.push({ files: [f], contiguous: adjacent });
    prevEnd = f.minuteEnd;
  }
  return chunks;
}

/** Every file the replay reads: all minute files present and every metric file, rca_data and construct_data. */
export async function datasetFiles(layout: NezhaLayout, baselines = true): Promise<CaseFiles> {
  const all = await caseFiles(layout, { injectTime: 0 }, 0, 8.64e15);
  if (baselines) {
    for (const day of await baselineDays(layout)) {
      const b = await baselineFiles(layout, day);
      all.traces.push(...b.traces);
      all.logs.push(...b.logs);
      all.metrics.push(...b.metrics);
      all.edges.push(...b.edges);
    }
  }
  return all;
}

/**
 * Streams the data set at `dir` into the Rootline at `url`. `onProgress` is called as files are read and at
 * the end. Returns what was sent and how long it took (replay and flush).
 */
export async function replayDataset(url: string, token: string, dir: string | NezhaLayout, onProgress?: (p: ReplayProgress) => void, options: ReplayOptions = {}): Promise<ReplayResult> {
  const t0 = performance.now();
  const layout = await resolveNezhaRoot(dir);
  const cases = await listCases(layout);
  if (cases.length === 0) throw new Error(`${layout.root}: no labelled cases`);
  const files = await datasetFiles(layout, options.baselines ?? true);
  const metricWindow = {
    from: cases[0]!.injectTime - (options.metricsBeforeMs ?? 30 * MINUTE),
    to: cases[cases.length - 1]!.injectTime + (options.metricsAfterMs ?? 15 * MINUTE),
  };
  const sender = new Sender(url, token, Math.max(1, options.concurrency ?? 4), options.dryRun ?? false);
  const limits = options.limits ?? {};
  const chunkFiles = Math.max(1, options.chunkFiles ?? 4);
  const observer = options.observer;

  const sizes = new Map<string, number>();
  for (const f of [...files.metrics, ...files.edges, ...files.traces, ...files.logs]) sizes.set(f.path, (await stat(f.path)).size);
  const progress: ReplayProgress = { phase: 'metrics', percent: 0, doneBytes: 0, totalBytes: [...sizes.values()].reduce((a, b) => a + b, 0), spans: 0, points: 0, logs: 0, requests: 0 };
  const report = (phase: ReplayProgress['phase'], bytes = 0) => {
    progress.phase = phase;
    progress.doneBytes += bytes;
    progress.percent = progress.totalBytes > 0 ? Math.round((progress.doneBytes / progress.totalBytes) * 1000) / 10 : 100;
    progress.requests = sender.requests;
    onProgress?.({ ...progress });
  };
  const skipped: Record<string, number> = {};
  const fixed: Record<string, number> = {};
  const duplicates = { spans: 0, logs: 0, points: 0 };

  // 1. Metrics: small (one row a minute per pod), sent first so pods and services exist early. A point is
  // the same point when its reporter, name, labels and time are.
  const seenPoints = new Set<string>();
  const identity = (i: Resourced<MetricPoint>) =>
    [i.resource['k8s.pod.name'] ?? i.resource['service.name'] ?? '', i.record.name, ...(i.record.point.attributes ?? []).map((a) => JSON.stringify(a.value)), i.record.point.timeUnixNano].join('\u0000');
  const sendPoints = async (path: string, conv: { items: Resourced<MetricPoint>[]; skipped: Record<string, number>; fixed: Record<string, number> }) => {
    add(skipped, conv.skipped);
    add(fixed, conv.fixed);
    const inWindow = conv.items.filter((i) => {
      const t = nanosToMs(i.record.point.timeUnixNano);
      return t >= metricWindow.from && t <= metricWindow.to;
    });
    const items = dedupe(inWindow, identity, seenPoints);
    duplicates.points += inWindow.length - items.length;
    observer?.addMetricPoints(items);
    for (const req of metricRequests(items, limits)) await sender.send('/v1/metrics', req);
    progress.points += items.length;
    report('metrics', sizes.get(path) ?? 0);
  };
  const metricFiles: MetricFile[] = [...files.metrics].sort((a, b) => a.day.localeCompare(b.day) || a.pod.localeCompare(b.pod) || a.path.localeCompare(b.path));
  for (const m of metricFiles) await sendPoints(m.path, metricsFromRows(await rowsOf(m.path), { pod: m.pod }));

  // 1b. Per-edge latency as each side measured it (when the data set has it): the services known from the
  // pod metric files tell where an edge column splits.
  const known = new Set(metricFiles.map((m) => serviceOfPod(m.pod)));
  for (const e of [...files.edges].sort((a, b) => a.day.localeCompare(b.day) || a.path.localeCompare(b.path))) {
    await sendPoints(e.path, edgeMetricsFromRows(await rowsOf(e.path), e.side, e.quantile, known));
  }

  // 2. Traces and 3. logs, chunk by chunk in time order.
  for (const kind of ['traces', 'logs'] as const) {
    let context: Record<string, string>[] = [];
    let prevSeen = new Set<string>();
    for (const chunk of chunkMinuteFiles(files[kind], chunkFiles)) {
      if (!chunk.contiguous) {
        context = [];
        prevSeen = new Set();
      }
      const perFile: Record<string, string>[][] = [];
      for (const f of chunk.files) perFile.push(await rowsOf(f.path));
      const rows = [...context, ...perFile.flat()];
      const seen = new Set(prevSeen);
      let identities: string[];
      if (kind === 'traces') {
        const conv = spansFromRows(rows);
        const { duplicate: _d, ...rest } = conv.skipped;
        add(skipped, rest);
        add(fixed, conv.fixed);
        // Spans of the context file were sent with the previous chunk: they are in `seen` and drop here.
        const items = dedupe(conv.items, spanIdentity, seen);
        duplicates.spans += (conv.skipped.duplicate ?? 0) + conv.items.length - items.length - contextCount(conv.items, prevSeen, spanIdentity);
        identities = conv.items.map(spanIdentity);
        observer?.addSpans(items);
        for (const req of traceRequests(items, limits)) await sender.send('/v1/traces', req);
        progress.spans += items.length;
      } else {
        const conv = logsFromRows(rows);
        add(skipped, conv.skipped);
        add(fixed, conv.fixed);
        const items = dedupe(conv.items, logIdentity, seen);
        duplicates.logs += conv.items.length - items.length - contextCount(conv.items, prevSeen, logIdentity);
        identities = conv.items.map(logIdentity);
        observer?.addLogs(items);
        for (const req of logRequests(items, limits)) await sender.send('/v1/logs', req);
        progress.logs += items.length;
      }
      // The last file is context for the next chunk; records only adjacent files share, so this chunk's
      // identities are all the next one needs to drop its overlap (memory stays bounded on long runs).
      context = perFile[perFile.length - 1] ?? [];
      prevSeen = new Set(identities);
      report(kind, chunk.files.reduce((n, f) => n + (sizes.get(f.path) ?? 0), 0));
    }
  }
  await sender.drain();
  const replayedMs = performance.now();
  report('flush');
  if (!options.dryRun) {
    const res = await fetch(`${url}/api/v1/telemetry/flush`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`POST /api/v1/telemetry/flush: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  const flushMs = performance.now() - replayedMs;
  report('done');
  return {
    ms: Math.round(performance.now() - t0),
    flushMs: Math.round(flushMs),
    files: { traces: files.traces.length, logs: files.logs.length, metrics: files.metrics.length },
    sent: { spans: progress.spans, points: progress.points, logs: progress.logs },
    requests: sender.requests,
    retries: sender.retries,
    bodyBytes: sender.bodyBytes,
    skipped,
    fixed,
    duplicates,
    metricWindow,
  };
}

/** How many of `items` were already known before this chunk (re-read context, not duplicates of the data). */
function contextCount<T>(items: readonly Resourced<T>[], prevSeen: ReadonlySet<string>, identity: (i: Resourced<T>) => string): number {
  let n = 0;
  for (const i of items) if (prevSeen.has(identity(i))) n++;
  return n;
}

/** A progress printer for stderr: one line per 5 % step and per phase change. */
export function progressPrinter(write: (s: string) => void = (s) => process.stderr.write(s)): (p: ReplayProgress) => void {
  let lastPct = -Infinity;
  let lastPhase = '';
  const t0 = performance.now();
  return (p) => {
    if (p.phase === lastPhase && p.percent - lastPct < 5 && p.percent < 100) return;
    lastPct = p.percent;
    lastPhase = p.phase;
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    write(`replay ${p.percent.toFixed(0).padStart(3)}% [${p.phase}] ${p.spans} spans, ${p.points} points, ${p.logs} logs, ${p.requests} requests, ${s}s\n`);
  };
}
