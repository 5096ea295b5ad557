/**
 * Turns the rows the snapshot reads into the engine's step-aligned signal series (a minute by default; the
 * `minute` of a row is the start of its step): what each metric means,
 * self time and network time from spans, network time from service-graph metrics, error logs and connection
 * failures, each with its baseline and observed window.
 */
import { ids } from '../../topology/model.ts';
import type { FaultKind, SignalSeries } from './model.ts';
import { median } from './stats.ts';
import { Drain } from '../logs/drain.ts';

/** A difference (self time, network gap) is measured in at least this share of the whole it is cut from. */
const DIFF_FLOOR_SHARE = 0.1;
/** Baseline minutes a series needs before the short fallback baseline is used. */
const MIN_BASELINE = 3;

export interface Row {
  entity: string;
  signal: string;
  minute: number;
  value: number;
}

/** Metric name → what an increase means. Names follow OpenTelemetry conventions; unknown names are skipped. */
export function metricKind(name: string): { kind: FaultKind; inclusive: boolean } | undefined {
  if (/(^|\.)cpu(\.|_)/.test(name) && !/limit|request/.test(name)) return { kind: 'cpu_saturation', inclusive: false };
  if (/(^|\.)memory(\.|_)/.test(name) && !/limit|request/.test(name)) return { kind: 'memory', inclusive: false };
  if (/latency|duration/.test(name)) return { kind: 'latency', inclusive: true };
  if (/retransmit/.test(name)) return { kind: 'network_delay', inclusive: false };
  return undefined;
}

export interface SignalRows {
  /** Service name → candidate id (`service:[ns/]name`), for rows that carry a bare name. */
  serviceIds?: Map<string, string>;
  metricRows: Row[];
  /** ERROR-or-worse log records of candidates over both windows, oldest first. */
  errorLogs?: { entity: string; t: number; body: string }[];
  /**
   * `callee`: the id of the service a client span's children run in ('' for other spans); with `by_peer`, the
   * service its peer address names, which sends no spans (its own rows come from the eBPF collector).
   * `source`: where a row comes from when not from spans (`ebpf`: the collector's server-side HTTP).
   */
  spanRows: { entity: string; callee: string; by_peer?: number; source?: 'ebpf'; minute: number; self_p90: number; p90: number; errors: number; spans: number; fanout: number }[];
  edgeRows: { client: string; server: string; side: string; minute: number; value: number }[];
  logRows: Row[];
  /**
   * Per callee and step, the share (0–1) of calls to it that were their caller's last outgoing call in the
   * trace (`span.caller_stops_after`): callers abandon a request after a callee fails them.
   */
  stopRows?: Row[];
  connRows: Row[];
}

/** Baseline [baseFrom, baseTo) and observed [obsFrom, obsTo) windows around the incident time t (ms). */
export interface SignalWindows {
  t: number;
  /** Length of one point of the series (ms): the rows' buckets; a minute unless the operator chose finer. */
  step?: number;
  baseFrom: number;
  baseTo: number;
  obsFrom: number;
  obsTo: number;
}

