/**
 * Derives topology observations for one time window from stored telemetry, in ClickHouse:
 * - resource attributes on spans, logs and metrics → entities and vertical edges;
 * - span parent/child pairs across services → service CALLS service and endpoint CALLS endpoint, with
 *   per-minute statistics written to `edge_stats` by INSERT … SELECT (no row passes through JS);
 * - client spans nobody answered → CALLS to external peers (server.address:port);
 * - service-graph metrics (`traces_service_graph_*`, labels `client` and `server`, as the OpenTelemetry
 *   service-graph connector or a mesh emits them) → service CALLS service, also where no trace was kept;
 * - collector TCP events → host CONNECTS host and process CONNECTS process, mapping peer IPs to the host
 *   that owns them when any of its connections shows that IP as local, else to an external peer;
 * - collector HTTP and TCP events → services only the collector sees, and their CALLS (./extract-workloads.ts);
 *   client spans to such a service call it instead of an external peer.
 * Every query is parameterized; the window bounds are the only inputs.
 */
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import type { EdgeObservation, EntityObservation, TopologyBatch } from './model.ts';
import { ids } from './model.ts';
import { workloadObservations } from './extract-workloads.ts';

export interface Window {
  from: number; // ms, inclusive
  to: number; // ms, exclusive
}

interface ResourceRow {
  service_namespace: string;
  service_name: string;
  service_version: string;
  host_name: string;
  k8s_cluster_name: string;
  k8s_node_name: string;
  k8s_namespace_name: string;
  k8s_pod_name: string;
  container_id: string;
  process_pid: number;
  t: number;
}

const KEYS = 'service_namespace, service_name, service_version, host_name, k8s_cluster_name, k8s_node_name, k8s_namespace_name, k8s_pod_name, container_id, process_pid';
const IN_WINDOW = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';
/** Spans of a parent may start a little before the window; look this far back for them. */
const PARENT_SLACK_MS = 5 * 60_000;

function resourceObservations(rows: ResourceRow[], out: TopologyBatch): void {
  const ents = new Map<string, EntityObservation>();
  const edges = new Map<string, EdgeObservation>();
  const ent = (o: EntityObservation) => {
    const prev = ents.get(`${o.id}@${o.t}`);
    if (!prev) ents.set(`${o.id}@${o.t}`, o);
  };
  const edge = (type: EdgeObservation['type'], from: string, to: string, t: number) => edges.set(`${type}${from}${to}${t}`, { type, from, to, t });
  for (const r of rows) {
    const t = Number(r.t);
    const host = r.host_name;
    const cluster = r.k8s_cluster_name ? ids.cluster(r.k8s_cluster_name) : undefined;
    const node = r.k8s_node_name ? ids.node(r.k8s_node_name) : undefined;
    const hostId = host ? ids.host(host) : undefined;
    const pod = r.k8s_pod_name ? ids.pod(r.k8s_namespace_name || 'default', r.k8s_pod_name) : undefined;
    const container = r.container_id ? ids.container(r.container_id) : undefined;
    const procHost = host || r.k8s_node_name;
    const proc = procHost && r.process_pid ? ids.process(procHost, r.process_pid) : undefined;
    const service = r.service_name ? ids.service(r.service_namespace, r.service_name) : undefined;
    if (cluster) ent({ id: cluster, kind: 'cluster', name: r.k8s_cluster_name, attrs: {}, t });
    if (node) ent({ id: node, kind: 'node', name: r.k8s_node_name, attrs: {}, t });
    if (hostId && !(node && r.k8s_node_name === host)) ent({ id: hostId, kind: 'host', name: host, attrs: {}, t });
    if (pod) ent({ id: pod, kind: 'pod', name: r.k8s_pod_name, attrs: { 'k8s.namespace.name': r.k8s_namespace_name }, t });
    if (container) ent({ id: container, kind: 'container', name: r.container_id.slice(0, 12), attrs: {}, t });
    if (proc) ent({ id: proc, kind: 'process', name: `${r.service_name || 'pid'}:${r.process_pid}`, attrs: { 'process.pid': String(r.process_pid) }, t });
    if (service) {
      const attrs: Record<string, string> = {};
      if (r.service_version) attrs['service.version'] = r.service_version;
      if (r.service_namespace) attrs['service.namespace'] = r.service_namespace;
      ent({ id: service, kind: 'service', name: r.service_name, attrs, t });
    }
    // Vertical stack, from the outside in: cluster ⊃ node/host ⊃ pod ⊃ container ⊃ process → service.
    // A Kubernetes node and the host of the same name are one machine: the node stands for it.
    const hostLike = node ?? hostId;
    if (cluster && hostLike) edge('CONTAINS', cluster, hostLike, t);
    if (node && hostId && r.k8s_node_name !== host) edge('CONTAINS', node, hostId, t);
    const chain = [hostLike, pod, container, proc].filter((x): x is string => !!x);
    for (let i = 1; i < chain.length; i++) edge('RUNS', chain[i - 1]!, chain[i]!, t);
    const lowest = chain[chain.length - 1];
    if (service && lowest) edge('IMPLEMENTS', lowest, service, t);
  }
  out.entities.push(...ents.values());
  out.edges.push(...edges.values());
}

