/**
 * Store-independent topology queries built on the port: diff, vertical stack, paths, and the graphology
 * graph that RCA walks.
 */
import { MultiDirectedGraph } from 'graphology';
import type { ChangeRecord, EdgeRecord, EntityRecord, Millis, TopologySnapshot } from './model.ts';
import { VERTICAL_EDGES } from './model.ts';
import { presentAt } from './intervals.ts';
import type { TopologyStore } from './store.ts';

export interface TopologyDiff {
  from: Millis;
  to: Millis;
  added: TopologySnapshot;
  removed: TopologySnapshot;
  /** Entities present at both ends whose attributes changed in between. */
  changed: { entity: EntityRecord; changes: ChangeRecord[] }[];
}

export async function diff(store: TopologyStore, from: Millis, to: Millis): Promise<TopologyDiff> {
  // Every record present at either end is in the window, and its own intervals say where it was present:
  // one pass classifies it, with no set of ids to build.
  const [win, changes] = await Promise.all([store.window(from, to), store.changes(from, to)]);
  const byEntity = new Map<string, ChangeRecord[]>();
  for (const c of changes) byEntity.set(c.entity, [...(byEntity.get(c.entity) ?? []), c]);
  const out: TopologyDiff = { from, to, added: { entities: [], edges: [] }, removed: { entities: [], edges: [] }, changed: [] };
  for (const e of win.entities) {
    const [atFrom, atTo] = [presentAt(e.intervals, from), presentAt(e.intervals, to)];
    if (atTo && !atFrom) out.added.entities.push(e);
    else if (atFrom && !atTo) out.removed.entities.push(e);
    else if (atFrom && atTo && byEntity.has(e.id)) out.changed.push({ entity: e, changes: byEntity.get(e.id)! });
  }
  for (const e of win.edges) {
    const [atFrom, atTo] = [presentAt(e.intervals, from), presentAt(e.intervals, to)];
    if (atTo && !atFrom) out.added.edges.push(e);
    else if (atFrom && !atTo) out.removed.edges.push(e);
  }
  return out;
}

/** What an entity runs on (its ancestors) and what runs on it (its descendants), along vertical edges only. */
export async function verticalStack(store: TopologyStore, id: string, t: Millis): Promise<TopologySnapshot> {
  const entities = new Map<string, EntityRecord>();
  const edges = new Map<string, EdgeRecord>();
  const self = await store.entity(id);
  if (!self) return { entities: [], edges: [] };
  entities.set(id, self);
  for (const direction of ['up', 'down'] as const) {
    let frontier = [id];
    for (let depth = 0; depth < 8 && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const node of frontier) {
        const hop = await store.neighbourhood(node, t, 1, direction);
        const byId = new Map(hop.entities.map((e) => [e.id, e]));
        for (const e of hop.edges) {
          if (!VERTICAL_EDGES.includes(e.type)) continue;
          const other = direction === 'up' ? (e.to === node ? e.from : undefined) : e.from === node ? e.to : undefined;
          if (!other || entities.has(other)) continue;
          edges.set(e.id, e);
          entities.set(other, byId.get(other)!);
          next.push(other);
        }
      }
      frontier = next;
    }
  }
  return { entities: [...entities.values()], edges: [...edges.values()] };
}

/** A directed multigraph of a snapshot, nodes and edges carrying their records. */
export function toGraph(snap: TopologySnapshot): MultiDirectedGraph {
  const g = new MultiDirectedGraph({ allowSelfLoops: false });
  for (const e of snap.entities) g.mergeNode(e.id, { ...e });
  for (const e of snap.edges) {
    if (e.from === e.to) continue;
    if (!g.hasNode(e.from)) g.addNode(e.from, { id: e.from, kind: e.from.split(':')[0], name: e.from, attrs: {}, intervals: [] });
    if (!g.hasNode(e.to)) g.addNode(e.to, { id: e.to, kind: e.to.split(':')[0], name: e.to, attrs: {}, intervals: [] });
    g.addDirectedEdgeWithKey(e.id, e.from, e.to, { ...e });
  }
  return g;
}

/** The topology as of `t`, as a graphology graph: the internal entry point for RCA. */
export async function graphAsOf(store: TopologyStore, t: Millis): Promise<MultiDirectedGraph> {
  return toGraph(await store.asOf(t));
}

/** Simple directed paths from `from` to `to` at `t`, shortest first, up to `maxHops` edges and `limit` paths. */
export async function paths(store: TopologyStore, from: string, to: string, t: Millis, maxHops = 6, limit = 20): Promise<string[][]> {
  const g = await graphAsOf(store, t);
  if (!g.hasNode(from) || !g.hasNode(to)) return [];
  const out: string[][] = [];
  // Breadth-first over partial paths: finds shortest paths first and stops at the limit.
  let layer: string[][] = [[from]];
  for (let h = 0; h < maxHops && layer.length > 0 && out.length < limit; h++) {
    const next: string[][] = [];
    for (const p of layer) {
      const last = p[p.length - 1]!;
      for (const n of new Set(g.outNeighbors(last))) {
        if (p.includes(n)) continue;
        const q = [...p, n];
        if (n === to) out.push(q);
        else next.push(q);
        if (out.length >= limit) break;
      }
      if (out.length >= limit) break;
    }
    layer = next.slice(0, 10_000);
  }
  return out;
}
