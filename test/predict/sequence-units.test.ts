import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { END, PAD, UNK, Vocabulary } from '../../services/predict/sequence/vocabulary.ts';
import { contextKey, distinctPairs, sessionWindows } from '../../services/predict/sequence/windows.ts';
import { chooseK, chooseScoreThreshold } from '../../services/predict/sequence/calibrate.ts';
import { UNSEEN_RANK, verdict, type SessionScore } from '../../services/predict/sequence/scorer.ts';
import { chronologicalSplit, figures } from '../../services/predict/eval/hdfs.ts';

function session(maxRank: number, score: number): SessionScore {
  return { positions: 1, unknown: 0, ranks: Int32Array.of(maxRank), maxRank, score };
}

describe('sequence vocabulary', () => {
  it('gives sorted keys ids after the reserved pad/unk/end, and unseen keys the unknown id', () => {
    const v = Vocabulary.build([['b', 'a'], ['c', 'a']]);
    assert.equal(v.size, 6);
    assert.deepEqual([v.id('a'), v.id('b'), v.id('c')], [3, 4, 5]);
    assert.equal(v.id('never seen'), UNK);
    assert.equal(v.has('never seen'), false);
    assert.deepEqual([...v.encode(['a', 'zzz', 'c'])], [3, UNK, 5]);
    assert.equal(v.key(PAD), '<pad>');
    assert.equal(v.key(END), '<end>');
  });

  it('round-trips through JSON with the same ids', () => {
    const v = Vocabulary.build([['GET /a', 'POST /b'], ['GET /c']]);
    const w = Vocabulary.fromJSON(JSON.parse(JSON.stringify(v.toJSON())) as ReturnType<Vocabulary['toJSON']>);
    assert.deepEqual([...w.encode(['GET /c', 'POST /b', 'x'])], [...v.encode(['GET /c', 'POST /b', 'x'])]);
    assert.equal(w.size, v.size);
  });
});

describe('sequence windows', () => {
  it('left-pads contexts and ends every session with the END target', () => {
    const w = sessionWindows(Int32Array.of(5, 6, 7), 2);
    assert.deepEqual([...w.targets], [5, 6, 7, END]);
    assert.deepEqual([...w.contexts], [PAD, PAD, PAD, 5, 5, 6, 6, 7]);
    assert.equal(contextKey(w.contexts, 2, 2), `${PAD},5`);
  });

  it('uses exactly the h keys before each position once the session is longer than h', () => {
    const w = sessionWindows(Int32Array.of(3, 4, 5, 6, 7), 3);
    assert.deepEqual([...w.contexts.subarray(4 * 3, 5 * 3)], [4, 5, 6]);
    assert.equal(w.targets[4], 7);
    assert.deepEqual([...w.contexts.subarray(5 * 3, 6 * 3)], [5, 6, 7]);
    assert.equal(w.targets[5], END);
  });

  it('counts repeated (context, target) pairs once with their multiplicity', () => {
    const p = distinctPairs([Int32Array.of(3, 4), Int32Array.of(3, 4), Int32Array.of(3, 5)], 2);
    assert.equal(p.positions, 9);
    // (pad pad → 3) ×3, (pad 3 → 4) ×2, (3 4 → end) ×2, (pad 3 → 5), (3 5 → end)
    assert.equal(p.size, 5);
    assert.deepEqual([...p.counts], [3, 2, 2, 1, 1]);
    assert.deepEqual([...p.targets], [3, 4, END, 5, END]);
  });
});

