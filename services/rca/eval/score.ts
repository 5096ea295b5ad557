/**
 * Scoring of the RCA evaluation. The fault label is used here and only here: a labelled case is matched to
 * the monitoring's first detection within [inject − 60 s, inject + 180 s]; Rootline's RCA is asked about
 * that detection (the entry service and the detection time, nothing from the label); the ranked services are
 * compared with the label's root-cause service. Undetected cases count as misses.
 */
import type { Detection, MinutePoint } from './detect.ts';
import { mad, median } from './detect.ts';
import { serviceOfPod } from './nezha.ts';

/** The label fields scoring needs (a {@link import('./nezha.ts').NezhaCase} fits). */
export interface LabelledCase {
  id: string;
  injectTime: number;
  rootService: string;
  faultType: string;
}

export interface MatchWindow {
  beforeMs: number;
  afterMs: number;
}

export const MATCH_WINDOW: MatchWindow = { beforeMs: 60_000, afterMs: 180_000 };

/** Each case's first detection (any entry service) with `t` in [inject − beforeMs, inject + afterMs], if any. */
export function matchDetections<C extends LabelledCase>(cases: readonly C[], detections: readonly Detection[], window: MatchWindow = MATCH_WINDOW): Map<string, Detection | undefined> {
  const sorted = [...detections].sort((a, b) => a.t - b.t || a.service.localeCompare(b.service));
  const out = new Map<string, Detection | undefined>();
  for (const c of cases) out.set(c.id, sorted.find((d) => d.t >= c.injectTime - window.beforeMs && d.t <= c.injectTime + window.afterMs));
  return out;
}

/** A ranked entity id to a service name: `service:<ns>/<name>` or `service:<name>` → name; a pod id → its service. */
export function serviceName(id: string): string | undefined {
  if (id.startsWith('service:')) {
    const rest = id.slice('service:'.length);
    return rest.slice(rest.indexOf('/') + 1);
  }
  if (id.startsWith('pod:')) {
    const rest = id.slice('pod:'.length);
    return serviceOfPod(rest.slice(rest.indexOf('/') + 1));
  }
  return undefined;
}

/** The 1-based rank of `root` in a ranking of service ids (duplicates after mapping count once); undefined if absent. */
export function rankOf(ranked: readonly string[], root: string): number | undefined {
  const seen: string[] = [];
  for (const id of ranked) {
    const s = serviceName(id) ?? id;
    if (!seen.includes(s)) seen.push(s);
    if (s === root) return seen.length;
  }
  return undefined;
}

/** The outcome of one labelled case. */
export interface CaseResult {
  id: string;
  faultType: string;
  rootService: string;
  detected: boolean;
  /** Detection time − inject time (ms), when detected. */
  detectionOffsetMs?: number;
  detectionSignal?: string;
  /** 1-based rank of the root-cause service, when it was ranked at all. */
  rank?: number;
  /** Top of the ranking, service names. */
  top: string[];
  /** Whether spans (logs) of the system exist inside [inject, inject + 180 s]. */
  traces: boolean;
  logs: boolean;
  /** Where the ranking came from. */
  source: 'rootline' | 'baseline' | 'none';
}

export interface Accuracy {
  cases: number;
  detected: number;
  top1: number;
  top3: number;
  top5: number;
}

export interface Summary extends Accuracy {
  by_type: Record<string, Accuracy>;
  by_data: Record<string, Accuracy>;
  /** By the case's day (the data sets' split: tune on one day, hold the other out). */
  by_day: Record<string, Accuracy>;
}

const ratio = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 10_000) / 10_000);

/** Top-k accuracy (0–1) over results; an undetected or unranked case is a miss at every k. */
export function accuracy(results: readonly CaseResult[]): Accuracy {
  const within = (k: number) => results.filter((r) => r.detected && r.rank !== undefined && r.rank <= k).length;
  return {
    cases: results.length,
    detected: results.filter((r) => r.detected).length,
    top1: ratio(within(1), results.length),
    top3: ratio(within(3), results.length),
    top5: ratio(within(5), results.length),
  };
}

function groupBy(results: readonly CaseResult[], key: (r: CaseResult) => string): Record<string, Accuracy> {
  const groups = new Map<string, CaseResult[]>();
  for (const r of results) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return Object.fromEntries([...groups].sort((a, b) => a[0].localeCompare(b[0])).map(([k, rs]) => [k, accuracy(rs)]));
}

/** Overall, by fault type, and by the data present in the fault window. */
export function summarize(results: readonly CaseResult[]): Summary {
  return {
    ...accuracy(results),
    by_type: groupBy(results, (r) => r.faultType),
    by_data: groupBy(results, (r) => `${r.traces ? 'traces' : 'no_traces'}${r.logs ? '+logs' : ''}`),
    by_day: groupBy(results, (r) => r.id.slice(0, 10)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Asking Rootline

export interface RcaAnswer {
  /** False when the service has no RCA endpoint (404 for the route). */
  available: boolean;
  /** Ranked service ids (`service:<name>`), best first. */
  services: string[];
  causes: { entity: string; kind?: string; score?: number; evidence?: { signal: string; z: number; indicator: string }[] }[];
}

/**
 * POST /api/v1/rca for an entity at a time, or for an incident (its alerts' entities, from its start); the
 * ranked services (from `services`, else mapped from `causes`).
 */
export async function askRca(url: string, token: string, about: string | { entity: string } | { incident: string }, t: number): Promise<RcaAnswer> {
  const target = typeof about === 'string' ? { entity: about } : about;
  const res = await fetch(`${url}/api/v1/rca`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...target, time: String(t) }),
  });
  const text = await res.text();
  if (res.status === 404 && /route .* not found/i.test(text)) return { available: false, services: [], causes: [] };
  if (res.status === 404) return { available: true, services: [], causes: [] };
  if (!res.ok) throw new Error(`POST /api/v1/rca ${JSON.stringify(target)} at ${t}: ${res.status} ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { causes?: RcaAnswer['causes']; services?: ({ service: string; score?: number } | string)[] };
  const causes = body.causes ?? [];
  let services = (body.services ?? []).map((s) => (typeof s === 'string' ? s : s.service));
  if (services.length === 0) services = causes.map((c) => c.entity).filter((e) => serviceName(e) !== undefined);
  return { available: true, services, causes };
}

// ---------------------------------------------------------------------------------------------------------
// A naive ranking, only so the harness can run end to end without Rootline's RCA

/**
 * NOT Rootline's RCA: ranks services by how far their own signals (server-span p90, CPU, server latency
 * gauge) rise in [t, t + 3 min] above [t − 20 min, t − 1 min], as robust z-scores (max over signals). It
 * exists so the harness is testable before POST /api/v1/rca lands; results from it are reported as such.
 */
export function baselineRanking(series: ReadonlyMap<string, ReadonlyMap<string, readonly MinutePoint[]>>, t: number): string[] {
  const scores: [string, number][] = [];
  for (const [service, signals] of series) {
    let best = -Infinity;
    for (const points of signals.values()) {
      const base = points.filter((p) => p.t >= t - 20 * 60_000 && p.t < t - 60_000).map((p) => p.value);
      const obs = points.filter((p) => p.t >= t && p.t <= t + 3 * 60_000).map((p) => p.value);
      if (base.length < 3 || obs.length === 0) continue;
      const m = median(base);
      const scale = Math.max(mad(base), Math.abs(m) * 0.05, 1e-9);
      best = Math.max(best, (Math.max(...obs) - m) / scale);
    }
    if (best > -Infinity) scores.push([service, best]);
  }
  return scores.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([s]) => `service:${s}`);
}
