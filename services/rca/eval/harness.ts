/**
 * `rootline eval rca --dataset <dir|archive> [--json]`: scores Rootline's root-cause analysis on labelled
 * cases in the Nezha layout, through the real pipeline:
 *
 * 1. unpack the archive (once, into the git-ignored `.cache/datasets/`), or take an unpacked folder;
 * 2. start the embedded service as a child process (all roles, a temp data dir, a fresh token, retention off
 *    so 2022 data is kept, a 2-minute alert grouping window so separate faults stay separate incidents);
 * 3. replay every case-relevant file over the OTLP/HTTP ingest API ({@link replayDataset});
 * 4. wait until the topology extraction has caught up;
 * 5. play the user's monitoring ({@link detect}): watch the entry services, POST an alert to /api/v1/alerts
 *    for each detected anomaly;
 * 6. for each labelled case, take the first detection within [inject − 60 s, inject + 180 s] and ask
 *    POST /api/v1/rca about it; score the service ranking top-1/3/5 (the label is used only here);
 * 7. stop the service.
 *
 * Progress and a per-case table go to stderr; the returned object is what the CLI prints last as JSON.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { DEFAULT_DETECT, EntryObserver, detect, raiseAlertsEach, type DetectOptions, type Detection } from './detect.ts';
import { listCases, resolveNezhaRoot } from './nezha.ts';
import { progressPrinter, replayDataset, type ReplayResult } from './replay.ts';
import { MATCH_WINDOW, accuracy, askRca, baselineRanking, matchDetections, rankOf, serviceName, summarize, type Accuracy, type CaseResult } from './score.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FAULT_MS = 180_000;
const ARCHIVE = /\.(tar\.xz|txz|tar\.gz|tgz|tar)$/;

export interface EvalOptions {
  /** An unpacked data set (any folder `resolveNezhaRoot` accepts) or its `.tar.xz` / `.tar.gz` archive. */
  dataset: string;
  /** The CLI prints the JSON itself; without it a readable summary also goes to stderr. */
  json?: boolean;
  /** Keep the service's temp data dir (for debugging); also ROOTLINE_EVAL_KEEP=1. */
  keep?: boolean;
  /**
   * A data dir to keep the replayed service data in and reuse: the first run replays into it and marks it
   * done; later runs start the service on it and skip the replay and topology (a development loop for the
   * RCA engine, minutes → seconds). Also ROOTLINE_EVAL_REUSE=<dir>.
   */
  reuse?: string;
  /** Detector settings (defaults: {@link DEFAULT_DETECT}). */
  detect?: Partial<DetectOptions>;
  /** Where progress goes; stderr by default. */
  log?: (line: string) => void;
}

