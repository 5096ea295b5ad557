/**
 * OTLP attributes to rows. Values arrive either as protobufjs messages (the oneof name is in `.value`) or as
 * OTLP/JSON objects (one of `stringValue`, `intValue`, …). Both become strings in Map(String, String)
 * columns; arrays and maps become JSON text.
 */
import { InvalidInputError } from './errors.ts';
import { tsvMap, tsvString } from './tsv.ts';
import { ENTITY_COLUMNS } from '../../shared/telemetry/schema.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- wire objects from two decoders; checked field by field */
export type AnyValue = Record<string, any> | null | undefined;
export interface KeyValue {
  key?: string;
  value?: AnyValue;
}

/** Tracks facts the row builders find while walking a request. */
export interface WalkState {
  maxAttributes: number;
  /** Event-time range of the request in ms (Infinity/-Infinity while empty): which minutes it touched. */
  minMs: number;
  maxMs: number;
}

/** Widens the request's event-time range. */
export function noteTime(state: WalkState, ns: bigint): void {
  const ms = Number(ns / 1_000_000n);
  if (ms < state.minMs) state.minMs = ms;
  if (ms > state.maxMs) state.maxMs = ms;
}

/** An own, non-null property (a module-level function: a closure made per call costs tsx's __name each time). */
function has(v: Record<string, any>, k: string): boolean {
  return Object.hasOwn(v, k) && v[k] !== null && v[k] !== undefined;
}

function which(v: Record<string, any>): string | undefined {
  // Decoded protobuf fields and OTLP/JSON keys are own properties; protobufjs's defaults live on the
  // prototype. Own-property checks serve both and avoid protobufjs's oneof getter, which scans every member.
  if (has(v, 'stringValue')) return 'stringValue';
  if (has(v, 'intValue')) return 'intValue';
  if (has(v, 'boolValue')) return 'boolValue';
  if (has(v, 'doubleValue')) return 'doubleValue';
  if (has(v, 'arrayValue')) return 'arrayValue';
  if (has(v, 'kvlistValue')) return 'kvlistValue';
  if (has(v, 'bytesValue')) return 'bytesValue';
  return undefined;
}

function int64ToString(x: any): string {
  if (typeof x === 'number') return Number.isFinite(x) ? String(Math.trunc(x)) : '0';
  if (typeof x === 'string') {
    if (!/^-?\d{1,20}$/.test(x)) throw new InvalidInputError(`intValue "${x.slice(0, 40)}" is not an integer`);
    return x;
  }
  if (x && typeof x.low === 'number') {
    const n = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0);
    return (x.unsigned ? n : BigInt.asIntN(64, n)).toString();
  }
  return '0';
}

function toJsonValue(v: AnyValue, depth: number): unknown {
  if (!v) return null;
  if (depth > 16) throw new InvalidInputError('attribute value nested more than 16 levels');
  switch (which(v)) {
    case 'stringValue':
      return String(v.stringValue);
    case 'boolValue':
      return Boolean(v.boolValue);
    case 'intValue':
      return int64ToString(v.intValue);
    case 'doubleValue':
      return Number(v.doubleValue);
    case 'bytesValue':
      return typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue).toString('base64');
    case 'arrayValue':
      return ((v.arrayValue?.values ?? []) as AnyValue[]).map((x) => toJsonValue(x, depth + 1));
    case 'kvlistValue': {
      const out: Record<string, unknown> = {};
      for (const kv of (v.kvlistValue?.values ?? []) as KeyValue[]) out[String(kv.key ?? '')] = toJsonValue(kv.value, depth + 1);
      return out;
    }
    default:
      return null;
  }
}

/** One attribute value as a string. */
export function anyValueToString(v: AnyValue): string {
  if (!v) return '';
  let s: string;
  switch (which(v)) {
    case 'stringValue':
      s = v.stringValue;
      if (typeof s !== 'string') throw new InvalidInputError('stringValue must be a string');
      break;
    case 'boolValue':
      return v.boolValue ? 'true' : 'false';
    case 'intValue':
      return int64ToString(v.intValue);
    case 'doubleValue': {
      const d = Number(v.doubleValue);
      return Number.isNaN(d) && typeof v.doubleValue !== 'number' ? 'NaN' : String(d);
    }
    case 'bytesValue':
      return typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue).toString('base64');
    case undefined:
      return '';
    default:
      s = JSON.stringify(toJsonValue(v, 0));
  }
  return s;
}

/** Flattens a KeyValue list into parallel key/value arrays, enforcing the attribute limit. */
export function flattenAttributes(list: unknown, state: WalkState, what: string): { keys: string[]; values: string[] } {
  const keys: string[] = [];
  const values: string[] = [];
  if (list === undefined || list === null) return { keys, values };
  if (!Array.isArray(list)) throw new InvalidInputError(`${what}: attributes must be a list`);
  if (list.length > state.maxAttributes) {
    throw new InvalidInputError(
      `${what}: ${list.length} attributes exceed the limit of ${state.maxAttributes} (ROOTLINE_MAX_ATTRIBUTES)`,
    );
  }
  for (const kv of list as KeyValue[]) {
    const key = kv?.key;
    if (typeof key !== 'string') throw new InvalidInputError(`${what}: attribute key must be a string`);
    keys.push(key);
    values.push(anyValueToString(kv.value));
  }
  return { keys, values };
}

/** Resource attribute keys that identify entities, in ENTITY_COLUMNS order. */
const ENTITY_KEYS = [
  'service.name',
  'service.namespace',
  'service.instance.id',
  'service.version',
  'host.name',
  'k8s.cluster.name',
  'k8s.node.name',
  'k8s.namespace.name',
  'k8s.pod.name',
  'container.id',
  'process.pid',
] as const;
if (ENTITY_KEYS.length !== ENTITY_COLUMNS.length) throw new Error('ENTITY_KEYS and ENTITY_COLUMNS disagree');

/** The entity key columns as one TSV fragment (tab-joined, no surrounding tabs). */
export function entityTsv(keys: readonly string[], values: readonly string[], escape: (s: string) => string): string {
  const found: string[] = new Array<string>(ENTITY_KEYS.length).fill('');
  for (let i = 0; i < keys.length; i++) {
    const idx = (ENTITY_KEYS as readonly string[]).indexOf(keys[i]!);
    if (idx >= 0) found[idx] = values[i]!;
  }
  const pid = Number(found[found.length - 1]);
  found[found.length - 1] = Number.isInteger(pid) && pid >= 0 && pid < 2 ** 32 ? String(pid) : '0';
  return found.map(escape).join('\t');
}

/** A resource, prepared once and shared by every row under it. */
export interface ResourceContext {
  /** The entity key columns, tab-joined. */
  entity: string;
  /** The resource attributes as a Map literal. */
  attrsTsv: string;
}

export function resourceContext(resource: any, state: WalkState, what: string): ResourceContext {
  const { keys, values } = flattenAttributes(resource?.attributes, state, `${what}.resource`);
  return { entity: entityTsv(keys, values, tsvString), attrsTsv: tsvMap(keys, values) };
}

/** Returns the value of `key` in parallel arrays, or ''. */
export function lookup(keys: readonly string[], values: readonly string[], ...candidates: string[]): string {
  for (const c of candidates) {
    const i = keys.indexOf(c);
    if (i >= 0) return values[i]!;
  }
  return '';
}