/** Collects the observations for one window; writes that window's edge statistics as a side effect. */
export async function extractWindow(store: TelemetryStore, w: Window, version = Date.now()): Promise<TopologyBatch> {
  const db = store.database;
  const p = { from: w.from, to: w.to, pfrom: w.from - PARENT_SLACK_MS, version };
  const batch: TopologyBatch = { entities: [], edges: [] };

  const resources = await store.query<ResourceRow>(
    `SELECT ${KEYS}, toUnixTimestamp64Milli(max(timestamp)) AS t FROM (
        SELECT ${KEYS}, timestamp FROM ${db}.spans WHERE ${IN_WINDOW}
        UNION ALL SELECT ${KEYS}, timestamp FROM ${db}.logs WHERE ${IN_WINDOW}
        UNION ALL SELECT ${KEYS}, timestamp FROM ${db}.metric_points WHERE ${IN_WINDOW}
        UNION ALL SELECT ${KEYS}, timestamp FROM ${db}.collector_events WHERE ${IN_WINDOW}
     ) GROUP BY ${KEYS}, toStartOfMinute(timestamp)`,
    p,
  );
  resourceObservations(resources, batch);
  const workloads = await workloadObservations(store, p, resources, batch);

  // Endpoints: what a service serves (server or entry spans).
  const endpoints = await store.query<{ ns: string; service: string; route: string; t: number }>(
    `SELECT service_namespace AS ns, service_name AS service, if(http_route != '', http_route, name) AS route,
            toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${db}.spans WHERE ${IN_WINDOW} AND service_name != '' AND (kind = 'SERVER' OR kind = 'CONSUMER' OR parent_span_id = '')
     GROUP BY ns, service, route, toStartOfMinute(timestamp)`,
    p,
  );
  for (const e of endpoints) {
    const svc = ids.service(e.ns, e.service);
    const ep = ids.endpoint(svc, e.route);
    batch.entities.push({ id: ep, kind: 'endpoint', name: e.route, attrs: { 'service.name': e.service }, t: Number(e.t) });
    batch.edges.push({ type: 'EXPOSES', from: svc, to: ep, t: Number(e.t) });
  }

  // Cross-service calls: a child span in another service than its parent. Stats per minute go to edge_stats.
  const pairs = `
     SELECT p.service_namespace AS pns, p.service_name AS psvc,
            -- The caller's endpoint: a client span stands for the server span it runs under, when there is one.
            if(p.kind = 'CLIENT' AND g.service_name = p.service_name, g.route, p.route) AS pname,
            c.service_namespace AS cns, c.service_name AS csvc,
            if(c.http_route != '', c.http_route, c.name) AS cname, c.timestamp AS ts, c.duration_ns AS dur,
            (c.status_code = 'ERROR' OR c.http_response_status_code >= 500) AS err
     FROM ${db}.spans AS c
     INNER JOIN (SELECT trace_id, span_id, parent_span_id, service_namespace, service_name, kind, if(http_route != '', http_route, name) AS route
                 FROM ${db}.spans
                 WHERE timestamp >= fromUnixTimestamp64Milli({pfrom:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})) AS p
       ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
     LEFT JOIN (SELECT trace_id, span_id, service_name, if(http_route != '', http_route, name) AS route FROM ${db}.spans
                 WHERE timestamp >= fromUnixTimestamp64Milli({pfrom:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})) AS g
       ON g.trace_id = p.trace_id AND g.span_id = p.parent_span_id
     WHERE c.timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND c.timestamp < fromUnixTimestamp64Milli({to:Int64})
       AND c.parent_span_id != '' AND p.service_name != c.service_name`;
  const svcId = (ns: string, name: string) => `concat('service:', if(${ns} != '', concat(${ns}, '/'), ''), ${name})`;
  await store.command(
    `INSERT INTO ${db}.edge_stats
     SELECT toStartOfMinute(ts) AS minute, concat('CALLS:', ${svcId('pns', 'psvc')}, '->', ${svcId('cns', 'csvc')}) AS edge_id, 'CALLS',
            ${svcId('pns', 'psvc')}, ${svcId('cns', 'csvc')}, count(), countIf(err),
            quantile(0.5)(dur) / 1e6, quantile(0.9)(dur) / 1e6, quantile(0.99)(dur) / 1e6, 0, max(ts), {version:UInt64}
     FROM (${pairs}) GROUP BY minute, pns, psvc, cns, csvc`,
    p,
  );
  const calls = await store.query<{ pns: string; psvc: string; pname: string; cns: string; csvc: string; cname: string; t: number }>(
    `SELECT pns, psvc, pname, cns, csvc, cname, toUnixTimestamp64Milli(max(ts)) AS t FROM (${pairs})
     GROUP BY pns, psvc, pname, cns, csvc, cname, toStartOfMinute(ts)`,
    p,
  );
  for (const c of calls) {
    const t = Number(c.t);
    const from = ids.service(c.pns, c.psvc);
    const to = ids.service(c.cns, c.csvc);
    batch.edges.push({ type: 'CALLS', from, to, t });
    const fromEp = ids.endpoint(from, c.pname);
    const toEp = ids.endpoint(to, c.cname);
    batch.entities.push({ id: toEp, kind: 'endpoint', name: c.cname, attrs: { 'service.name': c.csvc }, t });
    batch.entities.push({ id: fromEp, kind: 'endpoint', name: c.pname, attrs: { 'service.name': c.psvc }, t });
    batch.edges.push({ type: 'EXPOSES', from, to: fromEp, t }, { type: 'EXPOSES', from: to, to: toEp, t });
    batch.edges.push({ type: 'CALLS', from: fromEp, to: toEp, t });
  }

  // Client spans with a peer address and no child span anywhere: an uninstrumented dependency.
  const externals = await store.query<{ ns: string; svc: string; host: string; addr: string; port: number; peer: string; peer_port: string; t: number }>(
    `SELECT service_namespace AS ns, service_name AS svc, host_name AS host, server_address AS addr, server_port AS port,
            attributes['network.peer.address'] AS peer, attributes['network.peer.port'] AS peer_port, toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${db}.spans
     WHERE ${IN_WINDOW} AND kind IN ('CLIENT', 'PRODUCER') AND server_address != ''
       AND span_id NOT IN (SELECT parent_span_id FROM ${db}.spans WHERE ${IN_WINDOW} AND parent_span_id != '')
     GROUP BY ns, svc, host, addr, port, peer, peer_port, toStartOfMinute(timestamp)`,
    p,
  );
  const knownServices = new Set(resources.map((r) => r.service_name));
  for (const x of externals) {
    // A service only the collector sees: the call is to it, not to an unknown peer.
    const workload = workloads.peer(x.host, x.addr, x.peer, x.peer_port || x.port);
    if (workload) {
      batch.edges.push({ type: 'CALLS', from: ids.service(x.ns, x.svc), to: workload, t: Number(x.t) });
      continue;
    }
    if (knownServices.has(x.addr)) continue; // a service we see, only untraced on this call
    const ext = ids.external(x.addr, x.port || undefined);
    batch.entities.push({ id: ext, kind: 'external', name: `${x.addr}${x.port ? `:${x.port}` : ''}`, attrs: { 'server.address': x.addr }, t: Number(x.t) });
    batch.edges.push({ type: 'CALLS', from: ids.service(x.ns, x.svc), to: ext, t: Number(x.t) });
  }

  // Service-graph metrics: an edge per client/server label pair and minute.
  const graph = await store.query<{ client: string; server: string; t: number }>(
    `SELECT attributes['client'] AS client, attributes['server'] AS server, toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${db}.metric_points
     WHERE ${IN_WINDOW} AND startsWith(metric_name, 'traces_service_graph_request_') AND attributes['client'] != '' AND attributes['server'] != ''
     GROUP BY client, server, toStartOfMinute(timestamp)`,
    p,
  );
  // The labels name services without a namespace: take the namespace the window's resources give the name.
  const nsOf = new Map<string, string>();
  for (const r of resources) if (r.service_name && !nsOf.has(r.service_name)) nsOf.set(r.service_name, r.service_namespace);
  for (const g of graph) {
    const t = Number(g.t);
    const from = ids.service(nsOf.get(g.client) ?? '', g.client);
    const to = ids.service(nsOf.get(g.server) ?? '', g.server);
    // Services the resources already describe keep their attributes: an observation without them here would
    // read as a change (service.version 1.4 → '') and fake a recent deploy.
    for (const [id, name] of [[from, g.client], [to, g.server]] as const) if (!nsOf.has(name)) batch.entities.push({ id, kind: 'service', name, attrs: {}, t });
    batch.edges.push({ type: 'CALLS', from, to, t });
  }

  await collectorConnections(store, p, batch);
  return batch;
}