export interface EvalResult extends Accuracy {
  by_type: Record<string, Accuracy>;
  /** By whether spans (and logs) of the system exist in the fault window ([inject, inject + 180 s]). */
  by_data: Record<string, Accuracy>;
  /** By the day of the case (its inject time, UTC). */
  by_day: Record<string, Accuracy>;
  /**
   * The naive metrics-only ranking in the same run, on the same detections: each service by the largest
   * robust z-score of its own signals (server-span p90, CPU, server latency) in [t, t + 3 min] against
   * [t − 20, t − 1 min]. What modelling the system must beat.
   */
  naive: Accuracy & { by_type: Record<string, Accuracy> };
  entry_services: string[];
  /** Alerts the monitoring raised, and how many of them matched no labelled case. */
  alerts: number;
  unmatched_alerts: number;
  /** Top-k over the detected cases only: the RCA's share of the result, apart from detection. */
  when_detected: { cases: number; top1: number; top3: number; top5: number };
  /** Detection delay after the injection, seconds: median over detected cases. */
  detection_delay_s: number | null;
  replay: { spans: number; points: number; logs: number; requests: number; retries: number; mb: number };
  timings_s: Record<string, number>;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** Unpacks an archive once into `.cache/datasets/<name>` (reused while the archive is unchanged); a folder is returned as is. */
export function datasetDir(dataset: string, log: (s: string) => void = () => {}): string {
  const path = resolve(dataset);
  if (!ARCHIVE.test(path)) return path;
  const name = basename(path).replace(ARCHIVE, '');
  const cache = join(ROOT, '.cache', 'datasets', name);
  const st = statSync(path);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const marker = join(cache, '.unpacked-from');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return cache;
  // Unpack beside the cache and rename, so an interrupted run never leaves a half-filled cache behind.
  const tmp = `${cache}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`unpacking ${path} into ${cache}`);
  const flag = /xz$/.test(path) ? '-xJf' : /gz$/.test(path) ? '-xzf' : '-xf';
  const res = spawnSync('tar', [flag, path, '-C', tmp], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`tar ${flag} ${path} failed: ${res.stderr || res.error?.message}`);
  writeFileSync(join(tmp, '.unpacked-from'), stamp);
  rmSync(cache, { recursive: true, force: true });
  renameSync(tmp, cache);
  return cache;
}

interface Service {
  url: string;
  token: string;
  child: ChildProcess;
  dir: string;
}

async function startService(log: (s: string) => void, reuse?: string): Promise<Service> {
  const dir = reuse ? resolve(reuse) : mkdtempSync(join(tmpdir(), 'rootline-eval-'));
  mkdirSync(dir, { recursive: true });
  const token = randomBytes(16).toString('hex');
  // Port 0: the service binds a port of its own and logs its URL, which we read from its log. (Picking a free
  // port here and passing it on races with any other process doing the same: a run once talked to another
  // process's service.)
  const child = spawn(process.execPath, [join(ROOT, 'bin/rootline.mjs'), 'start', '--role', 'all'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ROOTLINE_PORT: '0',
      ROOTLINE_HOST: '127.0.0.1',
      ROOTLINE_DATA_DIR: dir,
      ROOTLINE_AUTH: 'on',
      ROOTLINE_TOKENS: `eval:${token}`,
      ROOTLINE_LOG_LEVEL: 'info',
      // 2022 data: no TTL. Faults 4–8 minutes apart: a 2-minute grouping window keeps them apart.
      ROOTLINE_RETENTION_DAYS: '0',
      ROOTLINE_ALERT_WINDOW_MS: '120000',
      // The replayed data is from the past: Rootline's own watch of "now" has nothing to judge.
      ROOTLINE_WATCH: 'off',
    },
    // The service logs (pino) to stdout: keep the CLI's stdout for the result.
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let url: string | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let rec: { level?: number; msg?: string; url?: string } | undefined;
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      rec = undefined;
    }
    if (rec?.msg === 'rootline listening' && typeof rec.url === 'string') url = rec.url;
    // Warnings and errors reach the user; the service's info chatter does not.
    if (!rec || (rec.level ?? 0) >= 40) process.stderr.write(`${line}\n`);
  });
  const until = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} while starting`);
    try {
      if (url && (await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) {
      await stopService({ url: url ?? '', token, child, dir }, true);
      throw new Error('the service did not become ready in 120 s');
    }
    await sleep(200);
  }
  log(`service ready on ${url} (data dir ${dir})`);
  return { url: url!, token, child, dir };
}

async function stopService(s: Service, keep: boolean): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  if (!keep) rmSync(s.dir, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(s: Service, path: string): Promise<T> {
  const res = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${s.token}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The topology windows extracted so far, and the extraction backlog (Prometheus metrics on /metrics). */
async function extractionState(s: Service): Promise<{ windows: number; backlog: number }> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return { windows: read('rootline_topology_windows_total'), backlog: read('rootline_topology_backlog_jobs') };
}

/**
 * Waits until the topology has caught up with the replay: no extraction job left (the backlog gauge at 0),
 * and the services, edges and extracted windows unchanged over three polls 5 s apart (jobs wait ~3 s
 * before running). A quiet spell alone is not enough: a slow window can stall the count for longer.
 */
async function waitForTopology(s: Service, from: number, to: number, log: (l: string) => void, timeoutMs = 30 * 60_000): Promise<{ services: number; edges: number }> {
  const until = Date.now() + timeoutMs;
  let last = '';
  let stable = 0;
  for (;;) {
    const snap = await getJson<{ entities: { kind: string }[]; edges: unknown[] }>(s, `/api/v1/topology?from=${from}&to=${to}&view=horizontal`);
    const services = snap.entities.filter((e) => e.kind === 'service').length;
    const { windows, backlog } = await extractionState(s);
    const key = `${services}/${snap.edges.length}/${windows}`;
    const idle = !(backlog > 0); // NaN (an older service without the gauge) counts as idle
    stable = key === last && services > 0 && idle ? stable + 1 : 0;
    if (key !== last) log(`topology: ${services} services, ${snap.edges.length} call edges, ${windows} windows extracted, ${backlog} jobs to go`);
    last = key;
    if (stable >= 2) return { services, edges: snap.edges.length };
    if (Date.now() > until) {
      log(`topology still changing after ${timeoutMs / 1000} s; going on`);
      return { services, edges: snap.edges.length };
    }
    await sleep(5_000);
  }
}

export async function evalRca(opts: EvalOptions): Promise<EvalResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const keep = opts.keep ?? process.env.ROOTLINE_EVAL_KEEP === '1';
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const lap = (() => {
    let t = t0;
    return (name: string) => {
      const now = performance.now();
      timings[name] = seconds(now - t);
      t = now;
    };
  })();

  const layout = await resolveNezhaRoot(datasetDir(opts.dataset, log));
  const cases = await listCases(layout);
  if (cases.length === 0) throw new Error(`${layout.root}: no labelled cases`);
  log(`${cases.length} labelled cases in ${layout.root}`);
  lap('unpack');

  const reuse = opts.reuse ?? process.env.ROOTLINE_EVAL_REUSE;
  const marker = reuse ? join(resolve(reuse), '.eval-replayed') : undefined;
  // The replay is of the data set as given (the archive, not where this checkout unpacked it), so any
  // checkout may reuse it.
  const source = resolve(opts.dataset);
  const replayed = !!marker && existsSync(marker) && readFileSync(marker, 'utf8') === source;
  // Replaying into a dir that already holds other data (another data set, or a replay cut short) would store
  // rows twice and score nonsense: refuse, and say what to do.
  if (reuse && !replayed && existsSync(reuse) && readdirSync(reuse).length > 0) {
    const held = marker && existsSync(marker) ? ` (it holds the replay of ${readFileSync(marker, 'utf8')})` : '';
    throw new Error(`--reuse ${reuse} is not empty and holds no replay of ${source}${held}: remove it or give an empty dir`);
  }
  // The alerts are this run's own act, not part of the replayed data: a reused dir starts without them.
  if (replayed) rmSync(join(resolve(reuse!), 'alerts'), { recursive: true, force: true });
  const svc = await startService(log, reuse);
  lap('start');
  try {
    // Replay: the observer sees what is sent, as the user's monitoring would.
    const observer = new EntryObserver();
    if (replayed) log(`reusing the data replayed into ${reuse}: reading the data set for the monitoring only`);
    const replay: ReplayResult = await replayDataset(svc.url, svc.token, layout, progressPrinter((l) => log(l.trimEnd())), { observer, dryRun: replayed });
    timings.flush = seconds(replay.flushMs);
    lap('replay');
    log(`replayed ${replay.sent.spans} spans, ${replay.sent.points} metric points, ${replay.sent.logs} logs in ${seconds(replay.ms)} s (flush ${seconds(replay.flushMs)} s), ${replay.requests} requests, ${replay.retries} retries`);

    if (!replayed) {
      const topo = await waitForTopology(svc, cases[0]!.injectTime - 30 * 60_000, cases[cases.length - 1]!.injectTime + 15 * 60_000, log);
      log(`topology ready: ${topo.services} services, ${topo.edges} call edges`);
      if (marker) writeFileSync(marker, source);
    }
    lap('topology');

    // The monitoring: entry services from the data, alerts from their signals only.
    const entries = observer.entryServices();
    log(`entry services (own root spans): ${entries.join(', ') || 'none'}; root spans per service: ${JSON.stringify(Object.fromEntries(observer.rootCounts().slice(0, 10)))}`);
    const detectOptions = { ...DEFAULT_DETECT, ...opts.detect };
    // Every service's own latency and error signals are watched (per-service SLO alerts), entry services'
    // request traces too; each alert goes in on its own so we learn the incident it joined.
    const watched = [...new Set([...entries, ...observer.services()])];
    const detections = detect(observer.series(watched), detectOptions);
    const incidentOf = detections.length > 0 ? await raiseAlertsEach(svc.url, svc.token, detections) : new Map<Detection, string>();
    lap('detect');
    log(`monitoring raised ${detections.length} alerts (k=${detectOptions.k}, confirm=${detectOptions.confirm}, quiet=${detectOptions.quietMs / 1000}s)`);

    // Scoring: the label picks the detection to ask about, nothing more.
    const matched = matchDetections(cases, detections, MATCH_WINDOW);
    const minutes = observer.dataMinutes();
    const inFault = (set: Set<number>, inject: number) => [...set].some((m) => m + 60_000 > inject && m <= inject + FAULT_MS);
    const serviceSeries = observer.serviceSeries();
    const naive: CaseResult[] = [];
    const answers = new Map<Detection, string[]>();
    const results: CaseResult[] = [];
    for (const c of cases) {
      const d = matched.get(c.id);
      const r: CaseResult = {
        id: c.id, faultType: c.faultType, rootService: c.rootService, detected: !!d, top: [],
        traces: inFault(minutes.spans, c.injectTime), logs: inFault(minutes.logs, c.injectTime), source: 'none',
      };
      if (d) {
        r.detectionOffsetMs = d.t - c.injectTime;
        r.detectionSignal = d.flags.map((f) => f.signal).join('+');
        let ranked = answers.get(d);
        if (!ranked) {
          const incident = incidentOf.get(d);
          const a = await askRca(svc.url, svc.token, incident ? { incident } : { entity: `service:${d.service}` }, d.t);
          // Rootline's RCA or nothing: a harness that quietly ranked some other way would report the wrong thing.
          if (!a.available) throw new Error('POST /api/v1/rca is not there (404 for the route): nothing to evaluate');
          ranked = a.services;
          answers.set(d, ranked);
          if (process.env.ROOTLINE_EVAL_DEBUG === '1') {
            const top = a.causes.slice(0, 4).map((x) => `${x.entity} ${x.kind} ${x.score} [${(x.evidence ?? []).slice(0, 3).map((e) => `${e.signal} z${Math.round(e.z)}${e.indicator.includes('explained') ? '(expl)' : ''}`).join(', ')}]`);
            log(`${c.id} ${c.faultType} ${c.rootService} @${d.service}${incident ? ` (${incident})` : ''}: services [${a.services.slice(0, 4).join(',')}] ${top.join(' | ')}`);
          }
        }
        // Side by side, same detection time: the naive metrics-only ranking (max robust z of each service's own signals).
        naive.push({ ...r, rank: rankOf(baselineRanking(serviceSeries, d.t), c.rootService), source: 'baseline' });
        r.source = 'rootline';
        r.rank = rankOf(ranked, c.rootService);
        r.top = ranked.slice(0, 5).map((id) => serviceName(id) ?? id);
      }
      results.push(r);
      if (!d) naive.push(r);
    }
    lap('rca');

    const summary = summarize(results);
    const used = new Set([...matched.values()].filter((d): d is Detection => !!d));
    const delays = results.filter((r) => r.detectionOffsetMs !== undefined).map((r) => r.detectionOffsetMs!).sort((a, b) => a - b);
    log('');
    log('case                  type            root-cause service       detected  signal                       rank  top-3');
    for (const r of results) {
      const det = r.detectionOffsetMs === undefined ? '-' : `${r.detectionOffsetMs >= 0 ? '+' : ''}${Math.round(r.detectionOffsetMs / 1000)}s`;
      log(`${r.id.padEnd(22)}${r.faultType.padEnd(16)}${r.rootService.padEnd(25)}${det.padEnd(10)}${(r.detectionSignal ?? '').slice(0, 28).padEnd(29)}${String(r.rank ?? '-').padEnd(6)}${r.top.slice(0, 3).join(',')}${r.traces ? '' : '  (no traces in window)'}`);
    }
    const whenDetected = accuracy(results.filter((r) => r.detected));
    timings.total = seconds(performance.now() - t0);
    const result: EvalResult = {
      cases: summary.cases,
      top1: summary.top1,
      top3: summary.top3,
      top5: summary.top5,
      by_type: summary.by_type,
      detected: summary.detected,
      by_data: summary.by_data,
      by_day: summary.by_day,
      naive: ((n) => ({ cases: n.cases, detected: n.detected, top1: n.top1, top3: n.top3, top5: n.top5, by_type: n.by_type }))(summarize(naive)),
      entry_services: entries,
      when_detected: { cases: whenDetected.cases, top1: whenDetected.top1, top3: whenDetected.top3, top5: whenDetected.top5 },
      alerts: detections.length,
      unmatched_alerts: detections.filter((d) => !used.has(d)).length,
      detection_delay_s: delays.length ? Math.round(delays[delays.length >> 1]! / 1000) : null,
      replay: { ...replay.sent, requests: replay.requests, retries: replay.retries, mb: Math.round(replay.bodyBytes / 1e6) },
      timings_s: timings,
    };
    if (!opts.json) {
      log(`\ntop-1 ${pct(result.top1)}  top-3 ${pct(result.top3)}  top-5 ${pct(result.top5)}  (${result.detected}/${result.cases} detected)`);
      log(`naive metrics-only ranking, same detections: top-1 ${pct(result.naive.top1)}  top-3 ${pct(result.naive.top3)}  top-5 ${pct(result.naive.top5)}`);
      const w = result.when_detected;
      log(`when detected: top-1 ${pct(w.top1)}  top-3 ${pct(w.top3)}  top-5 ${pct(w.top5)} of ${w.cases}`);
      for (const [t, a] of Object.entries(result.by_type)) {
        const n = result.naive.by_type[t];
        log(`  ${t.padEnd(16)} ${a.cases} cases, ${a.detected} detected, top-1 ${pct(a.top1)} top-3 ${pct(a.top3)} top-5 ${pct(a.top5)}${n ? `  (naive top-1 ${pct(n.top1)})` : ''}`);
      }
    }
    return result;
  } finally {
    await stopService(svc, keep || !!reuse);
    if (keep) log(`kept the service data in ${svc.dir}`);
  }
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
