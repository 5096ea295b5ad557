/**
 * The topology store on Neo4j through neo4j-driver. Entities are (:Entity) nodes and edges are typed
 * relationships; validity intervals are parallel `starts`/`ends` lists with `first`/`last` indexed for time
 * filters, and attribute changes are (:Change) nodes. Writes are batched `UNWIND … MERGE`; interval and
 * change rules are the same TypeScript as the embedded store (intervals.ts), applied to the records read in
 * the same transaction. Parameterized Cypher only; relationship types come from a fixed list.
 */
import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import type { ChangeRecord, EdgeRecord, EdgeType, EntityKind, EntityRecord, Interval, Millis, TopologyBatch, TopologySnapshot } from './model.ts';
import { EDGE_TYPES, edgeId } from './model.ts';
import { observeEdge, observeEntity, presentAt, presentDuring, STALE_MS } from './intervals.ts';
import type { TopologyStore } from './store.ts';

export interface Neo4jTopologyOptions {
  uri: string;
  user?: string;
  password?: string;
  database?: string;
}

interface EntityProps {
  id: string;
  kind: EntityKind;
  name: string;
  attrs: string;
  attrsAt: number;
  starts: number[];
  ends: number[];
}
interface EdgeRow {
  id: string;
  type: EdgeType;
  from: string;
  to: string;
  starts: number[];
  ends: number[];
}

const zip = (starts: number[], ends: number[]): Interval[] => starts.map((s, i) => [s, ends[i]!]);
const toEntity = (p: EntityProps): EntityRecord => ({
  id: p.id,
  kind: p.kind,
  name: p.name,
  attrs: JSON.parse(p.attrs) as Record<string, string>,
  attrsAt: p.attrsAt,
  intervals: zip(p.starts, p.ends),
});
const toEdge = (r: EdgeRow): EdgeRecord => ({ id: r.id, type: r.type, from: r.from, to: r.to, intervals: zip(r.starts, r.ends) });
const entityRow = (e: EntityRecord) => ({
  id: e.id,
  kind: e.kind,
  name: e.name,
  attrs: JSON.stringify(e.attrs),
  attrsAt: e.attrsAt,
  starts: e.intervals.map((i) => i[0]),
  ends: e.intervals.map((i) => i[1]),
  first: e.intervals[0]![0],
  last: e.intervals[e.intervals.length - 1]![1],
});

const EDGE_RETURN = 'e.id AS id, type(e) AS type, a.id AS from, b.id AS to, e.starts AS starts, e.ends AS ends';

export class Neo4jTopologyStore implements TopologyStore {
  readonly kind = 'neo4j' as const;
  private readonly driver: Driver;

  constructor(private readonly opts: Neo4jTopologyOptions) {
    const auth = opts.password ? neo4j.auth.basic(opts.user ?? 'neo4j', opts.password) : undefined;
    this.driver = neo4j.driver(opts.uri, auth, { disableLosslessIntegers: true, maxConnectionPoolSize: 20 });
  }

  private session(mode: 'READ' | 'WRITE') {
    return this.driver.session({ database: this.opts.database, defaultAccessMode: mode === 'READ' ? neo4j.session.READ : neo4j.session.WRITE });
  }

  private async read<T>(cypher: string, params: Record<string, unknown>, map: (r: Record<string, unknown>) => T): Promise<T[]> {
    const s = this.session('READ');
    try {
      const res = await s.executeRead((tx) => tx.run(cypher, params));
      return res.records.map((r) => map(r.toObject() as Record<string, unknown>));
    } finally {
      await s.close();
    }
  }

  async init(): Promise<void> {
    const s = this.session('WRITE');
    try {
      await s.run('CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE');
      await s.run('CREATE INDEX entity_first IF NOT EXISTS FOR (n:Entity) ON (n.first)');
      await s.run('CREATE INDEX entity_last IF NOT EXISTS FOR (n:Entity) ON (n.last)');
      await s.run('CREATE INDEX change_t IF NOT EXISTS FOR (c:Change) ON (c.t)');
      for (const type of EDGE_TYPES) {
        await s.run(`CREATE INDEX edge_${type.toLowerCase()}_last IF NOT EXISTS FOR ()-[e:${type}]-() ON (e.last)`);
      }
    } finally {
      await s.close();
    }
  }

