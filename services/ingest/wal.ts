/**
 * Write-ahead log: the reason a 2xx means durable. A request is acknowledged once its rows are written to the
 * log (group-committed with one writev; fdatasync too when `sync` is 'always', for power loss). A flusher
 * later moves records to ClickHouse in large batches and advances the checkpoint. A process killed at any
 * point loses nothing it acknowledged: on open, the log is scanned from the checkpoint, a torn tail (a write
 * that never completed, so was never acknowledged) is cut off, and the remaining records are replayed.
 *
 * Record: u32 payload length | u32 crc32(payload) | u8 table index | payload (TabSeparated rows).
 * Segments are `<12-digit number>.wal`; `checkpoint.json` holds the first unflushed position and, while a
 * batch is being inserted, that batch's end, so a replay after a crash inserts the very same batch again
 * (and ClickHouse's insert deduplication token makes that a no-op).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, ftruncateSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { WAL_TABLES, type WalTable } from '../shared/telemetry/schema.ts';

const HEADER = 9;

export interface WalPosition {
  segment: number;
  offset: number;
}
export interface WalRecord {
  table: WalTable;
  data: Uint8Array;
}
export interface WalBatch {
  from: WalPosition;
  to: WalPosition;
  records: WalRecord[];
  bytes: number;
}
interface Checkpoint {
  pos: WalPosition;
  inFlightTo?: WalPosition;
}

export interface WalOptions {
  dir: string;
  segmentBytes?: number;
  sync?: 'none' | 'always';
}

const segName = (n: number) => `${String(n).padStart(12, '0')}.wal`;
const cmp = (a: WalPosition, b: WalPosition) => a.segment - b.segment || a.offset - b.offset;

export class Wal {
  private fh!: FileHandle;
  private writeSegment = 0;
  private writeOffset = 0;
  private pending: { bufs: Uint8Array[]; bytes: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private writing = false;
  private checkpoint: Checkpoint = { pos: { segment: 1, offset: 0 } };
  private readPos: WalPosition = { segment: 1, offset: 0 };
  /** Bytes written but not yet checkpointed. */
  private backlog = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly sync: boolean,
  ) {}

  static async open(opts: WalOptions): Promise<Wal> {
    mkdirSync(opts.dir, { recursive: true });
    const wal = new Wal(opts.dir, opts.segmentBytes ?? 64 * 1024 * 1024, opts.sync === 'always');
    await wal.recover();
    return wal;
  }

  /** Bytes acknowledged but not yet stored. */
  backlogBytes(): number {
    return this.backlog;
  }

  /** End of a batch the previous process was inserting when it stopped, if any: replay exactly that. */
  inFlightBatchEnd(): WalPosition | undefined {
    return this.checkpoint.inFlightTo;
  }

  private segments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => /^\d{12}\.wal$/.test(f))
      .map((f) => Number(f.slice(0, 12)))
      .sort((a, b) => a - b);
  }

  private async recover(): Promise<void> {
    const cpPath = join(this.dir, 'checkpoint.json');
    try {
      this.checkpoint = JSON.parse(readFileSync(cpPath, 'utf8')) as Checkpoint;
    } catch {
      /* no checkpoint yet: start at the first segment */
    }
    const segs = this.segments().filter((s) => s >= this.checkpoint.pos.segment);
    if (segs.length === 0) segs.push(Math.max(1, this.checkpoint.pos.segment));
    if (this.checkpoint.pos.segment < segs[0]!) this.checkpoint.pos = { segment: segs[0]!, offset: 0 };
    // Validate every record after the checkpoint; cut the first torn or corrupt one and everything after it.
    let backlog = 0;
    let cut = false;
    for (const seg of segs) {
      const path = join(this.dir, segName(seg));
      if (cut) {
        unlinkSync(path);
        continue;
      }
      const fd = openSync(path, 'a+');
      const size = statSync(path).size;
      let off = seg === this.checkpoint.pos.segment ? this.checkpoint.pos.offset : 0;
      const header = Buffer.alloc(HEADER);
      while (off < size) {
        if (size - off < HEADER || readSync(fd, header, 0, HEADER, off) < HEADER) break;
        const len = header.readUInt32LE(0);
        if (off + HEADER + len > size || header[8]! >= WAL_TABLES.length) break;
        const payload = Buffer.alloc(len);
        readSync(fd, payload, 0, len, off + HEADER);
        if (crc32(payload) !== header.readUInt32LE(4)) break;
        off += HEADER + len;
        backlog += HEADER + len;
      }
      if (off < size) {
        ftruncateSync(fd, off);
        cut = true;
      }
      closeSync(fd);
      this.writeSegment = seg;
      this.writeOffset = off;
    }
    this.backlog = backlog;
    this.readPos = { ...this.checkpoint.pos };
    this.fh = await open(join(this.dir, segName(this.writeSegment)), 'a');
  }

  /** Appends records; resolves once they are in the log (and synced, if configured). */
  append(records: readonly WalRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('WAL is closed'));
    const bufs: Uint8Array[] = [];
    let bytes = 0;
    for (const r of records) {
      const h = Buffer.allocUnsafe(HEADER);
      h.writeUInt32LE(r.data.byteLength, 0);
      h.writeUInt32LE(crc32(r.data), 4);
      h[8] = WAL_TABLES.indexOf(r.table);
      bufs.push(h, r.data);
      bytes += HEADER + r.data.byteLength;
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ bufs, bytes, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      try {
        const bufs = group.flatMap((g) => g.bufs);
        const bytes = group.reduce((n, g) => n + g.bytes, 0);
        // writev may write less than asked; loop until all of it is in the file.
        let written = 0;
        while (written < bytes) {
          const { bytesWritten } = await this.fh.writev(sliceFrom(bufs, written));
          written += bytesWritten;
        }
        if (this.sync) await this.fh.datasync();
        this.writeOffset += bytes;
        this.backlog += bytes;
        for (const g of group) g.resolve();
        if (this.writeOffset >= this.segmentBytes) await this.rotate();
      } catch (err) {
        for (const g of group) g.reject(err as Error);
      }
    }
    this.writing = false;
  }

  private async rotate(): Promise<void> {
    await this.fh.close();
    this.writeSegment += 1;
    this.writeOffset = 0;
    this.fh = await open(join(this.dir, segName(this.writeSegment)), 'a');
  }

  /**
   * Reads the next records after the last batch handed out, up to `maxBytes` (at least one record), or up to
   * `until` exactly when replaying an interrupted batch. Null when nothing is waiting.
   */
  readBatch(maxBytes: number, until?: WalPosition): WalBatch | null {
    const from = { ...this.readPos };
    const records: WalRecord[] = [];
    let bytes = 0;
    const pos = { ...this.readPos };
    const header = Buffer.alloc(HEADER);
    while (cmp(pos, { segment: this.writeSegment, offset: this.writeOffset }) < 0) {
      if (until ? cmp(pos, until) >= 0 : bytes >= maxBytes) break;
      const path = join(this.dir, segName(pos.segment));
      const fd = openSync(path, 'r');
      try {
        const size = pos.segment === this.writeSegment ? this.writeOffset : statSync(path).size;
        while (pos.offset < size && (until ? cmp(pos, until) < 0 : bytes < maxBytes)) {
          readSync(fd, header, 0, HEADER, pos.offset);
          const len = header.readUInt32LE(0);
          const data = Buffer.allocUnsafe(len);
          readSync(fd, data, 0, len, pos.offset + HEADER);
          records.push({ table: WAL_TABLES[header[8]!]!, data });
          pos.offset += HEADER + len;
          bytes += HEADER + len;
        }
        if (pos.offset >= size && pos.segment < this.writeSegment) {
          pos.segment += 1;
          pos.offset = 0;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (records.length === 0) return null;
    this.readPos = pos;
    return { from, to: { ...pos }, records, bytes };
  }

  /** Records that the batch ending at `to` is being inserted, so a crash replays the same batch. */
  markInFlight(to: WalPosition): void {
    this.writeCheckpoint({ pos: this.checkpoint.pos, inFlightTo: to });
  }

  /** Records that everything before `to` is stored; deletes segments wholly before it. */
  commit(batch: WalBatch): void {
    this.writeCheckpoint({ pos: batch.to });
    this.backlog = Math.max(0, this.backlog - batch.bytes);
    for (const s of this.segments()) if (s < batch.to.segment) unlinkSync(join(this.dir, segName(s)));
  }

  /** Forgets handed-out batches that were not committed, so they are read again (after a failed insert). */
  rewind(): void {
    this.readPos = { ...this.checkpoint.pos };
  }

  private writeCheckpoint(cp: Checkpoint): void {
    const tmp = join(this.dir, 'checkpoint.json.tmp');
    const fd = openSync(tmp, 'w');
    writeSync(fd, JSON.stringify(cp));
    if (this.sync) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.dir, 'checkpoint.json'));
    this.checkpoint = cp;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.fh.close();
  }
}

/** The buffers that remain after skipping `skip` bytes. */
function sliceFrom(bufs: Uint8Array[], skip: number): Uint8Array[] {
  if (skip === 0) return bufs;
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (skip >= b.byteLength) {
      skip -= b.byteLength;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
