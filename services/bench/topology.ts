/**
 * `rootline bench topology`: a synthetic day of a large system — 5,000 services, 50,000 pods over their
 * lifetimes, 200,000 edges (pod→service, node→pod, service→service calls that come and go), deploys that
 * change versions — written through the TopologyStore port, then timed queries: as-of of the whole graph,
 * 2-hop neighbourhoods, and a one-hour diff. Runs on the embedded store and on Neo4j in the same run.
 */
import type { TopologyStore } from '../topology/store.ts';
import type { EdgeObservation, EntityObservation, TopologyBatch } from '../topology/model.ts';
import { diff } from '../topology/queries.ts';
import { rng } from './rng.ts';

const DAY = 24 * 3600_000;
const HOUR = 3600_000;


export interface TopologyWorkload {
  start: number;
  batches: TopologyBatch[];
  observations: number;
  services: number;
  pods: number;
  edges: number;
}

export function makeWorkload(opts: { services: number; podsPerService: number; callsPerService: number; seed?: number }): TopologyWorkload {
  const rand = rng(opts.seed ?? 7);
  const start = Date.UTC(2026, 10, 1);
  const entities: EntityObservation[] = [];
  const edges: EdgeObservation[] = [];
  const nodes = Math.max(1, Math.round(opts.services / 10));
  for (let n = 0; n < nodes; n++) entities.push({ id: `node:n${n}`, kind: 'node', name: `n${n}`, attrs: {}, t: start, until: start + DAY });
  let podCount = 0;
  for (let s = 0; s < opts.services; s++) {
    const svc = `service:svc-${s}`;
    // Deploys: some services change version once or twice during the day.
    const deploys = rand() < 0.2 ? 1 + Math.floor(rand() * 2) : 0;
    let t = start;
    for (let d = 0; d <= deploys; d++) {
      const until = d === deploys ? start + DAY : t + Math.floor(rand() * (start + DAY - t));
      entities.push({ id: svc, kind: 'service', name: `svc-${s}`, attrs: { 'service.version': `1.${d}` }, t, until });
      t = until + 1;
    }
    for (let p = 0; p < opts.podsPerService; p++) {
      // A pod lives 2–24 hours; replacements keep the slot filled.
      const born = start + Math.floor(rand() * DAY * 0.9);
      const dies = Math.min(start + DAY, born + 2 * HOUR + Math.floor(rand() * 22 * HOUR));
      const pod = `pod:ns/svc-${s}-${p}`;
      const node = `node:n${Math.floor(rand() * nodes)}`;
      entities.push({ id: pod, kind: 'pod', name: `svc-${s}-${p}`, attrs: {}, t: born, until: dies });
      edges.push({ type: 'IMPLEMENTS', from: pod, to: svc, t: born, until: dies });
      edges.push({ type: 'RUNS', from: node, to: pod, t: born, until: dies });
      podCount++;
    }
    for (let c = 0; c < opts.callsPerService; c++) {
      const callee = `service:svc-${Math.floor(rand() * opts.services)}`;
      if (callee === svc) continue;
      // Most calls run all day; some appear or stop partway (a feature flag, a new dependency).
      const from = rand() < 0.8 ? start : start + Math.floor(rand() * DAY);
      const to = rand() < 0.8 ? start + DAY : from + Math.floor(rand() * (start + DAY - from));
      edges.push({ type: 'CALLS', from: svc, to: callee, t: from, until: to });
    }
  }
  const all = [...entities.map((e) => ({ e })), ...edges.map((r) => ({ r }))];
  const batches: TopologyBatch[] = [];
  for (let i = 0; i < all.length; i += 5000) {
    const slice = all.slice(i, i + 5000);
    batches.push({
      entities: slice.flatMap((x) => ('e' in x ? [x.e] : [])),
      edges: slice.flatMap((x) => ('r' in x ? [x.r] : [])),
    });
  }
  return { start, batches, observations: all.length, services: opts.services, pods: podCount, edges: edges.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;
async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

export interface TopologyBenchResult {
  store: string;
  write_obs_per_s: number;
  asof_ms: number;
  khop_p95_ms: number;
  diff_ms: number;
  observations: number;
  entities_at_noon: number;
  edges_at_noon: number;
}

export async function benchTopologyStore(store: TopologyStore, w: TopologyWorkload, say: (s: string) => void): Promise<TopologyBenchResult> {
  await store.init();
  const t0 = performance.now();
  for (let i = 0; i < w.batches.length; i++) {
    await store.apply(w.batches[i]!);
    if (i % 20 === 0) say(`  ${store.kind}: ${i}/${w.batches.length} batches`);
  }
  const writeS = (performance.now() - t0) / 1000;
  const noon = w.start + 12 * HOUR;
  const asof: number[] = [];
  let snapSize = { entities: 0, edges: 0 };
  for (let i = 0; i < 5; i++) {
    const [ms, snap] = await timed(() => store.asOf(noon + i * 60_000));
    asof.push(ms);
    snapSize = { entities: snap.entities.length, edges: snap.edges.length };
  }
  const rand = rng(11);
  const khop: number[] = [];
  for (let i = 0; i < 200; i++) {
    const id = `service:svc-${Math.floor(rand() * w.services)}`;
    khop.push((await timed(() => store.neighbourhood(id, noon, 2, 'both')))[0]);
  }
  const diffs: number[] = [];
  for (let i = 0; i < 3; i++) diffs.push((await timed(() => diff(store, noon - HOUR + i * 60_000, noon + i * 60_000)))[0]);
  return {
    store: store.kind,
    write_obs_per_s: Math.round(w.observations / writeS),
    asof_ms: Math.round(median(asof)),
    khop_p95_ms: Math.round(p95(khop) * 10) / 10,
    diff_ms: Math.round(median(diffs)),
    observations: w.observations,
    entities_at_noon: snapSize.entities,
    edges_at_noon: snapSize.edges,
  };
}
