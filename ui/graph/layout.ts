/**
 * Layouts, all synchronous and bounded so a map is ready in one step and the same data always looks the same:
 * - horizontal / all: seeded placement (a hash of the id, or next to an already placed neighbour), then a
 *   bounded number of ForceAtlas2 iterations, then noverlap. Positions are remembered per view, so moving the
 *   time slider keeps every known node where it was and lays out only the newcomers (the rest held fixed).
 * - vertical: layers by kind (cluster on top, endpoints at the bottom), each ordered by its parents'
 *   positions so a pod sits under its node, wide layers wrapped into several rows.
 */
import fa2Module from 'graphology-layout-forceatlas2';
import noverlapModule from 'graphology-layout-noverlap';
import { kindOf, type TopoGraph } from './build.ts';

// CommonJS packages: bundled, the default import is module.exports itself; their typings say `.default`.
const cjs = <T>(m: { default: T }): T => (m as { default?: T }).default ?? (m as unknown as T);
const forceAtlas2 = cjs(fa2Module);
const noverlap = cjs(noverlapModule);

export type PositionCache = Map<string, { x: number; y: number }>;

/** FNV-1a: a stable 32-bit hash of an id. */
function hash(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
/** Two numbers in [0, 1) from an id. */
const unit2 = (id: string): [number, number] => [hash(id) / 2 ** 32, hash(id, 0x9e3779b9) / 2 ** 32];

/** A point in a disc of `radius`, fixed by the id (uniform over the area). */
export function seededPoint(id: string, radius: number): { x: number; y: number } {
  const [u, v] = unit2(id);
  const r = radius * Math.sqrt(u);
  return { x: r * Math.cos(2 * Math.PI * v), y: r * Math.sin(2 * Math.PI * v) };
}

/** ForceAtlas2 iterations by graph size: enough to untangle, bounded (not timed, so a layout is the same everywhere). */
export function fa2Iterations(order: number, newcomers: number): number {
  if (newcomers < order) return Math.min(60, fa2Iterations(order, order)); // the rest hold still: a short settle
  if (order <= 100) return 300;
  if (order <= 500) return 150;
  if (order <= 2000) return 60; // about 4 ms an iteration at 1,000 nodes with Barnes–Hut
  return 30;
}

export interface LayoutStats {
  placed: number;
  iterations: number;
  fa2Ms: number;
  noverlapMs: number;
}

export function layoutForce(g: TopoGraph, cache: PositionCache): LayoutStats {
  const n = g.order;
  if (n === 0) return { placed: 0, iterations: 0, fa2Ms: 0, noverlapMs: 0 };
  const radius = 10 * Math.sqrt(n);
  let placed = 0;
  // Known nodes keep their place; newcomers go beside a known neighbour, else at their seeded point.
  g.forEachNode((id, a) => {
    const known = cache.get(id);
    if (known) {
      a.x = known.x;
      a.y = known.y;
      a.fixed = true;
      return;
    }
    placed++;
    const near = g.neighbors(id).map((m) => cache.get(m)).find((p) => p !== undefined);
    const p = seededPoint(id, near ? 5 : radius);
    a.x = p.x + (near?.x ?? 0);
    a.y = p.y + (near?.y ?? 0);
    a.fixed = false;
  });
  let iterations = 0;
  let fa2Ms = 0;
  let noverlapMs = 0;
  if (placed > 0) {
    iterations = fa2Iterations(n, placed);
    const settings = { ...forceAtlas2.inferSettings(g), barnesHutOptimize: n > 300, gravity: 1, scalingRatio: 8, slowDown: 1 + Math.log10(n) };
    const t0 = performance.now();
    forceAtlas2.assign(g, { iterations, settings, getEdgeWeight: null });
    const t1 = performance.now();
    noverlap.assign(g, { maxIterations: n > 500 ? 20 : 40, settings: { margin: 2, ratio: 1.2 } });
    fa2Ms = t1 - t0;
    noverlapMs = performance.now() - t1;
  }
  g.forEachNode((id, a) => {
    delete a.fixed;
    cache.set(id, { x: a.x, y: a.y });
  });
  return { placed, iterations, fa2Ms, noverlapMs };
}

/** Layered containment layout; every node gets x, y directly (no iterations). */
export function layoutLayers(g: TopoGraph): void {
  const layers = new Map<number, string[]>();
  g.forEachNode((id, a) => {
    const r = kindOf(a.kind).rank;
    const layer = layers.get(r);
    if (layer) layer.push(id);
    else layers.set(r, [id]);
  });
  const ranks = [...layers.keys()].sort((a, b) => a - b);
  const perRow = Math.max(12, Math.ceil(Math.sqrt(g.order) * 2));
  const order = new Map<string, number>(); // position of each placed node along its row set, 0..1
  const gap = 10;
  const width = perRow * gap;
  let row = 0;
  for (const r of ranks) {
    const ids = layers.get(r)!;
    // Barycentre of the parents already placed (the layers above); orphans keep a stable order by id.
    const key = new Map<string, number>();
    for (const id of ids) {
      const ps = g.inNeighbors(id).concat(g.outNeighbors(id)).map((p) => order.get(p)).filter((v): v is number => v !== undefined);
      key.set(id, ps.length ? ps.reduce((s, v) => s + v, 0) / ps.length : 2 + hash(id) / 2 ** 32);
    }
    ids.sort((a, b) => key.get(a)! - key.get(b)! || (a < b ? -1 : 1));
    const rows = Math.ceil(ids.length / perRow);
    ids.forEach((id, i) => {
      const inRow = Math.min(perRow, ids.length - Math.floor(i / perRow) * perRow);
      const col = i % perRow;
      const a = g.getNodeAttributes(id);
      // Each row spans the full width, so a thin layer (3 nodes) spreads over its wide children.
      a.x = (inRow === 1 ? 0.5 : col / (inRow - 1)) * width - width / 2;
      a.y = -(row + Math.floor(i / perRow)) * gap * 2.5;
      order.set(id, i / Math.max(1, ids.length - 1));
    });
    row += rows;
  }
}
