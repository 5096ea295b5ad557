/** Runs the topology bench on each store; Neo4j from NEO4J_URI, else the test launcher built from Maven Central. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTopologyStore } from '../topology/embedded.ts';
import { Neo4jTopologyStore } from '../topology/neo4j.ts';
import { benchTopologyStore, makeWorkload, type TopologyBenchResult } from './topology.ts';

export async function runTopologyBench(opts: { services: number; neo4jUri?: string; neo4jUser?: string; neo4jPassword?: string; only?: string }): Promise<(TopologyBenchResult | { store: string; skipped: string })[]> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const w = makeWorkload({ services: opts.services, podsPerService: 10, callsPerService: 20 });
  say(`workload: ${w.services} services, ${w.pods} pods, ${w.edges} edges, ${w.observations} observations over 24 h`);
  const out: (TopologyBenchResult | { store: string; skipped: string })[] = [];

  if (!opts.only || opts.only === 'neo4j') {
    let uri = opts.neo4jUri;
    let stop: (() => Promise<void>) | undefined;
    let user = opts.neo4jUser;
    let password = opts.neo4jPassword;
    if (!uri) {
      try {
        const { startNeo4j } = await import('../../test/helpers/neo4j.ts');
        const n = await startNeo4j();
        if (n) ({ uri, user, password, stop } = { uri: n.uri, user: n.user, password: n.password, stop: () => n.stop() });
      } catch (err) {
        say(`neo4j: ${(err as Error).message}`);
      }
    }
    if (uri) {
      const store = new Neo4jTopologyStore({ uri, user, password });
      try {
        out.push(await benchTopologyStore(store, w, say));
      } finally {
        await store.close();
        await stop?.();
      }
    } else out.push({ store: 'neo4j', skipped: 'no NEO4J_URI and the test launcher could not start (bash test/neo4j/build.sh)' });
  }
  if (!opts.only || opts.only === 'embedded') {
    const dir = mkdtempSync(join(tmpdir(), 'topo-bench-'));
    try {
      out.push(await benchTopologyStore(new EmbeddedTopologyStore({ dir }), w, say));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}
