/**
 * Runs RCA for an entity at a time, or for an incident (its first service-level entity at its start), and
 * keeps the latest result per incident version. The same inputs give the same result: the snapshot is read
 * with fixed windows and the engine is deterministic.
 */
import type { Logger } from 'pino';
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import type { TopologyStore } from '../../topology/store.ts';
import type { AlertService } from '../alerts/service.ts';
import type { Incident } from '../alerts/model.ts';
import type { ApiSequenceSource, Cause, SecurityEvent } from './model.ts';
import { rankCauses } from './rank.ts';
import { loadSnapshot } from './snapshot.ts';
import { SECURITY_DETECTOR, SECURITY_LABELS } from '../../shared/security-labels.ts';
import { ids } from '../../topology/model.ts';

export interface RcaResult {
  symptom: string;
  t: number;
  causes: Cause[];
  /** Service-level ranking: pods and processes folded into the service they implement. */
  services: { service: string; score: number; kind: string }[];
  incidentId?: string;
  incidentVersion?: number;
}

/** How close to an asked-about time an incident's alert must start to count as a symptom then. */
export const SYMPTOM_WINDOW_MS = 5 * 60_000;
/** …and how far after it: the incident's first minutes, not the next fault's. */
export const SYMPTOM_AFTER_MS = 2 * 60_000;

export class RcaService {
  private readonly byIncident = new Map<string, RcaResult>();

  constructor(
    private readonly telemetry: TelemetryStore,
    private readonly topology: TopologyStore,
    private readonly alerts: AlertService | undefined,
    private readonly log: Logger,
    /** `sequence_anomaly` events of the prediction role, when it runs alongside. */
    private readonly apiSequences?: ApiSequenceSource,
    /** The series step (ms): the watch's, so RCA sees the points detection saw. */
    private readonly options: { stepMs?: number } = {},
  ) {}

  /** RCA at `t` for one symptom entity, or for several (an incident's): candidates are what any of them depends on. */
  async analyze(symptom: string | readonly string[], t: number): Promise<RcaResult> {
    const input = await loadSnapshot(this.telemetry, this.topology, symptom, t, { ...(this.options.stepMs ? { stepMs: this.options.stepMs } : {}) }, this.apiSequences, (from, to) => this.securityEvents(from, to));
    const causes = rankCauses(input, 20);
    const implementsOf = new Map<string, string>();
    for (const e of input.edges) if (e.type === 'IMPLEMENTS') implementsOf.set(e.from, e.to);
    const services = new Map<string, { service: string; score: number; kind: string }>();
    for (const c of causes) {
      const svc = c.entity.startsWith('service:') || c.entity.startsWith('external:') ? c.entity : implementsOf.get(c.entity);
      if (!svc) continue;
      const prev = services.get(svc);
      if (!prev || prev.score < c.score) services.set(svc, { service: svc, score: c.score, kind: c.kind });
    }
    return { symptom: input.symptom, t, causes, services: [...services.values()].sort((a, b) => b.score - a.score || a.service.localeCompare(b.service)) };
  }

  /** The security watch's alerts that started in [from, to], as evidence on the entity each rule fired on. */
  private securityEvents(from: number, to: number): SecurityEvent[] {
    const out: SecurityEvent[] = [];
    for (const a of this.alerts?.engine.alerts.values() ?? []) {
      const l = a.labels;
      // By source, not by label: anyone may post an alert labelled like the watch's, only the watch raises these.
      if (a.source !== SECURITY_DETECTOR || a.startsAt < from || a.startsAt > to) continue;
      const entity = l[SECURITY_LABELS.entity];
      if (!entity) continue;
      const host = l[SECURITY_LABELS.host];
      out.push({ entity, t: a.startsAt, rule: l.alertname ?? 'security rule', severity: l.severity ?? 'info', ...(host ? { on: [ids.host(host), ids.node(host)] } : {}) });
    }
    return out.sort((x, y) => x.t - y.t || x.entity.localeCompare(y.entity));
  }

  /** The entity an incident's RCA starts from: a service if it has one, else its first entity. */
  static symptomOf(inc: Incident): string | undefined {
    return inc.entities.find((e) => e.startsWith('service:')) ?? inc.entities[0];
  }

  /** Every entity the incident's alerts name, the first symptom first. */
  static symptomsOf(inc: Incident): string[] {
    const first = RcaService.symptomOf(inc);
    return first ? [first, ...inc.entities.filter((e) => e !== first)] : [];
  }

  /**
   * RCA for an incident: from its start (of its latest episode, when it was reopened), with every entity its alerts name as a symptom. Given a time `at`
   * (a long incident, asked about one moment), it runs at that time with the entities of the alerts that
   * started from {@link SYMPTOM_WINDOW_MS} before it to {@link SYMPTOM_AFTER_MS} after (all of them when none
   * did). Only the default run is kept.
   */
  async forIncident(inc: Incident, at?: number): Promise<RcaResult | undefined> {
    if (at === undefined) {
      const cached = this.byIncident.get(inc.id);
      if (cached && cached.incidentVersion === inc.version) return cached;
    }
    let symptoms = RcaService.symptomsOf(inc);
    if (at !== undefined && this.alerts) {
      const near = this.alerts.engine.alertsOf(inc).filter((a) => a.startsAt >= at - SYMPTOM_WINDOW_MS && a.startsAt <= at + SYMPTOM_AFTER_MS).sort((a, b) => a.startsAt - b.startsAt);
      const entities = [...new Set(near.flatMap((a) => a.entities))];
      if (entities.length > 0) symptoms = entities;
    }
    if (symptoms.length === 0) return undefined;
    const r = { ...(await this.analyze(symptoms, at ?? inc.reopenedAt ?? inc.createdAt)), incidentId: inc.id, incidentVersion: inc.version };
    if (at !== undefined) return r;
    this.byIncident.set(inc.id, r);
    if (this.byIncident.size > 10_000) this.byIncident.delete(this.byIncident.keys().next().value!);
    return r;
  }

  cached(incidentId: string): RcaResult | undefined {
    return this.byIncident.get(incidentId);
  }

  /** Queue entry point: RCA for an incident version, if it still exists. */
  async run(tenant: string, incidentId: string): Promise<void> {
    const inc = this.alerts?.engine.incidents.get(incidentId);
    if (!inc || inc.tenant !== tenant || inc.mergedInto) return;
    const r = await this.forIncident(inc);
    this.log.debug({ incident: incidentId, top: r?.causes[0]?.entity }, 'rca done');
  }
}
