/**
 * Guards the store against bad observations: unknown kinds or edge types, missing ids, times that are not
 * numbers, and times from the future (clamped to now, so a skewed clock cannot stretch an interval into
 * tomorrow). Each refusal is counted by reason; nothing malformed reaches the interval rules.
 */
import { EDGE_TYPES, ENTITY_KINDS, type TopologyBatch } from './model.ts';

export type RejectReason = 'unknown_kind' | 'unknown_edge_type' | 'missing_key' | 'bad_time' | 'future_clamped';

export function sanitizeBatch(batch: TopologyBatch, now: number, count: (reason: RejectReason) => void): TopologyBatch {
  const okTime = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t > 0;
  const clamp = (t: number) => {
    if (t <= now) return t;
    count('future_clamped');
    return now;
  };
  const out: TopologyBatch = { entities: [], edges: [] };
  for (const e of batch.entities) {
    if (!(ENTITY_KINDS as readonly string[]).includes(e.kind)) count('unknown_kind');
    else if (!e.id || typeof e.id !== 'string') count('missing_key');
    else if (!okTime(e.t) || (e.until !== undefined && !okTime(e.until))) count('bad_time');
    else out.entities.push({ ...e, t: clamp(e.t), ...(e.until !== undefined ? { until: Math.min(Math.max(e.until, e.t), now) } : {}) });
  }
  for (const e of batch.edges) {
    if (!(EDGE_TYPES as readonly string[]).includes(e.type)) count('unknown_edge_type');
    else if (!e.from || !e.to) count('missing_key');
    else if (!okTime(e.t) || (e.until !== undefined && !okTime(e.until))) count('bad_time');
    else out.edges.push({ ...e, t: clamp(e.t), ...(e.until !== undefined ? { until: Math.min(Math.max(e.until, e.t), now) } : {}) });
  }
  return out;
}
