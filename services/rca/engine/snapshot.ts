/**
 * Loads what the RCA engine needs for one incident: the topology as of the incident and, for every entity,
 * per-step (per-minute by default) signals from the telemetry store over a baseline window and an observed window. All reads are
 * parameterized SQL; entity ids are built exactly as the topology builds them.
 */
import type { TelemetryStore } from '../../shared/telemetry/store.ts';
import type { TopologyStore } from '../../topology/store.ts';
import { isHostile, type ApiSequenceSource, type RcaInput, type SecuritySource } from './model.ts';
import { callerMap, candidates, dependencyMap } from './rank.ts';
import { buildSignals, type Row } from './signals.ts';
import { ids } from '../../topology/model.ts';
import { PEER_SERVICE_SQL, ebpfServices, peerParams, workloadHttp } from '../../topology/workloads.ts';

export interface SnapshotOptions {
  /** Baseline: [t − baselineFromMin, t − baselineToMin] minutes. */
  baselineFromMin?: number;
  baselineToMin?: number;
  /**
   * Observed: [t − observedBeforeMin, t + observedAfterMin] minutes (3 steps and 5 minutes by default): an alert may fire
   * on an early symptom a minute before the cause's own signals, which are often sampled a minute late.
   */
  observedBeforeMin?: number;
  observedAfterMin?: number;
  /**
   * Length of one point of every series (ms), a minute by default. Finer steps (Rootline's own telemetry
   * arrives within seconds) let a fault show within seconds of its onset; data sampled once a minute, such
   * as most scraped metrics, needs the minute.
   */
  stepMs?: number;
}

/** Steps with fewer calls into a callee than this do not judge whether its callers give up after it. */
const MIN_CALLS = 10;

/** The collector sends a process's CPU sample only from 0.05 cores (its --cpu-min-cores default). */
const PROCESS_CPU_FLOOR = 0.05;

