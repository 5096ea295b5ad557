/**
 * The rca role: the alert webhook with deduplication and topology-aware correlation into incidents, and the
 * incident and silence APIs. (Root-cause ranking itself lands with the fault-tree engine.)
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../shared/config.ts';
import type { QueueBackend } from '../shared/queue/index.ts';
import type { TopologyStore } from '../topology/store.ts';
import { TopologyCorrelator } from './alerts/correlate.ts';
import { AlertJournal } from './alerts/journal.ts';
import { DEFAULT_SETTINGS } from './alerts/model.ts';
import { alertRoutes } from './alerts/routes.ts';
import { AlertService } from './alerts/service.ts';

export { AlertService, RCA_QUEUE, type RcaJob } from './alerts/service.ts';
export { fingerprint } from './alerts/fingerprint.ts';

export interface RcaRole {
  alerts: AlertService;
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

export async function createRcaRole(deps: { config: Config; dataDir: string; topology: TopologyStore; queues: QueueBackend; log: Logger }): Promise<RcaRole> {
  const a = deps.config.alerts;
  const service = new AlertService(
    { ...DEFAULT_SETTINGS, windowMs: a.windowMs, maxIncidentAgeMs: a.maxIncidentAgeMs, hops: a.hops, minAlerts: a.minAlerts, dedupLabels: a.dedupLabels },
    new TopologyCorrelator(deps.topology),
    new AlertJournal(join(deps.dataDir, 'alerts', 'journal.jsonl')),
    deps.queues,
    deps.log,
  );
  const replayed = await service.recover();
  if (replayed > 0) deps.log.info({ entries: replayed }, 'alert state rebuilt from the journal');
  const timer = setInterval(() => void service.tick().catch((err: unknown) => deps.log.warn({ err }, 'alert tick failed')), 30_000);
  timer.unref();
  return {
    alerts: service,
    async register(app) {
      await app.register(alertRoutes, { service, ratePerS: a.ratePerS, hmacSecret: a.hmacSecret });
    },
    async close() {
      clearInterval(timer);
    },
  };
}
