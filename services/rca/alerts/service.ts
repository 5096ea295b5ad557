/**
 * Serializes everything that touches alert state: each input is journaled, then applied, one at a time, so
 * the journal order is the apply order and a replay rebuilds the same state. Touched incidents enqueue RCA.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { QueueBackend } from '../../shared/queue/index.ts';
import { AlertEngine, type ApplyResult } from './engine.ts';
import type { Correlator } from './correlate.ts';
import type { IncomingAlert } from './formats.ts';
import type { AlertJournal } from './journal.ts';
import type { AlertChange, EngineSettings, Incident, Silence } from './model.ts';

export const RCA_QUEUE = 'rca';
/** At most one RCA per incident per this long, started this long after the first change. */
const RCA_DEBOUNCE_MS = 5_000;
export interface RcaJob {
  tenant: string;
  incidentId: string;
  version: number;
}

/** How many recent audit entries stay in memory for the API; the journal keeps all of them. */
const AUDIT_IN_MEMORY = 50_000;

export class AlertService {
  readonly engine: AlertEngine;
  /** Recent state changes, oldest first. */
  readonly audit: AlertChange[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    settings: EngineSettings,
    correlator: Correlator,
    private readonly journal: AlertJournal,
    private readonly queues: QueueBackend | undefined,
    private readonly log: Logger,
  ) {
    this.engine = new AlertEngine(settings, correlator);
  }

  /** Rebuilds state from the journal. */
  async recover(): Promise<number> {
    let n = 0;
    for (const e of this.journal.read()) {
      n++;
      if (e.kind === 'notify') await this.engine.apply(e.tenant, e.alerts, e.t);
      else if (e.kind === 'ack') this.engine.acknowledge(e.tenant, e.id, e.by, e.t);
      else if (e.kind === 'resolve') this.engine.resolve(e.tenant, e.id, e.by, e.t);
      else if (e.kind === 'silence') this.engine.putSilence(e.silence);
      else if (e.kind === 'unsilence') this.engine.deleteSilence(e.tenant, e.id);
      else if (e.kind === 'audit') this.remember(e.changes);
    }
    return n;
  }

  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  notify(tenant: string, alerts: IncomingAlert[], now = Date.now()): Promise<ApplyResult> {
    return this.serial(() => this.applyNow(tenant, alerts, now));
  }

  private async applyNow(tenant: string, alerts: IncomingAlert[], now: number): Promise<ApplyResult> {
    this.journal.append({ kind: 'notify', t: now, tenant, alerts });
    const result = await this.engine.apply(tenant, alerts, now);
    if (result.changes.length > 0) {
      this.journal.append({ kind: 'audit', t: now, changes: result.changes });
      this.remember(result.changes);
    }
    await this.enqueueRca(result.touched);
    return result;
  }

  acknowledge(tenant: string, id: string, by: string): Promise<Incident | undefined> {
    return this.serial(async () => {
      const now = Date.now();
      this.journal.append({ kind: 'ack', t: now, tenant, id, by });
      return this.engine.acknowledge(tenant, id, by, now);
    });
  }

  resolve(tenant: string, id: string, by: string): Promise<Incident | undefined> {
    return this.serial(async () => {
      const now = Date.now();
      this.journal.append({ kind: 'resolve', t: now, tenant, id, by });
      return this.engine.resolve(tenant, id, by, now);
    });
  }

  putSilence(input: Omit<Silence, 'id'> & { id?: string }): Promise<Silence> {
    return this.serial(async () => {
      const silence: Silence = { ...input, id: input.id ?? randomUUID() };
      this.journal.append({ kind: 'silence', t: Date.now(), silence });
      this.engine.putSilence(silence);
      return silence;
    });
  }

  deleteSilence(tenant: string, id: string): Promise<boolean> {
    return this.serial(async () => {
      this.journal.append({ kind: 'unsilence', t: Date.now(), tenant, id });
      return this.engine.deleteSilence(tenant, id);
    });
  }

  private remember(changes: AlertChange[]): void {
    this.audit.push(...changes);
    if (this.audit.length > AUDIT_IN_MEMORY) this.audit.splice(0, this.audit.length - AUDIT_IN_MEMORY);
  }

  /**
   * Ends firing alerts whose `endsAt` has passed without a refresh (Alertmanager's semantics: a sender that
   * stops repeating an alert lets it end), then finishes held-down resolves; called periodically.
   */
  tick(now = Date.now()): Promise<void> {
    return this.serial(async () => {
      const expired = new Map<string, IncomingAlert[]>();
      for (const a of this.engine.alerts.values()) {
        if (a.status !== 'firing' || a.endsAt === undefined || a.endsAt > now) continue;
        const resolved: IncomingAlert = { source: a.source as IncomingAlert['source'], upstreamKey: a.fingerprint, status: 'resolved', labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt: a.endsAt };
        expired.set(a.tenant, [...(expired.get(a.tenant) ?? []), resolved]);
      }
      for (const [tenant, alerts] of expired) await this.applyNow(tenant, alerts, now);
      await this.enqueueRca(this.engine.tick(now));
    });
  }

  private async enqueueRca(incidents: Incident[]): Promise<void> {
    if (!this.queues || incidents.length === 0) return;
    const live = incidents.filter((i) => !i.mergedInto);
    try {
      // Debounced like Alertmanager's group_wait: an alert storm changes an incident many times a second, and
      // one analysis a few seconds later (it reads the incident as it is then) serves them all.
      const bucket = Math.floor(Date.now() / RCA_DEBOUNCE_MS);
      await this.queues.queue<RcaJob>(RCA_QUEUE).addBulk(
        live.map((i) => ({ name: 'incident', data: { tenant: i.tenant, incidentId: i.id, version: i.version }, opts: { jobId: `rca-${i.id}-${bucket}`, delayMs: RCA_DEBOUNCE_MS } })),
      );
    } catch (err) {
      // The alert state is already durable; RCA can be asked again on demand.
      this.log.warn({ err }, 'could not enqueue RCA jobs');
    }
  }
}
