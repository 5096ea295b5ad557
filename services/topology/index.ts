/**
 * The topology role: a queue worker that turns stored telemetry windows into topology observations, the
 * store (embedded on disk, or Neo4j when configured), and the REST queries.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { QueueBackend, Worker } from '../shared/queue/index.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { EmbeddedTopologyStore } from './embedded.ts';
import { extractWindow } from './extract.ts';
import { Neo4jTopologyStore } from './neo4j.ts';
import { topologyRoutes } from './routes.ts';
import { sanitizeBatch } from './validate.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TopologyStore } from './store.ts';

export type { TopologyStore } from './store.ts';
export type { EntityRecord, EdgeRecord, TopologySnapshot, TopologyBatch, ChangeRecord } from './model.ts';
export { diff, graphAsOf, paths, toGraph, verticalStack } from './queries.ts';
export { EmbeddedTopologyStore } from './embedded.ts';
export { Neo4jTopologyStore } from './neo4j.ts';

export const TOPOLOGY_QUEUE = 'topology';
export interface ExtractJob {
  from: number;
  to: number;
}

/** Neo4j when a URI is given, else the embedded store under `dir`. */
export function createTopologyStore(opts: { neo4jUri?: string; user?: string; password?: string; dir: string }): TopologyStore {
  if (opts.neo4jUri) return new Neo4jTopologyStore({ uri: opts.neo4jUri, user: opts.user, password: opts.password });
  return new EmbeddedTopologyStore({ dir: opts.dir });
}

/**
 * Asks for a window to be (re)extracted once its rows are stored. Jobs for the same minute within one 15 s
 * bucket collapse into one, and wait a few seconds so rows still being flushed are included.
 */
export async function requestExtraction(queues: QueueBackend, minutes: number[]): Promise<void> {
  const bucket = Math.floor(Date.now() / 15_000);
  const q = queues.queue<ExtractJob>(TOPOLOGY_QUEUE);
  await q.addBulk(
    minutes.map((m) => ({ name: 'extract', data: { from: m, to: m + 60_000 }, opts: { jobId: `extract-${m}-${bucket}`, delayMs: 3_000, attempts: 5, backoffMs: 1_000 } })),
  );
}

export interface TopologyRole {
  store: TopologyStore;
  register(app: FastifyInstance): Promise<void>;
  /** Extracts and applies one window now (used by the worker, tests and replays). */
  extract(job: ExtractJob): Promise<{ entities: number; edges: number; changes: number }>;
  close(): Promise<void>;
}

export async function createTopologyRole(deps: { store: TopologyStore; telemetry: TelemetryStore; queues: QueueBackend; log: Logger; registry: Registry }): Promise<TopologyRole> {
  await deps.store.init();
  const rejected = new Counter({ name: 'rootline_topology_rejected_observations_total', help: 'Topology observations dropped or clamped, by reason', labelNames: ['reason'], registers: [deps.registry] });
  const applied = new Counter({ name: 'rootline_topology_windows_total', help: 'Telemetry windows extracted into the topology', registers: [deps.registry] });
  const extract = async (job: ExtractJob) => {
    const batch = sanitizeBatch(await extractWindow(deps.telemetry, job), Date.now(), (reason) => rejected.inc({ reason }));
    const r = await deps.store.apply(batch);
    applied.inc();
    return r;
  };
  const worker: Worker = deps.queues.worker<ExtractJob, unknown>(TOPOLOGY_QUEUE, async (job) => extract(job.data), { concurrency: 1 });
  // The extraction backlog, read on scrape: how far the topology trails the telemetry (0 live jobs: caught up).
  const backlog = deps.queues.queue<ExtractJob>(TOPOLOGY_QUEUE);
  new Gauge({
    name: 'rootline_topology_backlog_jobs',
    help: 'Topology extraction jobs waiting, delayed or running',
    registers: [deps.registry],
    async collect() {
      const c = await backlog.counts();
      this.set(c.waiting + c.delayed + c.active);
    },
  });
  worker.on('failed', (e) => deps.log.warn({ job: e.jobId, error: e.error }, 'topology extraction failed'));
  return {
    store: deps.store,
    extract,
    async register(app) {
      await app.register(topologyRoutes, { store: deps.store, telemetry: deps.telemetry });
    },
    async close() {
      await worker.close();
      await deps.store.close();
    },
  };
}
