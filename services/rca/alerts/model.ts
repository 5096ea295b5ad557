/** Alert, incident and silence records, and the engine's settings. */

export type AlertStatus = 'firing' | 'resolved';

export interface AlertState {
  tenant: string;
  fingerprint: string;
  source: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: AlertStatus;
  startsAt: number;
  endsAt?: number;
  generatorURL?: string;
  /** Received times. */
  firstSeen: number;
  lastSeen: number;
  /** Times of status changes, newest last, for flapping detection. */
  transitions: number[];
  flapping: boolean;
  silencedBy?: string;
  incidentId?: string;
  entities: string[];
}

export interface TimelineEntry {
  t: number;
  event: string;
  detail?: string;
}

export interface Incident {
  id: string;
  tenant: string;
  status: 'open' | 'acknowledged' | 'resolved';
  title: string;
  severity: string;
  createdAt: number;
  updatedAt: number;
  resolvedAt?: number;
  /** When its latest episode began, if an alert firing again reopened it after it was resolved. */
  reopenedAt?: number;
  alerts: string[];
  entities: string[];
  timeline: TimelineEntry[];
  /** Bumped on every change; RCA jobs are keyed by it. */
  version: number;
  mergedInto?: string;
}

export interface Matcher {
  name: string;
  value: string;
  isRegex?: boolean;
  isEqual?: boolean;
}

export interface Silence {
  id: string;
  tenant: string;
  matchers: Matcher[];
  /** Silence everything at or below this topology entity (its vertical subtree). */
  entity?: string;
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

export interface EngineSettings {
  /** Alerts join an incident whose last activity is this recent. */
  windowMs: number;
  /** Incidents older than this take no new alerts (a new incident starts). */
  maxIncidentAgeMs: number;
  /** Topology distance (hops, any direction) within which alerts are related. */
  hops: number;
  /** An incident is shown once it holds this many alerts. */
  minAlerts: number;
  flapWindowMs: number;
  flapThreshold: number;
  /** A flapping alert's resolve takes effect only after this long without a change. */
  holdDownMs: number;
  /** Labels that make the fingerprint when the sender gives none; all labels when empty. */
  dedupLabels: string[];
}

export const DEFAULT_SETTINGS: EngineSettings = {
  windowMs: 10 * 60_000,
  maxIncidentAgeMs: 4 * 3600_000,
  hops: 3,
  minAlerts: 1,
  flapWindowMs: 10 * 60_000,
  flapThreshold: 4,
  holdDownMs: 5 * 60_000,
  dedupLabels: [],
};

/** What changed for one alert when a notification was applied (the audit trail). */
export interface AlertChange {
  t: number;
  tenant: string;
  fingerprint: string;
  change: 'new' | 'firing' | 'resolved' | 'flapping' | 'silenced' | 'grouped';
  incidentId?: string;
  detail?: string;
}
