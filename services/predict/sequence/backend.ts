/**
 * Picks the TensorFlow.js backend once per process: `tensorflow` (native, from the optional
 * `@tensorflow/tfjs-node`, present in the container image), else `wasm`, else `cpu`.
 *
 * tfjs-node cannot download its native library when installed here, so it is not a dependency: it is
 * imported by a computed name, and its absence is the normal case. Wasm was about 4× faster than cpu on
 * a small LSTM on these machines. Everything is imported lazily so that CLI commands that never touch a
 * model do not pay for loading TensorFlow.js.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TfModule from '@tensorflow/tfjs';

export type Tf = typeof TfModule;
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface TfRuntime {
  tf: Tf;
  backend: BackendName;
}

let tfjs: Promise<Tf> | undefined;
let nativeTf: Promise<Tf | undefined> | undefined;
let wasmPathsSet = false;

/** The optional native binding, or undefined when it is not installed or its library failed to load. */
function loadNative(): Promise<Tf | undefined> {
  nativeTf ??= (async () => {
    // A variable specifier keeps TypeScript and bundlers from requiring the package to exist.
    const name = '@tensorflow/tfjs-node';
    try {
      const mod = (await import(name)) as { default?: Tf } & Tf;
      return mod.default ?? mod;
    } catch {
      return undefined;
    }
  })();
  return nativeTf;
}

/** The wasm binaries ship in the package's dist folder; in Node emscripten reads them from disk by path. */
async function prepareWasm(): Promise<void> {
  if (wasmPathsSet) return;
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(join(dirname(entry), '/'));
  wasmPathsSet = true;
}

/**
 * Returns TensorFlow.js on the first backend that works, in the order tensorflow, wasm, cpu, or on
 * `prefer` exactly (throwing when it is unavailable). Switching backends later is allowed: tfjs keeps
 * one engine per process, and a model is bound to the backend active when it was built or loaded.
 */
export async function loadTf(prefer?: BackendName): Promise<TfRuntime> {
  if (prefer === undefined || prefer === 'tensorflow') {
    const native = await loadNative();
    if (native && (await native.setBackend('tensorflow'))) return { tf: native, backend: 'tensorflow' };
    if (prefer === 'tensorflow') throw new Error('the tensorflow backend needs @tensorflow/tfjs-node, which is not installed or did not load');
  }
  tfjs ??= import('@tensorflow/tfjs');
  const tf = await tfjs;
  if (prefer === undefined || prefer === 'wasm') {
    try {
      await prepareWasm();
      if (await tf.setBackend('wasm')) return { tf, backend: 'wasm' };
    } catch (err) {
      if (prefer === 'wasm') throw err;
    }
    if (prefer === 'wasm') throw new Error('the wasm backend did not initialise');
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  return { tf, backend: 'cpu' };
}
