/**
 * Scheduled reports on the queue port: one repeating job per period (BullMQ's job scheduler, or the
 * in-process adapter's timer), whose worker builds the report for the period that just ended and stores it.
 * The period is aligned to multiples of `periodMs`, and the report id follows from it, so a duplicate run
 * (at-least-once delivery) replaces the same report.
 */
import type { Logger } from 'pino';
import type { QueueBackend, Worker } from '../../shared/queue/index.ts';
import type { BuildInput, ReportBuilder } from './builder.ts';
import type { Report } from './model.ts';
import type { ReportStore } from './store.ts';

export const REPORT_QUEUE = 'predict-reports';
export const REPORT_SCHEDULER = 'prediction-report';

export interface ReportJob {
  periodMs: number;
}

/** The period that ended last at `now`: [to − period, to) with `to` a multiple of the period. */
export function lastPeriod(now: number, periodMs: number): { from: number; to: number } {
  const to = Math.floor(now / periodMs) * periodMs;
  return { from: to - periodMs, to };
}

export class ReportService {
  private worker: Worker | undefined;

  constructor(
    readonly store: ReportStore,
    private readonly builder: ReportBuilder,
    private readonly queues: QueueBackend,
    readonly periodMs: number,
    private readonly log: Logger,
    /** Called with every stored report (webhook delivery hooks in here). */
    private readonly onReport: (r: Report) => void = () => undefined,
  ) {}

  async run(input: BuildInput): Promise<Report> {
    const report = await this.builder.build(input);
    await this.store.put(report);
    this.log.info({ report: report.id, breaches: report.predictedBreaches.length, drifting: report.driftingEntities.length }, 'prediction report stored');
    this.onReport(report);
    return report;
  }

  /** Starts the worker and upserts the repeating job. */
  async start(): Promise<void> {
    this.worker = this.queues.worker<ReportJob, string>(
      REPORT_QUEUE,
      async (job) => (await this.run({ ...lastPeriod(Date.now(), job.data.periodMs), trigger: 'schedule' })).id,
      { concurrency: 1 },
    );
    this.worker.on('failed', (e) => this.log.warn({ job: e.jobId, error: e.error }, 'prediction report job failed'));
    await this.queues.queue<ReportJob>(REPORT_QUEUE).schedule(REPORT_SCHEDULER, this.periodMs, 'report', { periodMs: this.periodMs });
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }
}
