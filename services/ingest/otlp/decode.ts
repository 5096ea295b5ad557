/**
 * OTLP request decoding with protobufjs over the schema in ./proto. protobufjs compiles a decoder per message
 * type at load time, so reflection costs no more than generated static code.
 *
 * Invalid UTF-8 in a protobuf string field is not an error to protobufjs: it decodes to U+FFFD. The row
 * builders flag any U+FFFD they meet; only then is the request decoded a second time with every string field
 * read as bytes, and each checked with `buffer.isUtf8`, so the common path pays nothing.
 */
import protobuf from 'protobufjs';
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateSync } from 'node:zlib';
import { InvalidInputError } from '../rows/errors.ts';

export type Signal = 'traces' | 'metrics' | 'logs';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));
const FILES = ['common.proto', 'resource.proto', 'trace.proto', 'metrics.proto', 'logs.proto', 'collector.proto'];
const REQUEST_TYPE: Record<Signal, string> = {
  traces: 'opentelemetry.proto.collector.v1.ExportTraceServiceRequest',
  metrics: 'opentelemetry.proto.collector.v1.ExportMetricsServiceRequest',
  logs: 'opentelemetry.proto.collector.v1.ExportLogsServiceRequest',
};

function loadRoot(stringsAsBytes: boolean): protobuf.Root {
  const root = new protobuf.Root();
  for (const f of FILES) {
    let text = readFileSync(PROTO_DIR + f, 'utf8');
    if (stringsAsBytes) text = text.replace(/^(\s*(?:repeated\s+|optional\s+)?)string(\s+\w+\s*=)/gm, '$1bytes$2');
    protobuf.parse(text, root, { keepCase: false });
  }
  root.resolveAll();
  return root;
}

let roots: { normal: protobuf.Root; strict?: protobuf.Root } | undefined;
function root(strict: boolean): protobuf.Root {
  roots ??= { normal: loadRoot(false) };
  if (!strict) return roots.normal;
  roots.strict ??= loadRoot(true);
  return roots.strict;
}

/** The request message type of a signal; also used by tests and the benchmark to encode. */
export function requestType(signal: Signal): protobuf.Type {
  return root(false).lookupType(REQUEST_TYPE[signal]);
}

/** google.rpc.Status, the body OTLP/HTTP asks for on protobuf error responses. */
const statusType = protobuf.Root.fromJSON({
  nested: {
    Status: {
      fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } },
    },
  },
}).lookupType('Status');

export function encodeStatus(code: number, message: string): Uint8Array {
  return statusType.encode({ code, message }).finish();
}

/** Undoes Content-Encoding, bounded so a small gzip bomb cannot exhaust memory. */
export function decompress(body: Uint8Array, encoding: string | undefined, maxBytes: number): Buffer {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const enc = (encoding ?? 'identity').toLowerCase().trim();
  try {
    if (enc === 'identity' || enc === '') return buf;
    if (enc === 'gzip' || enc === 'x-gzip') return gunzipSync(buf, { maxOutputLength: maxBytes });
    if (enc === 'deflate') return inflateSync(buf, { maxOutputLength: maxBytes });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger/.test(String(err))) {
      throw new InvalidInputError(`decompressed body exceeds ${maxBytes} bytes`, 413);
    }
    throw new InvalidInputError(`body is not valid ${enc}: ${(err as Error).message}`);
  }
  throw new InvalidInputError(`unsupported Content-Encoding "${enc}"; use gzip, deflate or identity`, 415);
}

/** Decodes a protobuf export request; malformed wire data becomes InvalidInputError. */
export function decodeProtobuf(signal: Signal, body: Uint8Array): unknown {
  try {
    return requestType(signal).decode(body);
  } catch (err) {
    throw new InvalidInputError(`malformed protobuf ${REQUEST_TYPE[signal].split('.').pop()}: ${(err as Error).message}`);
  }
}

/** Parses an OTLP/JSON export request. */
export function decodeJson(body: Buffer): unknown {
  if (!isUtf8(body)) throw new InvalidInputError('body is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError(`malformed JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInputError('OTLP/JSON body must be an object');
  }
  return parsed;
}

/** Returns the path of the first string field holding invalid UTF-8, or undefined. */
export function findInvalidUtf8(signal: Signal, body: Uint8Array): string | undefined {
  const type = root(true).lookupType(REQUEST_TYPE[signal]);
  const normal = root(false);
  const msg = type.decode(body);
  const walk = (t: protobuf.Type, m: protobuf.Message, path: string): string | undefined => {
    const original = normal.lookupType(t.fullName);
    for (const field of t.fieldsArray) {
      const value = (m as unknown as Record<string, unknown>)[field.name];
      if (value === undefined || value === null) continue;
      const items = field.repeated ? (value as unknown[]) : [value];
      const wasString = original.fields[field.name]?.type === 'string';
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        const here = field.repeated ? `${path}.${field.name}[${i}]` : `${path}.${field.name}`;
        if (wasString && item instanceof Uint8Array && !isUtf8(item)) return here;
        if (field.resolvedType instanceof protobuf.Type && item) {
          const found = walk(field.resolvedType, item as protobuf.Message, here);
          if (found) return found;
        }
      }
    }
    return undefined;
  };
  return walk(type, msg, signal);
}