export function buildSignals({ serviceIds = new Map(), metricRows, spanRows, edgeRows, logRows, stopRows = [], connRows, errorLogs = [] }: SignalRows, { t, baseFrom, baseTo, obsFrom, obsTo, step = 60_000 }: SignalWindows): SignalSeries[] {
  const rows: (Row & { kind: FaultKind; inclusive: boolean; direction?: 'up' | 'down' })[] = [];
  const floors = new Map<string, number>();
  const sizes = new Map<string, Map<number, number>>();
  const sizeOf = (entity: string, signal: string, minute: number, size: number) => {
    const key = `${entity}\u0000${signal}`;
    let m = sizes.get(key);
    if (!m) sizes.set(key, (m = new Map()));
    if (Number.isFinite(size)) m.set(minute, size);
  };
  for (const r of metricRows) {
    const k = metricKind(r.signal);
    if (k) rows.push({ ...r, ...k });
  }
  // Time on the network into a service, per minute: what its callers wait beyond what it takes itself. A
  // slow network at the service slows every edge into it, so the service's series is the minimum over its
  // callers (a caller whose own link is slow shows alone and does not blame the callee).
  // Each minute keeps the caller edge with the least gap, and that edge's size (what the caller waits).
  const gaps = new Map<string, Map<number, { gap: number; size: number }>>();
  const gap = (entity: string, signal: string, minute: number, value: number, size: number) => {
    if (!Number.isFinite(value)) return;
    const key = `${entity}\u0000${signal}`;
    let m = gaps.get(key);
    if (!m) gaps.set(key, (m = new Map()));
    if (value < (m.get(minute)?.gap ?? Infinity)) m.set(minute, { gap: value, size });
  };
  // A callee known only by its peer address has no server span under the client span to subtract: the time
  // on the network is what the caller waits less what the callee takes (both p90s of the step, as for
  // service-graph edges); a step the callee has no data for says nothing.
  const own = new Map<string, number>();
  for (const r of spanRows) if (!r.callee) own.set(`${r.entity}\u0000${Number(r.minute)}`, Number(r.p90));
  for (const r of spanRows) {
    const m = Number(r.minute);
    if (r.callee && Number(r.by_peer)) {
      const callee = own.get(`${r.callee}\u0000${m}`);
      if (callee !== undefined) gap(r.callee, 'span.network_gap.p90', m, Number(r.p90) - callee, Number(r.p90));
      continue;
    }
    if (r.callee) {
      gap(r.callee, 'span.network_gap.p90', m, r.self_p90, r.p90);
      continue;
    }
    rows.push({ entity: r.entity, signal: 'span.self_time.p90', minute: m, value: r.self_p90, kind: 'latency', inclusive: false });
    sizeOf(r.entity, 'span.self_time.p90', m, r.p90);
    rows.push({ entity: r.entity, signal: 'span.duration.p90', minute: m, value: r.p90, kind: 'latency', inclusive: true });
    rows.push({ entity: r.entity, signal: 'span.errors', minute: m, value: Number(r.errors), kind: 'errors', inclusive: true });
    if (Number(r.fanout) > 0) rows.push({ entity: r.entity, signal: 'span.calls_per_span', minute: m, value: Number(r.fanout), kind: 'errors', inclusive: false, direction: 'down' });
  }
  rows.push(...silentSteps(spanRows, step, obsTo));
  rows.push(...stoppedCalls(edgeRows, (name) => serviceIds.get(name) ?? ids.service('', name), baseFrom, baseTo));
  const sides = new Map<string, { client?: number; server?: number }>();
  for (const r of edgeRows) {
    const key = `${r.client}\u0000${r.server}\u0000${r.minute}`;
    sides.set(key, { ...sides.get(key), [r.side]: Number(r.value) });
  }
  for (const [key, v] of sides) {
    const [, server, minute] = key.split('\u0000') as [string, string, string];
    if (v.client !== undefined && v.server !== undefined) gap(serviceIds.get(server) ?? ids.service('', server), 'edge.network_gap', Number(minute), v.client - v.server, v.client);
  }
  for (const [key, m] of gaps) {
    const [entity, signal] = key.split('\u0000') as [string, string];
    for (const [minute, v] of m) rows.push({ entity, signal, minute, value: v.gap, kind: 'network_delay', inclusive: false });
    for (const [minute, v] of m) sizeOf(entity, signal, minute, v.size);
  }
  // Differences (self time = duration − children's; network time = what the caller waits − what the callee
  // takes) are measured in at least a tenth of the whole they are cut from: parallel children make self time
  // sit at 0, equal quantiles make the gap sit at 0, and a move smaller than that share is noise.
  for (const [key, m] of sizes) {
    const inBase = [...m].filter(([minute]) => minute >= baseFrom && minute < baseTo).map(([, v]) => v);
    // (the short baseline's minutes when the baseline window is nearly empty, as for the values below)
    const base = inBase.length >= MIN_BASELINE ? inBase : [...m].filter(([minute]) => minute >= baseFrom && minute < t - step).map(([, v]) => v);
    floors.set(key, DIFF_FLOOR_SHARE * (median(base) || 0));
  }
  for (const r of logRows) rows.push({ ...r, value: Number(r.value), kind: 'errors', inclusive: false });
  const templates = newErrorTemplates(errorLogs, obsFrom, step);
  for (const r of templates.rows) rows.push({ ...r, kind: 'errors', inclusive: false });
  for (const r of connRows) rows.push({ ...r, value: Number(r.value), kind: 'dependency_down', inclusive: false });
  // Callers giving up after a callee: the callee failed them, or passed on a failure of its own dependencies
  // (then they give up after their call too, and explain it): inclusive.
  for (const r of stopRows) rows.push({ entity: r.entity, signal: STOPS_AFTER, minute: Number(r.minute), value: Number(r.value), kind: 'errors', inclusive: true });

  // Step-aligned series: baseline steps and observed steps, a missing step is NaN (ignored).
  const minutes = (from: number, to: number) => {
    const out: number[] = [];
    for (let m = Math.floor(from / step) * step; m < to; m += step) out.push(m);
    return out;
  };
  const baseMinutes = minutes(baseFrom, baseTo);
  // Where data begins just before the incident (a new deployment, a collector just started), fewer than
  // MIN_BASELINE steps lie in the baseline window; then the baseline reaches up to a step before t: a
  // short baseline that may hold the onset beats none.
  const shortMinutes = minutes(baseFrom, t - step);
  const finite = (xs: number[]) => xs.filter(Number.isFinite).length;
  const obsMinutes = minutes(obsFrom, obsTo);
  const grouped = new Map<string, { kind: FaultKind; inclusive: boolean; direction?: 'up' | 'down'; values: Map<number, number> }>();
  for (const r of rows) {
    const key = `${r.entity}\u0000${r.signal}`;
    let g = grouped.get(key);
    if (!g) grouped.set(key, (g = { kind: r.kind, inclusive: r.inclusive, ...(r.direction ? { direction: r.direction } : {}), values: new Map() }));
    g.values.set(Number(r.minute), Number(r.value));
  }
  const signals: SignalSeries[] = [];
  for (const [key, g] of grouped) {
    const [entity, signal] = key.split('\u0000') as [string, string];
    signals.push({
      entity, signal, kind: g.kind, inclusive: g.inclusive, ...(g.direction ? { direction: g.direction } : {}),
      ...(floors.get(key) ? { scaleFloor: floors.get(key) } : {}),
      ...(signal === NEW_TEMPLATES ? { scaleFloor: 1, ...(templates.detail.get(entity) ? { detail: templates.detail.get(entity) } : {}) } : {}),
      ...(signal === STOPS_AFTER || signal === STOPPED_CALLS ? { scaleFloor: SHARE_FLOOR } : {}),
      ...(signal === SILENT ? { scaleFloor: SILENCE_FLOOR, detail: 'no spans of its own: not serving (down, crashed or unreachable)' } : {}),
      baseline: ((b) => (finite(b) >= MIN_BASELINE ? b : shortMinutes.map((m) => g.values.get(m) ?? NaN)))(baseMinutes.map((m) => g.values.get(m) ?? NaN)),
      observed: obsMinutes.map((m) => g.values.get(m) ?? NaN),
      observedStart: obsMinutes[0]!, step,
    });
  }
  return signals;
}

