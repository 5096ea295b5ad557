import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTopologyStore } from '../../services/topology/embedded.ts';
import { topologyContract } from './topology.contract.ts';

topologyContract('embedded (on disk)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'topo-'));
  return { store: new EmbeddedTopologyStore({ dir }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('embedded topology persistence', () => {
  it('reloads the same graph and change log from disk, through a compaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'topo-'));
    const a = new EmbeddedTopologyStore({ dir, compactBytes: 200 });
    await a.init();
    const t = Date.UTC(2026, 0, 1);
    await a.apply({ entities: [{ id: 'service:a', kind: 'service', name: 'a', attrs: { v: '1' }, t }], edges: [] });
    await a.apply({
      entities: [{ id: 'service:a', kind: 'service', name: 'a', attrs: { v: '2' }, t: t + 60_000 }],
      edges: [{ type: 'CALLS', from: 'service:a', to: 'service:b', t: t + 60_000 }],
    });
    const b = new EmbeddedTopologyStore({ dir });
    await b.init();
    assert.deepEqual(await b.asOf(t + 60_000), await a.asOf(t + 60_000));
    assert.deepEqual(await b.changes(t, t + 120_000), [{ t: t + 60_000, entity: 'service:a', attr: 'v', before: '1', after: '2' }]);
    rmSync(dir, { recursive: true, force: true });
  });
});
