/**
 * Topology of the services the eBPF collector sees (see ./workloads.ts), for one extraction window:
 * - a workload answering HTTP (server-side `aiops.http.request`) is `service:<name>` (attribute
 *   `aiops.source=ebpf`), its processes IMPLEMENT it, and it EXPOSES `METHOD /path` endpoints;
 * - a process calling an address where a service answers (client-side HTTP, outbound TCP) makes its service
 *   (from its OpenTelemetry resource, else its workload) CALL that one;
 * - OpenTelemetry client spans to such a service are resolved by the caller (see {@link WorkloadTopology}).
 * A workload whose name is an OpenTelemetry `service.name` is that service: it gets edges, never a second
 * entity, and its attributes stay as OpenTelemetry reports them.
 */
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import type { TopologyBatch } from './model.ts';
import { ids } from './model.ts';
import { HTTP_SERVER, PeerMap, WORKLOAD_KEY, addressName, keyService } from './workloads.ts';

const IN_WINDOW = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';
/**
 * How far back an OpenTelemetry `service.name` still counts as reported. Spans of a minute may land after the
 * collector's events of that minute; an entity observed without them would carry `aiops.source` and then
 * read as changed (a fake deploy) when they come.
 */
const OTEL_LOOKBACK_MS = 15 * 60_000;
/** Distinct paths read per workload and window: raw paths carry ids, and only the busiest are endpoints. */
const MAX_PATHS = 100;

export interface WorkloadTopology {
  /** The id of the eBPF-only service a client reaches by this `server.address` or peer address, if any. */
  peer(host: string, serverAddress: string, address: string, port: string | number): string | undefined;
}

interface Resource {
  service_namespace: string;
  service_name: string;
  host_name: string;
  process_pid: number;
}

export async function workloadObservations(store: TelemetryStore, p: { from: number; to: number }, resources: readonly Resource[], batch: TopologyBatch): Promise<WorkloadTopology> {
  const db = store.database;
  const none: WorkloadTopology = { peer: () => undefined };
  // Where workloads answer: HTTP servers (these are the services) and TCP listeners (their addresses).
  const listening = await store.query<{ host: string; pid: number; key: string; http: number; addr: string; port: string; t: number }>(
    `SELECT host_name AS host, process_pid AS pid, ${WORKLOAD_KEY} AS key, event_name = 'aiops.http.request' AS http,
            attributes['network.local.address'] AS addr, attributes['network.local.port'] AS port, toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${db}.collector_events
     WHERE ${IN_WINDOW} AND ((${HTTP_SERVER}) OR (event_name = 'aiops.tcp.connection' AND attributes['aiops.tcp.direction'] = 'inbound'))
     GROUP BY host, pid, key, http, addr, port, toStartOfMinute(timestamp)`,
    p,
  );
  const serving = new Set(listening.filter((r) => Number(r.http)).map((r) => keyService(r.key)).filter((n): n is string => !!n));
  if (serving.size === 0) return none;
  const calling = await store.query<{ host: string; pid: number; key: string; addr: string; port: string; t: number }>(
    `SELECT host_name AS host, process_pid AS pid, ${WORKLOAD_KEY} AS key, attributes['network.peer.address'] AS addr,
            attributes['network.peer.port'] AS port, toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${db}.collector_events
     WHERE ${IN_WINDOW} AND ((event_name = 'aiops.http.request' AND attributes['aiops.http.side'] = 'client')
                          OR (event_name = 'aiops.tcp.connection' AND attributes['aiops.tcp.direction'] = 'outbound'))
     GROUP BY host, pid, key, addr, port, toStartOfMinute(timestamp)`,
    p,
  );
  const names = [...new Set([...listening, ...calling].map((r) => keyService(r.key)).filter((n): n is string => !!n))];
  const otel = await otelNames(store, p, names);
  const services = new Set([...serving, ...otel.keys()]);
  const idOf = (name: string) => ids.service(otel.get(name) ?? '', name);
  const ebpfOnly = (name: string) => !otel.has(name) && serving.has(name);

  const peers = new PeerMap();
  for (const r of listening) {
    const name = keyService(r.key);
    if (!name) continue;
    peers.add(r.host, r.addr, r.port, name);
    if (!Number(r.http)) continue;
    const t = Number(r.t);
    const svc = idOf(name);
    if (!otel.has(name)) batch.entities.push({ id: svc, kind: 'service', name, attrs: { 'aiops.source': 'ebpf' }, t });
    if (r.host && r.pid) batch.edges.push({ type: 'IMPLEMENTS', from: ids.process(r.host, r.pid), to: svc, t });
  }

  // Calls the collector saw: the caller's service is what its OpenTelemetry resource says, else its workload's.
  const bySource = new Map<string, string>();
  for (const r of resources) if (r.service_name && r.host_name && r.process_pid) bySource.set(`${r.host_name}/${r.process_pid}`, ids.service(r.service_namespace, r.service_name));
  for (const r of calling) {
    const own = keyService(r.key);
    const from = bySource.get(`${r.host}/${r.pid}`) ?? (own && services.has(own) ? idOf(own) : undefined);
    const callee = peers.resolve(r.host, r.addr, r.port);
    if (!from || !callee || !services.has(callee) || idOf(callee) === from) continue;
    batch.edges.push({ type: 'CALLS', from, to: idOf(callee), t: Number(r.t) });
  }

  await endpoints(store, p, batch, (key) => {
    const name = keyService(key);
    return name && ebpfOnly(name) ? { id: idOf(name), name } : undefined;
  });

  return {
    peer(host, serverAddress, address, port) {
      const byName = serverAddress ? addressName(serverAddress) : '';
      const name = ebpfOnly(byName) ? byName : peers.resolve(host, address || serverAddress, port);
      return name && ebpfOnly(name) ? idOf(name) : undefined;
    },
  };
}

