/**
 * Loads what the RCA engine needs for one incident: the topology as of the incident and, for every entity,
 * per-minute signals from the telemetry store over a baseline window and an observed window. All reads are
 * parameterized SQL; entity ids are built exactly as the topology builds them.
 */
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import type { TopologyStore } from '../../topology/store.ts';
import { ids } from '../../topology/model.ts';
import type { ApiSequenceSource, FaultKind, RcaInput, SignalSeries } from './model.ts';
import { callerMap, candidates, dependencyMap } from './rank.ts';
import { median } from './stats.ts';

/** A difference (self time, network gap) is measured in at least this share of the whole it is cut from. */
const DIFF_FLOOR_SHARE = 0.1;
/** Baseline minutes a series needs before the short fallback baseline is used. */
const MIN_BASELINE = 3;

export interface SnapshotOptions {
  /** Baseline: [t − baselineFromMin, t − baselineToMin] minutes. */
  baselineFromMin?: number;
  baselineToMin?: number;
  /**
   * Observed: [t − observedBeforeMin, t + observedAfterMin] minutes (3 and 5 by default): an alert may fire
   * on an early symptom a minute before the cause's own signals, which are often sampled a minute late.
   */
  observedBeforeMin?: number;
  observedAfterMin?: number;
}

interface Row {
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

export async function loadSnapshot(telemetry: TelemetryStore, topology: TopologyStore, symptom: string | readonly string[], t: number, o: SnapshotOptions = {}, apiSequences?: ApiSequenceSource): Promise<RcaInput> {
  const symptoms = typeof symptom === 'string' ? [symptom] : [...symptom];
  if (symptoms.length === 0) throw new Error('loadSnapshot: no symptom');
  const baseFrom = t - (o.baselineFromMin ?? 40) * 60_000;
  const baseTo = t - (o.baselineToMin ?? 5) * 60_000;
  const obsFrom = t - (o.observedBeforeMin ?? 3) * 60_000;
  const obsTo = t + (o.observedAfterMin ?? 5) * 60_000;
  const db = telemetry.database;
  const p: Record<string, unknown> = { from: baseFrom, to: obsTo };
  const win = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';
  const minute = 'toUnixTimestamp(toStartOfMinute(timestamp)) * 1000';
  const serviceId = `concat('service:', if(service_namespace != '', concat(service_namespace, '/'), ''), service_name)`;

  // Only what the symptom depends on can be a cause: read signals for those entities alone, so the cost
  // follows the size of the dependency subgraph, not of the whole system.
  const snap = await topology.window(baseFrom, obsTo);
  const edges = snap.edges.map((e) => ({ from: e.from, to: e.to, type: e.type }));
  const cand = [...candidates(symptoms, dependencyMap(edges), 8, callerMap(edges)).keys()];
  const names = (prefix: string) => cand.filter((c) => c.startsWith(prefix)).map((c) => c.slice(prefix.length));
  const services = names('service:').map((n) => n.split('/').pop()!);
  const pods = names('pod:').map((n) => n.split('/').pop()!);
  const nodes = names('node:');
  Object.assign(p, { services, pods, nodes });
  const [metricRows, spanRows, edgeRows, logRows, connRows, changes, security, flows] = await Promise.all([
    // Node metrics belong to the node; where the data does not name the node they are skipped (on a pod they
    // would blame every pod of a busy node).
    telemetry.query<Row>(
      `SELECT if(startsWith(metric_name, 'k8s.node.'), concat('node:', k8s_node_name),
                 concat('pod:', if(k8s_namespace_name != '', k8s_namespace_name, 'default'), '/', k8s_pod_name)) AS entity,
              metric_name AS signal, ${minute} AS minute, avg(value) AS value
       FROM ${db}.metric_points WHERE ${win} AND k8s_pod_name != '' AND metric_type IN ('gauge', 'sum')
         AND NOT (startsWith(metric_name, 'k8s.node.') AND k8s_node_name = '')
         AND (k8s_pod_name IN {pods:Array(String)} OR k8s_node_name IN {nodes:Array(String)})
       GROUP BY entity, signal, minute`,
      p,
    ),
    // Per span: self time (its duration less its children's, in any service: a child outside the candidates
    // still takes its time off its parent's) and whether its children run in another service
    // (then it is a client span, and its self time is the time on the way to that callee and back, network
    // included). Self time grows at the culprit, not at callers that only wait; a client span's self time
    // grows when the network to its callee is slow.
    telemetry.query<{ entity: string; callee: string; minute: number; self_p90: number; p90: number; errors: number; spans: number; fanout: number }>(
      `SELECT ${serviceId.replaceAll('service_', 's.service_')} AS entity,
              if(ifNull(c.child_service, '') != s.service_name, ifNull(c.child_service, ''), '') AS callee,
              toUnixTimestamp(toStartOfMinute(s.timestamp)) * 1000 AS minute,
              quantile(0.9)(greatest(0, toInt64(s.duration_ns) - toInt64(ifNull(c.child_ns, 0)))) / 1e6 AS self_p90,
              quantile(0.9)(s.duration_ns) / 1e6 AS p90,
              countIf(s.status_code = 'ERROR' OR s.http_response_status_code >= 500) AS errors,
              count() AS spans, avg(ifNull(c.children, 0)) AS fanout
       FROM ${db}.spans AS s
       LEFT JOIN (SELECT trace_id, parent_span_id, sum(duration_ns) AS child_ns, count() AS children, any(service_name) AS child_service FROM ${db}.spans
                  WHERE ${win} AND trace_id IN (SELECT trace_id FROM ${db}.spans WHERE ${win} AND service_name IN {services:Array(String)})
                  GROUP BY trace_id, parent_span_id) AS c
         ON c.trace_id = s.trace_id AND c.parent_span_id = s.span_id
       WHERE s.timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND s.timestamp < fromUnixTimestamp64Milli({to:Int64})
         AND s.service_name IN {services:Array(String)}
       GROUP BY entity, callee, minute`,
      p,
    ),
    // Service-graph latency of the edges into candidates, as each side measured it.
    telemetry.query<{ client: string; server: string; side: string; minute: number; value: number }>(
      `SELECT attributes['client'] AS client, attributes['server'] AS server,
              if(metric_name = 'traces_service_graph_request_client_seconds', 'client', 'server') AS side, ${minute} AS minute, avg(value) AS value
       FROM ${db}.metric_points
       WHERE ${win} AND metric_name IN ('traces_service_graph_request_client_seconds', 'traces_service_graph_request_server_seconds')
         AND attributes['server'] IN {services:Array(String)}
       GROUP BY client, server, side, minute`,
      p,
    ),
    telemetry.query<Row>(
      `SELECT ${serviceId} AS entity, 'log.errors' AS signal, ${minute} AS minute, countIf(severity_number >= 17) AS value
       FROM ${db}.logs WHERE ${win} AND service_name IN {services:Array(String)} GROUP BY entity, minute`,
      p,
    ),
    telemetry.query<Row>(
      `SELECT concat('external:', attributes['network.peer.address'], ':', attributes['network.peer.port']) AS entity, 'tcp.failures' AS signal,
              ${minute} AS minute, countIf(attributes['aiops.tcp.result'] NOT IN ('ok', '')) AS value
       FROM ${db}.collector_events WHERE ${win} AND event_name = 'aiops.tcp.connection' AND attributes['aiops.tcp.direction'] = 'outbound'
       GROUP BY entity, minute`,
      p,
    ),
    topology.changes(t - 30 * 60_000, t + 60_000),
    telemetry.query<{ host: string; pid: number; pod: string; ns: string; rule: string; t: number }>(
      `SELECT host_name AS host, process_pid AS pid, k8s_pod_name AS pod, k8s_namespace_name AS ns, attributes['security_rule.name'] AS rule,
              toUnixTimestamp64Milli(timestamp) AS t
       FROM ${db}.collector_events WHERE ${win} AND event_name = 'aiops.security.alert' ORDER BY timestamp LIMIT 1000`,
      p,
    ),
    // Anomalous API flows from the prediction role, over the same window as changes.
    apiSequences ? Promise.resolve(apiSequences(t - 30 * 60_000, t + 5 * 60_000)) : Promise.resolve([]),
  ]);

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
  for (const r of spanRows) {
    const m = Number(r.minute);
    if (r.callee) {
      gap(ids.service('', r.callee), 'span.network_gap.p90', m, r.self_p90, r.p90);
      continue;
    }
    rows.push({ entity: r.entity, signal: 'span.self_time.p90', minute: m, value: r.self_p90, kind: 'latency', inclusive: false });
    sizeOf(r.entity, 'span.self_time.p90', m, r.p90);
    rows.push({ entity: r.entity, signal: 'span.duration.p90', minute: m, value: r.p90, kind: 'latency', inclusive: true });
    rows.push({ entity: r.entity, signal: 'span.errors', minute: m, value: Number(r.errors), kind: 'errors', inclusive: true });
    if (Number(r.fanout) > 0) rows.push({ entity: r.entity, signal: 'span.calls_per_span', minute: m, value: Number(r.fanout), kind: 'errors', inclusive: false, direction: 'down' });
  }
  const sides = new Map<string, { client?: number; server?: number }>();
  for (const r of edgeRows) {
    const key = `${r.client}\u0000${r.server}\u0000${r.minute}`;
    sides.set(key, { ...sides.get(key), [r.side]: Number(r.value) });
  }
  for (const [key, v] of sides) {
    const [, server, minute] = key.split('\u0000') as [string, string, string];
    if (v.client !== undefined && v.server !== undefined) gap(ids.service('', server), 'edge.network_gap', Number(minute), v.client - v.server, v.client);
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
    const base = inBase.length >= MIN_BASELINE ? inBase : [...m].filter(([minute]) => minute >= baseFrom && minute < t - 60_000).map(([, v]) => v);
    floors.set(key, DIFF_FLOOR_SHARE * (median(base) || 0));
  }
  for (const r of logRows) rows.push({ ...r, value: Number(r.value), kind: 'errors', inclusive: false });
  for (const r of connRows) rows.push({ ...r, value: Number(r.value), kind: 'dependency_down', inclusive: false });

  // Minute-aligned series: baseline minutes and observed minutes, a missing minute is NaN (ignored).
  const minutes = (from: number, to: number) => {
    const out: number[] = [];
    for (let m = Math.floor(from / 60_000) * 60_000; m < to; m += 60_000) out.push(m);
    return out;
  };
  const baseMinutes = minutes(baseFrom, baseTo);
  // Where data begins just before the incident (a new deployment, a collector just started), fewer than
  // MIN_BASELINE minutes lie in the baseline window; then the baseline reaches up to a minute before t: a
  // short baseline that may hold the onset beats none.
  const shortMinutes = minutes(baseFrom, t - 60_000);
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
      baseline: ((b) => (finite(b) >= MIN_BASELINE ? b : shortMinutes.map((m) => g.values.get(m) ?? NaN)))(baseMinutes.map((m) => g.values.get(m) ?? NaN)),
      observed: obsMinutes.map((m) => g.values.get(m) ?? NaN),
      observedStart: obsMinutes[0]!, step: 60_000,
    });
  }
  return {
    symptom: symptoms[0]!,
    ...(symptoms.length > 1 ? { symptoms: symptoms.slice(1) } : {}),
    t,
    entities: snap.entities.map((e) => e.id),
    edges,
    signals: signals.sort((a, b) => (a.entity + a.signal).localeCompare(b.entity + b.signal)),
    changes: changes.map((c) => ({ entity: c.entity, t: c.t, attr: c.attr, before: c.before, after: c.after })),
    security: security.map((s) => ({ entity: s.pod ? ids.pod(s.ns || 'default', s.pod) : ids.process(s.host, s.pid), t: Number(s.t), rule: s.rule })),
    apiSequences: flows.filter((f) => cand.includes(f.entity)),
  };
}
