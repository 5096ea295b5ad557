/**
 * The business-API call-sequence detector: vocabulary + next-key LSTM + thresholds, trained from normal
 * sessions, calibrated on later normal sessions, saved and loaded as one versioned artifact.
 *
 * Training is one awaitable call with progress callbacks, so a queue processor can run it and forward
 * progress with `job.updateProgress`; scoring of new traces goes through {@link SequenceDetector.score},
 * which batches and caches predictions so it can keep up with live traffic.
 */
import type { LayersModel } from '@tensorflow/tfjs';
import type { TfRuntime } from './backend.ts';
import { chooseK, chooseScoreThreshold, type KChoice } from './calibrate.ts';
import { buildModel, trainModel, type Architecture, type TrainOptions, type TrainProgress, type TrainReport } from './model.ts';
import { SequenceScorer, verdict, type ScoreProgress, type SessionScore, type Thresholds, type Verdict } from './scorer.ts';
import { loadModel, saveModel, type ModelMetadata, type TrainingWindow } from './store.ts';
import { Vocabulary } from './vocabulary.ts';
import { distinctPairs } from './windows.ts';

export interface DetectorOptions {
  /** Window h (DeepLog uses 10). */
  window: number;
  units: number;
  layers: number;
  /** False-positive rate the thresholds aim at on the validation sessions. */
  targetFpr: number;
  train: Omit<TrainOptions, 'onBatch' | 'onEpoch'>;
}

/** Defaults sized so HDFS-scale training (about 3k sessions) fits in well under two minutes on two wasm cores. */
export const DEFAULT_OPTIONS: DetectorOptions = {
  window: 10,
  units: 32,
  layers: 2,
  targetFpr: 0.005,
  train: { epochs: 30, batchSize: 128, learningRate: 0.01, seed: 7, countPower: 0.5, patience: 4 },
};

/** Overrides of {@link DEFAULT_OPTIONS}, training options one by one. */
export type DetectorOverrides = Partial<Omit<DetectorOptions, 'train'>> & { train?: Partial<DetectorOptions['train']> };

export interface TrainInput {
  /** Normal sessions to learn from, oldest first. */
  train: readonly (readonly string[])[];
  /** Later normal sessions: early stopping and threshold choice. Never anomalies. */
  validation: readonly (readonly string[])[];
  window: TrainingWindow;
}

export interface TrainCallbacks {
  onBatch?: (p: TrainProgress) => void;
  onEpoch?: (p: TrainProgress) => void;
  onScore?: (p: ScoreProgress) => void;
}

export class SequenceDetector {
  private readonly scorer: SequenceScorer;

  private constructor(
    readonly runtime: TfRuntime,
    readonly model: LayersModel,
    readonly vocab: Vocabulary,
    readonly architecture: Architecture,
    readonly thresholds: Thresholds,
    readonly metadata: Omit<ModelMetadata, 'version' | 'createdAt' | 'format' | 'name'> & Partial<ModelMetadata>,
  ) {
    this.scorer = new SequenceScorer(runtime.tf, model, vocab, architecture.window);
  }

  /** Trains on `input.train`, then picks k and the score threshold from `input.validation`. */
  static async train(runtime: TfRuntime, input: TrainInput, options: DetectorOverrides = {}, cb: TrainCallbacks = {}): Promise<{ detector: SequenceDetector; report: TrainReport; kChoice: KChoice; validation: SessionScore[] }> {
    const opts: DetectorOptions = { ...DEFAULT_OPTIONS, ...options, train: { ...DEFAULT_OPTIONS.train, ...options.train } };
    const vocab = Vocabulary.build(input.train);
    const architecture: Architecture = { window: opts.window, vocabSize: vocab.size, units: opts.units, layers: opts.layers };
    const trainPairs = distinctPairs(input.train.map((s) => vocab.encode(s)), opts.window);
    const valPairs = distinctPairs(input.validation.map((s) => vocab.encode(s)), opts.window);
    const model = buildModel(runtime.tf, architecture, opts.train.seed);
    const report = await trainModel(runtime.tf, model, vocab.size, trainPairs, valPairs, { ...opts.train, ...(cb.onBatch ? { onBatch: cb.onBatch } : {}), ...(cb.onEpoch ? { onEpoch: cb.onEpoch } : {}) });

    const scorer = new SequenceScorer(runtime.tf, model, vocab, opts.window);
    const validation = await scorer.score(input.validation, cb.onScore);
    const kChoice = chooseK(validation, opts.targetFpr, vocab.size);
    const scoreChoice = chooseScoreThreshold(validation, opts.targetFpr);
    const thresholds = { k: kChoice.k, score: scoreChoice.threshold };
    const detector = new SequenceDetector(runtime, model, vocab, architecture, thresholds, {
      backend: runtime.backend,
      architecture,
      vocabulary: vocab.toJSON(),
      thresholds: { ...thresholds, targetFpr: opts.targetFpr, kFpr: kChoice.fpr, scoreFpr: scoreChoice.fpr, validationSessions: validation.length },
      training: { window: input.window, report, options: { ...opts.train } },
    });
    return { detector, report, kChoice, validation };
  }

  static async load(runtime: TfRuntime, root: string, name: string, version?: string): Promise<SequenceDetector> {
    const { model, metadata } = await loadModel(runtime.tf, root, name, version);
    const vocab = Vocabulary.fromJSON(metadata.vocabulary);
    if (vocab.size !== metadata.architecture.vocabSize) throw new Error(`model ${name}/${metadata.version}: vocabulary and architecture disagree`);
    return new SequenceDetector(runtime, model, vocab, metadata.architecture, { k: metadata.thresholds.k, score: metadata.thresholds.score }, metadata);
  }

  /** Saves under `root/name/v<N>/` with the evaluation figures, if any, in the metadata. */
  async save(root: string, name: string, evaluation?: Record<string, unknown>): Promise<{ dir: string; metadata: ModelMetadata }> {
    const { version: _v, createdAt: _c, format: _f, name: _n, ...meta } = this.metadata;
    return saveModel(this.runtime.tf, this.model, { ...meta, ...(evaluation ? { evaluation } : {}) }, root, name);
  }

  /** Raw per-position ranks and the sequence score of each session. */
  scoreRaw(sessions: readonly (readonly string[])[], onProgress?: (p: ScoreProgress) => void): Promise<SessionScore[]> {
    return this.scorer.score(sessions, onProgress);
  }

  /** Verdicts for completed sessions (a trace's calls in order), with the saved thresholds. */
  async score(sessions: readonly (readonly string[])[], onProgress?: (p: ScoreProgress) => void): Promise<Verdict[]> {
    return (await this.scorer.score(sessions, onProgress)).map((s) => verdict(s, this.thresholds));
  }

  dispose(): void {
    this.model.dispose();
  }
}
