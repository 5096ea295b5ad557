/**
 * Durability: a 2xx means durable. The real CLI is SIGKILLed while requests are in flight; after a restart on
 * the same data directory every acknowledged span is stored exactly once, and nothing else is invented.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestType } from '../../services/ingest/otlp/decode.ts';
import { exited, flushService, freePort, newToken, serviceStats, spawnService, type SpawnedService } from '../helpers/service.ts';
import { stopChild } from '../helpers/process.ts';

const LOOPS = 8;
const KILL_AFTER_ACKS = 300;
const TRACES_PER_REQUEST = 2;

interface SentTrace {
  traceId: string;
  spanIds: string[];
}

/** One request: TRACES_PER_REQUEST new traces of 3–8 spans each, parent/child chains, two resources. */
function buildRequest(seq: number): { body: Buffer; traces: SentTrace[] } {
  const now = BigInt(Date.now()) * 1_000_000n;
  const traces: SentTrace[] = [];
  const byService: Record<string, object[]> = { 'crash-api': [], 'crash-db': [] };
  for (let t = 0; t < TRACES_PER_REQUEST; t++) {
    const traceId = randomBytes(16);
    const n = 3 + ((seq * 7 + t * 3) % 6);
    const ids: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const spanId = randomBytes(8);
      const start = now - BigInt(n - i) * 1_000_000n;
      (i % 2 === 0 ? byService['crash-api']! : byService['crash-db']!).push({
        traceId,
        spanId,
        parentSpanId: i === 0 ? undefined : ids[i - 1],
        name: i === 0 ? 'POST /orders' : `step ${i}`,
        kind: i === 0 ? 2 : 3,
        startTimeUnixNano: start.toString(),
        endTimeUnixNano: (start + 500_000n).toString(),
        attributes: [
          { key: 'crash.request', value: { stringValue: String(seq) } },
          { key: 'http.route', value: { stringValue: '/orders' } },
        ],
      });
      ids.push(spanId);
    }
    traces.push({ traceId: traceId.toString('hex'), spanIds: ids.map((b) => b.toString('hex')) });
  }
  const resourceSpans = Object.entries(byService).map(([service, spans]) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ scope: { name: 'crash-test' }, spans }],
  }));
  const type = requestType('traces');
  return { body: Buffer.from(type.encode(type.fromObject({ resourceSpans })).finish()), traces };
}