describe('threshold calibration on normal sessions', () => {
  it('takes the smallest k within the target false-positive rate', () => {
    const val = [...Array(96).fill(1), 2, 2, 3, 4].map((r: number) => session(r, 0));
    const c = chooseK(val, 0.02, 6);
    assert.deepEqual(c.curve, [0.04, 0.02, 0.01, 0, 0, 0]);
    assert.equal(c.k, 2);
    assert.equal(c.fpr, 0.02);
    assert.equal(chooseK(val, 0, 6).k, 4);
  });

  it('falls back to the floor when sessions with unseen keys alone exceed the target', () => {
    const val = [...Array(8).fill(1), 2, UNSEEN_RANK].map((r: number) => session(r, 0));
    const c = chooseK(val, 0.01, 4);
    assert.equal(c.floorFpr, 0.1);
    assert.equal(c.k, 2);
  });

  it('puts the score threshold so at most the target share of validation sessions exceeds it', () => {
    const val = Array.from({ length: 100 }, (_, i) => session(1, i / 10));
    const c = chooseScoreThreshold(val, 0.03);
    assert.ok(Math.abs(c.threshold - 9.65) < 1e-9, `threshold ${c.threshold}`);
    assert.equal(c.fpr, 0.03);
    const withUnseen = [...val.slice(0, 98), session(UNSEEN_RANK, Infinity), session(UNSEEN_RANK, Infinity)];
    // Two unseen-key sessions already use up more than the 1 % allowed: nothing finite above the threshold.
    assert.ok(Math.abs(chooseScoreThreshold(withUnseen, 0.01).threshold - 9.701) < 1e-9);
    // Ties at the cut cannot be split: both stay below, and the threshold keeps room on both sides.
    const tied = [...Array(97).fill(1), 2, 2, 3].map((x: number) => session(1, x));
    assert.deepEqual(chooseScoreThreshold(tied, 0.02), { threshold: 2.5, fpr: 0.01 });
    assert.equal(chooseScoreThreshold(tied, 0.03).threshold, 1.5);
  });

  it('decides by the score and reports top-k misses beside it', () => {
    const s: SessionScore = { positions: 3, unknown: 0, ranks: Int32Array.of(1, 4, 2), maxRank: 4, score: 2 };
    assert.deepEqual(verdict(s, { k: 3, score: 2.5 }), { anomalous: false, score: 2, topkAnomalous: true, misses: 1, unknown: 0 });
    assert.equal(verdict(s, { k: 3, score: 1.5 }).anomalous, true);
  });
});

describe('hdfs eval helpers', () => {
  it('splits in order: train, validation, held out', () => {
    const s = chronologicalSplit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.6, 0.2);
    assert.deepEqual(s, { train: [1, 2, 3, 4, 5, 6], validation: [7, 8], heldout: [9, 10] });
  });

  it('computes precision, recall, F1 and FPR with abnormal as positives', () => {
    const f = figures([true, true, true, false], [false, false, false, true]);
    assert.deepEqual(f, { precision: 0.75, recall: 0.75, f1: 0.75, fpr: 0.25, tp: 3, fp: 1, fn: 1, tn: 3 });
  });
});

describe('trace call order', () => {
  it('walks the call tree depth first, children by start time, whatever the clocks of other processes say', async () => {
    const { callOrder } = await import('../../services/predict/reports/builder.ts');
    // frontend's server span calls catalog then cart; catalog's server span (another process, its clock 3 ms
    // behind) seems to start before frontend's client span and even before frontend's server span.
    const spans = [
      { t: 100, id: 'f', parent: '', call: 'frontend:GET /' },
      { t: 101, id: 'fc1', parent: 'f', call: 'frontend:GET /products' },
      { t: 98, id: 'c', parent: 'fc1', call: 'catalog:GET /products' },
      { t: 99, id: 'ck', parent: 'c', call: 'catalog:kv GET' },
      { t: 110, id: 'fc2', parent: 'f', call: 'frontend:GET /carts' },
      { t: 112, id: 'k', parent: 'fc2', call: 'cart:GET /carts' },
      // A span whose parent was never stored (an uninstrumented hop) starts a root of its own.
      { t: 105, id: 'x', parent: 'missing', call: 'payment:POST /charge' },
    ];
    assert.deepEqual(callOrder(spans), ['frontend:GET /', 'frontend:GET /products', 'catalog:GET /products', 'catalog:kv GET', 'frontend:GET /carts', 'cart:GET /carts', 'payment:POST /charge']);
    // Stable under any input order.
    assert.deepEqual(callOrder([...spans].reverse()), callOrder(spans));
  });
});
