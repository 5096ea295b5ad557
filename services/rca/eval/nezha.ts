/**
 * Reads RCA cases in the Nezha data-set layout (FSE'23; Online Boutique and Train Ticket share it):
 *
 *   <root>/rca_data/<day>/<day>-fault_list.json   labels, grouped by hour: { "HH": [label, …], … }
 *   <root>/rca_data/<day>/{trace,log,traceid}/HH_MM_{trace,log,traceid}.csv   one file per minute
 *   <root>/rca_data/<day>/metric/<pod>_metric.csv  one row a minute, the whole day
 *   <root>/construct_data/<day>/…                 fault-free data for baselines
 *   <root>/MISSING.txt                            files the publisher could not provide
 *
 * Nothing here knows a service name: the root-cause service comes from the pod name by a rule that holds for
 * any Kubernetes Deployment pod, and the label is only carried along for scoring.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';

/** One labelled fault injection. */
export interface NezhaCase {
  /** Unique and label-free (the inject time, UTC), so it can be shown to the engine under test without leaking the answer. */
  id: string;
  /** The `<day>` folder the label came from, e.g. `2022-08-22`. */
  day: string;
  /** Epoch milliseconds of `inject_time`, read as UTC. `inject_timestamp` is never used: it is wrong in the sister data set. */
  injectTime: number;
  /** Ground truth for scoring: `injectPod` without its ReplicaSet hash and pod suffix. */
  rootService: string;
  /** `inject_type`: cpu_contention, cpu_consumed, network_delay, return, exception… */
  faultType: string;
  injectPod: string;
}

/** A per-minute file; `minuteEnd` is epoch ms (UTC) of the HH:MM in its name. */
export interface MinuteFile {
  path: string;
  minuteEnd: number;
}

/** A per-pod metric file (whole day, one row a minute). */
export interface MetricFile {
  path: string;
  pod: string;
  day: string;
}

/**
 * A per-edge latency file of the metric folder (whole day, one row a minute, a column per `<client>_<server>`
 * edge): `source_<q>.csv` as the client side measured it, `destination_<q>.csv` as the server side did.
 */
export interface EdgeFile {
  path: string;
  day: string;
  side: 'client' | 'server';
  /** The quantile, e.g. `0.5` for `_50`. */
  quantile: string;
}

/** The files a replay of one window needs. Paths are absolute; lists are sorted by time, then path. */
export interface CaseFiles {
  traces: MinuteFile[];
  logs: MinuteFile[];
  traceIds: MinuteFile[];
  metrics: MetricFile[];
  edges: EdgeFile[];
  /** Minute files in the window that MISSING.txt lists as not provided (relative to the data-set root). */
  missing: string[];
}

/** Where the parts of a data set live, once {@link resolveNezhaRoot} has found them. */
export interface NezhaLayout {
  /** The folder holding `rca_data/` (and `construct_data/`, `MISSING.txt` when present). */
  root: string;
  rcaData: string;
  constructData: string;
  /** Paths from MISSING.txt, relative to `root`, with `/` separators. */
  missing: Set<string>;
}

/**
 * How far a minute file's records reach around the HH:MM (UTC) in its name: [HH:MM − beforeMs, HH:MM + afterMs].
 * Measured on Online Boutique: span start times in `HH_MM_trace.csv` run from HH:MM−62 s to HH:MM+48 s
 * (typically −41…+19 s or −33…+28 s), i.e. each file is the 60 s ending some 20–30 s after HH:MM, and log
 * files behave alike. Adjacent files overlap by a few hundred records, so replays must de-duplicate. The
 * margins keep every file whose records can touch the window; records outside it are the caller's to filter.
 */
export const MINUTE_FILE_REACH = { beforeMs: 75_000, afterMs: 60_000 } as const;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MINUTE_NAME = /^(\d{2})_(\d{2})_(trace|log|traceid)\.csv$/;
const METRIC_SUFFIX = '_metric.csv';
const DAY_MS = 86_400_000;

/**
 * The service a pod belongs to: the pod name minus its last two dash-separated parts, which a Deployment
 * adds as `<replicaset-hash>-<pod-suffix>` (`frontend-579b9bff58-t2dbm` → `frontend`,
 * `ts-travel-service-64469b5b48-25zj6` → `ts-travel-service`). A name with fewer parts is returned as is.
 */
export function serviceOfPod(pod: string): string {
  const parts = pod.split('-');
  return parts.length > 2 ? parts.slice(0, -2).join('-') : pod;
}

/** Parses `YYYY-MM-DD HH:MM:SS` (optionally with `T` and fractional seconds) as UTC; throws on anything else. */
export function parseUtc(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?Z?$/.exec(s.trim());
  if (!m) throw new Error(`not a "YYYY-MM-DD HH:MM:SS" time: ${JSON.stringify(s)}`);
  const [, y, mo, d, h, mi, sec, frac] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) + (frac ? Math.round(Number(frac) * 1000) : 0);
  if (new Date(ms).toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) throw new Error(`not a valid date: ${JSON.stringify(s)}`);
  return ms;
}

