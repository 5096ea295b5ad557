/**
 * Trained models on disk, versioned: `<root>/<name>/v<N>/` holds `model.json` (tfjs layers format),
 * `weights.bin` and `metadata.json` (vocabulary, thresholds, training window, evaluation figures, the
 * backend that trained it). The files are the standard tfjs layout, so `tf.loadLayersModel('file://…')`
 * under tfjs-node reads them too.
 *
 * Plain tfjs cannot use `file://` in Node, so saving goes through `withSaveHandler` and loading through
 * `fromMemory`; this works the same on every backend. A version is written into a temp folder and renamed
 * into place, so a reader never sees half a model and two writers never share a version.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LayersModel, io } from '@tensorflow/tfjs';
import type { BackendName, Tf } from './backend.ts';
import type { Architecture, TrainReport } from './model.ts';
import type { VocabularyJson } from './vocabulary.ts';

export const FORMAT = 'rootline-sequence/1';

/** Which data trained the model: a time range for traces, line ranges for a file-based data set. */
export interface TrainingWindow {
  from?: string;
  to?: string;
  sessions: number;
  source?: string;
  note?: string;
}

export interface ModelMetadata {
  format: typeof FORMAT;
  name: string;
  version: string;
  createdAt: string;
  backend: BackendName;
  architecture: Architecture;
  vocabulary: VocabularyJson;
  thresholds: {
    k: number;
    score: number;
    /** The false-positive rate the thresholds were chosen for, on held-out normal sessions. */
    targetFpr: number;
    /** Rates reached on those validation sessions. */
    kFpr: number;
    scoreFpr: number;
    validationSessions: number;
  };
  training: { window: TrainingWindow; report: TrainReport; options: Record<string, unknown> };
  evaluation?: Record<string, unknown>;
}

const VERSION = /^v(\d+)$/;

/** Versions of `name` under `root`, oldest first. */
export function listVersions(root: string, name: string): string[] {
  const dir = join(root, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => VERSION.test(v) && existsSync(join(dir, v, 'metadata.json')))
    .sort((a, b) => Number(VERSION.exec(a)![1]) - Number(VERSION.exec(b)![1]));
}

/** Writes the model under the next free version and returns its folder; `meta.version` and `createdAt` are filled in. */
export async function saveModel(tf: Tf, model: LayersModel, meta: Omit<ModelMetadata, 'version' | 'createdAt' | 'format' | 'name'>, root: string, name: string): Promise<{ dir: string; metadata: ModelMetadata }> {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) throw new Error(`model name must be a plain file name: ${name}`);
  const base = join(root, name);
  mkdirSync(base, { recursive: true });
  const tmp = join(base, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    await model.save({
      save: async (artifacts) => {
        const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
        const json = {
          modelTopology: artifacts.modelTopology,
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: null,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        };
        writeFileSync(join(tmp, 'model.json'), JSON.stringify(json));
        writeFileSync(join(tmp, 'weights.bin'), Buffer.from(weights));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
      },
    });
    for (let attempt = 0; ; attempt++) {
      const versions = listVersions(root, name);
      const last = versions.length ? Number(VERSION.exec(versions[versions.length - 1]!)![1]) : 0;
      const version = `v${last + 1 + attempt}`;
      const metadata: ModelMetadata = { format: FORMAT, name, version, createdAt: new Date().toISOString(), ...meta };
      writeFileSync(join(tmp, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
      try {
        // rename(2) onto an existing non-empty folder fails: another writer took this version.
        if (existsSync(join(base, version))) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        renameSync(tmp, join(base, version));
        return { dir: join(base, version), metadata };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || attempt > 100) throw err;
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Loads `name` at `version` (default: the newest) onto the backend active in `tf`. */
export async function loadModel(tf: Tf, root: string, name: string, version?: string): Promise<{ model: LayersModel; metadata: ModelMetadata; dir: string }> {
  const chosen = version ?? listVersions(root, name).pop();
  if (!chosen) throw new Error(`no saved versions of model "${name}" under ${root}`);
  const dir = join(root, name, chosen);
  const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as ModelMetadata;
  if (metadata.format !== FORMAT) throw new Error(`${dir}: unknown model format ${String(metadata.format)}`);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
  };
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  return { model, metadata, dir };
}
