/**
 * DeepLog's next-key model: an LSTM over the last h keys, one-hot encoded, and a dense layer to one logit
 * per vocabulary id (softmax at scoring time).
 *
 * One-hot inputs rather than an Embedding layer because the wasm backend cannot train Embedding (no
 * UnsortedSegmentSum); with vocabularies of tens to a few hundred calls the one-hot width is small anyway.
 *
 * Training is a hand-written loop rather than `model.fit` for three reasons: it trains on distinct
 * (context, target) pairs with per-pair weights (fit has no sample weights), it shuffles with a seeded
 * generator (fit uses Math.random), and it reports progress per batch.
 */
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from './backend.ts';
import type { PairSet } from './windows.ts';

export interface Architecture {
  /** Window length h: keys of context before each prediction. */
  window: number;
  /** Vocabulary size including reserved ids: one-hot width and number of logits. */
  vocabSize: number;
  /** LSTM units per layer. */
  units: number;
  layers: number;
}

export function buildModel(tf: Tf, arch: Architecture, seed: number): LayersModel {
  const model = tf.sequential();
  for (let l = 0; l < arch.layers; l++) {
    model.add(
      tf.layers.lstm({
        units: arch.units,
        returnSequences: l < arch.layers - 1,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 * l }),
        recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 2 * l + 1, gain: 1 }),
        ...(l === 0 ? { inputShape: [arch.window, arch.vocabSize] } : {}),
      }),
    );
  }
  // Logits: softmax is applied when scoring, and the loss works on logits for numerical stability.
  model.add(tf.layers.dense({ units: arch.vocabSize, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1000 }) }));
  return model;
}

/** Seeded generator (mulberry32): shuffles are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One-hot [rows, h, V] float input from rows of ids; callers own the tensor (or wrap in tidy). */
export function oneHotContexts(tf: Tf, contexts: Int32Array, rows: number, h: number, vocabSize: number): Tensor {
  return tf.tidy(() => tf.oneHot(tf.tensor2d(contexts, [rows, h], 'int32'), vocabSize).toFloat());
}

/**
 * Log-probabilities of every id after each context: a rows × V array. Runs in batches so that memory stays
 * bounded whatever the number of rows.
 */
export function predictLogProbs(tf: Tf, model: LayersModel, contexts: Int32Array, rows: number, h: number, vocabSize: number, batchSize = 4096): Float32Array {
  const out = new Float32Array(rows * vocabSize);
  for (let start = 0; start < rows; start += batchSize) {
    const n = Math.min(batchSize, rows - start);
    const part = tf.tidy(() => {
      const x = oneHotContexts(tf, contexts.subarray(start * h, (start + n) * h), n, h, vocabSize);
      return tf.logSoftmax(model.predict(x) as Tensor).dataSync() as Float32Array;
    });
    out.set(part, start * vocabSize);
  }
  return out;
}

/** Mean negative log-likelihood per position of `pairs` (weighted by their counts). */
export function meanNll(tf: Tf, model: LayersModel, pairs: PairSet, vocabSize: number): number {
  const logp = predictLogProbs(tf, model, pairs.contexts, pairs.size, pairs.h, vocabSize);
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < pairs.size; i++) {
    sum -= pairs.counts[i]! * logp[i * vocabSize + pairs.targets[i]!]!;
    weight += pairs.counts[i]!;
  }
  return weight ? sum / weight : NaN;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /**
   * A distinct pair weighs count^countPower: 1 is plain DeepLog (every position counts), 0 treats every
   * observed transition alike. In between keeps frequent paths ranked first without letting rare but
   * normal transitions fall out of the top-k.
   */
  countPower: number;
  /** Stop after this many epochs without a better validation loss; the best epoch's weights are kept. */
  patience: number;
  /** Safety stop on wall time (the eval's time budget); undefined for none. */
  maxSeconds?: number;
  onBatch?: (p: TrainProgress) => void;
  onEpoch?: (p: TrainProgress) => void;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean weighted training loss of the epoch so far. */
  loss: number;
  valLoss?: number;
}

