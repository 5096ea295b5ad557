/**
 * Reads an unpacked NAB folder: the scoring profiles, the labelled windows, the data files and a
 * detector's shipped per-file outputs (`results/<detector>/<category>/<detector>_<file>.csv`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNabTime, type CostMatrix, type WindowLimits } from './scorer.ts';

/** NAB's profile names, and the short keys the CLI prints them under. */
export const PROFILES = { standard: 'standard', low_fp: 'reward_low_FP_rate', low_fn: 'reward_low_FN_rate' } as const;
export type ProfileKey = keyof typeof PROFILES;

export interface NabSeries {
  /** Path relative to data/, e.g. `realKnownCause/nyc_taxi.csv`: the key of the labels. */
  name: string;
  timestamps: number[];
  values: Float64Array;
  windows: WindowLimits[];
}

/** The folder holding config/ and labels/: the given one, or its `nab/` child (the archive's layout). */
export function nabRoot(dir: string): string {
  if (existsSync(join(dir, 'config', 'profiles.json'))) return dir;
  if (existsSync(join(dir, 'nab', 'config', 'profiles.json'))) return join(dir, 'nab');
  throw new Error(`${dir} is not an unpacked NAB folder (no config/profiles.json)`);
}

export function readProfiles(root: string): Record<ProfileKey, CostMatrix> {
  const raw = JSON.parse(readFileSync(join(root, 'config', 'profiles.json'), 'utf8')) as Record<string, { CostMatrix: CostMatrix }>;
  const out = {} as Record<ProfileKey, CostMatrix>;
  for (const [key, name] of Object.entries(PROFILES) as [ProfileKey, string][]) {
    const p = raw[name];
    if (!p) throw new Error(`profiles.json has no ${name}`);
    out[key] = p.CostMatrix;
  }
  return out;
}

/** A detector's tuned thresholds from config/thresholds.json, by profile. */
export function readThresholds(root: string, detector: string): Record<ProfileKey, number> {
  const raw = JSON.parse(readFileSync(join(root, 'config', 'thresholds.json'), 'utf8')) as Record<string, Record<string, { threshold: number }>>;
  const d = raw[detector];
  if (!d) throw new Error(`thresholds.json has no detector ${detector}`);
  const out = {} as Record<ProfileKey, number>;
  for (const [key, name] of Object.entries(PROFILES) as [ProfileKey, string][]) out[key] = d[name]!.threshold;
  return out;
}

export function readWindows(root: string): Map<string, WindowLimits[]> {
  const raw = JSON.parse(readFileSync(join(root, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, [string, string][]>;
  return new Map(Object.entries(raw).map(([name, ws]) => [name, ws.map(([a, b]) => [parseNabTime(a), parseNabTime(b)] as const)]));
}

/** Rows of a CSV with a header; only the named columns, in that order. */
export function readColumns(path: string, columns: string[]): { timestamps: number[]; cols: Float64Array[] } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  const idx = columns.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new Error(`${path}: no column ${c}`);
    return i;
  });
  const n = lines.length - 1;
  const timestamps: number[] = new Array<number>(n);
  const cols = columns.map(() => new Float64Array(n));
  for (let r = 0; r < n; r++) {
    const f = lines[r + 1]!.split(',');
    timestamps[r] = parseNabTime(f[0]!);
    for (let c = 0; c < idx.length; c++) cols[c]![r] = Number(f[idx[c]!]);
  }
  return { timestamps, cols };
}

/** Every labelled series, in the labels' order (NAB scores exactly the files that have labels). */
export function readSeries(root: string): NabSeries[] {
  return [...readWindows(root)].map(([name, windows]) => {
    const { timestamps, cols } = readColumns(join(root, 'data', name), ['value']);
    return { name, timestamps, values: cols[0]!, windows };
  });
}

/** A detector's shipped anomaly scores for one series, row for row. */
export function readDetectorOutput(root: string, detector: string, name: string): { timestamps: number[]; anomaly: Float64Array } {
  const slash = name.lastIndexOf('/');
  const path = join(root, 'results', detector, name.slice(0, slash), `${detector}_${name.slice(slash + 1)}`);
  const { timestamps, cols } = readColumns(path, ['anomaly_score']);
  return { timestamps, anomaly: cols[0]! };
}
