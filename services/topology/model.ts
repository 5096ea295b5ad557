/**
 * The topology data model: entities (vertical: cluster, node, host, pod, container, process, service,
 * endpoint; plus external peers) and edges (vertical CONTAINS/RUNS/IMPLEMENTS/EXPOSES, horizontal
 * CALLS/CONNECTS), each valid over time intervals. Identity comes from OpenTelemetry resource attributes.
 */

export const ENTITY_KINDS = ['cluster', 'node', 'host', 'pod', 'container', 'process', 'service', 'endpoint', 'external'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

export const EDGE_TYPES = ['CONTAINS', 'RUNS', 'IMPLEMENTS', 'EXPOSES', 'CALLS', 'CONNECTS'] as const;
export type EdgeType = (typeof EDGE_TYPES)[number];
/** Edges that place an entity inside another (the vertical stack); the rest are horizontal. */
export const VERTICAL_EDGES: readonly EdgeType[] = ['CONTAINS', 'RUNS', 'IMPLEMENTS', 'EXPOSES'];

/** Milliseconds since the epoch. */
export type Millis = number;

/** A closed validity interval [start, end] in ms. */
export type Interval = [Millis, Millis];

/** One sighting of an entity with its attributes at time `t`. */
export interface EntityObservation {
  id: string;
  kind: EntityKind;
  name: string;
  attrs: Record<string, string>;
  t: Millis;
  /** Seen continuously from `t` until this time (a minute's first and last sighting); default `t`. */
  until?: Millis;
}

/** One sighting of an edge at time `t` (the minute's statistics live in the telemetry store). */
export interface EdgeObservation {
  type: EdgeType;
  from: string;
  to: string;
  t: Millis;
  /** Seen continuously from `t` until this time; default `t`. */
  until?: Millis;
}

/** A delta the topology worker applies; applying the same batch twice changes nothing. */
export interface TopologyBatch {
  entities: EntityObservation[];
  edges: EdgeObservation[];
}

export interface EntityRecord {
  id: string;
  kind: EntityKind;
  name: string;
  /** Attributes as last observed. */
  attrs: Record<string, string>;
  /** Sorted, non-overlapping. */
  intervals: Interval[];
  /** Time of the observation that set `attrs`. */
  attrsAt: Millis;
}

export interface EdgeRecord {
  id: string;
  type: EdgeType;
  from: string;
  to: string;
  intervals: Interval[];
}

/** A recorded change of an entity's attributes (appear/disappear derive from intervals). */
export interface ChangeRecord {
  t: Millis;
  entity: string;
  attr: string;
  before: string;
  after: string;
}

/** Entities and edges as they were at one moment, or over a window. */
export interface TopologySnapshot {
  entities: EntityRecord[];
  edges: EdgeRecord[];
}

export const edgeId = (type: EdgeType, from: string, to: string): string => `${type}:${from}->${to}`;

/** Entity ids: a kind prefix and the identifying attributes, so the same thing gets the same id everywhere. */
export const ids = {
  cluster: (name: string) => `cluster:${name}`,
  node: (name: string) => `node:${name}`,
  host: (name: string) => `host:${name}`,
  pod: (namespace: string, name: string) => `pod:${namespace}/${name}`,
  container: (id: string) => `container:${id}`,
  process: (host: string, pid: string | number, start?: string | number) => `process:${host}/${pid}${start ? `@${start}` : ''}`,
  service: (namespace: string, name: string) => `service:${namespace ? `${namespace}/` : ''}${name}`,
  endpoint: (service: string, route: string) => `endpoint:${service.replace(/^service:/, '')}:${route}`,
  external: (address: string, port?: string | number) => `external:${address}${port ? `:${port}` : ''}`,
};