/**
 * A service that stops calling a dependency it called every step, while it still runs (it calls others or
 * is called itself in that step), gave up before reaching it: it fails on its own (an exception thrown
 * before the call), or a dependency it called earlier failed it. Either way the silent dependency is not
 * what broke: it is the caller's evidence. Per caller and step in which it is seen on any edge: the share of
 * its usual callees (called in at least {@link USUAL_SHARE} of its baseline steps) not called in that step.
 * This is how an error shows where only service-graph metrics are kept (no spans, no error status): the
 * edges after the failure point go quiet.
 */
function stoppedCalls(edgeRows: SignalRows['edgeRows'], idOf: (name: string) => string, baseFrom: number, baseTo: number): (Row & { kind: FaultKind; inclusive: boolean })[] {
  const calls = new Map<string, Map<string, Set<number>>>();
  const seen = new Map<string, Set<number>>();
  const add = <K, V>(m: Map<K, Set<V>>, k: K, v: V) => m.set(k, (m.get(k) ?? new Set<V>()).add(v));
  for (const r of edgeRows) {
    if (!Number.isFinite(Number(r.value))) continue;
    const [client, server, m] = [idOf(r.client), idOf(r.server), Number(r.minute)];
    if (client === server) continue;
    let out = calls.get(client);
    if (!out) calls.set(client, (out = new Map()));
    add(out, server, m);
    add(seen, client, m);
    add(seen, server, m);
  }
  const rows: (Row & { kind: FaultKind; inclusive: boolean })[] = [];
  for (const [client, out] of calls) {
    const steps = [...(seen.get(client) ?? [])].sort((a, b) => a - b);
    const base = steps.filter((m) => m >= baseFrom && m < baseTo);
    if (base.length < MIN_BASELINE) continue;
    const usual = [...out].filter(([, ms]) => base.filter((m) => ms.has(m)).length >= USUAL_SHARE * base.length).map(([, ms]) => ms);
    if (usual.length === 0) continue;
    for (const m of steps) rows.push({ entity: client, signal: STOPPED_CALLS, minute: m, value: usual.filter((ms) => !ms.has(m)).length / usual.length, kind: 'errors', inclusive: false });
  }
  return rows;
}
const STOPPED_CALLS = 'edge.usual_calls_missing';
/** A callee is a caller's usual one when called in at least this share of the caller's baseline steps. */
const USUAL_SHARE = 0.9;

const NEW_TEMPLATES = 'log.new_error_templates';
const STOPS_AFTER = 'span.caller_stops_after';
/** A share of calls moves in at least 5 points: fewer is the noise of a few dozen calls a step. */
const SHARE_FLOOR = 0.05;
/** The least scale a silence is measured in: one silent step in fifty is a 1σ move, so a service silent
 * after hundreds of steps of steady traffic is a strong anomaly even against a baseline with none. */