  async apply(batch: TopologyBatch): Promise<{ entities: number; edges: number; changes: number }> {
    const s = this.session('WRITE');
    try {
      return await s.executeWrite((tx) => this.applyTx(tx, batch));
    } finally {
      await s.close();
    }
  }

  private async applyTx(tx: ManagedTransaction, batch: TopologyBatch) {
    const entityIds = [...new Set(batch.entities.map((e) => e.id))];
    const existing = new Map<string, EntityRecord>();
    if (entityIds.length > 0) {
      const res = await tx.run('UNWIND $ids AS id MATCH (n:Entity {id: id}) WHERE size(n.starts) > 0 RETURN n { .* } AS n', { ids: entityIds });
      for (const r of res.records) {
        const p = r.get('n') as EntityProps;
        existing.set(p.id, toEntity(p));
      }
    }
    const dirty = new Map<string, EntityRecord>();
    const changes: ChangeRecord[] = [];
    for (const obs of batch.entities) {
      const before = dirty.get(obs.id) ?? existing.get(obs.id);
      const { record, changes: c } = observeEntity(before, obs);
      if (record !== before) dirty.set(record.id, record);
      changes.push(...c);
    }
    if (dirty.size > 0) {
      await tx.run(
        `UNWIND $rows AS r MERGE (n:Entity {id: r.id})
         SET n.kind = r.kind, n.name = r.name, n.attrs = r.attrs, n.attrsAt = r.attrsAt,
             n.starts = r.starts, n.ends = r.ends, n.first = r.first, n.last = r.last`,
        { rows: [...dirty.values()].map(entityRow) },
      );
    }
    if (changes.length > 0) {
      await tx.run('UNWIND $rows AS c CREATE (:Change {t: c.t, entity: c.entity, attr: c.attr, before: c.before, after: c.after})', { rows: changes });
    }

    let edgeCount = 0;
    for (const type of EDGE_TYPES) {
      const obs = batch.edges.filter((e) => e.type === type);
      if (obs.length === 0) continue;
      const keys = [...new Map(obs.map((o) => [edgeId(type, o.from, o.to), { from: o.from, to: o.to }])).values()];
      const found = new Map<string, EdgeRecord>();
      const res = await tx.run(`UNWIND $keys AS k MATCH (a:Entity {id: k.from})-[e:${type}]->(b:Entity {id: k.to}) RETURN ${EDGE_RETURN}`, { keys });
      for (const r of res.records) {
        const row = r.toObject() as EdgeRow;
        found.set(row.id, toEdge(row));
      }
      const changed = new Map<string, EdgeRecord>();
      for (const o of obs) {
        const id = edgeId(type, o.from, o.to);
        const before = changed.get(id) ?? found.get(id);
        const rec = observeEdge(before, o);
        if (rec !== before) changed.set(id, rec);
      }
      if (changed.size === 0) continue;
      edgeCount += changed.size;
      // Endpoints not observed as entities yet exist as placeholders (no intervals), never "present".
      await tx.run(
        `UNWIND $rows AS r
         MERGE (a:Entity {id: r.from}) ON CREATE SET a.starts = [], a.ends = []
         MERGE (b:Entity {id: r.to}) ON CREATE SET b.starts = [], b.ends = []
         MERGE (a)-[e:${type}]->(b)
         SET e.id = r.id, e.starts = r.starts, e.ends = r.ends, e.first = r.first, e.last = r.last`,
        {
          rows: [...changed.values()].map((e) => ({
            id: e.id,
            from: e.from,
            to: e.to,
            starts: e.intervals.map((i) => i[0]),
            ends: e.intervals.map((i) => i[1]),
            first: e.intervals[0]![0],
            last: e.intervals[e.intervals.length - 1]![1],
          })),
        },
      );
    }
    return { entities: dirty.size, edges: edgeCount, changes: changes.length };
  }

