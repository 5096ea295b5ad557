/**
 * Topology snapshot → graphology graph for one view. The graph is built whole and handed to sigma in one
 * go (setGraph), so sigma indexes it once instead of reacting to thousands of single additions.
 */
import { MultiDirectedGraph } from 'graphology';
import type { EntityRecord, Snapshot } from '../api.ts';

export type ViewName = 'horizontal' | 'vertical' | 'all';
/** Why an item stands out: diff against another time, incident membership, or an RCA path. */
export type Mark = 'added' | 'removed' | 'changed' | 'incident' | 'cause' | 'path';

export interface NodeAttrs {
  x: number;
  y: number;
  size: number;
  color: string;
  label: string;
  kind: string;
  shape: string;
  mark?: Mark;
  dim?: boolean;
  fixed?: boolean;
}
export interface EdgeAttrs {
  type: string;
  size: number;
  color: string;
  mark?: Mark;
  dim?: boolean;
}
export type TopoGraph = MultiDirectedGraph<NodeAttrs, EdgeAttrs>;
export const newGraph = (): TopoGraph => new MultiDirectedGraph<NodeAttrs, EdgeAttrs>({ allowSelfLoops: false });

// Okabe–Ito-like hues, told apart by people with the common colour blindnesses; shape repeats the kind.
export const KINDS: Record<string, { color: string; shape: string; size: number; rank: number }> = {
  cluster: { color: '#4b5563', shape: 'diamond', size: 12, rank: 0 },
  node: { color: '#0072b2', shape: 'diamond', size: 9, rank: 1 },
  host: { color: '#0072b2', shape: 'diamond', size: 9, rank: 1 },
  pod: { color: '#56b4e9', shape: 'square', size: 6, rank: 2 },
  container: { color: '#009e73', shape: 'square', size: 5, rank: 3 },
  process: { color: '#cc79a7', shape: 'triangle', size: 5, rank: 4 },
  service: { color: '#e69f00', shape: 'circle', size: 8, rank: 5 },
  endpoint: { color: '#b8a13a', shape: 'circle', size: 4, rank: 6 },
  external: { color: '#999999', shape: 'circle', size: 6, rank: 6 },
};
const UNKNOWN_KIND = { color: '#777777', shape: 'circle', size: 5, rank: 6 };
export const kindOf = (kind: string) => KINDS[kind] ?? UNKNOWN_KIND;

const EDGE_COLOR: Record<string, string> = { CALLS: '#6b7280', CONNECTS: '#7aa6c2', PATH: '#d62728' };
const VERTICAL_EDGE_COLOR = '#c7ccd4';

/** The kind an id names (`service:cart` → service), for path entities missing from a snapshot. */
export const kindFromId = (id: string) => id.slice(0, Math.max(0, id.indexOf(':'))) || 'external';

function label(e: { kind: string; name: string; attrs: Record<string, string> }): string {
  const ns = e.attrs['k8s.namespace.name'] ?? e.attrs['service.namespace'];
  return e.kind === 'service' && ns && !e.name.includes('/') ? `${ns}/${e.name}` : e.name;
}

export interface BuildOptions {
  view: ViewName;
  /** Endpoints multiply the graph; off by default. */
  endpoints: boolean;
  /** Only these entities (an incident's neighbourhood); all when absent. */
  only?: ReadonlySet<string>;
}

export function addEntityNode(g: TopoGraph, e: { id: string; kind: string; name: string; attrs: Record<string, string> }): void {
  if (g.hasNode(e.id)) return;
  const k = kindOf(e.kind);
  g.addNode(e.id, { x: 0, y: 0, size: k.size, color: k.color, shape: k.shape, label: label(e), kind: e.kind });
}

/** `type` is a topology edge type, or PATH for a hop of an RCA path that no edge of the snapshot covers. */
export function addTopologyEdge(g: TopoGraph, e: { id: string; type: string; from: string; to: string }): void {
  // A self-loop (a process talking to itself over loopback) says nothing on a map; sigma draws lines only here.
  if (g.hasEdge(e.id) || e.from === e.to) return;
  const horizontal = e.type === 'CALLS' || e.type === 'CONNECTS' || e.type === 'PATH';
  g.addDirectedEdgeWithKey(e.id, e.from, e.to, { type: e.type, size: horizontal ? 1.5 : 1, color: EDGE_COLOR[e.type] ?? VERTICAL_EDGE_COLOR });
}

/**
 * The horizontal view keeps what takes part in calls and connections (and every service and external peer,
 * even a quiet one); the vertical view keeps the containment stack. Endpoints only when asked for.
 */
export function toGraph(snap: Snapshot, opts: BuildOptions): TopoGraph {
  const wanted = (e: EntityRecord) => (opts.endpoints || e.kind !== 'endpoint') && (!opts.only || opts.only.has(e.id));
  const entities = new Map<string, EntityRecord>();
  for (const e of snap.entities) if (wanted(e)) entities.set(e.id, e);
  const edges = snap.edges.filter((e) => entities.has(e.from) && entities.has(e.to));
  const linked = new Set<string>();
  for (const e of edges) {
    linked.add(e.from);
    linked.add(e.to);
  }
  const show = (e: EntityRecord) =>
    opts.view === 'all' || linked.has(e.id) || (opts.view === 'horizontal' ? e.kind === 'service' || e.kind === 'external' : e.kind !== 'external');
  const g = newGraph();
  for (const e of entities.values()) if (show(e)) addEntityNode(g, e);
  for (const e of edges) if (g.hasNode(e.from) && g.hasNode(e.to)) addTopologyEdge(g, e);
  // Hubs a little larger (the eye finds the busy services first); everything smaller on a big map, where
  // labels then come with zoom (sigma draws labels of nodes above a size) instead of covering each other.
  const scale = Math.min(1, Math.max(0.4, Math.sqrt(150 / Math.max(1, g.order))));
  g.updateEachNodeAttributes((n, a) => {
    const degree = g.degree(n);
    a.size = (a.size + (degree > 2 ? Math.min(8, Math.log2(degree)) : 0)) * scale;
    return a;
  });
  return g;
}