export const SILENCE_FLOOR = 0.02;

/**
 * A service that stops producing spans altogether (killed, crashed, hung before it answers) leaves no rows at
 * all, so no other signal can speak for it. Per entity, from its first step with spans up to the newest step
 * any entity has spans in (later steps are unknown, not silent): 1 for a step without a span of its own in
 * which callers tried to reach it and failed (their client spans in error, resolved to it by child or by
 * peer address), else 0: a service nobody calls any more (its callers failed first) is idle, not down. A dependency that is down then stands out against a baseline of steady traffic; a service whose traffic
 * is sparse anyway has silent steps in its baseline too, which widens its scale. The newest step is taken per
 * source: the collector's events land sooner than SDKs export spans, and a step spans have not reached yet is
 * not a silent one.
 */
function silentSteps(spanRows: SignalRows['spanRows'], step: number, obsTo: number): (Row & { kind: FaultKind; inclusive: boolean })[] {
  const have = new Map<string, Set<number>>();
  const sourceOf = new Map<string, string>();
  const newest = new Map<string, number>();
  // Steps in which callers tried to reach an entity and failed (client spans in error, resolved to it).
  const failedCalls = new Map<string, Set<number>>();
  for (const r of spanRows) {
    const m = Number(r.minute);
    const source = r.source ?? 'spans';
    newest.set(source, Math.max(newest.get(source) ?? -Infinity, m));
    if (r.callee && Number(r.errors) > 0) failedCalls.set(r.callee, (failedCalls.get(r.callee) ?? new Set()).add(m));
    if (r.callee || Number(r.spans) === 0) continue;
    have.set(r.entity, (have.get(r.entity) ?? new Set()).add(m));
    sourceOf.set(r.entity, source);
  }
  const out: (Row & { kind: FaultKind; inclusive: boolean })[] = [];
  for (const [entity, steps] of have) {
    const last = newest.get(sourceOf.get(entity)!)!;
    for (let m = Math.min(...steps); m <= Math.min(last, obsTo); m += step) {
      // Silent and called in vain: down. Silent and not called: idle (its callers stopped first), no evidence.
      out.push({ entity, signal: SILENT, minute: m, value: !steps.has(m) && failedCalls.get(entity)?.has(m) ? 1 : 0, kind: 'dependency_down', inclusive: false });
    }
  }
  return out;
}
const SILENT = 'span.silent_steps';

/**
 * Error log lines whose template (mined Drain-style over the lines of both windows, in time order) never
 * occurred before the observed window: per entity and minute, how many; and the commonest new template per
 * entity, for the evidence. A new kind of error at a service is its own failure, not one it passes on.
 */
function newErrorTemplates(logs: readonly { entity: string; t: number; body: string }[], obsFrom: number, step: number): { rows: Row[]; detail: Map<string, string> } {
  const drain = new Drain();
  const groupOf = logs.map((l) => drain.add(l.body));
  const seenBefore = new Set<number>();
  logs.forEach((l, i) => {
    if (l.t < obsFrom) seenBefore.add(groupOf[i]!.id);
  });
  const counts = new Map<string, number>();
  const perTemplate = new Map<string, Map<number, number>>();
  const minutesOf = new Map<string, Set<number>>();
  logs.forEach((l, i) => {
    const minute = Math.floor(l.t / step) * step;
    const entityMinutes = minutesOf.get(l.entity) ?? new Set<number>();
    entityMinutes.add(minute);
    minutesOf.set(l.entity, entityMinutes);
    const g = groupOf[i]!;
    if (l.t < obsFrom || seenBefore.has(g.id)) return;
    const key = `${l.entity}\u0000${minute}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const byGroup = perTemplate.get(l.entity) ?? new Map<number, number>();
    byGroup.set(g.id, (byGroup.get(g.id) ?? 0) + 1);
    perTemplate.set(l.entity, byGroup);
  });
  const rows: Row[] = [];
  // Every minute an entity logged errors in gets a value (0 when nothing new), so the series has a baseline.
  for (const [entity, minutes] of minutesOf) for (const minute of minutes) rows.push({ entity, signal: NEW_TEMPLATES, minute, value: counts.get(`${entity}\u0000${minute}`) ?? 0 });
  const detail = new Map<string, string>();
  for (const [entity, byGroup] of perTemplate) {
    const [id, n] = [...byGroup].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]!;
    detail.set(entity, `new error template (${n}×): ${drain.template(id).slice(0, 200)}`);
  }
  return { rows, detail };
}
