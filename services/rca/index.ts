/**
 * The rca role: the alert webhook with deduplication and topology-aware correlation into incidents, the
 * incident and silence APIs, Rootline's own golden-signal watch raising alerts, and the fault-tree RCA (on
 * demand and as a queue worker per incident change).
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
import { AlertService, RCA_QUEUE, type RcaJob } from './alerts/service.ts';
import { RcaService } from './engine/service.ts';
import { rcaRoutes } from './engine/routes.ts';
import type { ApiSequenceSource } from './engine/model.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { ServiceWatch } from './detect/watch.ts';

export { AlertService, RCA_QUEUE, type RcaJob } from './alerts/service.ts';
export { RcaService, type RcaResult } from './engine/service.ts';
export { rankCauses } from './engine/rank.ts';
export type { ApiSequenceEvent, ApiSequenceSource } from './engine/model.ts';
export { fingerprint } from './alerts/fingerprint.ts';

export interface RcaRole {
  alerts: AlertService;
  rca: RcaService;
  /** Rootline's own golden-signal detection (undefined when ROOTLINE_WATCH=off). */
  watch?: ServiceWatch;
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

export async function createRcaRole(deps: { config: Config; dataDir: string; topology: TopologyStore; telemetry: TelemetryStore; queues: QueueBackend; log: Logger; apiSequences?: ApiSequenceSource }): Promise<RcaRole> {
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
  const rca = new RcaService(deps.telemetry, deps.topology, service, deps.log, deps.apiSequences, { stepMs: deps.config.watch.stepMs });
  const worker = deps.queues.worker<RcaJob, void>(RCA_QUEUE, async (job) => rca.run(job.data.tenant, job.data.incidentId), { concurrency: 1 });
  worker.on('failed', (e) => deps.log.warn({ job: e.jobId, error: e.error }, 'rca job failed'));
  const timer = setInterval(() => void service.tick().catch((err: unknown) => deps.log.warn({ err }, 'alert tick failed')), a.tickMs);
  timer.unref();
  const w = deps.config.watch;
  const firing = () => [...service.engine.alerts.values()].filter((a) => a.tenant === w.tenant && a.status === 'firing');
  const watch = w.enabled ? new ServiceWatch(deps.telemetry, (tenant, alerts) => service.notify(tenant, alerts), deps.log, { intervalMs: w.intervalMs, tenant: w.tenant, stepMs: w.stepMs, settleMs: w.settleMs, lookbackMs: w.lookbackMs, rules: { quietMs: w.quietMs } }, firing) : undefined;
  watch?.start();
  return {
    alerts: service,
    rca,
    ...(watch ? { watch } : {}),
    async register(app) {
      await app.register(alertRoutes, { service, ratePerS: a.ratePerS, hmacSecret: a.hmacSecret, rootCauses: (id) => rca.cached(id)?.causes ?? null });
      await app.register(rcaRoutes, { rca, alerts: service });
    },
    async close() {
      clearInterval(timer);
      await watch?.stop();
      await worker.close();
    },
  };
}
