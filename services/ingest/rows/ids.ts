import { InvalidInputError } from './errors.ts';

const HEX = /^[0-9a-fA-F]*$/;

/**
 * A trace or span id as lowercase hex: protobuf gives bytes, OTLP/JSON gives hex. Empty stays empty;
 * `bytes` is the required length when present.
 */
export function idToHex(v: unknown, bytes: 16 | 8, what: string): string {
  // protobufjs leaves an unset bytes field as its prototype default, an empty array.
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return '';
  if (typeof v === 'string') {
    if (v.length === 0) return '';
    if (v.length !== bytes * 2 || !HEX.test(v)) throw new InvalidInputError(`${what}: "${v.slice(0, 40)}" is not a ${bytes}-byte hex id`);
    return v.toLowerCase();
  }
  if (v instanceof Uint8Array) {
    if (v.length === 0) return '';
    if (v.length !== bytes) throw new InvalidInputError(`${what}: ${v.length} bytes, expected ${bytes}`);
    return (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString('hex');
  }
  throw new InvalidInputError(`${what}: not an id`);
}
