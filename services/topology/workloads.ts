/**
 * Services seen only by the eBPF collector: workloads (named by ../shared/workload.ts) that answer HTTP, as
 * the collector's server-side `aiops.http.request` events show them. Shared by the topology, the service
 * watch and the RCA snapshot, so all three agree on which workloads are services and where clients reach them.
 *
 * A name is computed in JS from the attributes of an event (not in SQL, so there is one naming function);
 * SQL groups by the attributes it is computed from ({@link WORKLOAD_KEY}) and maps keys to names with
 * `transform` and parameter arrays, so per-service quantiles are still computed over every event.
 */
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { WORKLOAD_ATTRS, workloadService } from '../shared/workload.ts';

/** SQL: the naming attributes of a collector event, joined by U+001F (see {@link keyService}). */
export const WORKLOAD_KEY = `arrayStringConcat([${WORKLOAD_ATTRS.map((a) => `attributes['${a}']`).join(', ')}], char(31))`;
/** SQL: a server-side HTTP exchange the collector saw. */
export const HTTP_SERVER = `event_name = 'aiops.http.request' AND attributes['aiops.http.side'] = 'server'`;
const WIN = 'timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND timestamp < fromUnixTimestamp64Milli({to:Int64})';

/** The service name a {@link WORKLOAD_KEY} value stands for. */
export function keyService(key: string): string | undefined {
  const v = key.split('\u001f');
  return workloadService(Object.fromEntries(WORKLOAD_ATTRS.map((a, i) => [a, v[i] ?? ''])));
}

/** The service a client's `server.address` names: itself, or the first label of a Kubernetes Service DNS name. */
export function addressName(address: string): string {
  return address.includes('.svc.') || address.endsWith('.svc') ? address.split('.')[0]! : address;
}

/**
 * Where clients reach services: `address:port` → service name, learned from the address a server answered
 * on. Also per host (`host|address:port`), which is what tells loopback servers of different hosts apart; an
 * address two services answer on is ambiguous and resolves to nothing.
 */
export class PeerMap {
  private readonly names = new Map<string, string | null>();

  add(host: string, address: string, port: string | number, name: string): void {
    if (!address || !port || String(port) === '0') return;
    for (const k of [`${address}:${port}`, `${host}|${address}:${port}`]) {
      const prev = this.names.get(k);
      this.names.set(k, prev === undefined || prev === name ? name : null);
    }
  }

  resolve(host: string, address: string, port: string | number): string | undefined {
    return this.names.get(`${host}|${address}:${port}`) ?? this.names.get(`${address}:${port}`) ?? undefined;
  }

  /** The unambiguous entries, as parallel arrays for SQL `transform`. */
  entries(): [string[], string[]] {
    const known = [...this.names].filter((e): e is [string, string] => e[1] !== null);
    return [known.map(([k]) => k), known.map(([, v]) => v)];
  }
}

export interface EbpfServices {
  /** Workload key → service name, for the services below only. */
  keys: Map<string, string>;
  /** Names of workloads that answer HTTP and send no OpenTelemetry server spans. */
  names: Set<string>;
  /** Where clients reach them. */
  peers: PeerMap;
}

/**
 * Workloads the collector saw answering HTTP in [from, to) that no OpenTelemetry server span speaks for: a
 * workload whose name is a `service.name` with server spans is that service, which reports itself (its
 * signals would otherwise count twice).
 */
export async function ebpfServices(store: TelemetryStore, from: number, to: number): Promise<EbpfServices> {
  const db = store.database;
  const rows = await store.query<{ key: string; host: string; addr: string; port: string }>(
    `SELECT ${WORKLOAD_KEY} AS key, host_name AS host, attributes['network.local.address'] AS addr, attributes['network.local.port'] AS port
     FROM ${db}.collector_events WHERE ${WIN} AND ${HTTP_SERVER} GROUP BY key, host, addr, port`,
    { from, to },
  );
  const named = rows.map((r) => ({ ...r, name: keyService(r.key) })).filter((r): r is typeof r & { name: string } => !!r.name);
  const out: EbpfServices = { keys: new Map(), names: new Set(), peers: new PeerMap() };
  if (named.length === 0) return out;
  const otel = await otelServed(store, from, to, [...new Set(named.map((r) => r.name))]);
  for (const r of named) {
    // Every workload's address resolves (a refused call to an instrumented service has no child span to
    // name it); only the uninstrumented ones are services made from the collector's events.
    out.peers.add(r.host, r.addr, r.port, r.name);
    if (otel.has(r.name)) continue;
    out.keys.set(r.key, r.name);
    out.names.add(r.name);
  }
  return out;
}