/** TCP connections seen by the collector → host/process CONNECTS edges, peers resolved by local addresses. */
async function collectorConnections(store: TelemetryStore, p: Record<string, number>, batch: TopologyBatch): Promise<void> {
  const db = store.database;
  const rows = await store.query<{ host: string; pid: number; exe: string; peer_host: string; peer_pid: number; addr: string; port: string; t: number }>(
    `WITH conns AS (
        SELECT host_name AS host, process_pid AS pid, process_executable_name AS exe,
               attributes['network.peer.address'] AS peer, attributes['network.peer.port'] AS peer_port,
               attributes['network.local.address'] AS local, attributes['network.local.port'] AS local_port,
               attributes['aiops.tcp.direction'] AS dir, timestamp
        FROM ${db}.collector_events WHERE event_name = 'aiops.tcp.connection' AND ${IN_WINDOW}),
      owners AS (SELECT local, any(host) AS host FROM conns WHERE local != '' GROUP BY local),
      listeners AS (SELECT host, local_port, any(pid) AS pid FROM conns WHERE dir = 'inbound' GROUP BY host, local_port)
     SELECT c.host AS host, c.pid AS pid, any(c.exe) AS exe, o.host AS peer_host, l.pid AS peer_pid, c.peer AS addr, c.peer_port AS port,
            toUnixTimestamp64Milli(max(c.timestamp)) AS t
     FROM conns AS c
     LEFT JOIN owners AS o ON o.local = c.peer
     LEFT JOIN listeners AS l ON l.host = o.host AND l.local_port = c.peer_port
     WHERE c.dir = 'outbound'
     GROUP BY host, pid, peer_host, peer_pid, addr, port, toStartOfMinute(c.timestamp)`,
    p,
  );
  for (const r of rows) {
    const t = Number(r.t);
    const from = ids.host(r.host);
    const proc = ids.process(r.host, r.pid);
    batch.entities.push({ id: proc, kind: 'process', name: `${r.exe || 'pid'}:${r.pid}`, attrs: { 'process.pid': String(r.pid), 'process.executable.name': r.exe }, t });
    batch.entities.push({ id: from, kind: 'host', name: r.host, attrs: {}, t });
    batch.edges.push({ type: 'RUNS', from, to: proc, t });
    if (r.peer_host) {
      const to = ids.host(r.peer_host);
      if (to !== from) batch.edges.push({ type: 'CONNECTS', from, to, t });
      if (r.peer_pid) batch.edges.push({ type: 'CONNECTS', from: proc, to: ids.process(r.peer_host, r.peer_pid), t });
    } else {
      const ext = ids.external(r.addr, r.port);
      batch.entities.push({ id: ext, kind: 'external', name: `${r.addr}:${r.port}`, attrs: { 'server.address': r.addr }, t });
      batch.edges.push({ type: 'CONNECTS', from: proc, to: ext, t }, { type: 'CONNECTS', from, to: ext, t });
    }
  }
}