function post(agent: Agent, port: number, token: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Bytes in the WAL after its checkpoint, read from the files the killed process left (layout in
 * services/ingest/wal.ts): what the restart has to replay. Also whether a store insert was in flight.
 */
function walLeftover(walDir: string): { bytes: number; insertInFlight: boolean } {
  const cpPath = join(walDir, 'checkpoint.json');
  const cp = existsSync(cpPath)
    ? (JSON.parse(readFileSync(cpPath, 'utf8')) as { pos: { segment: number; offset: number }; inFlightTo?: unknown })
    : { pos: { segment: 1, offset: 0 } };
  let bytes = 0;
  for (const f of readdirSync(walDir).filter((n) => /^\d{12}\.wal$/.test(n))) {
    const seg = Number(f.slice(0, 12));
    const size = statSync(join(walDir, f)).size;
    if (seg > cp.pos.segment) bytes += size;
    else if (seg === cp.pos.segment) bytes += Math.max(0, size - cp.pos.offset);
  }
  return { bytes, insertInFlight: cp.inFlightTo !== undefined };
}

const stop = (child: SpawnedService): Promise<void> => stopChild(child, 15_000);

test('every acknowledged span survives SIGKILL mid-load, stored exactly once', { timeout: 180_000 }, async (t) => {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'rootline-crash-'));
  const children: SpawnedService[] = [];
  t.after(async () => {
    for (const c of children) await stop(c);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const token = newToken();

  // --- Phase 1: load from concurrent loops, SIGKILL after KILL_AFTER_ACKS acknowledged requests.
  const port1 = await freePort();
  const first = await spawnService(dataDir, port1, token);
  children.push(first);
  const acked: SentTrace[] = [];
  /** Sent but not acknowledged (in flight at the kill, or refused): each may be stored whole, or not at all. */
  const unacked: SentTrace[] = [];
  const statuses: Record<string, number> = {};
  let ackedRequests = 0;
  let inFlight = 0;
  let inFlightAtKill = -1;
  let killed = false;
  const agent = new Agent({ keepAlive: true, maxSockets: LOOPS });

  const loop = async (k: number) => {
    for (let seq = k; !killed; seq += LOOPS) {
      const { body, traces } = buildRequest(seq);
      let status: number | string;
      inFlight++;
      try {
        status = await post(agent, port1, token, body);
      } catch (err) {
        status = (err as NodeJS.ErrnoException).code ?? 'error';
      } finally {
        inFlight--;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) {
        acked.push(...traces);
        ackedRequests++;
      } else {
        unacked.push(...traces);
        // Before the kill nothing should fail; after it, connection errors are expected.
        if (!killed) {
          killed = true; // stops the other loops
          throw new Error(`request failed before the kill: ${status}\n${first.output()}`);
        }
      }
    }
  };
  // After KILL_AFTER_ACKS acknowledgements, kill preferably while the flusher has a store insert in flight
  // (checkpoint.json names the batch), the moment where a replay could store a batch twice.
  const walDir = join(dataDir, 'wal');
  let killedDuringInsert = false;
  const killer = async () => {
    while (ackedRequests < KILL_AFTER_ACKS && !killed) await sleep(2);
    const deadline = Date.now() + 5_000;
    while (!killed && Date.now() < deadline) {
      try {
        if ((JSON.parse(readFileSync(join(walDir, 'checkpoint.json'), 'utf8')) as { inFlightTo?: unknown }).inFlightTo) {
          killedDuringInsert = true;
          break;
        }
      } catch {
        // no checkpoint yet
      }
      await sleep(1);
    }
    if (killed) return;
    inFlightAtKill = inFlight;
    first.kill('SIGKILL');
    killed = true;
  };
  await Promise.all([killer(), ...Array.from({ length: LOOPS }, (_, k) => loop(k))]);
  agent.destroy();
  await exited(first);
  assert.equal(first.signalCode, 'SIGKILL');
  assert.ok(ackedRequests >= KILL_AFTER_ACKS, `acknowledged ${ackedRequests} requests`);
  assert.ok(inFlightAtKill >= 1, `requests were in flight at the kill (${inFlightAtKill}); statuses ${JSON.stringify(statuses)}`);
  const ackedSpans = acked.reduce((n, tr) => n + tr.spanIds.length, 0);
  const unackedSpans = unacked.reduce((n, tr) => n + tr.spanIds.length, 0);
  // The flusher never keeps up to the last write under continuous load: the restart has acknowledged data to replay.
  const leftover = walLeftover(walDir);
  assert.ok(leftover.bytes > 0, 'the killed process left unflushed WAL records');
  t.diagnostic(`phase 1: WAL left for replay: ${leftover.bytes} bytes, store insert in flight at the kill: ${leftover.insertInFlight} (seen by the killer: ${killedDuringInsert})`);
  t.diagnostic(`phase 1: ${ackedRequests} requests / ${ackedSpans} spans acknowledged, ${unacked.length / TRACES_PER_REQUEST} requests unacknowledged, in flight at kill: ${inFlightAtKill}, ${JSON.stringify(statuses)}, ${Date.now() - started} ms`);

  // --- Phase 2: restart on the same data directory; the WAL is replayed.
  const port2 = await freePort();
  const second = await spawnService(dataDir, port2, token);
  children.push(second);
  const url = `http://127.0.0.1:${port2}`;
  await flushService(url, token);
  const stats = await serviceStats(url, token);
  assert.equal(stats.wal_backlog_bytes, 0, 'WAL drained after the flush');

  // --- Every acknowledged trace is whole, with no span stored twice.
  const fetchTrace = async (traceId: string): Promise<string[]> => {
    const res = await fetch(`${url}/api/v1/traces/${traceId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const { spans } = (await res.json()) as { spans: { span_id: string }[] };
    return spans.map((s) => s.span_id);
  };
  const problems: string[] = [];
  const check = async (tr: SentTrace, acknowledged: boolean) => {
    const stored = await fetchTrace(tr.traceId);
    const expected = [...tr.spanIds].sort();
    const got = [...stored].sort();
    if (acknowledged) {
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        problems.push(`acknowledged trace ${tr.traceId}: expected ${expected.length} spans, stored ${got.length} (${new Set(got).size} distinct)`);
      }
    } else if (got.length !== 0 && JSON.stringify(got) !== JSON.stringify(expected)) {
      // A WAL record is one whole request: an unacknowledged one is stored entirely or not at all.
      problems.push(`unacknowledged trace ${tr.traceId}: expected 0 or ${expected.length} spans, stored ${got.length}`);
    }
    return got.length;
  };
  const all: [SentTrace, boolean][] = [...acked.map((tr): [SentTrace, boolean] => [tr, true]), ...unacked.map((tr): [SentTrace, boolean] => [tr, false])];
  let unackedStoredSpans = 0;
  for (let i = 0; i < all.length; i += 16) {
    const counts = await Promise.all(all.slice(i, i + 16).map(([tr, a]) => check(tr, a)));
    counts.forEach((n, j) => {
      if (!all[i + j]![1]) unackedStoredSpans += n;
    });
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} traces wrong`);

  // --- Globally: nothing duplicated and nothing invented.
  assert.equal(stats.rows.spans, ackedSpans + unackedStoredSpans, 'spans in the store = acknowledged + the unacknowledged that made it');
  assert.ok(stats.rows.spans! >= ackedSpans && stats.rows.spans! <= ackedSpans + unackedSpans);
  t.diagnostic(`phase 2: ${stats.rows.spans} spans stored (${unackedStoredSpans} from unacknowledged requests), verified ${all.length} traces, total ${Date.now() - started} ms`);

  // --- The restarted service keeps working.
  const { body, traces } = buildRequest(1_000_000);
  const agent2 = new Agent({ keepAlive: false });
  assert.equal(await post(agent2, port2, token, body), 200);
  agent2.destroy();
  await flushService(url, token);
  for (const tr of traces) assert.equal((await fetchTrace(tr.traceId)).length, tr.spanIds.length);
  assert.equal((await serviceStats(url, token)).rows.spans, stats.rows.spans! + traces.reduce((n, tr) => n + tr.spanIds.length, 0));
});
