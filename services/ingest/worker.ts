/**
 * Worker-thread half of OTLP ingest: decompress, decode, validate and build TabSeparated rows, off the
 * event loop. Returns a plain result (never throws across the thread boundary) so status codes survive.
 */
import { decodeJson, decodeProtobuf, decompress, findInvalidUtf8, type Signal } from './otlp/decode.ts';
import type { WalkState } from './rows/attributes.ts';
import { InvalidInputError } from './rows/errors.ts';
import { logRows } from './rows/logs.ts';
import { metricRows } from './rows/metrics.ts';
import { timeBounds } from './rows/time.ts';
import { traceRows } from './rows/traces.ts';
import type { WalTable } from '../shared/telemetry/schema.ts';

export interface DecodeTask {
  signal: Signal;
  body: Uint8Array;
  encoding: 'protobuf' | 'json';
  contentEncoding?: string;
  maxDecompressedBytes: number;
  maxAttributes: number;
  maxFutureSkewMs: number;
}

export type DecodeResult =
  | { ok: true; table: WalTable; rows: Uint8Array; count: number; minMs: number; maxMs: number }
  | { ok: false; status: number; message: string };

const TABLE: Record<Signal, WalTable> = { traces: 'spans', metrics: 'metric_points', logs: 'logs' };
const BUILD = { traces: traceRows, metrics: metricRows, logs: logRows };

export function decodeTask(task: DecodeTask): DecodeResult {
  try {
    const body = decompress(task.body, task.contentEncoding, task.maxDecompressedBytes);
    const req = task.encoding === 'protobuf' ? decodeProtobuf(task.signal, body) : decodeJson(body);
    const state: WalkState = { maxAttributes: task.maxAttributes, minMs: Infinity, maxMs: -Infinity };
    const { tsv, count } = BUILD[task.signal](req, state, timeBounds(task.maxFutureSkewMs));
    // protobufjs turns invalid UTF-8 into U+FFFD without complaint. One scan of the output finds any; only
    // then is the request decoded again with strings as bytes to tell a real U+FFFD from a broken one.
    if (task.encoding === 'protobuf' && tsv.includes('\uFFFD')) {
      const where = findInvalidUtf8(task.signal, body);
      if (where) throw new InvalidInputError(`${where}: string is not valid UTF-8`);
    }
    return { ok: true, table: TABLE[task.signal], rows: Buffer.from(tsv, 'utf8'), count, minMs: state.minMs, maxMs: state.maxMs };
  } catch (err) {
    if (err instanceof InvalidInputError) return { ok: false, status: err.statusCode, message: err.message };
    if (err instanceof RangeError) return { ok: false, status: 400, message: `request too deeply nested or too large: ${err.message}` };
    return { ok: false, status: 500, message: (err as Error).message };
  }
}

export default decodeTask;
