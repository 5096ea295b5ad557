import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '../../services/ingest/wal.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wal-'));
const rec = (s: string) => ({ table: 'spans' as const, data: Buffer.from(s) });
const texts = (b: { records: { data: Uint8Array }[] } | null) => (b ? b.records.map((r) => Buffer.from(r.data).toString()) : []);

describe('write-ahead log', () => {
  it('hands appended records to the reader in order and forgets them once committed', async () => {
    const dir = tmp();
    const wal = await Wal.open({ dir });
    await Promise.all([wal.append([rec('a')]), wal.append([rec('b'), rec('c')])]);
    assert.equal(wal.backlogBytes(), 3 * 9 + 3);
    const batch = wal.readBatch(1 << 20);
    assert.deepEqual(texts(batch), ['a', 'b', 'c']);
    assert.equal(wal.readBatch(1 << 20), null);
    wal.commit(batch!);
    assert.equal(wal.backlogBytes(), 0);
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  it('replays uncommitted records after a restart, and not committed ones', async () => {
    const dir = tmp();
    let wal = await Wal.open({ dir });
    await wal.append([rec('one')]);
    wal.commit(wal.readBatch(1 << 20)!);
    await wal.append([rec('two'), rec('three')]);
    await wal.close();
    wal = await Wal.open({ dir });
    assert.deepEqual(texts(wal.readBatch(1 << 20)), ['two', 'three']);
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  it('cuts a torn tail (a write that never completed) and keeps every whole record', async () => {
    const dir = tmp();
    let wal = await Wal.open({ dir });
    await wal.append([rec('kept')]);
    await wal.close();
    const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.wal'))!);
    const before = statSync(seg).size;
    appendFileSync(seg, Buffer.from([200, 0, 0, 0, 1, 2])); // header of a record whose body never arrived
    wal = await Wal.open({ dir });
    assert.equal(statSync(seg).size, before);
    await wal.append([rec('after')]);
    assert.deepEqual(texts(wal.readBatch(1 << 20)), ['kept', 'after']);
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  it('replays exactly the batch that was in flight when the process stopped', async () => {
    const dir = tmp();
    let wal = await Wal.open({ dir });
    await wal.append([rec('x'), rec('y')]);
    const batch = wal.readBatch(1 << 20)!;
    wal.markInFlight(batch.to);
    await wal.append([rec('z')]); // arrives after the batch was cut
    await wal.close();
    wal = await Wal.open({ dir });
    const end = wal.inFlightBatchEnd();
    assert.deepEqual(end, batch.to);
    assert.deepEqual(texts(wal.readBatch(1 << 20, end)), ['x', 'y']);
    assert.deepEqual(texts(wal.readBatch(1 << 20)), ['z']);
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  it('rolls over to new segments and deletes the ones wholly stored', async () => {
    const dir = tmp();
    const wal = await Wal.open({ dir, segmentBytes: 64 });
    for (let i = 0; i < 10; i++) await wal.append([rec(`record-${i}-${'p'.repeat(40)}`)]);
    assert.ok(readdirSync(dir).filter((f) => f.endsWith('.wal')).length > 3);
    const batch = wal.readBatch(1 << 20)!;
    assert.equal(batch.records.length, 10);
    wal.commit(batch);
    assert.ok(readdirSync(dir).filter((f) => f.endsWith('.wal')).length <= 1);
    await wal.close();
    rmSync(dir, { recursive: true });
  });
});