export interface TrainReport {
  epochs: number;
  bestEpoch: number;
  loss: number;
  valLoss: number | null;
  seconds: number;
  stoppedBy: 'epochs' | 'patience' | 'time';
  pairs: number;
  positions: number;
}

export async function trainModel(tf: Tf, model: LayersModel, vocabSize: number, train: PairSet, val: PairSet | undefined, opts: TrainOptions): Promise<TrainReport> {
  const t0 = performance.now();
  const h = train.h;
  const rand = seededRandom(opts.seed);
  const weights = new Float32Array(train.size);
  let mean = 0;
  for (let i = 0; i < train.size; i++) mean += weights[i] = Math.pow(train.counts[i]!, opts.countPower);
  mean /= train.size || 1;
  for (let i = 0; i < train.size; i++) weights[i]! /= mean;

  const optimizer = tf.train.adam(opts.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as Variable);
  const order = Array.from({ length: train.size }, (_, i) => i);
  const batches = Math.ceil(train.size / opts.batchSize);
  const ctx = new Int32Array(opts.batchSize * h);
  const tgt = new Int32Array(opts.batchSize);
  const wts = new Float32Array(opts.batchSize);

  let best = { valLoss: Infinity, epoch: 0, weights: null as Tensor[] | null };
  let report: TrainReport = { epochs: 0, bestEpoch: 0, loss: NaN, valLoss: null, seconds: 0, stoppedBy: 'epochs', pairs: train.size, positions: train.positions };
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let lossSum = 0;
    let seen = 0;
    for (let b = 0; b < batches; b++) {
      const idx = order.slice(b * opts.batchSize, (b + 1) * opts.batchSize);
      const n = idx.length;
      idx.forEach((row, k) => {
        ctx.set(train.contexts.subarray(row * h, row * h + h), k * h);
        tgt[k] = train.targets[row]!;
        wts[k] = weights[row]!;
      });
      const loss = tf.tidy(() => {
        const x = oneHotContexts(tf, ctx.subarray(0, n * h), n, h, vocabSize);
        const y = tf.oneHot(tf.tensor1d(tgt.subarray(0, n), 'int32'), vocabSize).toFloat();
        const w = tf.tensor1d(wts.subarray(0, n));
        const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as Tensor, w) as Scalar, true, vars);
        return cost!.dataSync()[0]!;
      });
      lossSum += loss * n;
      seen += n;
      opts.onBatch?.({ epoch, epochs: opts.epochs, batch: b + 1, batches, loss: lossSum / seen });
      // Let timers (progress bars, queue heartbeats) run between batches.
      if (b % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    const valLoss = val && val.size ? meanNll(tf, model, val, vocabSize) : undefined;
    report = { ...report, epochs: epoch, loss: lossSum / (seen || 1), valLoss: valLoss ?? null };
    opts.onEpoch?.({ epoch, epochs: opts.epochs, batch: batches, batches, loss: report.loss, ...(valLoss === undefined ? {} : { valLoss }) });
    if (valLoss !== undefined) {
      if (valLoss < best.valLoss) {
        best.weights?.forEach((t) => t.dispose());
        best = { valLoss, epoch, weights: model.getWeights().map((t) => t.clone()) };
      } else if (epoch - best.epoch >= opts.patience) {
        report.stoppedBy = 'patience';
        break;
      }
    }
    if (opts.maxSeconds !== undefined && (performance.now() - t0) / 1000 > opts.maxSeconds && epoch < opts.epochs) {
      report.stoppedBy = 'time';
      break;
    }
  }
  if (best.weights) {
    model.setWeights(best.weights);
    best.weights.forEach((t) => t.dispose());
    report = { ...report, bestEpoch: best.epoch, valLoss: best.valLoss };
  } else report.bestEpoch = report.epochs;
  optimizer.dispose();
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
