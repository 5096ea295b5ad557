/**
 * Development helper, not part of the product: scores detector settings on the NAB corpus, on all files and
 * on each half of a 2-fold split (alternate files in sorted-name order), so that a setting chosen on one
 * half can be judged on the other. The corpus is read once and every setting reuses it.
 *
 *   npx tsx services/predict/nab/tune.ts <dataset> '[{"window":400}, {"window":800}]' [--files]
 *
 * For the 2-fold check, run a grid, take the setting best on fold 0 and read its fold 1 score, and vice versa.
 *
 * Prints one JSON line per setting: full / fold 0 / fold 1 normalised scores for the three profiles
 * (threshold swept within each file set, as the eval does), and with --files each file's standard raw score.
 */
import { datasetDir } from '../../rca/eval/harness.ts';
import { nabRoot, readProfiles, readSeries, type NabSeries } from './corpus.ts';
import { detectSeries, type DetectorOptions } from './detector.ts';
import { scoreCorpus } from './eval.ts';
import { scoreRows, scoringRows, type ScoringRows } from './scorer.ts';

const [dataset, configs = '[{}]', flag] = process.argv.slice(2);
if (!dataset) throw new Error('usage: tune.ts <dataset> [json array of detector options] [--files]');
const root = nabRoot(datasetDir(dataset));
const profiles = readProfiles(root);
const series = readSeries(root);
const sortedNames = series.map((s) => s.name).sort();
const fold = (s: NabSeries) => sortedNames.indexOf(s.name) % 2;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** NAB-normalised scores of these files, the threshold swept within them. */
function score(rows: ScoringRows[], subset: NabSeries[]) {
  const { normalized, thresholds } = scoreCorpus(rows, subset.reduce((s, f) => s + f.windows.length, 0), profiles);
  return { scores: { standard: r2(normalized.standard), low_fp: r2(normalized.low_fp), low_fn: r2(normalized.low_fn) }, threshold: thresholds.standard };
}

for (const opts of JSON.parse(configs) as Partial<DetectorOptions>[]) {
  const t0 = performance.now();
  let id = 0;
  const rows = series.map((s) => {
    const r = scoringRows(s.timestamps, detectSeries(s.values, opts, s.timestamps), s.windows, id);
    id += s.windows.length;
    return r;
  });
  const secs = r2((performance.now() - t0) / 1000);
  const pick = (f: number) => series.flatMap((s, i) => (fold(s) === f ? [i] : []));
  const folds = [0, 1].map((f) => {
    const idx = pick(f);
    return score(
      idx.map((i) => rows[i]!),
      idx.map((i) => series[i]!),
    ).scores;
  });
  const { scores: full, threshold } = score(rows, series);
  const line: Record<string, unknown> = { opts, full, fold0: folds[0], fold1: folds[1], secs };
  if (flag === '--files') {
    line.threshold = threshold;
    line.files = Object.fromEntries(
      series.map((s, i) => {
        const f = scoreRows(rows[i]!, threshold, profiles.standard);
        return [s.name, `${r2(f.score)} hit ${f.windowsDetected}/${f.windows} fp ${f.fp}`];
      }),
    );
  }
  console.log(JSON.stringify(line));
}