export async function loadSnapshot(telemetry: TelemetryStore, topology: TopologyStore, symptom: string | readonly string[], t: number, o: SnapshotOptions = {}, apiSequences?: ApiSequenceSource, securitySource?: SecuritySource): Promise<RcaInput> {
  const symptoms = typeof symptom === 'string' ? [symptom] : [...symptom];
  if (symptoms.length === 0) throw new Error('loadSnapshot: no symptom');
  const baseFrom = t - (o.baselineFromMin ?? 40) * 60_000;
  const baseTo = t - (o.baselineToMin ?? 5) * 60_000;
  const step = o.stepMs ?? 60_000;
  // Three steps before t (three minutes by default): the observed window's upper half must be the fault's,
  // so with a finer step, whose RCA runs seconds after the onset, fewer normal points may precede it.
  const obsFrom = t - (o.observedBeforeMin !== undefined ? o.observedBeforeMin * 60_000 : 3 * step);
  const obsTo = t + (o.observedAfterMin ?? 5) * 60_000;
  const db = telemetry.database;
  const p: Record<string, unknown> = { from: baseFrom, to: obsTo };
  const win = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';
  p.step = step;
  // The start of a point's step, epoch ms (with a minute step, the same as toStartOfMinute in UTC).
  const minute = 'intDiv(toUnixTimestamp64Milli(timestamp), {step:Int64}) * {step:Int64}';
  const serviceId = `concat('service:', if(service_namespace != '', concat(service_namespace, '/'), ''), service_name)`;

  // Only what the symptom depends on can be a cause: read signals for those entities alone, so the cost
  // follows the size of the dependency subgraph, not of the whole system.
  const snap = await topology.window(baseFrom, obsTo);
  const edges = snap.edges.map((e) => ({ from: e.from, to: e.to, type: e.type }));
  const cand = [...candidates(symptoms, dependencyMap(edges), 8, callerMap(edges)).keys()];
  // Workloads a security rule flagged on a machine a candidate runs on are candidates too (see rankCauses).
  const security = (securitySource?.(t - 30 * 60_000, t + 5 * 60_000) ?? []).filter((e) => cand.includes(e.entity) || e.on?.some((m) => cand.includes(m)));
  for (const e of security) if (!cand.includes(e.entity)) cand.push(e.entity);
  const procs = cand.filter((c) => c.startsWith('process:'));
  const names = (prefix: string) => cand.filter((c) => c.startsWith(prefix)).map((c) => c.slice(prefix.length));
  const services = names('service:').map((n) => n.split('/').pop()!);
  const pods = names('pod:').map((n) => n.split('/').pop()!);
  const nodes = names('node:');
  Object.assign(p, { services, pods, nodes, procs });
  // Service name → candidate id (service-graph labels and workload names carry no namespace).
  const serviceIds = new Map<string, string>();
  for (const id of cand) if (id.startsWith('service:')) serviceIds.set(id.slice(id.lastIndexOf('/') + 1).replace(/^service:/, ''), id);
  const idOf = (name: string) => serviceIds.get(name) ?? ids.service('', name);
  // Services only the eBPF collector sees: their server-side HTTP is their latency and errors, and a client
  // span to one is time spent in it, not in the caller (no child span takes that time off the caller).
  const ebpf = await ebpfServices(telemetry, baseFrom, obsTo);
  const ebpfKeys = new Map([...ebpf.keys].filter(([, name]) => serviceIds.has(name)));
  Object.assign(p, peerParams(ebpf, idOf));
  p.candIds = cand.filter((c) => c.startsWith('service:'));
  const [metricRows, serviceMetricRows, spanRows, edgeRows, logRows, errorLogs, connRows, changes, procRows, flows, workloadRows, stopRows] = await Promise.all([
    // Node metrics belong to the node; where the data does not name the node they are skipped (on a pod they
    // would blame every pod of a busy node).
    telemetry.query<Row>(
      `SELECT if(startsWith(metric_name, 'k8s.node.'), concat('node:', k8s_node_name),
                 concat('pod:', if(k8s_namespace_name != '', k8s_namespace_name, 'default'), '/', k8s_pod_name)) AS entity,
              metric_name AS signal, ${minute} AS minute, avg(value) AS value
       FROM ${db}.metric_points WHERE ${win} AND (k8s_pod_name != '' OR startsWith(metric_name, 'k8s.node.')) AND metric_type IN ('gauge', 'sum')
         AND NOT (startsWith(metric_name, 'k8s.node.') AND k8s_node_name = '')
         AND (k8s_pod_name IN {pods:Array(String)} OR k8s_node_name IN {nodes:Array(String)})
       GROUP BY entity, signal, minute`,
      p,
    ),
    // Metrics a service reports about itself outside Kubernetes (an OpenTelemetry SDK's process.memory.usage,
    // process.cpu.utilization…): they belong to the service. Counters (cumulative CPU time) need a rate and
    // are left out: their level only grows. Each attribute set is averaged, then the sets
    // are summed (heap spaces, CPU states), so one series per metric describes the whole process.
    telemetry.query<Row>(
      `SELECT entity, signal, minute, sum(v) AS value FROM (
         SELECT ${serviceId} AS entity, metric_name AS signal, ${minute} AS minute, attributes AS a, avg(value) AS v
         FROM ${db}.metric_points WHERE ${win} AND k8s_pod_name = '' AND service_name IN {services:Array(String)} AND (metric_type = 'gauge' OR (metric_type = 'sum' AND NOT is_monotonic))
           AND NOT startsWith(metric_name, 'traces_service_graph')
         GROUP BY entity, signal, minute, a)
       GROUP BY entity, signal, minute`,
      p,
    ),
    // Per span: self time (its duration less its children's, in any service: a child outside the candidates
    // still takes its time off its parent's) and whether its children run in another service
    // (a client span: its self time is the time on the way to that callee and back, network
    // included). Self time grows at the culprit, not at callers that only wait; a client span's self time
    // grows when the network to its callee is slow. A client span without children to a service only the
    // collector sees is resolved by its peer (`by_peer`): its callee's own time is not in the span's tree.
    telemetry.query<{ entity: string; callee: string; by_peer: number; source?: 'ebpf'; minute: number; self_p90: number; p90: number; errors: number; spans: number; fanout: number }>(
      `SELECT ${serviceId.replaceAll('service_', 's.service_')} AS entity,
              multiIf(s.kind NOT IN ('CLIENT', 'PRODUCER'), '',
                      ifNull(c.child_id, '') NOT IN ('', ${serviceId.replaceAll('service_', 's.service_')}), c.child_id,
                      ifNull(c.child_id, '') = '', ${PEER_SERVICE_SQL}, '') AS callee,
              max(callee != '' AND ifNull(c.child_id, '') = '') AS by_peer,
              intDiv(toUnixTimestamp64Milli(s.timestamp), {step:Int64}) * {step:Int64} AS minute,
              quantile(0.9)(greatest(0, toInt64(s.duration_ns) - toInt64(ifNull(c.child_ns, 0)))) / 1e6 AS self_p90,
              quantile(0.9)(s.duration_ns) / 1e6 AS p90,
              countIf(s.status_code = 'ERROR' OR s.http_response_status_code >= 500) AS errors,
              count() AS spans, avg(ifNull(c.children, 0)) AS fanout
       FROM ${db}.spans AS s
       LEFT JOIN (SELECT trace_id, parent_span_id, sum(duration_ns) AS child_ns, count() AS children, min(${serviceId}) AS child_id FROM ${db}.spans
                  WHERE ${win} AND parent_span_id IN (SELECT span_id FROM ${db}.spans WHERE ${win} AND service_name IN {services:Array(String)})
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
       WHERE ${win} AND metric_name IN ('traces_service_graph_request_client_seconds', 'traces_service_graph_request_server_seconds') AND metric_type = 'gauge'
         AND attributes['server'] IN {services:Array(String)}
       GROUP BY client, server, side, minute`,
      p,
    ),
    telemetry.query<Row>(
      `SELECT ${serviceId} AS entity, 'log.errors' AS signal, ${minute} AS minute, countIf(severity_number >= 17) AS value
       FROM ${db}.logs WHERE ${win} AND service_name IN {services:Array(String)} GROUP BY entity, minute`,
      p,
    ),
    // The error lines themselves, for template mining; bounded, the newest kept (the observed window's lines
    // are what "new" is about), put back in time order below.
    telemetry.query<{ entity: string; t: number; body: string }>(
      `SELECT ${serviceId} AS entity, toUnixTimestamp64Milli(timestamp) AS t, body
       FROM ${db}.logs WHERE ${win} AND service_name IN {services:Array(String)} AND severity_number >= 17
       ORDER BY timestamp DESC, entity, body LIMIT 20000`,
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
    // CPU the collector samples per process (cores; only samples of 0.05 cores or more are sent).
    telemetry.query<Row>(
      `SELECT concat('process:', host_name, '/', toString(process_pid)) AS entity, 'process.cpu.cores' AS signal, ${minute} AS minute,
              max(toFloat64OrZero(attributes['aiops.process.cpu.cores'])) AS value
       FROM ${db}.collector_events WHERE ${win} AND event_name = 'aiops.process.sample' AND entity IN {procs:Array(String)}
       GROUP BY entity, minute`,
      p,
    ),
    // Anomalous API flows from the prediction role, over the same window as changes.
    apiSequences ? Promise.resolve(apiSequences(t - 30 * 60_000, t + 5 * 60_000)) : Promise.resolve([]),
    workloadHttp(telemetry, baseFrom, obsTo, step, ebpfKeys),
    // Per callee and step: the share of the calls to it after which the caller made no further call in
    // that trace (its last outgoing call there). A request that gets an error or an unusable answer from a
    // callee is abandoned right after that call, so the caller's later calls vanish; where spans carry no
    // status (or the failure is a bad value, not an error status) this is how a callee's failure shows in
    // its callers' traces. Steps with fewer than MIN_CALLS calls say nothing (a handful of calls flips the share).
    telemetry.query<Row & { calls: number }>(
      `SELECT k.callee AS entity, 'span.caller_stops_after' AS signal,
              intDiv(toUnixTimestamp64Milli(c.timestamp), {step:Int64}) * {step:Int64} AS minute,
              avg(c.timestamp >= l.last_ts) AS value, count() AS calls
       FROM ${db}.spans AS c
       INNER JOIN (SELECT trace_id, parent_span_id, min(${serviceId}) AS callee FROM ${db}.spans
                   WHERE ${win} AND ${serviceId} IN {candIds:Array(String)} GROUP BY trace_id, parent_span_id) AS k
         ON k.trace_id = c.trace_id AND k.parent_span_id = c.span_id
       INNER JOIN (SELECT trace_id, service_name, service_namespace, max(timestamp) AS last_ts FROM ${db}.spans
                   WHERE ${win} AND kind = 'CLIENT' GROUP BY trace_id, service_name, service_namespace) AS l
         ON l.trace_id = c.trace_id AND l.service_name = c.service_name AND l.service_namespace = c.service_namespace
       WHERE c.timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND c.timestamp < fromUnixTimestamp64Milli({to:Int64})
         AND c.kind = 'CLIENT' AND k.callee != ${serviceId.replaceAll('service_', 'c.service_')}
       GROUP BY entity, minute HAVING calls >= ${MIN_CALLS}`,
      p,
    ),
  ]);

  // The collector sees no children of a server exchange: its whole duration is the service's own time.
  for (const r of workloadRows) {
    spanRows.push({ entity: idOf(r.service), callee: '', by_peer: 0, source: 'ebpf', minute: r.minute, self_p90: r.p90, p90: r.p90, errors: r.errors, spans: r.requests, fanout: 0 });
  }
  // A process without a CPU sample in a minute used less than the sampling threshold (or did not run): zero,
  // so a process that appears and burns CPU stands out against the quiet before it.
  // Only between a process's first sample and the newest minute any process was sampled in: minutes not yet
  // seen are unknown, not idle, and before its first sample it may not have run (a restarted process is not
  // a CPU anomaly). A process that is new and flagged is judged on its security event and its samples.
  const sampled = new Map<string, Set<number>>();
  let newest = -Infinity;
  for (const r of procRows) {
    sampled.set(r.entity, (sampled.get(r.entity) ?? new Set()).add(Number(r.minute)));
    newest = Math.max(newest, Number(r.minute));
  }
  const flagged = new Set(security.filter(isHostile).map((e) => e.entity));
  for (const [entity, have] of sampled) {
    // A flagged process's quiet before its first sample is its baseline: it burns CPU it did not before.
    const first = flagged.has(entity) ? Math.floor(baseFrom / step) * step : Math.min(...have);
    for (let m = first; m <= Math.min(newest, obsTo); m += step) if (!have.has(m)) procRows.push({ entity, signal: 'process.cpu.cores', minute: m, value: 0 });
  }
  metricRows.push(...serviceMetricRows, ...procRows);
  // Refused or failed connections to an address a known service answered on are that service's: a killed
  // service is named, not the address its callers could no longer reach.
  const conns = new Map<string, (typeof connRows)[number]>();
  for (const r of connRows) {
    const m = /^external:(.+):(\d+)$/.exec(r.entity);
    const name = m ? ebpf.peers.resolve('', m[1]!, m[2]!) : undefined;
    const entity = name && cand.includes(idOf(name)) ? idOf(name) : r.entity;
    const key = `${entity}\u0000${r.minute}`;
    const prev = conns.get(key);
    conns.set(key, prev ? { ...prev, value: Number(prev.value) + Number(r.value) } : { ...r, entity });
  }
  const signals = buildSignals({ serviceIds, metricRows, spanRows, edgeRows, logRows, stopRows, connRows: [...conns.values()], errorLogs: errorLogs.map((l) => ({ ...l, t: Number(l.t) })).reverse() }, { t, baseFrom, baseTo, obsFrom, obsTo, step });
  // Deviations in process CPU are measured in at least the sampling threshold: a zero baseline has no spread.
  for (const s of signals) if (s.signal === 'process.cpu.cores') s.scaleFloor = Math.max(s.scaleFloor ?? 0, PROCESS_CPU_FLOOR);
  return {
    symptom: symptoms[0]!,
    ...(symptoms.length > 1 ? { symptoms: symptoms.slice(1) } : {}),
    t,
    observedFrom: obsFrom,
    entities: snap.entities.map((e) => e.id),
    edges,
    signals: signals.sort((a, b) => (a.entity + a.signal).localeCompare(b.entity + b.signal)),
    changes: changes.map((c) => ({ entity: c.entity, t: c.t, attr: c.attr, before: c.before, after: c.after })),
    security,
    apiSequences: flows.filter((f) => cand.includes(f.entity)),
  };
}
