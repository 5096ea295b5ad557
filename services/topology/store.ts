import type { ChangeRecord, EdgeRecord, EntityRecord, Millis, TopologyBatch, TopologySnapshot } from './model.ts';

/**
 * The topology store port: an embedded store persisted on disk, or Neo4j. Both keep validity intervals and
 * the change log with the same rules (services/topology/intervals.ts), and answer the same queries.
 */
export interface TopologyStore {
  readonly kind: 'embedded' | 'neo4j';
  /** Creates constraints and indexes if missing. */
  init(): Promise<void>;
  /** Applies observations: extends or opens intervals, records attribute changes. Idempotent. */
  apply(batch: TopologyBatch): Promise<{ entities: number; edges: number; changes: number }>;
  /** Entities and edges present at `t`. */
  asOf(t: Millis): Promise<TopologySnapshot>;
  /** Entities and edges present at any moment of [t1, t2]. */
  window(t1: Millis, t2: Millis): Promise<TopologySnapshot>;
  /** One entity with its full interval history, or undefined. */
  entity(id: string): Promise<EntityRecord | undefined>;
  /** Edges touching `id` (either direction), all time. */
  edgesOf(id: string): Promise<EdgeRecord[]>;
  /** Attribute changes with t1 < t ≤ t2, oldest first; of one entity when `entity` is given. */
  changes(t1: Millis, t2: Millis, entity?: string): Promise<ChangeRecord[]>;
  /** Entities and edges reachable from `id` within `hops` at `t`, following direction if asked. */
  neighbourhood(id: string, t: Millis, hops: number, direction: 'up' | 'down' | 'both'): Promise<TopologySnapshot>;
  close(): Promise<void>;
}
