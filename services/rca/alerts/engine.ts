/**
 * Alert deduplication and topology-aware correlation into incidents. State is in memory and rebuilt from the
 * journal on start (journal.ts); the engine itself is deterministic: the same notifications in the same
 * order give the same alerts and incidents.
 *
 * - Identity: the sender's fingerprint or dedup_key, else the Alertmanager fingerprint of the labels.
 * - Idempotent: a notification that repeats the current state (at-least-once delivery, retries, HA pairs,
 *   group re-sends) changes nothing.
 * - Flapping: a status that changed `flapThreshold` times within `flapWindowMs` marks the alert flapping;
 *   its resolves are held down until it has been quiet for `holdDownMs` (see `tick`). An alert firing again
 *   within the window reopens its resolved incident instead of opening another.
 * - Silences: by label matchers, or by a topology subtree (an entity and everything that runs on it).
 * - Correlation: a firing alert joins an open incident that is recent (window) and young (max age) when one
 *   of its entities is within `hops` of one of the incident's entities along dependency paths in the
 *   topology as of the alert's start; if it reaches several incidents they merge into the oldest. Alerts with no related incident
 *   start one.
 */
import { fingerprint } from './fingerprint.ts';
import type { IncomingAlert } from './formats.ts';
import type { Correlator } from './correlate.ts';
import type { AlertChange, AlertState, EngineSettings, Incident, Matcher, Silence } from './model.ts';

const SEVERITY_ORDER = ['critical', 'error', 'high', 'warning', 'medium', 'info', 'low', 'none'];

export interface ApplyResult {
  changes: AlertChange[];
  /** Incidents created or changed, for RCA. */
  touched: Incident[];
}

export function matches(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
  return (m.isEqual ?? true) ? hit : !hit;
}

export class AlertEngine {
  readonly alerts = new Map<string, AlertState>();
  readonly incidents = new Map<string, Incident>();
  readonly silences = new Map<string, Silence>();
  private seq = 0;

  constructor(
    private readonly settings: EngineSettings,
    private readonly correlator: Correlator,
  ) {}

  private key(tenant: string, fp: string): string {
    return `${tenant}\u0000${fp}`;
  }

  fingerprintOf(a: IncomingAlert): string {
    return a.upstreamKey ?? fingerprint(a.labels, this.settings.dedupLabels.length > 0 ? this.settings.dedupLabels : undefined);
  }

  /** Applies one notification's alerts, received at `now`. */
  async apply(tenant: string, incoming: IncomingAlert[], now: number): Promise<ApplyResult> {
    const changes: AlertChange[] = [];
    const touched = new Map<string, Incident>();
    for (const a of incoming) {
      const fp = this.fingerprintOf(a);
      const k = this.key(tenant, fp);
      let s = this.alerts.get(k);
      if (!s) {
        s = {
          tenant, fingerprint: fp, source: a.source, labels: a.labels, annotations: a.annotations, status: a.status,
          startsAt: a.startsAt, endsAt: a.endsAt, generatorURL: a.generatorURL, firstSeen: now, lastSeen: now,
          transitions: [now], flapping: false, entities: await this.correlator.entitiesFor(a.labels, a.startsAt),
        };
        this.alerts.set(k, s);
        changes.push({ t: now, tenant, fingerprint: fp, change: 'new', detail: a.status });
        if (a.status === 'firing') await this.place(s, now, changes, touched);
        continue;
      }
      s.lastSeen = now;
      if (a.status === s.status) {
        // A repeat: keep annotations and the promised end fresh, change nothing else — unless its silence has
        // ended since, when the still-firing alert now belongs in an incident.
        s.annotations = a.annotations;
        s.endsAt = a.endsAt;
        if (s.status === 'firing' && s.silencedBy && !this.silenceActive(s.silencedBy, now)) {
          s.silencedBy = undefined;
          await this.place(s, now, changes, touched);
        }
        continue;
      }
      // A real transition.
      s.status = a.status;
      s.startsAt = a.status === 'firing' ? a.startsAt : s.startsAt;
      s.endsAt = a.endsAt;
      s.transitions.push(now);
      s.transitions = s.transitions.filter((t) => t >= now - this.settings.flapWindowMs).slice(-32);
      const wasFlapping = s.flapping;
      s.flapping = s.transitions.length >= this.settings.flapThreshold;
      if (s.flapping && !wasFlapping) changes.push({ t: now, tenant, fingerprint: fp, change: 'flapping', incidentId: s.incidentId });
      changes.push({ t: now, tenant, fingerprint: fp, change: a.status, incidentId: s.incidentId });
      if (a.status === 'firing') {
        const inc = s.incidentId ? this.incidents.get(s.incidentId) : undefined;
        const recent = inc && !inc.mergedInto && (inc.status !== 'resolved' || now - (inc.resolvedAt ?? 0) <= this.settings.windowMs);
        if (inc && recent) {
          // The same problem again soon after: reopen rather than page anew.
          if (inc.status === 'resolved') {
            // The new episode began after the incident was resolved, whatever start the sender repeats (a
            // monitor re-sending an episode it had ended keeps that episode's start).
            inc.reopenedAt = Math.max(s.startsAt, inc.resolvedAt ?? -Infinity);
            inc.status = 'open';
            inc.resolvedAt = undefined;
            this.note(inc, now, 'reopened', s.labels.alertname);
          } else this.note(inc, now, 'alert firing again', s.labels.alertname);
          touched.set(inc.id, inc);
        } else {
          s.incidentId = undefined;
          await this.place(s, now, changes, touched);
        }
      } else {
        const inc = s.incidentId ? this.incidents.get(s.incidentId) : undefined;
        if (inc) {
          this.note(inc, now, 'alert resolved', s.labels.alertname);
          this.maybeResolve(inc, now);
          touched.set(inc.id, inc);
        }
      }
    }
    return { changes, touched: [...touched.values()] };
  }

