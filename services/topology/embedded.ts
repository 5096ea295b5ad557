/**
 * The embedded topology store: the graph lives in memory with adjacency indexes (so k-hop and as-of are fast)
 * and persists to disk as a snapshot plus an append-only journal of changed records. The topology is derived
 * from stored telemetry, so a lost journal tail costs a re-extraction, not data: writes are not fsynced.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChangeRecord, EdgeRecord, EntityRecord, Millis, TopologyBatch, TopologySnapshot } from './model.ts';
import { edgeId } from './model.ts';
import { observeEdge, observeEntity, presentAt, presentDuring } from './intervals.ts';
import type { TopologyStore } from './store.ts';

type JournalLine = { e: EntityRecord } | { r: EdgeRecord } | { c: ChangeRecord };

export interface EmbeddedTopologyOptions {
  /** Directory for the snapshot and journal; memory only when omitted (tests). */
  dir?: string;
  /** Journal size that triggers a compaction into a new snapshot. */
  compactBytes?: number;
}

export class EmbeddedTopologyStore implements TopologyStore {
  readonly kind = 'embedded' as const;
  private readonly entities = new Map<string, EntityRecord>();
  private readonly edges = new Map<string, EdgeRecord>();
  private readonly out = new Map<string, Set<string>>();
  private readonly in = new Map<string, Set<string>>();
  private changeLog: ChangeRecord[] = [];
  private readonly journal?: string;
  private readonly snapshot?: string;

  constructor(private readonly opts: EmbeddedTopologyOptions = {}) {
    if (opts.dir) {
      mkdirSync(opts.dir, { recursive: true });
      this.journal = join(opts.dir, 'journal.jsonl');
      this.snapshot = join(opts.dir, 'snapshot.jsonl');
    }
  }

  async init(): Promise<void> {
    for (const file of [this.snapshot, this.journal]) {
      if (!file || !existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        let parsed: JournalLine;
        try {
          parsed = JSON.parse(line) as JournalLine;
        } catch {
          continue; // a torn last line from a crash: the record is re-derived on the next extraction
        }
        if ('e' in parsed) this.entities.set(parsed.e.id, parsed.e);
        else if ('r' in parsed) this.putEdge(parsed.r);
        else this.changeLog.push(parsed.c);
      }
    }
    this.changeLog.sort((a, b) => a.t - b.t);
  }

  private putEdge(r: EdgeRecord): void {
    this.edges.set(r.id, r);
    if (!this.out.has(r.from)) this.out.set(r.from, new Set());
    if (!this.in.has(r.to)) this.in.set(r.to, new Set());
    this.out.get(r.from)!.add(r.id);
    this.in.get(r.to)!.add(r.id);
  }

  async apply(batch: TopologyBatch): Promise<{ entities: number; edges: number; changes: number }> {
    const lines: string[] = [];
    let entities = 0;
    let edges = 0;
    const changes: ChangeRecord[] = [];
    for (const obs of batch.entities) {
      const before = this.entities.get(obs.id);
      const { record, changes: c } = observeEntity(before, obs);
      if (record !== before) {
        this.entities.set(record.id, record);
        lines.push(JSON.stringify({ e: record }));
        entities++;
      }
      for (const ch of c) {
        changes.push(ch);
        lines.push(JSON.stringify({ c: ch }));
      }
    }
    for (const obs of batch.edges) {
      const before = this.edges.get(edgeId(obs.type, obs.from, obs.to));
      const record = observeEdge(before, obs);
      if (record !== before) {
        this.putEdge(record);
        lines.push(JSON.stringify({ r: record }));
        edges++;
      }
    }
    if (changes.length > 0) {
      this.changeLog.push(...changes);
      this.changeLog.sort((a, b) => a.t - b.t);
    }
    if (this.journal && lines.length > 0) {
      appendFileSync(this.journal, lines.join('\n') + '\n');
      if (statSync(this.journal).size > (this.opts.compactBytes ?? 256 * 1024 * 1024)) this.compact();
    }
    return { entities, edges, changes: changes.length };
  }

  /** Rewrites the snapshot from memory and starts an empty journal. */
  private compact(): void {
    if (!this.snapshot || !this.journal) return;
    const tmp = `${this.snapshot}.tmp`;
    const parts: string[] = [];
    for (const e of this.entities.values()) parts.push(JSON.stringify({ e }));
    for (const r of this.edges.values()) parts.push(JSON.stringify({ r }));
    for (const c of this.changeLog) parts.push(JSON.stringify({ c }));
    writeFileSync(tmp, parts.join('\n') + '\n');
    renameSync(tmp, this.snapshot);
    writeFileSync(this.journal, '');
  }

  async asOf(t: Millis): Promise<TopologySnapshot> {
    return {
      entities: [...this.entities.values()].filter((e) => presentAt(e.intervals, t)),
      edges: [...this.edges.values()].filter((e) => presentAt(e.intervals, t)),
    };
  }

  async window(t1: Millis, t2: Millis): Promise<TopologySnapshot> {
    return {
      entities: [...this.entities.values()].filter((e) => presentDuring(e.intervals, t1, t2)),
      edges: [...this.edges.values()].filter((e) => presentDuring(e.intervals, t1, t2)),
    };
  }

  async entity(id: string): Promise<EntityRecord | undefined> {
    return this.entities.get(id);
  }

  async edgesOf(id: string): Promise<EdgeRecord[]> {
    const ids = new Set([...(this.out.get(id) ?? []), ...(this.in.get(id) ?? [])]);
    return [...ids].map((e) => this.edges.get(e)!);
  }

  async changes(t1: Millis, t2: Millis, entity?: string): Promise<ChangeRecord[]> {
    // The log is sorted by time: binary-search the start.
    let lo = 0;
    let hi = this.changeLog.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.changeLog[mid]!.t <= t1) lo = mid + 1;
      else hi = mid;
    }
    const out: ChangeRecord[] = [];
    for (let i = lo; i < this.changeLog.length && this.changeLog[i]!.t <= t2; i++) {
      const c = this.changeLog[i]!;
      if (!entity || c.entity === entity) out.push(c);
    }
    return out;
  }

  async neighbourhood(id: string, t: Millis, hops: number, direction: 'up' | 'down' | 'both'): Promise<TopologySnapshot> {
    const start = this.entities.get(id);
    if (!start || !presentAt(start.intervals, t)) return { entities: [], edges: [] };
    const seen = new Set([id]);
    const edges = new Map<string, EdgeRecord>();
    let frontier = [id];
    for (let h = 0; h < hops && frontier.length > 0; h++) {
      const next: string[] = [];
      for (const node of frontier) {
        const candidates: [Set<string> | undefined, 'to' | 'from'][] = [];
        if (direction !== 'up') candidates.push([this.out.get(node), 'to']);
        if (direction !== 'down') candidates.push([this.in.get(node), 'from']);
        for (const [set, end] of candidates) {
          for (const eid of set ?? []) {
            const e = this.edges.get(eid)!;
            if (!presentAt(e.intervals, t)) continue;
            const other = e[end];
            const ent = this.entities.get(other);
            if (!ent || !presentAt(ent.intervals, t)) continue;
            edges.set(e.id, e);
            if (!seen.has(other)) {
              seen.add(other);
              next.push(other);
            }
          }
        }
      }
      frontier = next;
    }
    return { entities: [...seen].map((s) => this.entities.get(s)!), edges: [...edges.values()] };
  }

  async close(): Promise<void> {
    /* appends are synchronous; nothing buffered */
  }
}
