/**
 * Inputs and outputs of the fault-tree RCA engine. The engine is pure: a snapshot (the topology as of the
 * incident, each candidate's signals with their own baselines, recent changes and security events) goes in,
 * ranked causes with evidence and propagation paths come out. Loading the snapshot is someone else's job.
 */

export const FAULT_KINDS = ['cpu_saturation', 'memory', 'network_delay', 'latency', 'errors', 'dependency_down', 'recent_change', 'security_event', 'api_sequence'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One signal of one entity: a baseline window and an observed window on the same step. */
export interface SignalSeries {
  entity: string;
  /** e.g. `cpu.usage`, `memory.working_set`, `span.self_time.p90`, `span.errors`, `log.error_templates`, `tcp.retransmits`. */
  signal: string;
  /** The fault this signal speaks for when it is anomalous. */
  kind: FaultKind;
  baseline: number[];
  observed: number[];
  /** Time of observed[0] (ms) and the step between points (ms). */
  observedStart: number;
  step: number;
  /**
   * Inclusive signals (a caller's end-to-end latency, its error rate) also grow when a dependency is at
   * fault; exclusive ones (self time, CPU, the entity's own log errors) point at the entity itself.
   */
  inclusive?: boolean;
  /**
   * The least spread a deviation is measured in, in the signal's unit: for a difference of two quantities
   * (network time = what the caller waits − what the callee takes), a share of their size, since the
   * difference itself can sit at exactly 0 for a whole baseline.
   */
  scaleFloor?: number;
  /** What the evidence shows, for people (e.g. the new error log template); else exclusive/inclusive. */
  detail?: string;
  /** Which way is bad: `up` (default) or `down` (a drop, e.g. the calls a service makes per request). */
  direction?: 'up' | 'down';
}

export interface RecentChange {
  entity: string;
  t: number;
  attr: string;
  before: string;
  after: string;
}

export interface SecurityEvent {
  entity: string;
  t: number;
  rule: string;
  /** The machine entities (host:, node:) it runs on: a flagged workload there competes with what runs beside it. */
  on?: string[];
  /** The alert's severity; only `critical` and `error` (or none given) can be a root cause. */
  severity?: string;
}

/** Notices (a new listening port, a baseline deviation) say something changed, not that it is hostile: only
 * critical and error rules (or events without a severity) can make a cause. */
export const isHostile = (e: SecurityEvent): boolean => e.severity === undefined || e.severity === 'critical' || e.severity === 'error';

/** Where RCA reads security events from (the security watch's alerts, through the alert service). */
export type SecuritySource = (from: number, to: number) => SecurityEvent[];

/** A trace whose API call sequence the prediction model found anomalous (a `sequence_anomaly` event). */
export interface ApiSequenceEvent {
  entity: string;
  /** Start of the trace (ms). */
  t: number;
  traceId: string;
  unexpected: string;
  previous: string;
  /** Largest surprisal of the trace (Infinity for a call never seen in training) and the model's threshold. */
  score: number;
  threshold: number;
}

/** Where RCA reads sequence anomalies from (the predict role's public entry, when it runs alongside). */
export type ApiSequenceSource = (from: number, to: number) => ApiSequenceEvent[] | Promise<ApiSequenceEvent[]>;

export interface RcaEdge {
  from: string;
  to: string;
  /** CALLS/CONNECTS (horizontal: from depends on to) or a vertical type (from hosts to). */
  type: string;
}

export interface RcaInput {
  /** The entity where the incident shows (an alert's entity, usually an entry service). */
  symptom: string;
  /** Further entities of the same incident: candidates are what any symptom depends on. */
  symptoms?: string[];
  /** When the incident began (ms). */
  t: number;
  entities: string[];
  edges: RcaEdge[];
  signals: SignalSeries[];
  changes?: RecentChange[];
  security?: SecurityEvent[];
  apiSequences?: ApiSequenceEvent[];
  /** Start of the observed window (ms): API-flow anomalies before it are an earlier episode's. Default: the change window. */
  observedFrom?: number;
  /** How far before `t` a change counts as recent (ms); default 30 min. */
  changeWindowMs?: number;
}

export interface Evidence {
  signal: string;
  indicator: string;
  baseline: number;
  observed: number;
  /** Robust z-score of the observed window against the baseline. */
  z: number;
  onset?: number;
}

export interface Cause {
  entity: string;
  kind: FaultKind;
  /** 0–1, the share of the total cause score. */
  confidence: number;
  score: number;
  evidence: Evidence[];
  /** From the symptom down to the cause, along dependencies. */
  path: string[];
  hint: string;
}
