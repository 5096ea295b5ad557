/** Collector events to `collector_events` rows, and per-collector sequence-gap accounting. */
import type { CollectorBatch } from './schema.ts';
import { checkTime, nsToTsv, toNanos, type TimeBounds } from '../rows/time.ts';
import { entityTsv } from '../rows/attributes.ts';
import { tsvMap, tsvString } from '../rows/tsv.ts';

const PROMOTED = new Set(['event.name', 'time_unix_nano', 'aiops.seq', 'process.executable.name', 'aiops.cgroup.id']);

export function collectorRows(batch: CollectorBatch, bounds: TimeBounds): { tsv: string; count: number; minMs: number; maxMs: number } {
  const host = batch.collector['host.name'];
  const collectorId = tsvString(batch.collector['host.id'] || host);
  let out = '';
  let minMs = Infinity;
  let maxMs = -Infinity;
  batch.events.forEach((event, i) => {
    const ev = event as Record<string, string | number | boolean> & typeof event;
    const t = toNanos(ev.time_unix_nano, `events[${i}].time_unix_nano`);
    checkTime(t, bounds, `events[${i}].time_unix_nano`);
    const ms = Number(t / 1_000_000n);
    minMs = Math.min(minMs, ms);
    maxMs = Math.max(maxMs, ms);
    const keys: string[] = [];
    const values: string[] = [];
    for (const [k, v] of Object.entries(ev)) {
      if (PROMOTED.has(k)) continue;
      keys.push(k);
      values.push(String(v));
    }
    if (!keys.includes('host.name')) {
      keys.push('host.name');
      values.push(host);
    }
    const cgroup = String(ev['aiops.cgroup.id'] ?? '0');
    out +=
      nsToTsv(t) + '\t' + ev['event.name'] + '\t' + collectorId + '\t' + ev['aiops.seq'] + '\t' +
      entityTsv(keys, values, tsvString) + '\t' +
      tsvString(String(ev['process.executable.name'] ?? '')) + '\t' +
      (/^\d{1,20}$/.test(cgroup) ? cgroup : '0') + '\t' +
      tsvMap(keys, values) + '\n';
  });
  return { tsv: out, count: batch.events.length, minMs, maxMs };
}

/** Remembers the highest sequence number per collector and counts the numbers that never arrived. */
export class SequenceTracker {
  private readonly last = new Map<string, number>();

  /** Returns how many sequence numbers were skipped before this batch's events. */
  observe(collectorId: string, seqs: readonly number[]): number {
    let gaps = 0;
    let last = this.last.get(collectorId);
    for (const s of [...seqs].sort((a, b) => a - b)) {
      // A restarted collector begins again at 0 or 1: not a gap.
      if (last !== undefined && s > last + 1) gaps += s - last - 1;
      if (last === undefined || s > last || s <= 1) last = s;
    }
    if (last !== undefined) this.last.set(collectorId, last);
    return gaps;
  }
}
