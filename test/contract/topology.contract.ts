/**
 * One contract for every TopologyStore: the embedded store and Neo4j must answer the same way.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TopologyStore } from '../../services/topology/store.ts';
import type { EntityObservation, TopologyBatch } from '../../services/topology/model.ts';
import { GAP_MS, STALE_MS } from '../../services/topology/intervals.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;

const ent = (id: string, t: number, attrs: Record<string, string> = {}): EntityObservation => ({
  id,
  kind: id.split(':')[0] as EntityObservation['kind'],
  name: id.split(':').slice(1).join(':'),
  attrs,
  t,
});

/** A small shop: frontend → cart → redis; frontend → checkout; pods on nodes; a version attribute. */
function shop(t: number, version = '1.0'): TopologyBatch {
  return {
    entities: [
      ent('service:frontend', t),
      ent('service:cart', t, { 'service.version': version }),
      ent('service:checkout', t),
      ent('external:redis:6379', t),
      ent('pod:default/cart-1', t),
      ent('node:n1', t),
    ],
    edges: [
      { type: 'CALLS', from: 'service:frontend', to: 'service:cart', t },
      { type: 'CALLS', from: 'service:frontend', to: 'service:checkout', t },
      { type: 'CALLS', from: 'service:cart', to: 'external:redis:6379', t },
      { type: 'CONTAINS', from: 'node:n1', to: 'pod:default/cart-1', t },
      { type: 'IMPLEMENTS', from: 'pod:default/cart-1', to: 'service:cart', t },
    ],
  };
}

const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();