  /** Silences, correlation, and incident membership for a firing alert. */
  private async place(s: AlertState, now: number, changes: AlertChange[], touched: Map<string, Incident>): Promise<void> {
    const silence = await this.silencing(s, now);
    s.silencedBy = silence?.id;
    if (silence) {
      changes.push({ t: now, tenant: s.tenant, fingerprint: s.fingerprint, change: 'silenced', detail: silence.id });
      return;
    }
    const related: Incident[] = [];
    const near = new Set<string>();
    for (const e of s.entities) for (const n of await this.correlator.around(e, s.startsAt, this.settings.hops)) near.add(n);
    for (const inc of this.incidents.values()) {
      if (inc.tenant !== s.tenant || inc.status === 'resolved' || inc.mergedInto) continue;
      if (inc.updatedAt < s.startsAt - this.settings.windowMs || inc.createdAt < s.startsAt - this.settings.maxIncidentAgeMs) continue;
      const byTopology = inc.entities.some((e) => near.has(e));
      // No topology to go by: the same alert name on the same entities is still one problem.
      const byLabels = s.entities.length === 0 && inc.alerts.some((fp) => this.alerts.get(this.key(s.tenant, fp))?.labels.alertname === s.labels.alertname);
      if (byTopology || byLabels) related.push(inc);
    }
    let target: Incident;
    if (related.length === 0) {
      target = {
        id: `inc-${(++this.seq).toString(36).padStart(6, '0')}-${s.fingerprint.slice(0, 8)}`,
        tenant: s.tenant, status: 'open', title: s.annotations.summary || s.labels.alertname || 'alert',
        severity: s.labels.severity ?? 'none', createdAt: s.startsAt, updatedAt: now, alerts: [], entities: [],
        timeline: [{ t: now, event: 'opened', detail: s.labels.alertname }], version: 0,
      };
      this.incidents.set(target.id, target);
    } else {
      related.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
      target = related[0]!;
      for (const other of related.slice(1)) this.merge(other, target, now, touched);
    }
    target.alerts.push(s.fingerprint);
    for (const e of s.entities) if (!target.entities.includes(e)) target.entities.push(e);
    if (SEVERITY_ORDER.indexOf(s.labels.severity ?? 'none') < SEVERITY_ORDER.indexOf(target.severity)) target.severity = s.labels.severity!;
    s.incidentId = target.id;
    this.note(target, now, 'alert added', s.labels.alertname);
    changes.push({ t: now, tenant: s.tenant, fingerprint: s.fingerprint, change: 'grouped', incidentId: target.id });
    touched.set(target.id, target);
  }

