/** REST for the topology: as-of / window snapshots, diff, one entity with its stack, neighbourhoods, paths. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { TopologyStore } from './store.ts';
import { VERTICAL_EDGES, type EdgeRecord, type TopologySnapshot } from './model.ts';
import { diff, paths, verticalStack } from './queries.ts';
import { InvalidInputError } from '../ingest/index.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';

const Time = Type.String({ description: 'RFC 3339 time or epoch milliseconds; default now' });
const Interval = Type.Tuple([Type.Number(), Type.Number()]);
const Entity = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  attrs: Type.Record(Type.String(), Type.String()),
  intervals: Type.Array(Interval),
  attrsAt: Type.Number(),
});
const Edge = Type.Object({ id: Type.String(), type: Type.String(), from: Type.String(), to: Type.String(), intervals: Type.Array(Interval) });
const Snapshot = Type.Object({ entities: Type.Array(Entity), edges: Type.Array(Edge) });
const Change = Type.Object({ t: Type.Number(), entity: Type.String(), attr: Type.String(), before: Type.String(), after: Type.String() });
const SEC = { tags: ['topology'], security: [{ bearer: [] }] };

export function parseTime(v: string | undefined, what: string, dflt = Date.now()): number {
  if (v === undefined || v === '') return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new InvalidInputError(`${what}: "${v}" is not an RFC 3339 time or epoch milliseconds`);
  return n;
}

function view(snap: TopologySnapshot, v: 'horizontal' | 'vertical' | 'all'): TopologySnapshot {
  if (v === 'all') return snap;
  const keep = (e: EdgeRecord) => VERTICAL_EDGES.includes(e.type) === (v === 'vertical');
  return { entities: snap.entities, edges: snap.edges.filter(keep) };
}

export const topologyRoutes: FastifyPluginAsyncTypebox<{ store: TopologyStore; telemetry: TelemetryStore }> = async (app, { store, telemetry }) => {
  app.get(
    '/api/v1/topology/stats',
    {
      schema: {
        ...SEC,
        summary: 'Per-minute statistics of one edge (calls, errors, latency percentiles)',
        querystring: Type.Object({ edge: Type.String({ minLength: 1, maxLength: 2048 }), from: Type.Optional(Time), to: Type.Optional(Time) }),
        response: {
          200: Type.Object({
            edge: Type.String(),
            minutes: Type.Array(
              Type.Object({ minute: Type.String(), calls: Type.Number(), errors: Type.Number(), latency_p50_ms: Type.Number(), latency_p90_ms: Type.Number(), latency_p99_ms: Type.Number() }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const to = parseTime(req.query.to, 'to');
      const from = parseTime(req.query.from, 'from', to - 3600_000);
      const minutes = await telemetry.query<{ minute_utc: string; calls: string; errors: string; latency_p50_ms: number; latency_p90_ms: number; latency_p99_ms: number }>(
        `SELECT toString(minute) AS minute_utc, calls, errors, latency_p50_ms, latency_p90_ms, latency_p99_ms
         FROM ${telemetry.database}.edge_stats FINAL
         WHERE edge_id = {edge:String} AND minute >= toStartOfMinute(fromUnixTimestamp64Milli({from:Int64})) AND minute <= fromUnixTimestamp64Milli({to:Int64})
         ORDER BY minute`,
        { edge: req.query.edge, from, to },
      );
      return { edge: req.query.edge, minutes: minutes.map(({ minute_utc, ...m }) => ({ ...m, minute: minute_utc, calls: Number(m.calls), errors: Number(m.errors) })) };
    },
  );

  app.get(
    '/api/v1/topology',
    {
      schema: {
        ...SEC,
        summary: 'The topology as of a time, or over a window [from, to]',
        querystring: Type.Object({
          at: Type.Optional(Time),
          from: Type.Optional(Time),
          to: Type.Optional(Time),
          view: Type.Optional(Type.Union([Type.Literal('horizontal'), Type.Literal('vertical'), Type.Literal('all')])),
        }),
        response: { 200: Type.Intersect([Snapshot, Type.Object({ at: Type.Optional(Type.Number()), from: Type.Optional(Type.Number()), to: Type.Optional(Type.Number()) })]) },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.from !== undefined || q.to !== undefined) {
        const from = parseTime(q.from, 'from');
        const to = parseTime(q.to, 'to');
        if (from > to) throw new InvalidInputError('from must not be after to');
        return { from, to, ...view(await store.window(from, to), q.view ?? 'all') };
      }
      const at = parseTime(q.at, 'at');
      return { at, ...view(await store.asOf(at), q.view ?? 'all') };
    },
  );

  app.get(
    '/api/v1/topology/diff',
    {
      schema: {
        ...SEC,
        summary: 'What was added, removed or changed between two times',
        querystring: Type.Object({ from: Time, to: Type.Optional(Time) }),
        response: {
          200: Type.Object({
            from: Type.Number(),
            to: Type.Number(),
            added: Snapshot,
            removed: Snapshot,
            changed: Type.Array(Type.Object({ entity: Entity, changes: Type.Array(Change) })),
          }),
        },
      },
    },
    async (req) => {
      const from = parseTime(req.query.from, 'from');
      const to = parseTime(req.query.to, 'to');
      if (from > to) throw new InvalidInputError('from must not be after to');
      return diff(store, from, to);
    },
  );

  app.get(
    '/api/v1/entities/:id',
    {
      schema: {
        ...SEC,
        summary: 'One entity: its intervals, edges, vertical stack at a time, and attribute changes',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 1024 }) }),
        querystring: Type.Object({ at: Type.Optional(Time) }),
        response: {
          200: Type.Object({ entity: Entity, edges: Type.Array(Edge), stack: Snapshot, changes: Type.Array(Change) }),
          404: Type.Object({ code: Type.Number(), message: Type.String() }),
        },
      },
    },
    async (req, reply) => {
      const entity = await store.entity(req.params.id);
      if (!entity) return reply.code(404).send({ code: 404, message: `no entity ${req.params.id}` });
      const at = parseTime(req.query.at, 'at', entity.intervals[entity.intervals.length - 1]![1]);
      const [edges, stack, changes] = await Promise.all([store.edgesOf(entity.id), verticalStack(store, entity.id, at), store.changes(0, Number.MAX_SAFE_INTEGER, entity.id)]);
      return { entity, edges, stack, changes };
    },
  );

  app.get(
    '/api/v1/topology/neighbourhood',
    {
      schema: {
        ...SEC,
        summary: 'Entities within k hops of one entity at a time (down = what it depends on)',
        querystring: Type.Object({
          id: Type.String({ minLength: 1 }),
          at: Type.Optional(Time),
          hops: Type.Optional(Type.Integer({ minimum: 1, maximum: 6 })),
          direction: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('both')])),
        }),
        response: { 200: Snapshot },
      },
    },
    async (req) => store.neighbourhood(req.query.id, parseTime(req.query.at, 'at'), req.query.hops ?? 2, req.query.direction ?? 'both'),
  );

  app.get(
    '/api/v1/topology/paths',
    {
      schema: {
        ...SEC,
        summary: 'Directed paths between two entities at a time, shortest first',
        querystring: Type.Object({ from: Type.String(), to: Type.String(), at: Type.Optional(Time), maxHops: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })) }),
        response: { 200: Type.Object({ paths: Type.Array(Type.Array(Type.String())) }) },
      },
    },
    async (req) => ({ paths: await paths(store, req.query.from, req.query.to, parseTime(req.query.at, 'at'), req.query.maxHops ?? 6) }),
  );
};
