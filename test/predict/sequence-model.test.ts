/**
 * The call-sequence detector end to end on synthetic shop flows: train on normal flows, calibrate on
 * later normal flows, flag injected abnormal flows, and save/load versions with identical predictions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTf, type TfRuntime } from '../../services/predict/sequence/backend.ts';
import { SequenceDetector, type DetectorOverrides } from '../../services/predict/sequence/detector.ts';
import { predictLogProbs, seededRandom } from '../../services/predict/sequence/model.ts';
import { listVersions, type ModelMetadata } from '../../services/predict/sequence/store.ts';
import { sessionWindows } from '../../services/predict/sequence/windows.ts';

/** A shop session: log in, maybe search, browse, then buy, abandon the cart or just leave; log out. */
function flow(r: () => number): string[] {
  const s = ['POST /login'];
  if (r() < 0.3) s.push('GET /search');
  for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) s.push('GET /product');
  const u = r();
  if (u < 0.6) {
    s.push('POST /cart');
    if (r() < 0.3) s.push('GET /product', 'POST /cart');
    s.push('POST /checkout', 'POST /payment');
  } else if (u < 0.8) s.push('POST /cart');
  s.push('POST /logout');
  return s;
}

const ABNORMAL: Record<string, string[]> = {
  'checkout without a cart': ['POST /login', 'GET /product', 'POST /checkout', 'POST /payment', 'POST /logout'],
  'payment without checkout': ['POST /login', 'GET /product', 'POST /cart', 'POST /payment', 'POST /logout'],
  'an unknown call': ['POST /login', 'GET /product', 'DELETE /admin/users', 'POST /logout'],
  'no login': ['GET /product', 'POST /cart', 'POST /checkout', 'POST /payment', 'POST /logout'],
  'stops after checkout': ['POST /login', 'GET /product', 'POST /cart', 'POST /checkout'],
};

const OPTIONS: DetectorOverrides = { window: 6, units: 24, layers: 1, targetFpr: 0.01, train: { epochs: 40, batchSize: 64, learningRate: 0.02, patience: 6 } };

describe('call-sequence detector on synthetic shop flows', () => {
  let runtime: TfRuntime;
  let detector: SequenceDetector;
  let heldout: string[][];
  let dir: string;
  const epochs: number[] = [];

  before(async () => {
    runtime = await loadTf();
    const r = seededRandom(42);
    const all = Array.from({ length: 1400 }, () => flow(r));
    heldout = all.slice(1000);
    ({ detector } = await SequenceDetector.train(
      runtime,
      { train: all.slice(0, 700), validation: all.slice(700, 1000), window: { sessions: 700, from: '2024-01-01T00:00:00Z', to: '2024-01-02T00:00:00Z' } },
      OPTIONS,
      { onEpoch: (p) => epochs.push(p.epoch) },
    ));
    dir = mkdtempSync(join(tmpdir(), 'rootline-seq-'));
  });

  after(() => {
    detector?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains with progress and keeps held-out normal flows under the false-positive target', async () => {
    assert.ok(epochs.length > 0 && epochs[0] === 1, 'epoch progress reported');
    const verdicts = await detector.score(heldout);
    const fpr = verdicts.filter((v) => v.anomalous).length / verdicts.length;
    assert.ok(fpr <= 0.03, `held-out normal FPR ${fpr}`);
    assert.ok(detector.thresholds.score > 0 && Number.isFinite(detector.thresholds.score));
  });

  for (const [name, calls] of Object.entries(ABNORMAL)) {
    it(`flags ${name}`, async () => {
      const [v] = await detector.score([calls]);
      assert.equal(v!.anomalous, true, `${name}: score ${v!.score} vs threshold ${detector.thresholds.score}`);
    });
  }

  it('counts an unknown call as unknown and gives it an infinite score', async () => {
    const [v] = await detector.score([ABNORMAL['an unknown call']!]);
    assert.equal(v!.unknown, 1);
    assert.equal(v!.score, Infinity);
    assert.equal(v!.topkAnomalous, true);
  });

  it('saves versions with metadata and loads back with identical predictions', async () => {
    const first = await detector.save(dir, 'shop', { f1: 1 });
    const second = await detector.save(dir, 'shop');
    assert.deepEqual(listVersions(dir, 'shop'), ['v1', 'v2']);
    assert.equal(first.metadata.version, 'v1');
    assert.equal(second.metadata.version, 'v2');
    const meta = JSON.parse(readFileSync(join(first.dir, 'metadata.json'), 'utf8')) as ModelMetadata;
    assert.equal(meta.backend, runtime.backend);
    assert.deepEqual(meta.vocabulary, detector.vocab.toJSON());
    assert.equal(meta.thresholds.k, detector.thresholds.k);
    assert.equal(meta.thresholds.score, detector.thresholds.score);
    assert.equal(meta.training.window.from, '2024-01-01T00:00:00Z');
    assert.deepEqual(meta.evaluation, { f1: 1 });

    const loaded = await SequenceDetector.load(runtime, dir, 'shop', 'v1');
    try {
      const sample = [...heldout.slice(0, 100), ...Object.values(ABNORMAL)];
      const { contexts, targets } = sessionWindows(detector.vocab.encode(sample[0]!), OPTIONS.window!);
      const V = detector.vocab.size;
      const a = predictLogProbs(runtime.tf, detector.model, contexts, targets.length, OPTIONS.window!, V);
      const b = predictLogProbs(runtime.tf, loaded.model, contexts, targets.length, OPTIONS.window!, V);
      assert.deepEqual([...b], [...a]);
      assert.deepEqual(await loaded.scoreRaw(sample), await detector.scoreRaw(sample));
      assert.deepEqual(loaded.thresholds, detector.thresholds);
    } finally {
      loaded.dispose();
    }
    // Without a version the newest is loaded.
    const newest = await SequenceDetector.load(runtime, dir, 'shop');
    assert.equal(newest.metadata.version, 'v2');
    newest.dispose();
  });

  it('loads on the cpu backend with the same verdicts', async () => {
    if (runtime.backend === 'cpu') return;
    const expected = await detector.score([...heldout.slice(0, 50), ...Object.values(ABNORMAL)]);
    const scores = await detector.scoreRaw(heldout.slice(0, 50));
    const cpu = await loadTf('cpu');
    try {
      const loaded = await SequenceDetector.load(cpu, dir, 'shop', 'v1');
      const got = await loaded.score([...heldout.slice(0, 50), ...Object.values(ABNORMAL)]);
      assert.deepEqual(got.map((v) => v.anomalous), expected.map((v) => v.anomalous));
      const cpuScores = await loaded.scoreRaw(heldout.slice(0, 50));
      cpuScores.forEach((s, i) => assert.ok(Math.abs(s.score - scores[i]!.score) < 1e-3, `score ${s.score} vs ${scores[i]!.score}`));
      loaded.dispose();
    } finally {
      await loadTf(runtime.backend);
    }
  });
});
