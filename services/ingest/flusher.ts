/**
 * Moves acknowledged rows from the WAL to the telemetry store in large batches: few, big inserts are what
 * MergeTree wants. A failed insert is retried with the same batch boundaries and deduplication tokens until
 * the store is back, so an outage of ClickHouse delays data but never loses or doubles it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import type { WalTable } from '../shared/telemetry/schema.ts';
import type { Wal, WalBatch, WalPosition } from './wal.ts';

export interface FlusherOptions {
  intervalMs: number;
  maxBytes: number;
  /** Where records the store refuses for their content are kept (never dropped silently). */
  quarantineDir: string;
  onQuarantined?: (records: number, bytes: number) => void;
  onFlushed?: (batch: WalBatch, seconds: number) => void;
  onError?: (err: Error) => void;
}

export class Flusher {
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private retryUntil: WalPosition | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly wal: Wal,
    private readonly store: TelemetryStore,
    private readonly log: Logger,
    private readonly opts: FlusherOptions,
  ) {
    this.retryUntil = wal.inFlightBatchEnd();
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Asks for a flush now instead of at the next interval. */
  nudge(): void {
    this.wake?.();
  }

  /** Resolves when everything acknowledged so far is stored. */
  async drained(): Promise<void> {
    if (this.wal.backlogBytes() === 0) return;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.nudge();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.nudge();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    for (;;) {
      const batch = this.wal.readBatch(this.opts.maxBytes, this.retryUntil);
      if (!batch) {
        for (const w of this.idleWaiters.splice(0)) w();
        if (this.stopped) return;
        await this.sleep(this.opts.intervalMs);
        continue;
      }
      try {
        // A batch that failed twice while the store answers is refused for its content: insert it record by
        // record so good requests are stored and only the bad ones go to quarantine.
        if (failures >= 2 && (await this.store.ping().catch(() => false))) await this.insertSalvaging(batch);
        else await this.insert(batch);
        failures = 0;
        this.retryUntil = undefined;
      } catch (err) {
        failures += 1;
        this.retryUntil = batch.to;
        this.wal.rewind();
        this.opts.onError?.(err as Error);
        this.log.warn({ err, failures }, 'telemetry store insert failed; will retry the same batch');
        if (this.stopped && failures > 3) return; // shutting down: the WAL keeps it for the next start
        await this.sleep(Math.min(30_000, 100 * 2 ** Math.min(failures, 9)));
        continue;
      }
      // Under load the next batch is already waiting; otherwise give requests a moment to accumulate.
      if (this.wal.backlogBytes() < this.opts.maxBytes / 4 && !this.stopped && this.idleWaiters.length === 0) {
        await this.sleep(this.opts.intervalMs);
      }
    }
  }

  private async insertSalvaging(batch: WalBatch): Promise<void> {
    this.wal.markInFlight(batch.to);
    const token = `${batch.from.segment}.${batch.from.offset}-${batch.to.segment}.${batch.to.offset}`;
    let bad = 0;
    let badBytes = 0;
    for (let i = 0; i < batch.records.length; i++) {
      const r = batch.records[i]!;
      try {
        await this.store.insertTsv(r.table, [r.data], `${token}-${r.table}-r${i}`);
      } catch (err) {
        if (!(await this.store.ping().catch(() => false))) throw err; // the store went away: retry later
        mkdirSync(this.opts.quarantineDir, { recursive: true });
        const file = join(this.opts.quarantineDir, `${token}-r${i}.${r.table}.tsv`);
        writeFileSync(file, r.data);
        this.log.error({ err, file, table: r.table, bytes: r.data.byteLength }, 'telemetry store refused acknowledged rows; kept in quarantine');
        bad++;
        badBytes += r.data.byteLength;
      }
    }
    this.wal.commit(batch);
    if (bad > 0) this.opts.onQuarantined?.(bad, badBytes);
  }

  private async insert(batch: WalBatch): Promise<void> {
    const started = process.hrtime.bigint();
    this.wal.markInFlight(batch.to);
    const byTable = new Map<WalTable, Uint8Array[]>();
    for (const r of batch.records) {
      const list = byTable.get(r.table) ?? [];
      list.push(r.data);
      byTable.set(r.table, list);
    }
    const token = `${batch.from.segment}.${batch.from.offset}-${batch.to.segment}.${batch.to.offset}`;
    for (const [table, chunks] of byTable) await this.store.insertTsv(table, chunks, `${token}-${table}`);
    this.wal.commit(batch);
    this.opts.onFlushed?.(batch, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
