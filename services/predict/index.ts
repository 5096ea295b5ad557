/**
 * The predict role: scheduled prediction reports (forecast breaches, anomalous API call sequences, drift),
 * stored under the data directory and served at /api/v1/reports.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../shared/config.ts';
import type { QueueBackend } from '../shared/queue/index.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { DEFAULT_REPORT_SETTINGS, ReportBuilder } from './reports/builder.ts';
import { summarize, type Report } from './reports/model.ts';
import { reportRoutes } from './reports/routes.ts';
import { ReportService } from './reports/service.ts';
import { FileReportStore } from './reports/store.ts';
import { listVersions } from './sequence/store.ts';
import type { SequenceDetector } from './sequence/detector.ts';
import { modelRoutes } from './models-routes.ts';
import { DEFAULT_ONLINE, SequenceOnline, type AlertSink, type SequenceAnomaly } from './online.ts';

export { ReportService, REPORT_QUEUE, REPORT_SCHEDULER, lastPeriod } from './reports/service.ts';
export { TRAIN_QUEUE, type AlertSink, type SequenceAnomaly, type TrainStatus } from './online.ts';

/** Name under `<dataDir>/models` of the call-sequence model trained on API traces. */
export const API_SEQUENCE_MODEL = 'api-sequences';

export interface PredictRole {
  reports: ReportService;
  /** Online scoring and training of the API call-sequence model. */
  sequences: SequenceOnline;
  /** `sequence_anomaly` events of traces that started in [from, to): evidence for RCA. */
  sequenceAnomalies(from: number, to: number): SequenceAnomaly[];
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

/** Loads the newest trained API call-sequence model once, when there is one (null otherwise); `reload` drops it. */
function sequenceModelLoader(modelsDir: string, log: Logger): { get: () => Promise<SequenceDetector | null>; reload: () => void } {
  let loading: Promise<SequenceDetector | null> | undefined;
  let generation = 0;
  return {
    get: () => {
      // Polled every few seconds: look at the folder only while no model is loaded.
      if (loading) return loading;
      if (listVersions(modelsDir, API_SEQUENCE_MODEL).length === 0) return Promise.resolve(null);
      const gen = generation;
      loading ??= (async () => {
        try {
          const [{ loadTf }, { SequenceDetector }] = await Promise.all([import('./sequence/backend.ts'), import('./sequence/detector.ts')]);
          return await SequenceDetector.load(await loadTf(), modelsDir, API_SEQUENCE_MODEL);
        } catch (err) {
          log.warn({ err }, 'could not load the API call-sequence model');
          if (gen === generation) loading = undefined;
          return null;
        }
      })();
      return loading;
    },
    reload: () => {
      generation++;
      // The old model stays usable by callers still holding it; it is released with the process.
      loading = undefined;
    },
  };
}

function webhook(url: string | undefined, log: Logger): (r: Report) => void {
  if (!url) return () => undefined;
  return (r) => {
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...summarize(r), report: r }), signal: AbortSignal.timeout(10_000) })
      .then(async (res) => {
        await res.arrayBuffer();
        if (!res.ok) log.warn({ status: res.status, report: r.id }, 'report webhook refused');
      })
      .catch((err: unknown) => log.warn({ err, report: r.id }, 'report webhook failed'));
  };
}

export async function createPredictRole(deps: { config: Config; dataDir: string; telemetry: TelemetryStore; queues: QueueBackend; log: Logger; alert?: AlertSink }): Promise<PredictRole> {
  const c = deps.config.reports;
  const modelsDir = join(deps.dataDir, 'models');
  const model = sequenceModelLoader(modelsDir, deps.log);
  const builder = new ReportBuilder(
    deps.telemetry,
    { ...DEFAULT_REPORT_SETTINGS, errorRateThreshold: c.errorRateThreshold, latencyFactor: c.latencyFactor },
    model.get,
  );
  const reports = new ReportService(new FileReportStore(join(deps.dataDir, 'reports')), builder, deps.queues, c.periodMs, deps.log, webhook(c.webhookUrl, deps.log));
  await reports.start();
  const sequences = new SequenceOnline({
    telemetry: deps.telemetry, queues: deps.queues, log: deps.log, modelsDir, modelName: API_SEQUENCE_MODEL,
    model: model.get, reload: model.reload, alert: deps.alert,
    defaultTenant: deps.config.auth.tokens.values().next().value ?? 'default',
  }, { ...DEFAULT_ONLINE, alertTtlMs: deps.config.sequences.alertTtlMs });
  sequences.start();
  return {
    reports,
    sequences,
    sequenceAnomalies: (from, to) => sequences.anomaliesBetween(from, to),
    async register(app) {
      await app.register(reportRoutes, { reports });
      await app.register(modelRoutes, { online: sequences, name: API_SEQUENCE_MODEL, versions: () => listVersions(modelsDir, API_SEQUENCE_MODEL) });
    },
    async close() {
      await sequences.close();
      await reports.close();
    },
  };
}
