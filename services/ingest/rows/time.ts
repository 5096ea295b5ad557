import { InvalidInputError } from './errors.ts';

/** A protobufjs Long, a JS number, or OTLP/JSON's decimal string. */
export type WireUint64 = number | string | { low: number; high: number; unsigned?: boolean } | null | undefined;

const NS_PER_S = 1_000_000_000n;
/** 2000-01-01T00:00:00Z: anything earlier is a unit mistake (seconds or ms sent as ns), not telemetry. */
export const MIN_NS = 946_684_800n * NS_PER_S;
const DIGITS = /^\d{1,20}$/;

/** Decodes an unsigned 64-bit wire value to nanoseconds; 0n when absent. Throws on a malformed value. */
export function toNanos(v: WireUint64, what: string): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidInputError(`${what}: ${v} is not an unsigned integer`);
    return BigInt(v);
  }
  if (typeof v === 'string') {
    if (!DIGITS.test(v)) throw new InvalidInputError(`${what}: "${v.slice(0, 40)}" is not an unsigned integer`);
    return BigInt(v);
  }
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

/** Bounds that every event time must fall in: [2000-01-01, now + skew]. */
export interface TimeBounds {
  minNs: bigint;
  maxNs: bigint;
}

export function timeBounds(maxFutureSkewMs: number, nowMs = Date.now()): TimeBounds {
  return { minNs: MIN_NS, maxNs: BigInt(nowMs + maxFutureSkewMs) * 1_000_000n };
}

/** Throws unless `ns` lies within the bounds. */
export function checkTime(ns: bigint, bounds: TimeBounds, what: string): void {
  if (ns < bounds.minNs || ns > bounds.maxNs) {
    const iso = ns > 0n && ns < 10n ** 19n ? new Date(Number(ns / 1_000_000n)).toISOString() : String(ns);
    throw new InvalidInputError(
      `${what}: timestamp ${ns} (${iso}) is out of range; accepted from 2000-01-01 to ${new Date(Number(bounds.maxNs / 1_000_000n)).toISOString()}`,
    );
  }
}

/** Checks an optional time: 0 means absent and passes; anything else must be in bounds. */
export function checkOptionalTime(ns: bigint, bounds: TimeBounds, what: string): bigint {
  if (ns !== 0n) checkTime(ns, bounds, what);
  return ns;
}

/** DateTime64(9) text: decimal seconds with nine fraction digits. */
export function nsToTsv(ns: bigint): string {
  const frac = (ns % NS_PER_S).toString();
  // At least 10 integer digits: ClickHouse reads shorter numbers (e.g. an absent start time, 0) as a date and fails.
  return `${(ns / NS_PER_S).toString().padStart(10, '0')}.${'000000000'.slice(frac.length)}${frac}`;
}
