/**
 * The ingest write path: admit (bounded memory) → decode in worker threads → append to the WAL (durable, then
 * acknowledged) → flush to the telemetry store in the background.
 */
import { join } from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Config } from '../shared/config.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import type { WalTable } from '../shared/telemetry/schema.ts';
import { Flusher } from './flusher.ts';
import type { Signal } from './otlp/decode.ts';
import { InvalidInputError } from './rows/errors.ts';
import { Wal } from './wal.ts';
import type { DecodeResult, DecodeTask } from './worker.ts';

/** The service is full: the client should retry after `retryAfterS`. */
export class OverloadError extends Error {
  constructor(
    message: string,
    readonly statusCode: 429 | 503,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = 'OverloadError';
  }
}

export interface IngestPipelineOptions {
  walDir: string;
  store: TelemetryStore;
  registry: Registry;
  log: Logger;
  limits: Config['ingest'];
  /** Upper bound on request bytes being decoded at once; beyond it requests get 429. */
  maxInflightBytes?: number;
  /** Told, after each flush, which event-time minutes (ms) gained stored rows. */
  onStored?: (minutes: number[]) => void;
}

/** At most a day of minutes per request is reported: a wider request is a replay, extracted by its minutes' neighbours. */
const MAX_MINUTES_PER_REQUEST = 1440;

export class IngestPipeline {
  private inflightBytes = 0;
  private dirtyMinutes = new Set<number>();
  private readonly maxInflightBytes: number;
  private readonly metrics;

