/**
 * `rootline bench ingest-floors`: what each step of the ingest path costs on its own, in CPU µs per span, on
 * the very requests `bench ingest` sends. Each step is timed alone (nothing else of the path runs), so the
 * sum is a lower bound on the whole path's cost and `ceiling_spans_per_s` an upper bound on what any
 * implementation of this path (HTTP in, protobufjs decode, chDB insert) can sustain on this machine's cores.
 *
 * - http: a bare node:http server that reads each body and answers 200, driven by the load process.
 * - decode: protobufjs decoding alone.
 * - rows: decode, validation and TabSeparated rows (the decode worker's whole task).
 * - chdb_parse: chDB parsing the rows into a table with the spans columns and ENGINE = Null (stores nothing).
 * - chdb_insert: chDB inserting the rows into the real spans table (parse, sort, compress, write parts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestType } from '../ingest/otlp/decode.ts';
import { decodeTask } from '../ingest/worker.ts';
import { createClickHouseStore } from '../shared/telemetry/clickhouse.ts';
import { tableDdl } from '../shared/telemetry/schema.ts';
import { freePort } from '../shared/net.ts';
import { ROOT } from './service-process.ts';
import { makeTraceRequest } from './traces.ts';

export interface IngestFloors {
  protobuf_bytes_per_span: number;
  tsv_bytes_per_span: number;
  http_us_per_span: number;
  decode_us_per_span: number;
  rows_us_per_span: number;
  chdb_parse_us_per_span: number;
  chdb_insert_us_per_span: number;
  /** http + rows + chdb_insert: the path's cost with every overhead between the steps left out. */
  sum_us_per_span: number;
  cores: number;
  ceiling_spans_per_s: number;
}

const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU µs per span of `f` over all bodies, median of `rounds` rounds. */
function perSpan(rounds: number, spans: number, f: () => void): number {
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = cpuUs();
    f();
    xs.push((cpuUs() - t) / spans);
  }
  return median(xs);
}

async function httpFloor(seconds: number): Promise<number> {
  const port = await freePort();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const t = cpuUs();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services/bench/otlp-load.ts'), `http://127.0.0.1:${port}`, 'x', String(seconds), '16', '10'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`load exited with ${code}`))));
  });
  const used = cpuUs() - t;
  server.close();
  const { acked } = JSON.parse(out.trim().split('\n').pop()!) as { acked: number };
  return used / acked;
}

export async function benchIngestFloors(say: (s: string) => void): Promise<IngestFloors> {
  const type = requestType('traces');
  const bodies: Buffer[] = [];
  let spans = 0;
  for (let i = 0; i < 64; i++) {
    const { request, spans: n } = makeTraceRequest(i + 1, 10);
    bodies.push(Buffer.from(type.encode(type.fromObject(request)).finish()));
    spans += n;
  }
  const task = (body: Buffer) => ({ signal: 'traces' as const, body, encoding: 'protobuf' as const, maxDecompressedBytes: 1e9, maxAttributes: 1000, maxFutureSkewMs: 3_600_000 });
  const rowChunks: Buffer[] = [];
  for (const b of bodies) {
    const r = decodeTask(task(b));
    if (!r.ok) throw new Error(`bench request refused: ${r.message}`);
    rowChunks.push(Buffer.from(r.rows));
  }
  // About 30k spans per insert, as the flusher's 32 MiB batches hold.
  const batch = Buffer.concat(Array.from({ length: 4 }, () => rowChunks).flat());
  const batchSpans = spans * 4;

  say('timing decode and row building');
  const decode = perSpan(7, spans * 3, () => {
    for (let k = 0; k < 3; k++) for (const b of bodies) type.decode(b);
  });
  const rows = perSpan(7, spans * 3, () => {
    for (let k = 0; k < 3; k++) for (const b of bodies) decodeTask(task(b));
  });

  say('timing chDB parse (Null engine) and insert (spans table)');
  const dir = mkdtempSync(join(tmpdir(), 'rootline-floors-'));
  const store = await createClickHouseStore({ path: dir, database: 'floors' });
  let chdbParse: number;
  let chdbInsert: number;
  try {
    // The same table twice: first with ENGINE = Null (parsing only), then as the real spans table.
    const spansDdl = tableDdl('floors', 0)[0]!;
    const nullDdl = spansDdl.replace(/,\s*INDEX idx_trace_id[^\n]*/, '').replace(/\)\s*ENGINE = MergeTree[\s\S]*$/, ') ENGINE = Null');
    const time = async (what: string) => {
      const xs: number[] = [];
      for (let r = 0; r < 7; r++) {
        const t = cpuUs();
        await store.insertTsv('spans', [batch], `floors-${what}-${r}`);
        xs.push((cpuUs() - t) / batchSpans);
      }
      return median(xs);
    };
    await store.command('CREATE DATABASE IF NOT EXISTS floors');
    await store.command(nullDdl);
    chdbParse = await time('null');
    await store.command('DROP TABLE floors.spans SYNC');
    await store.migrate();
    chdbInsert = await time('spans');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  say('timing a bare HTTP server under the bench load (10 s)');
  const http = await httpFloor(10);
  const sum = http + rows + chdbInsert;
  const cores = availableParallelism();
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    protobuf_bytes_per_span: Math.round(bodies.reduce((s, b) => s + b.length, 0) / spans),
    tsv_bytes_per_span: Math.round(batch.length / batchSpans),
    http_us_per_span: r1(http),
    decode_us_per_span: r1(decode),
    rows_us_per_span: r1(rows),
    chdb_parse_us_per_span: r1(chdbParse),
    chdb_insert_us_per_span: r1(chdbInsert),
    sum_us_per_span: r1(sum),
    cores,
    ceiling_spans_per_s: Math.round((cores * 1e6) / sum),
  };
}
