/** The ingest role: OTLP and collector receivers, telemetry read-back, and the durable write path. */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../shared/config.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { IngestPipeline } from './pipeline.ts';
import { otlpRoutes } from './routes/otlp.ts';
import { collectorRoutes } from './routes/collector.ts';
import { queryRoutes } from './routes/query.ts';

export { IngestPipeline, OverloadError } from './pipeline.ts';
export { InvalidInputError } from './rows/errors.ts';

export interface IngestRole {
  pipeline: IngestPipeline;
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

export async function createIngestRole(deps: {
  config: Config;
  store: TelemetryStore;
  registry: Registry;
  log: Logger;
  walDir: string;
  onStored?: (minutes: number[]) => void;
}): Promise<IngestRole> {
  const pipeline = await IngestPipeline.open({
    walDir: deps.walDir,
    store: deps.store,
    registry: deps.registry,
    log: deps.log,
    limits: deps.config.ingest,
    onStored: deps.onStored,
  });
  return {
    pipeline,
    async register(app) {
      await app.register(otlpRoutes, { pipeline, maxBodyBytes: deps.config.ingest.maxBodyBytes });
      await app.register(collectorRoutes, { pipeline, registry: deps.registry, maxFutureSkewMs: deps.config.ingest.maxFutureSkewMs });
      await app.register(queryRoutes, { store: deps.store, pipeline });
    },
    close: () => pipeline.close(),
  };
}
