/**
 * Chooses the detector's thresholds from held-out NORMAL sessions only: no anomaly labels are needed,
 * which is the situation in production (nobody labels business flows), and it keeps evaluations honest.
 *
 * The rule for both thresholds: the tightest setting whose false-positive rate on the validation sessions
 * is at most `targetFpr`. Some normal sessions fail at every setting (an unseen key, a transition never
 * seen in training); when those alone exceed the target, the floor is their rate and the tightest setting
 * reaching that floor is taken, instead of loosening without end.
 */
import type { SessionScore } from './scorer.ts';

export interface KChoice {
  k: number;
  /** False-positive rate of k on the validation sessions. */
  fpr: number;
  /** The lowest rate any k reaches: validation sessions that fail whatever k is. */
  floorFpr: number;
  /** Validation FPR for k = 1..maxK, for the metadata and for reading the trade-off. */
  curve: number[];
}

export function chooseK(val: readonly SessionScore[], targetFpr: number, maxK: number): KChoice {
  if (val.length === 0) throw new Error('no validation sessions to choose k from');
  const curve: number[] = [];
  for (let k = 1; k <= maxK; k++) curve.push(val.filter((s) => s.maxRank > k).length / val.length);
  const floorFpr = Math.min(...curve);
  const goal = Math.max(targetFpr, floorFpr);
  const k = curve.findIndex((f) => f <= goal) + 1;
  return { k, fpr: curve[k - 1]!, floorFpr, curve };
}

export interface ScoreChoice {
  threshold: number;
  fpr: number;
}

/**
 * Threshold on the sequence-level score: at most targetFpr of validation sessions score above it.
 *
 * Common flows repeat, so many normal sessions share exactly the score at the cut. The threshold is put
 * halfway to the next higher validation score (or a small margin above the top one), never on a score
 * itself: otherwise rounding differences between backends flip those sessions' verdicts.
 */
export function chooseScoreThreshold(val: readonly SessionScore[], targetFpr: number): ScoreChoice {
  if (val.length === 0) throw new Error('no validation sessions to choose a threshold from');
  const finite = val.map((s) => s.score).filter(Number.isFinite).sort((a, b) => b - a);
  const allowed = Math.floor(targetFpr * val.length + 1e-9) - (val.length - finite.length);
  let threshold = 0;
  if (finite.length) {
    // Sessions above the threshold: at most the `allowed` highest finite scores, never fewer than none.
    const idx = Math.min(Math.max(allowed, 0), finite.length - 1);
    const base = finite[idx]!;
    let above = idx - 1;
    while (above >= 0 && finite[above]! <= base + 1e-6) above--;
    threshold = above >= 0 ? (base + finite[above]!) / 2 : base + MARGIN;
  }
  const fpr = val.filter((s) => s.score > threshold).length / val.length;
  return { threshold, fpr };
}

/** Nats above the highest validation score when no validation session may be flagged. */
const MARGIN = 1e-3;
