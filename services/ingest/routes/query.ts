/** Read-back of stored telemetry: a trace by id and per-table counts. Parameterized SQL only. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import type { IngestPipeline } from '../pipeline.ts';

export interface QueryRoutesOptions {
  store: TelemetryStore;
  pipeline: IngestPipeline;
}

const Span = Type.Object({
  trace_id: Type.String(),
  span_id: Type.String(),
  parent_span_id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  service_name: Type.String(),
  start_time_unix_nano: Type.String(),
  duration_ns: Type.String(),
  status_code: Type.String(),
  attributes: Type.Record(Type.String(), Type.String()),
  resource_attributes: Type.Record(Type.String(), Type.String()),
});

export const queryRoutes: FastifyPluginAsyncTypebox<QueryRoutesOptions> = async (app, { store, pipeline }) => {
  const db = store.database;
  app.get(
    '/api/v1/traces/:traceId',
    {
      schema: {
        tags: ['telemetry'],
        summary: 'All stored spans of one trace',
        security: [{ bearer: [] }],
        params: Type.Object({ traceId: Type.String({ pattern: '^[0-9a-fA-F]{32}$' }) }),
        response: { 200: Type.Object({ spans: Type.Array(Span) }) },
      },
    },
    async (req) => {
      const spans = await store.query<Record<string, unknown>>(
        `SELECT trace_id, span_id, parent_span_id, name, kind, service_name,
                toString(toUnixTimestamp64Nano(timestamp)) AS start_time_unix_nano, toString(duration_ns) AS duration_ns,
                status_code, attributes, resource_attributes
         FROM ${db}.spans WHERE trace_id = {traceId:String} ORDER BY timestamp`,
        { traceId: req.params.traceId.toLowerCase() },
      );
      return { spans: spans as never };
    },
  );

  app.get(
    '/api/v1/telemetry/stats',
    {
      schema: {
        tags: ['telemetry'],
        summary: 'Rows stored per table, and acknowledged bytes still waiting in the WAL',
        security: [{ bearer: [] }],
        response: {
          200: Type.Object({
            rows: Type.Record(Type.String(), Type.Number()),
            wal_backlog_bytes: Type.Number(),
          }),
        },
      },
    },
    async () => {
      const rows = await store.query<{ table: string; n: string }>(
        `SELECT 'spans' AS table, count() AS n FROM ${db}.spans
         UNION ALL SELECT 'metric_points', count() FROM ${db}.metric_points
         UNION ALL SELECT 'logs', count() FROM ${db}.logs
         UNION ALL SELECT 'collector_events', count() FROM ${db}.collector_events
         UNION ALL SELECT 'alerts', count() FROM ${db}.alerts`,
      );
      return {
        rows: Object.fromEntries(rows.map((r) => [r.table, Number(r.n)])),
        wal_backlog_bytes: pipeline.backlogBytes(),
      };
    },
  );

  app.post(
    '/api/v1/telemetry/flush',
    {
      schema: {
        tags: ['telemetry'],
        summary: 'Waits until every acknowledged item is queryable',
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ wal_backlog_bytes: Type.Number() }) },
      },
    },
    async () => {
      await pipeline.drained();
      return { wal_backlog_bytes: pipeline.backlogBytes() };
    },
  );
};
