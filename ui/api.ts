/**
 * The API client: same origin, bearer token from auth.ts, JSON in and out. A 401 tells the shell (main.ts) to
 * ask for a token; other failures carry the server's message so the page can say what went wrong.
 */
import { token } from './auth.ts';
import type { ChangeRecord, EdgeRecord, EntityRecord } from '../services/topology/model.ts';

export type { ChangeRecord, EdgeRecord, EntityRecord };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Snapshot {
  entities: EntityRecord[];
  edges: EdgeRecord[];
  at?: number;
}
export interface TopologyDiff {
  from: number;
  to: number;
  added: Snapshot;
  removed: Snapshot;
  changed: { entity: EntityRecord; changes: ChangeRecord[] }[];
}
export interface EntityDetail {
  entity: EntityRecord;
  edges: EdgeRecord[];
  stack: Snapshot;
  changes: ChangeRecord[];
}
export interface EdgeMinute {
  minute: string;
  calls: number;
  errors: number;
  latency_p50_ms: number;
  latency_p90_ms: number;
  latency_p99_ms: number;
}
export interface IncidentSummary {
  id: string;
  status: string;
  title: string;
  severity: string;
  createdAt: number;
  updatedAt: number;
  resolvedAt?: number;
  alertCount: number;
  entities: string[];
}
export interface Alert {
  fingerprint: string;
  status: string;
  source: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: number;
  endsAt?: number;
  entities: string[];
}
export interface Evidence {
  signal: string;
  indicator: string;
  baseline: number;
  observed: number;
  z: number;
  onset?: number;
}
export interface Cause {
  entity: string;
  kind: string;
  confidence: number;
  score: number;
  evidence: Evidence[];
  /** From the symptom to the cause. */
  path: string[];
  hint: string;
}
export interface IncidentDetail extends IncidentSummary {
  alerts: Alert[];
  timeline: { t: number; event: string; detail?: string }[];
  rootCauses: Cause[] | null;
}
export interface RcaResult {
  symptom: string;
  t: number;
  causes: Cause[];
  /** The causes rolled up to their services (a process or pod counts for the service it implements), best first. */
  services: { service: string; score: number; kind: string }[];
}
export interface ReportSummary {
  id: string;
  period: { from: number; to: number };
  createdAt: number;
  trigger: string;
  predictedBreaches: number;
  driftingEntities?: number;
  anomalousSequences?: number;
}

/** Fired on window when the API refuses the token (or wants one). */
export const UNAUTHORIZED = 'rootline:unauthorized';

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token();
  if (t) headers.set('authorization', `Bearer ${t}`);
  const res = await fetch(path, { ...init, headers });
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { message?: string };
    if (body.message) message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: message }));
  if (res.status === 404 && message.startsWith('Route ')) message = `${path.split('?')[0]} is not served here (is its role running on this instance?)`;
  throw new ApiError(res.status, message);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request(path, signal ? { signal } : {})).json() as Promise<T>;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  return (await request(path, signal ? { signal } : {})).text();
}

/** `?a=1&b=2` from the defined values. */
export function qs(params: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