  private merge(from: Incident, into: Incident, now: number, touched: Map<string, Incident>): void {
    for (const fp of from.alerts) {
      into.alerts.push(fp);
      const a = this.alerts.get(this.key(from.tenant, fp));
      if (a) a.incidentId = into.id;
    }
    for (const e of from.entities) if (!into.entities.includes(e)) into.entities.push(e);
    into.createdAt = Math.min(into.createdAt, from.createdAt);
    from.alerts = [];
    from.mergedInto = into.id;
    from.status = 'resolved';
    from.resolvedAt = now;
    this.note(from, now, 'merged', into.id);
    this.note(into, now, 'merged in', from.id);
    touched.set(from.id, from);
  }

  private note(inc: Incident, t: number, event: string, detail?: string): void {
    inc.timeline.push({ t, event, ...(detail ? { detail } : {}) });
    if (inc.timeline.length > 500) inc.timeline.splice(1, inc.timeline.length - 500);
    inc.updatedAt = Math.max(inc.updatedAt, t);
    inc.version++;
  }

  /** Resolves an incident once every alert in it is resolved and none is held down by flapping. */
  private maybeResolve(inc: Incident, now: number): void {
    if (inc.status === 'resolved') return;
    const open = inc.alerts.some((fp) => {
      const a = this.alerts.get(this.key(inc.tenant, fp));
      if (!a) return false;
      if (a.status === 'firing') return true;
      return a.flapping && now - a.transitions[a.transitions.length - 1]! < this.settings.holdDownMs;
    });
    if (!open) {
      inc.status = 'resolved';
      inc.resolvedAt = now;
      this.note(inc, now, 'resolved', 'all alerts resolved');
    }
  }

  /** Finishes held-down resolves whose quiet time has passed; returns incidents that changed. */
  tick(now: number): Incident[] {
    const changed: Incident[] = [];
    for (const inc of this.incidents.values()) {
      if (inc.status === 'resolved') continue;
      const before = inc.status;
      this.maybeResolve(inc, now);
      if (inc.status !== before) changed.push(inc);
    }
    return changed;
  }

  private silenceActive(id: string, now: number): boolean {
    const sil = this.silences.get(id);
    return !!sil && now >= sil.startsAt && now < sil.endsAt;
  }

  private async silencing(s: AlertState, now: number): Promise<Silence | undefined> {
    for (const sil of this.silences.values()) {
      if (sil.tenant !== s.tenant || now < sil.startsAt || now >= sil.endsAt) continue;
      if (sil.matchers.length > 0 && !sil.matchers.every((m) => matches(m, s.labels))) continue;
      if (sil.entity) {
        const subtree = await this.correlator.below(sil.entity, s.startsAt);
        if (!s.entities.some((e) => subtree.has(e))) continue;
      }
      return sil;
    }
    return undefined;
  }

  acknowledge(tenant: string, id: string, by: string, now: number): Incident | undefined {
    const inc = this.incidents.get(id);
    if (!inc || inc.tenant !== tenant) return undefined;
    if (inc.status === 'open') {
      inc.status = 'acknowledged';
      this.note(inc, now, 'acknowledged', by);
    }
    return inc;
  }

  resolve(tenant: string, id: string, by: string, now: number): Incident | undefined {
    const inc = this.incidents.get(id);
    if (!inc || inc.tenant !== tenant) return undefined;
    if (inc.status !== 'resolved') {
      inc.status = 'resolved';
      inc.resolvedAt = now;
      this.note(inc, now, 'resolved', by);
    }
    return inc;
  }

  putSilence(s: Silence): void {
    this.silences.set(s.id, s);
  }

  deleteSilence(tenant: string, id: string): boolean {
    const s = this.silences.get(id);
    if (!s || s.tenant !== tenant) return false;
    return this.silences.delete(id);
  }

  /** Incidents visible to users: not merged away, with at least `minAlerts` alerts. */
  visibleIncidents(tenant: string): Incident[] {
    return [...this.incidents.values()].filter((i) => i.tenant === tenant && !i.mergedInto && i.alerts.length >= this.settings.minAlerts);
  }

  alertsOf(inc: Incident): AlertState[] {
    return inc.alerts.map((fp) => this.alerts.get(this.key(inc.tenant, fp))).filter((a): a is AlertState => !!a);
  }
}
