import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sanitizeBatch, type RejectReason } from '../../services/topology/validate.ts';
import type { TopologyBatch } from '../../services/topology/model.ts';

describe('topology observation guard', () => {
  it('drops unknown kinds, missing keys and bad times, clamps the future, and counts each', () => {
    const now = Date.UTC(2026, 0, 1);
    const counted: RejectReason[] = [];
    const batch = {
      entities: [
        { id: 'service:a', kind: 'service', name: 'a', attrs: {}, t: now - 1000 },
        { id: 'x:1', kind: 'spaceship', name: 'x', attrs: {}, t: now },
        { id: '', kind: 'service', name: '', attrs: {}, t: now },
        { id: 'service:b', kind: 'service', name: 'b', attrs: {}, t: Number.NaN },
        { id: 'service:c', kind: 'service', name: 'c', attrs: {}, t: now + 86_400_000, until: now + 2 * 86_400_000 },
      ],
      edges: [
        { type: 'CALLS', from: 'service:a', to: 'service:c', t: now },
        { type: 'TELEPORTS', from: 'service:a', to: 'service:c', t: now },
        { type: 'CALLS', from: '', to: 'service:c', t: now },
      ],
    } as unknown as TopologyBatch;
    const out = sanitizeBatch(batch, now, (r) => counted.push(r));
    assert.deepEqual(out.entities.map((e) => [e.id, e.t, e.until]), [['service:a', now - 1000, undefined], ['service:c', now, now]]);
    assert.deepEqual(out.edges.map((e) => e.type), ['CALLS']);
    assert.deepEqual(counted.sort(), ['bad_time', 'future_clamped', 'missing_key', 'missing_key', 'unknown_edge_type', 'unknown_kind']);
  });
});