  private constructor(
    private readonly wal: Wal,
    private readonly flusher: Flusher,
    private readonly pool: Piscina<DecodeTask, DecodeResult>,
    private readonly opts: IngestPipelineOptions,
  ) {
    this.maxInflightBytes = opts.maxInflightBytes ?? 256 * 1024 * 1024;
    const r = opts.registry;
    this.metrics = {
      items: new Counter({ name: 'rootline_ingest_items_total', help: 'Items acknowledged, by table', labelNames: ['table'], registers: [r] }),
      rejected: new Counter({ name: 'rootline_ingest_rejected_total', help: 'Requests refused, by reason', labelNames: ['reason'], registers: [r] }),
      stored: new Counter({ name: 'rootline_store_rows_flushed_bytes_total', help: 'WAL bytes moved to the telemetry store', registers: [r] }),
      flushSeconds: new Histogram({ name: 'rootline_store_flush_seconds', help: 'Duration of one WAL batch insert', registers: [r], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10] }),
      flushErrors: new Counter({ name: 'rootline_store_flush_errors_total', help: 'Failed inserts (retried)', registers: [r] }),
      quarantined: new Counter({ name: 'rootline_store_quarantined_records_total', help: 'Acknowledged requests the store refused, kept under wal/quarantine', registers: [r] }),
    };
    const backlog = () => this.wal.backlogBytes();
    const inflight = () => this.inflightBytes;
    new Gauge({ name: 'rootline_wal_backlog_bytes', help: 'Acknowledged bytes not yet in the telemetry store', registers: [r], collect() { this.set(backlog()); } });
    new Gauge({ name: 'rootline_ingest_inflight_bytes', help: 'Request bytes being decoded', registers: [r], collect() { this.set(inflight()); } });
  }

  static async open(opts: IngestPipelineOptions): Promise<IngestPipeline> {
    const wal = await Wal.open({ dir: opts.walDir, sync: opts.limits.walSync });
    const pool = new Piscina<DecodeTask, DecodeResult>({
      filename: new URL('./worker-entry.mjs', import.meta.url).href,
      minThreads: opts.limits.workers,
      maxThreads: opts.limits.workers,
      maxQueue: opts.limits.maxQueuedRequests,
      idleTimeout: 60_000,
      // Decoding makes many short-lived objects: a larger young generation means far fewer scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    const ref: { self?: IngestPipeline } = {};
    const flusher = new Flusher(wal, opts.store, opts.log, {
      intervalMs: opts.limits.flushIntervalMs,
      maxBytes: opts.limits.flushMaxBytes,
      onFlushed: (batch, s) => {
        ref.self?.metrics.stored.inc(batch.bytes);
        ref.self?.metrics.flushSeconds.observe(s);
        ref.self?.reportStored();
      },
      onError: () => ref.self?.metrics.flushErrors.inc(),
      quarantineDir: join(opts.walDir, 'quarantine'),
      onQuarantined: (n) => ref.self?.metrics.quarantined.inc(n),
    });
    const self = new IngestPipeline(wal, flusher, pool, opts);
    ref.self = self;
    flusher.start();
    return self;
  }

  /** Refuses work the service cannot hold right now; call before reading a body of `bytes`. */
  admit(bytes: number): void {
    if (this.wal.backlogBytes() > this.opts.limits.walMaxBacklogBytes) {
      this.metrics.rejected.inc({ reason: 'store_backlog' });
      throw new OverloadError('telemetry store is behind; acknowledged data is safe, retry later', 503, 5);
    }
    if (this.inflightBytes + bytes > this.maxInflightBytes || this.pool.queueSize >= this.opts.limits.maxQueuedRequests) {
      this.metrics.rejected.inc({ reason: 'busy' });
      throw new OverloadError('ingest is at capacity; retry later', 429, 1);
    }
  }

  /** Decodes, validates and durably stores one OTLP request; returns the number of items. */
  async ingestOtlp(signal: Signal, body: Buffer, encoding: 'protobuf' | 'json', contentEncoding?: string): Promise<number> {
    this.admit(body.byteLength);
    this.inflightBytes += body.byteLength;
    let result: DecodeResult;
    try {
      const l = this.opts.limits;
      result = await this.pool.run({
        signal,
        body,
        encoding,
        contentEncoding,
        maxDecompressedBytes: l.maxDecompressedBytes,
        maxAttributes: l.maxAttributes,
        maxFutureSkewMs: l.maxFutureSkewMs,
      });
    } catch (err) {
      if (/queue is at limit/i.test(String(err))) throw new OverloadError('ingest is at capacity; retry later', 429, 1);
      throw err;
    } finally {
      this.inflightBytes -= body.byteLength;
    }
    if (!result.ok) {
      this.metrics.rejected.inc({ reason: `http_${result.status}` });
      if (result.status >= 500) throw new Error(result.message);
      throw new InvalidInputError(result.message, result.status as 400);
    }
    if (result.count > 0) await this.appendRows(result.table, result.rows, result.count, result.minMs, result.maxMs);
    return result.count;
  }

  private noteMinutes(minMs: number, maxMs: number): void {
    if (!this.opts.onStored || !Number.isFinite(minMs) || !Number.isFinite(maxMs)) return;
    const first = Math.floor(minMs / 60_000) * 60_000;
    const last = Math.min(Math.floor(maxMs / 60_000) * 60_000, first + (MAX_MINUTES_PER_REQUEST - 1) * 60_000);
    for (let m = first; m <= last; m += 60_000) this.dirtyMinutes.add(m);
  }

  /** Hands the minutes touched since the last report to `onStored`. Called after each flush. */
  private reportStored(): void {
    if (this.dirtyMinutes.size === 0 || !this.opts.onStored) return;
    const minutes = [...this.dirtyMinutes].sort((a, b) => a - b);
    this.dirtyMinutes = new Set();
    this.opts.onStored(minutes);
  }

  /** Durably stores pre-built rows (collector events, alerts) whose event times span [minMs, maxMs]. */
  async appendRows(table: WalTable, rows: Uint8Array, count: number, minMs = NaN, maxMs = NaN): Promise<void> {
    await this.wal.append([{ table, data: rows }]);
    this.noteMinutes(minMs, maxMs);
    this.metrics.items.inc({ table }, count);
    if (this.wal.backlogBytes() >= this.opts.limits.flushMaxBytes) this.flusher.nudge();
  }

  backlogBytes(): number {
    return this.wal.backlogBytes();
  }

  /** Resolves when everything acknowledged so far is in the telemetry store. */
  drained(): Promise<void> {
    return this.flusher.drained();
  }

  async close(): Promise<void> {
    await this.pool.destroy();
    await this.flusher.stop();
    await this.wal.close();
  }
}
