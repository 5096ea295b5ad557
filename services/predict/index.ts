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
import { DEFAULT_REPORT_SETTINGS, ReportBuilder, type SequenceScorer } from './reports/builder.ts';
import { summarize, type Report } from './reports/model.ts';
import { reportRoutes } from './reports/routes.ts';
import { ReportService } from './reports/service.ts';
import { FileReportStore } from './reports/store.ts';
import { listVersions } from './sequence/store.ts';

export { ReportService, REPORT_QUEUE, REPORT_SCHEDULER, lastPeriod } from './reports/service.ts';

/** Name under `<dataDir>/models` of the call-sequence model trained on API traces. */
export const API_SEQUENCE_MODEL = 'api-sequences';

export interface PredictRole {
  reports: ReportService;
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

/** Loads the newest trained API call-sequence model once, when there is one; null otherwise. */
function sequenceModelLoader(modelsDir: string, log: Logger): () => Promise<SequenceScorer | null> {
  let loading: Promise<SequenceScorer | null> | undefined;
  return () => {
    if (listVersions(modelsDir, API_SEQUENCE_MODEL).length === 0) return Promise.resolve(null);
    loading ??= (async () => {
      try {
        const [{ loadTf }, { SequenceDetector }] = await Promise.all([import('./sequence/backend.ts'), import('./sequence/detector.ts')]);
        return await SequenceDetector.load(await loadTf(), modelsDir, API_SEQUENCE_MODEL);
      } catch (err) {
        log.warn({ err }, 'could not load the API call-sequence model');
        loading = undefined;
        return null;
      }
    })();
    return loading;
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

export async function createPredictRole(deps: { config: Config; dataDir: string; telemetry: TelemetryStore; queues: QueueBackend; log: Logger }): Promise<PredictRole> {
  const c = deps.config.reports;
  const builder = new ReportBuilder(
    deps.telemetry,
    { ...DEFAULT_REPORT_SETTINGS, errorRateThreshold: c.errorRateThreshold, latencyFactor: c.latencyFactor },
    sequenceModelLoader(join(deps.dataDir, 'models'), deps.log),
  );
  const reports = new ReportService(new FileReportStore(join(deps.dataDir, 'reports')), builder, deps.queues, c.periodMs, deps.log, webhook(c.webhookUrl, deps.log));
  await reports.start();
  return {
    reports,
    async register(app) {
      await app.register(reportRoutes, { reports });
    },
    close: () => reports.close(),
  };
}