/** The OpenTelemetry services among `names` (name → namespace), reported in the window or shortly before. */
async function otelNames(store: TelemetryStore, p: { from: number; to: number }, names: string[]): Promise<Map<string, string>> {
  const db = store.database;
  const q = { from: p.from - OTEL_LOOKBACK_MS, to: p.to, names };
  const where = `${IN_WINDOW} AND service_name IN {names:Array(String)}`;
  const rows = await store.query<{ name: string; ns: string }>(
    `SELECT service_name AS name, any(service_namespace) AS ns FROM (
        SELECT service_name, service_namespace FROM ${db}.spans WHERE ${where}
        UNION ALL SELECT service_name, service_namespace FROM ${db}.logs WHERE ${where}
        UNION ALL SELECT service_name, service_namespace FROM ${db}.metric_points WHERE ${where}
     ) GROUP BY name`,
    q,
  );
  return new Map(rows.map((r) => [r.name, r.ns]));
}

/** Endpoints of eBPF-only services: `METHOD /path`, ids in the path generalised (see {@link route}). */
async function endpoints(store: TelemetryStore, p: { from: number; to: number }, batch: TopologyBatch, serviceOf: (key: string) => { id: string; name: string } | undefined): Promise<void> {
  const rows = await store.query<{ key: string; method: string; path: string; t: number }>(
    `SELECT ${WORKLOAD_KEY} AS key, attributes['http.request.method'] AS method, attributes['url.path'] AS path, toUnixTimestamp64Milli(max(timestamp)) AS t
     FROM ${store.database}.collector_events WHERE ${IN_WINDOW} AND ${HTTP_SERVER} AND attributes['url.path'] != ''
     GROUP BY key, method, path ORDER BY count() DESC, path LIMIT ${MAX_PATHS} BY key`,
    p,
  );
  const seen = new Map<string, { svc: { id: string; name: string }; name: string; t: number }>();
  for (const r of rows) {
    const svc = serviceOf(r.key);
    if (!svc) continue;
    const name = `${r.method} ${route(r.path)}`;
    const id = ids.endpoint(svc.id, name);
    seen.set(id, { svc, name, t: Math.max(Number(r.t), seen.get(id)?.t ?? 0) });
  }
  for (const [id, e] of seen) {
    batch.entities.push({ id, kind: 'endpoint', name: e.name, attrs: { 'service.name': e.svc.name }, t: e.t });
    batch.edges.push({ type: 'EXPOSES', from: e.svc.id, to: id, t: e.t });
  }
}

/**
 * A raw path as a route: segments that look like ids (numbers, UUIDs, long hex or long tokens with digits)
 * become `:id`, so `/orders/42` and `/orders/43` are one endpoint. Names such as `/v1` stay.
 */
export function route(path: string): string {
  return path.split('/').map((s) => (/^\d+$|^[0-9a-f-]{8,}$|^(?=.*\d)[\w-]{16,}$/i.test(s) && /\d/.test(s) ? ':id' : s)).join('/') || '/';
}