/** The names among `names` that have OpenTelemetry server (or consumer, or root) spans in [from, to). */
export async function otelServed(store: TelemetryStore, from: number, to: number, names: string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await store.query<{ name: string }>(
    `SELECT DISTINCT service_name AS name FROM ${store.database}.spans
     WHERE ${WIN} AND service_name IN {names:Array(String)} AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id = '')`,
    { from, to, names },
  );
  return new Set(rows.map((r) => r.name));
}

export interface WorkloadHttpRow {
  service: string;
  /** Start of the step, epoch ms. */
  minute: number;
  /** p90 of `aiops.http.duration_ns`, in ms. */
  p90: number;
  requests: number;
  /** Answers with a status of 500 or more. */
  errors: number;
}

/** Per service and step: the server-side HTTP the collector saw of the workloads in `keys` (key → name). */
export async function workloadHttp(store: TelemetryStore, from: number, to: number, step: number, keys: Map<string, string>): Promise<WorkloadHttpRow[]> {
  if (keys.size === 0) return [];
  const rows = await store.query<WorkloadHttpRow>(
    `SELECT transform(${WORKLOAD_KEY}, {keys:Array(String)}, {names:Array(String)}, '') AS service,
            intDiv(toUnixTimestamp64Milli(timestamp), {step:Int64}) * {step:Int64} AS minute,
            quantile(0.9)(toFloat64OrZero(attributes['aiops.http.duration_ns'])) / 1e6 AS p90, count() AS requests,
            countIf(toUInt16OrZero(attributes['http.response.status_code']) >= 500) AS errors
     FROM ${store.database}.collector_events WHERE ${WIN} AND ${HTTP_SERVER} AND service != ''
     GROUP BY service, minute`,
    { from, to, step, keys: [...keys.keys()], names: [...keys.values()] },
  );
  return rows.map((r) => ({ service: r.service, minute: Number(r.minute), p90: Number(r.p90), requests: Number(r.requests), errors: Number(r.errors) }));
}

/**
 * SQL: the id of the eBPF-only service a client span (alias `s`) calls, by its `server.address` or its peer's
 * address, else ''. The same resolution as {@link PeerMap.resolve} and {@link addressName}; parameters from
 * {@link peerParams}.
 */
export const PEER_SERVICE_SQL = (() => {
  const addr = `if(s.attributes['network.peer.address'] != '', s.attributes['network.peer.address'], s.server_address)`;
  const port = `if(s.attributes['network.peer.port'] != '', s.attributes['network.peer.port'], toString(s.server_port))`;
  const byName = `if(position(s.server_address, '.svc.') > 0 OR endsWith(s.server_address, '.svc'), splitByChar('.', s.server_address)[1], s.server_address)`;
  const byAddr = `transform(concat(s.host_name, '|', ${addr}, ':', ${port}), {peerKeys:Array(String)}, {peerKeyIds:Array(String)},
                   transform(concat(${addr}, ':', ${port}), {peerKeys:Array(String)}, {peerKeyIds:Array(String)}, ''))`;
  return `transform(${byName}, {peerNames:Array(String)}, {peerNameIds:Array(String)}, ${byAddr})`;
})();

/** The parameters of {@link PEER_SERVICE_SQL}: `idOf` turns a service name into its entity id. */
export function peerParams(services: EbpfServices, idOf: (name: string) => string): Record<string, string[]> {
  const [keys, names] = services.peers.entries();
  const all = [...services.names];
  return { peerNames: all, peerNameIds: all.map(idOf), peerKeys: keys, peerKeyIds: names.map(idOf) };
}