function dayStart(day: string): number {
  return parseUtc(`${day} 00:00:00`);
}

/**
 * Finds the data set under `dir` (a layout already resolved is returned as is): `dir` itself when it holds `rca_data/`, the folder above when `dir` is
 * `rca_data/`, or the single sub-folder holding `rca_data/` (an unpacked archive's top folder, e.g. `ob/`).
 */
export async function resolveNezhaRoot(dir: string | NezhaLayout): Promise<NezhaLayout> {
  if (typeof dir !== 'string') return dir;
  let root: string | undefined;
  if (existsSync(join(dir, 'rca_data'))) root = dir;
  else if (basename(dir) === 'rca_data') root = dirname(dir);
  else if (existsSync(dir)) {
    const subs = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'rca_data')));
    if (subs.length === 1) root = join(dir, subs[0]!.name);
    else if (subs.length > 1) throw new Error(`${dir} holds several data sets (${subs.map((s) => s.name).join(', ')}); pass one of them`);
  }
  if (!root) throw new Error(`${dir}: no rca_data/ folder (Nezha layout) found`);
  const missing = new Set<string>();
  const missingFile = join(root, 'MISSING.txt');
  if (existsSync(missingFile)) {
    for (const line of (await readFile(missingFile, 'utf8')).split(/\r?\n/)) {
      const p = line.trim();
      if (p && !p.startsWith('#')) missing.add(p.replace(/\\/g, '/').replace(/^\.\//, ''));
    }
  }
  return { root, rcaData: join(root, 'rca_data'), constructData: join(root, 'construct_data'), missing };
}

async function dayFolders(base: string): Promise<string[]> {
  if (!existsSync(base)) return [];
  return (await readdir(base, { withFileTypes: true })).filter((e) => e.isDirectory() && DAY.test(e.name)).map((e) => e.name).sort();
}

interface RawLabel {
  inject_time?: unknown;
  inject_pod?: unknown;
  inject_type?: unknown;
}

/**
 * Every labelled case of every `<day>/<day>-fault_list.json`, sorted by inject time. The lists group labels
 * by hour (`{"03": [...], "04": [...]}`); a flat array is accepted too.
 */
export async function listCases(dir: string | NezhaLayout): Promise<NezhaCase[]> {
  const layout = await resolveNezhaRoot(dir);
  const cases: NezhaCase[] = [];
  for (const day of await dayFolders(layout.rcaData)) {
    const file = join(layout.rcaData, day, `${day}-fault_list.json`);
    if (!existsSync(file)) continue;
    const json: unknown = JSON.parse(await readFile(file, 'utf8'));
    const labels: unknown[] = Array.isArray(json) ? json : Object.values(json as Record<string, unknown>).flatMap((v) => (Array.isArray(v) ? v : [v]));
    for (const [i, raw] of labels.entries()) {
      const l = raw as RawLabel;
      if (typeof l?.inject_time !== 'string' || typeof l.inject_pod !== 'string' || typeof l.inject_type !== 'string') {
        throw new Error(`${file}: label ${i} lacks inject_time, inject_pod or inject_type: ${JSON.stringify(raw)}`);
      }
      const injectTime = parseUtc(l.inject_time);
      cases.push({
        id: new Date(injectTime).toISOString().replace('.000Z', 'Z'),
        day,
        injectTime,
        rootService: serviceOfPod(l.inject_pod),
        faultType: l.inject_type,
        injectPod: l.inject_pod,
      });
    }
  }
  cases.sort((a, b) => a.injectTime - b.injectTime || a.injectPod.localeCompare(b.injectPod));
  // Two faults injected in the same second would share an id; number the later ones.
  const seen = new Map<string, number>();
  for (const c of cases) {
    const n = (seen.get(c.id) ?? 0) + 1;
    seen.set(c.id, n);
    if (n > 1) c.id = `${c.id}~${n}`;
  }
  return cases;
}

const KIND_DIR = { trace: 'traces', log: 'logs', traceid: 'traceIds' } as const;

async function minuteFilesOf(layout: NezhaLayout, base: string, day: string, from: number, to: number, out: CaseFiles): Promise<void> {
  const start = dayStart(day);
  const hit = (name: string): number | undefined => {
    const m = MINUTE_NAME.exec(name);
    if (!m) return undefined;
    const end = start + Number(m[1]) * 3_600_000 + Number(m[2]) * 60_000;
    // The file's reach, not just its nominal minute, decides: see MINUTE_FILE_REACH.
    return end - MINUTE_FILE_REACH.beforeMs <= to && end + MINUTE_FILE_REACH.afterMs >= from ? end : undefined;
  };
  for (const kind of ['trace', 'log', 'traceid'] as const) {
    const folder = join(base, day, kind);
    const present = existsSync(folder) ? await readdir(folder) : [];
    const presentSet = new Set(present);
    for (const name of present) {
      const end = hit(name);
      if (end !== undefined && MINUTE_NAME.exec(name)![3] === kind) out[KIND_DIR[kind]].push({ path: join(folder, name), minuteEnd: end });
    }
    // Files the publisher could not ship: report them, so a thin case is explained rather than silent.
    const prefix = `${relative(layout.root, folder).split(sep).join('/')}/`;
    for (const p of layout.missing) {
      if (!p.startsWith(prefix)) continue;
      const name = p.slice(prefix.length);
      if (!presentSet.has(name) && hit(name) !== undefined) out.missing.push(p);
    }
  }
}

const EDGE_FILE = /^(source|destination)_(\d+)\.csv$/;

async function edgeFilesOf(base: string, day: string): Promise<EdgeFile[]> {
  const folder = join(base, day, 'metric');
  if (!existsSync(folder)) return [];
  const files: EdgeFile[] = [];
  for (const n of (await readdir(folder)).sort()) {
    const m = EDGE_FILE.exec(n);
    if (m) files.push({ path: join(folder, n), day, side: m[1] === 'source' ? 'client' : 'server', quantile: String(Number(m[2]) / 100) });
  }
  return files;
}

async function metricFilesOf(base: string, day: string): Promise<MetricFile[]> {
  const folder = join(base, day, 'metric');
  if (!existsSync(folder)) return [];
  const names = (await readdir(folder)).filter((n) => n.endsWith(METRIC_SUFFIX));
  const files: MetricFile[] = [];
  for (const n of names) {
    const path = join(folder, n);
    if ((await stat(path)).isFile()) files.push({ path, pod: n.slice(0, -METRIC_SUFFIX.length), day });
  }
  return files;
}

function sortFiles(f: CaseFiles): CaseFiles {
  const byTime = (a: MinuteFile, b: MinuteFile) => a.minuteEnd - b.minuteEnd || a.path.localeCompare(b.path);
  f.traces.sort(byTime);
  f.logs.sort(byTime);
  f.traceIds.sort(byTime);
  f.metrics.sort((a, b) => a.day.localeCompare(b.day) || a.pod.localeCompare(b.pod));
  f.missing.sort();
  return f;
}

/**
 * The files holding data for `[injectTime − windowBeforeMs, injectTime + windowAfterMs]`: minute files whose
 * reach touches the window (from any day folder, so a window across midnight works), and the per-pod metric
 * files of every day the window touches. Metric files are whole days: the caller filters rows by time.
 * Files listed in MISSING.txt and absent are reported in `missing`, not treated as errors.
 */
export async function caseFiles(dir: string | NezhaLayout, c: Pick<NezhaCase, 'injectTime'>, windowBeforeMs: number, windowAfterMs: number): Promise<CaseFiles> {
  const layout = await resolveNezhaRoot(dir);
  const from = c.injectTime - windowBeforeMs;
  const to = c.injectTime + windowAfterMs;
  const out: CaseFiles = { traces: [], logs: [], traceIds: [], metrics: [], edges: [], missing: [] };
  for (const day of await dayFolders(layout.rcaData)) {
    const start = dayStart(day);
    if (start > to || start + DAY_MS < from) continue;
    await minuteFilesOf(layout, layout.rcaData, day, from, to, out);
    out.metrics.push(...(await metricFilesOf(layout.rcaData, day)));
    out.edges.push(...(await edgeFilesOf(layout.rcaData, day)));
  }
  return sortFiles(out);
}

/**
 * The fault-free data of `construct_data/<day>` (a minute of traces/logs, whole-day metrics), for baselines
 * that no earlier fault can leak into. Empty lists when the folder is absent.
 */
export async function baselineFiles(dir: string | NezhaLayout, day: string): Promise<CaseFiles> {
  const layout = await resolveNezhaRoot(dir);
  const out: CaseFiles = { traces: [], logs: [], traceIds: [], metrics: [], edges: [], missing: [] };
  if (!existsSync(join(layout.constructData, day))) return out;
  await minuteFilesOf(layout, layout.constructData, day, -Infinity, Infinity, out);
  out.metrics.push(...(await metricFilesOf(layout.constructData, day)));
  out.edges.push(...(await edgeFilesOf(layout.constructData, day)));
  return sortFiles(out);
}

/** The day folders under `construct_data/` (fault-free data), sorted. */
export async function baselineDays(dir: string | NezhaLayout): Promise<string[]> {
  return dayFolders((await resolveNezhaRoot(dir)).constructData);
}