export function topologyContract(name: string, make: () => Promise<{ store: TopologyStore; cleanup: () => Promise<void> } | null>): void {
  describe(`topology store contract: ${name}`, () => {
    let store: TopologyStore;
    let cleanup: () => Promise<void> = async () => {};
    let skipped = false;

    before(async () => {
      const made = await make();
      if (!made) {
        skipped = true;
        return;
      }
      store = made.store;
      cleanup = made.cleanup;
      await store.init();
      await store.apply(shop(T0));
      await store.apply(shop(T0 + MIN));
      await store.apply(shop(T0 + 2 * MIN, '2.0')); // a deploy: new version
    });
    after(async () => cleanup());

    it('shows entities and edges as of a time inside their interval', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const snap = await store.asOf(T0 + 90_000);
      assert.deepEqual(ids(snap.entities), ['external:redis:6379', 'node:n1', 'pod:default/cart-1', 'service:cart', 'service:checkout', 'service:frontend']);
      assert.equal(snap.edges.length, 5);
      const calls = snap.edges.find((e) => e.id === 'CALLS:service:frontend->service:cart');
      assert.ok(calls);
      assert.deepEqual(calls.intervals, [[T0, T0 + 2 * MIN]]);
    });

    it('shows nothing before the first sighting, and nothing once stale', async (t) => {
      if (skipped) return t.skip('store unavailable');
      assert.equal((await store.asOf(T0 - 1)).entities.length, 0);
      assert.equal((await store.asOf(T0 + 2 * MIN + STALE_MS)).entities.length, 6);
      assert.equal((await store.asOf(T0 + 2 * MIN + STALE_MS + 1)).entities.length, 0);
    });

    it('changes nothing when the same batch is applied again', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const before = await store.asOf(T0 + MIN);
      const r = await store.apply(shop(T0 + MIN));
      assert.deepEqual(r, { entities: 0, edges: 0, changes: 0 });
      assert.deepEqual(await store.asOf(T0 + MIN), before);
      assert.equal((await store.changes(T0 - 1, T0 + 10 * MIN)).length, 1);
    });

    it('records an attribute change once, at the time it was first seen', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const changes = await store.changes(T0, T0 + 10 * MIN);
      assert.deepEqual(changes, [{ t: T0 + 2 * MIN, entity: 'service:cart', attr: 'service.version', before: '1.0', after: '2.0' }]);
      assert.deepEqual(await store.changes(T0, T0 + MIN), []);
      assert.equal((await store.changes(T0, T0 + 10 * MIN, 'service:frontend')).length, 0);
      assert.equal((await store.entity('service:cart'))?.attrs['service.version'], '2.0');
    });

    it('changes only the attributes an observation carries (absence is not removal)', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const far = T0 + 300 * MIN; // away from the other tests' times
      await store.apply({ entities: [ent('service:billing', far, { 'service.version': '3.1' })], edges: [] });
      await store.apply({ entities: [ent('service:billing', far + MIN, {})], edges: [] });
      await store.apply({ entities: [ent('service:billing', far + 2 * MIN, { 'service.version': '3.2' })], edges: [] });
      const changes = await store.changes(far - MIN, far + 10 * MIN, 'service:billing');
      assert.deepEqual(changes.map((c) => [c.attr, c.before, c.after]), [['service.version', '3.1', '3.2']]);
      assert.equal((await store.entity('service:billing'))?.attrs['service.version'], '3.2');
    });

    it('ignores late observations for attributes but uses them for intervals', async (t) => {
      if (skipped) return t.skip('store unavailable');
      await store.apply({ entities: [ent('service:cart', T0 - 30_000, { 'service.version': '0.9' })], edges: [] });
      assert.equal((await store.entity('service:cart'))?.attrs['service.version'], '2.0');
      assert.equal((await store.changes(T0 - MIN, T0 + 10 * MIN, 'service:cart')).length, 1);
      assert.deepEqual((await store.entity('service:cart'))?.intervals, [[T0 - 30_000, T0 + 2 * MIN]]);
    });

    it('opens a new interval after a gap, and is absent inside the gap', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const back = T0 + 2 * MIN + GAP_MS + 10 * MIN;
      await store.apply({ entities: [ent('service:checkout', back)], edges: [{ type: 'CALLS', from: 'service:frontend', to: 'service:checkout', t: back }] });
      const rec = await store.entity('service:checkout');
      assert.deepEqual(rec?.intervals, [[T0, T0 + 2 * MIN], [back, back]]);
      const gap = await store.asOf(back - 60_000);
      assert.ok(!ids(gap.entities).includes('service:checkout'));
      assert.ok(ids((await store.asOf(back)).entities).includes('service:checkout'));
      const win = await store.window(T0, back);
      assert.ok(ids(win.edges).includes('CALLS:service:frontend->service:checkout'));
    });

    it('walks neighbourhoods up, down and both ways at a time', async (t) => {
      if (skipped) return t.skip('store unavailable');
      const at = T0 + MIN;
      const down1 = await store.neighbourhood('service:frontend', at, 1, 'down');
      assert.deepEqual(ids(down1.entities), ['service:cart', 'service:checkout', 'service:frontend']);
      const down2 = await store.neighbourhood('service:frontend', at, 2, 'down');
      assert.deepEqual(ids(down2.entities), ['external:redis:6379', 'service:cart', 'service:checkout', 'service:frontend']);
      assert.equal(down2.edges.length, 3);
      const up = await store.neighbourhood('service:cart', at, 2, 'up');
      assert.deepEqual(ids(up.entities), ['node:n1', 'pod:default/cart-1', 'service:cart', 'service:frontend']);
      const both = await store.neighbourhood('pod:default/cart-1', at, 1, 'both');
      assert.deepEqual(ids(both.entities), ['node:n1', 'pod:default/cart-1', 'service:cart']);
      assert.deepEqual((await store.neighbourhood('service:frontend', T0 - 1, 2, 'both')).entities, []);
    });

    it('lists the edges of an entity in both directions', async (t) => {
      if (skipped) return t.skip('store unavailable');
      assert.deepEqual(ids(await store.edgesOf('service:cart')), [
        'CALLS:service:cart->external:redis:6379',
        'CALLS:service:frontend->service:cart',
        'IMPLEMENTS:pod:default/cart-1->service:cart',
      ]);
      assert.equal(await store.entity('service:nope'), undefined);
    });
  });
}
