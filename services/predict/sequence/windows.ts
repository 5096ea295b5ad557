/**
 * DeepLog's sliding window: at every position of a session, the h ids before it (the context) and the id
 * there (the target). A session of n keys has n + 1 positions: the last target is {@link END}. Contexts
 * near the start are left-padded with {@link PAD}, so short sessions are scored too.
 *
 * Sessions repeat heavily (HDFS: 4,855 training sessions give 100k positions but under 5k distinct
 * context→target pairs), so training and scoring work on distinct pairs and contexts with counts.
 */
import { END, PAD } from './vocabulary.ts';

/** Writes the h ids before `pos` of `ids` into `out` at `offset`, PAD where the session has not started. */
export function writeContext(ids: Int32Array, pos: number, h: number, out: Int32Array, offset: number): void {
  for (let j = 0; j < h; j++) {
    const src = pos - h + j;
    out[offset + j] = src >= 0 ? ids[src]! : PAD;
  }
}

/** The target at `pos`: the key there, or END one past the last key. */
export function targetAt(ids: Int32Array, pos: number): number {
  return pos < ids.length ? ids[pos]! : END;
}

/** Every position of one session: contexts (n + 1 rows of h) and targets (n + 1). */
export function sessionWindows(ids: Int32Array, h: number): { contexts: Int32Array; targets: Int32Array } {
  const n = ids.length + 1;
  const contexts = new Int32Array(n * h);
  const targets = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    writeContext(ids, p, h, contexts, p * h);
    targets[p] = targetAt(ids, p);
  }
  return { contexts, targets };
}

/** A cache key for one context: the ids joined, so equal windows of different sessions share a prediction. */
export function contextKey(contexts: Int32Array, offset: number, h: number): string {
  let s = '';
  for (let j = 0; j < h; j++) s += (j ? ',' : '') + contexts[offset + j]!;
  return s;
}

/** Distinct (context, target) pairs with how often each occurred. */
export interface PairSet {
  h: number;
  /** Rows of h ids. */
  contexts: Int32Array;
  targets: Int32Array;
  counts: Float32Array;
  /** Number of distinct pairs. */
  size: number;
  /** Number of positions they stand for (sum of counts). */
  positions: number;
}

/** Collects the distinct (context, target) pairs of `sessions`, in first-seen order (deterministic). */
export function distinctPairs(sessions: readonly Int32Array[], h: number): PairSet {
  const index = new Map<string, number>();
  const ctx: number[] = [];
  const tgt: number[] = [];
  const cnt: number[] = [];
  let positions = 0;
  for (const ids of sessions) {
    const w = sessionWindows(ids, h);
    for (let p = 0; p < w.targets.length; p++) {
      const key = `${contextKey(w.contexts, p * h, h)}>${w.targets[p]}`;
      positions++;
      const at = index.get(key);
      if (at !== undefined) {
        cnt[at]!++;
        continue;
      }
      index.set(key, tgt.length);
      for (let j = 0; j < h; j++) ctx.push(w.contexts[p * h + j]!);
      tgt.push(w.targets[p]!);
      cnt.push(1);
    }
  }
  return { h, contexts: Int32Array.from(ctx), targets: Int32Array.from(tgt), counts: Float32Array.from(cnt), size: tgt.length, positions };
}