  private async snapshot(t1: Millis, t2: Millis, keep: (i: Interval[]) => boolean): Promise<TopologySnapshot> {
    const params = { t1, t2, stale: STALE_MS };
    const entities = (
      await this.read('MATCH (n:Entity) WHERE n.first <= $t2 AND n.last + $stale >= $t1 RETURN n { .* } AS n', params, (r) => toEntity(r.n as EntityProps))
    ).filter((e) => keep(e.intervals));
    const edges = (
      await this.read(`MATCH (a:Entity)-[e]->(b:Entity) WHERE e.first <= $t2 AND e.last + $stale >= $t1 RETURN ${EDGE_RETURN}`, params, (r) => toEdge(r as unknown as EdgeRow))
    ).filter((e) => keep(e.intervals));
    return { entities, edges };
  }

  asOf(t: Millis): Promise<TopologySnapshot> {
    return this.snapshot(t, t, (i) => presentAt(i, t));
  }

  window(t1: Millis, t2: Millis): Promise<TopologySnapshot> {
    return this.snapshot(t1, t2, (i) => presentDuring(i, t1, t2));
  }

  async entity(id: string): Promise<EntityRecord | undefined> {
    const rows = await this.read('MATCH (n:Entity {id: $id}) WHERE size(n.starts) > 0 RETURN n { .* } AS n', { id }, (r) => toEntity(r.n as EntityProps));
    return rows[0];
  }

  edgesOf(id: string): Promise<EdgeRecord[]> {
    return this.read(
      `MATCH (a:Entity)-[e]->(b:Entity) WHERE a.id = $id OR b.id = $id RETURN ${EDGE_RETURN}`,
      { id },
      (r) => toEdge(r as unknown as EdgeRow),
    );
  }

  changes(t1: Millis, t2: Millis, entity?: string): Promise<ChangeRecord[]> {
    return this.read(
      `MATCH (c:Change) WHERE c.t > $t1 AND c.t <= $t2 AND ($entity IS NULL OR c.entity = $entity)
       RETURN c.t AS t, c.entity AS entity, c.attr AS attr, c.before AS before, c.after AS after ORDER BY c.t, c.attr`,
      { t1, t2, entity: entity ?? null },
      (r) => r as unknown as ChangeRecord,
    );
  }

  async neighbourhood(id: string, t: Millis, hops: number, direction: 'up' | 'down' | 'both'): Promise<TopologySnapshot> {
    const start = await this.entity(id);
    if (!start || !presentAt(start.intervals, t)) return { entities: [], edges: [] };
    const entities = new Map([[id, start]]);
    const edges = new Map<string, EdgeRecord>();
    let frontier = [id];
    const pattern = direction === 'down' ? '(a:Entity)-[e]->(b:Entity)' : direction === 'up' ? '(b:Entity)-[e]->(a:Entity)' : '(a:Entity)-[e]-(b:Entity)';
    for (let h = 0; h < hops && frontier.length > 0; h++) {
      const rows = await this.read(
        `UNWIND $frontier AS fid MATCH ${pattern} WHERE a.id = fid AND e.first <= $t AND e.last + $stale >= $t
           AND b.first <= $t AND b.last + $stale >= $t
         RETURN e.id AS id, type(e) AS type, startNode(e).id AS from, endNode(e).id AS to, e.starts AS starts, e.ends AS ends, b { .* } AS other`,
        { frontier, t, stale: STALE_MS },
        (r) => ({ edge: toEdge(r as unknown as EdgeRow), other: toEntity(r.other as EntityProps) }),
      );
      const next: string[] = [];
      for (const { edge, other } of rows) {
        if (!presentAt(edge.intervals, t) || !presentAt(other.intervals, t)) continue;
        edges.set(edge.id, edge);
        if (!entities.has(other.id)) {
          entities.set(other.id, other);
          next.push(other.id);
        }
      }
      frontier = next;
    }
    return { entities: [...entities.values()], edges: [...edges.values()] };
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
