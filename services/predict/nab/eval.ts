/**
 * `rootline eval nab --dataset <dir or .tar.xz> [--detector ours|numenta]`: NAB standard, low-FP and low-FN
 * scores for a detector over every labelled series.
 *
 * `numenta` scores the Numenta HTM detector's shipped outputs at its shipped thresholds, which reproduces
 * the published scoreboard and so checks the scorer. `ours` runs our streaming detector on the raw series;
 * like every detector on the NAB scoreboard, its one threshold per profile is chosen by sweeping on the
 * whole corpus (NAB's optimiser), which the result says under `threshold_selection`.
 */
import { datasetDir } from '../../rca/eval/harness.ts';
import { progress } from '../eval/progress.ts';
import { nabRoot, PROFILES, readDetectorOutput, readProfiles, readSeries, readThresholds, type ProfileKey } from './corpus.ts';
import { detectSeries, type DetectorOptions } from './detector.ts';
import { normalize, poolRows, scoreRows, scoringRows, sweepThreshold, type CostMatrix, type ScoringRows } from './scorer.ts';

export type NabDetectorName = 'ours' | 'numenta';

export interface NabEvalOptions {
  dataset: string;
  detector?: NabDetectorName;
  detectorOptions?: Partial<DetectorOptions>;
  progress?: boolean;
}

export interface NabEvalResult {
  standard: number;
  low_fp: number;
  low_fn: number;
  detector: NabDetectorName;
  files: number;
  windows: number;
  thresholds: Record<ProfileKey, number>;
  threshold_selection: 'shipped' | 'corpus_sweep';
  raw: Record<ProfileKey, number>;
  windows_detected: Record<ProfileKey, number>;
  detect_s: number;
  total_s: number;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function evalNab(opts: NabEvalOptions): Promise<NabEvalResult> {
  const t0 = performance.now();
  const detector = opts.detector ?? 'ours';
  const bar = progress('nab', { enabled: opts.progress !== false });
  const root = nabRoot(datasetDir(opts.dataset, (s) => bar.note(s)));
  const profiles = readProfiles(root);
  const series = readSeries(root);
  const labelled = series.reduce((s, f) => s + f.windows.length, 0);

  const files: ScoringRows[] = [];
  let windowId = 0;
  const td = performance.now();
  for (const [i, s] of series.entries()) {
    let anomaly: ArrayLike<number>;
    if (detector === 'numenta') {
      const out = readDetectorOutput(root, 'numenta', s.name);
      if (out.timestamps.length !== s.timestamps.length) throw new Error(`${s.name}: numenta output has ${out.timestamps.length} rows, data ${s.timestamps.length}`);
      anomaly = out.anomaly;
    } else anomaly = detectSeries(s.values, opts.detectorOptions, s.timestamps);
    files.push(scoringRows(s.timestamps, anomaly, s.windows, windowId));
    windowId += s.windows.length;
    bar.update(i + 1, series.length, s.name);
  }
  const detectS = (performance.now() - td) / 1000;
  bar.stop();
  bar.note(`${detector}: ${series.length} series, ${labelled} windows, scored in ${detectS.toFixed(1)} s`);

  const given = detector === 'numenta' ? readThresholds(root, 'numenta') : undefined;
  const { thresholds, normalized, raw, detected } = scoreCorpus(files, labelled, profiles, given);
  if (!given) bar.note('thresholds chosen per profile by sweeping the whole corpus, as NAB does for every detector');
  return {
    standard: round(normalized.standard),
    low_fp: round(normalized.low_fp),
    low_fn: round(normalized.low_fn),
    detector,
    files: series.length,
    windows: labelled,
    thresholds,
    threshold_selection: detector === 'numenta' ? 'shipped' : 'corpus_sweep',
    raw,
    windows_detected: detected,
    detect_s: round(detectS, 1),
    total_s: round((performance.now() - t0) / 1000, 1),
  };
}

export interface CorpusScores {
  thresholds: Record<ProfileKey, number>;
  /** NAB-normalised: 0 for a detector that never fires, 100 for a perfect one. */
  normalized: Record<ProfileKey, number>;
  raw: Record<ProfileKey, number>;
  detected: Record<ProfileKey, number>;
}

/**
 * Scores scored files as NAB does, per profile: one threshold (`given`, or swept over these files), each
 * file's score summed, then normalised over the `labelled` windows these files hold.
 */
export function scoreCorpus(files: ScoringRows[], labelled: number, profiles: Record<ProfileKey, CostMatrix>, given?: Record<ProfileKey, number>): CorpusScores {
  const keys = Object.keys(PROFILES) as ProfileKey[];
  const pooled = given ? undefined : poolRows(files);
  const out: CorpusScores = { thresholds: {} as Record<ProfileKey, number>, normalized: {} as Record<ProfileKey, number>, raw: {} as Record<ProfileKey, number>, detected: {} as Record<ProfileKey, number> };
  for (const k of keys) {
    const threshold = given ? given[k] : sweepThreshold(pooled!, profiles[k]).threshold;
    // Per file, then summed, as NAB reports it (pooled rows give the same sum).
    let sum = 0;
    let counted = 0;
    let hit = 0;
    for (const f of files) {
      const s = scoreRows(f, threshold, profiles[k]);
      sum += s.score;
      counted += s.windows;
      hit += s.windowsDetected;
    }
    out.thresholds[k] = threshold;
    out.raw[k] = round(sum, 4);
    out.detected[k] = hit;
    out.normalized[k] = normalize(sum, counted, labelled, profiles[k]);
  }
  return out;
}
