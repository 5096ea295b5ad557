/**
 * Time-versioning rules shared by every topology store, so they agree to the letter.
 * - Observations closer than GAP_MS to an interval extend it; farther ones open a new interval.
 * - A thing is present at t when an interval has start ≤ t ≤ end + STALE_MS: it is seen periodically, so
 *   it stays present a little after its last sighting, and counts as gone after that.
 * - Attributes change only with a newer observation than the one that set them, so replays and late
 *   (out-of-order) data never record a change backwards in time; an observation changes only the attributes
 *   it carries (absence is not removal).
 */
import type { ChangeRecord, EdgeObservation, EdgeRecord, EntityObservation, EntityRecord, Interval, Millis } from './model.ts';
import { edgeId } from './model.ts';

export const GAP_MS = 5 * 60_000;
export const STALE_MS = 2 * 60_000;

/** Intervals with the span [t, until] added; the same array when nothing changed. */
export function addTime(intervals: readonly Interval[], t: Millis, until: Millis = t): Interval[] {
  const end = Math.max(t, until);
  for (const [s, e] of intervals) if (s <= t && end <= e) return intervals as Interval[];
  const out: Interval[] = intervals.map(([s, e]) => [s, e]);
  out.push([t, end]);
  out.sort((a, b) => a[0] - b[0]);
  // Merge intervals whose gap is below GAP_MS.
  const merged: Interval[] = [out[0]!];
  for (let i = 1; i < out.length; i++) {
    const last = merged[merged.length - 1]!;
    const cur = out[i]!;
    if (cur[0] - last[1] <= GAP_MS) last[1] = Math.max(last[1], cur[1]);
    else merged.push(cur);
  }
  return merged;
}

export function presentAt(intervals: readonly Interval[], t: Millis): boolean {
  for (const [s, e] of intervals) if (s <= t && t <= e + STALE_MS) return true;
  return false;
}

export function presentDuring(intervals: readonly Interval[], t1: Millis, t2: Millis): boolean {
  for (const [s, e] of intervals) if (s <= t2 && t1 <= e + STALE_MS) return true;
  return false;
}

/** Applies one observation to an entity; returns the new record (or the same one) and any changes. */
export function observeEntity(existing: EntityRecord | undefined, obs: EntityObservation): { record: EntityRecord; changes: ChangeRecord[] } {
  if (!existing) {
    return { record: { id: obs.id, kind: obs.kind, name: obs.name, attrs: { ...obs.attrs }, intervals: [[obs.t, Math.max(obs.t, obs.until ?? obs.t)]], attrsAt: obs.t }, changes: [] };
  }
  const intervals = addTime(existing.intervals, obs.t, obs.until);
  const changes: ChangeRecord[] = [];
  let attrs = existing.attrs;
  let attrsAt = existing.attrsAt;
  if (obs.t > existing.attrsAt) {
    // Only what the observation says counts: telemetry that does not carry an attribute (metrics from an SDK
    // without service.version) says nothing about it, and must not read as a change to ''.
    for (const key of Object.keys(obs.attrs)) {
      const before = existing.attrs[key] ?? '';
      const after = obs.attrs[key] ?? '';
      if (before !== after) changes.push({ t: obs.t, entity: obs.id, attr: key, before, after });
    }
    if (changes.length > 0) attrs = { ...existing.attrs, ...obs.attrs };
    attrsAt = obs.t;
  }
  if (intervals === existing.intervals && attrs === existing.attrs && attrsAt === existing.attrsAt) return { record: existing, changes };
  return { record: { ...existing, intervals, attrs, attrsAt }, changes };
}

export function observeEdge(existing: EdgeRecord | undefined, obs: EdgeObservation): EdgeRecord {
  if (!existing) return { id: edgeId(obs.type, obs.from, obs.to), type: obs.type, from: obs.from, to: obs.to, intervals: [[obs.t, Math.max(obs.t, obs.until ?? obs.t)]] };
  const intervals = addTime(existing.intervals, obs.t, obs.until);
  return intervals === existing.intervals ? existing : { ...existing, intervals };
}
