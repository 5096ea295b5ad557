/**
 * The Nezha data-set reader and OTLP converters against the real Online Boutique archive. The archive is
 * unpacked once into the git-ignored `.cache/datasets/` and reused; without it the suite skips (and fails in
 * CI, so CI cannot pass by skipping). Assertions use values read from the files by hand.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CsvError, parseCsv, parseCsvRecords, readCsv, readCsvBatches } from '../../services/rca/eval/csv.ts';
import { MINUTE_FILE_REACH, caseFiles, listCases, resolveNezhaRoot, serviceOfPod, type NezhaCase, type NezhaLayout } from '../../services/rca/eval/nezha.ts';
import {
  DEFAULT_BATCH_LIMITS,
  SPAN_KIND,
  dedupe,
  logIdentity,
  logRequests,
  logsFromRows,
  metricForColumn,
  metricRequests,
  metricsFromRows,
  nanosToMs,
  normalizeHexId,
  parseSeverity,
  spansFromRows,
  traceRequests,
} from '../../services/rca/eval/otlp.ts';
import { decodeJson } from '../../services/ingest/otlp/decode.ts';
import { traceRows } from '../../services/ingest/rows/traces.ts';
import { logRows } from '../../services/ingest/rows/logs.ts';
import { metricRows } from '../../services/ingest/rows/metrics.ts';
import { timeBounds } from '../../services/ingest/rows/time.ts';
import { evalRca } from '../../services/rca/eval/harness.ts';

const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const ARCHIVE = process.env.ROOTLINE_NEZHA_OB_ARCHIVE ?? join(PROJECT, '..', 'shared', 'datasets', 'nezha-online-boutique.tar.xz');
const CACHE = join(PROJECT, '.cache', 'datasets', 'nezha-online-boutique');
const MISSING_REASON = `archive not found at ${ARCHIVE} (set ROOTLINE_NEZHA_OB_ARCHIVE)`;
const FAULT_MS = 180_000;

if (!existsSync(ARCHIVE) && process.env.CI === 'true') throw new Error(`${MISSING_REASON}; CI=true, so the Nezha tests may not skip`);

/** Unpacks the archive unless a complete copy of this very archive is cached; returns the folder. */
function unpackOnce(): { dir: string; unpackedMs?: number } {
  const st = statSync(ARCHIVE);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const marker = join(CACHE, '.unpacked-from');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return { dir: CACHE };
  // Unpack beside the cache and rename, so an interrupted run never leaves a half-filled cache behind.
  const tmp = `${CACHE}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const t0 = performance.now();
  const res = spawnSync('tar', ['-xJf', ARCHIVE, '-C', tmp], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`tar -xJf ${ARCHIVE} failed: ${res.stderr || res.error?.message}`);
  const unpackedMs = performance.now() - t0;
  writeFileSync(join(tmp, '.unpacked-from'), stamp);
  rmSync(CACHE, { recursive: true, force: true });
  renameSync(tmp, CACHE);
  return { dir: CACHE, unpackedMs };
}

async function rowsOf(path: string): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for await (const batch of readCsvBatches(path)) rows.push(...batch);
  return rows;
}

async function* chunksOf(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function records(text: string, size = text.length || 1): Promise<string[][]> {
  const out: string[][] = [];
  for await (const r of parseCsvRecords(chunksOf(text, size))) out.push(r);
  return out;
}

describe('CSV reader (RFC 4180)', () => {
  it('reads quoted delimiters, doubled quotes, line breaks and CRLF, whatever the chunking', async () => {
    const text = 'a,b,c\r\n1,"x, ""y""",3\n"multi\nline",,"\r\n"\n\nlast,row,"no newline"';
    const want = [
      ['a', 'b', 'c'],
      ['1', 'x, "y"', '3'],
      ['multi\nline', '', '\r\n'],
      ['last', 'row', 'no newline'],
    ];
    for (let size = 1; size <= text.length; size++) assert.deepEqual(await records(text, size), want, `chunk size ${size}`);
  });

  it('keeps a multi-byte character split across byte chunks, and drops a byte-order mark', async () => {
    const bytes = Buffer.from('\ufeffk,v\nroute,"Route ID：f3d4"\n');
    const rows: Record<string, string>[] = [];
    for await (const r of parseCsv([...bytes].map((b) => Buffer.from([b])))) rows.push(r);
    assert.deepEqual(rows, [{ k: 'route', v: 'Route ID：f3d4' }]);
  });

  it('rejects an unterminated quote and a row of the wrong width', async () => {
    await assert.rejects(records('a,b\n"open,1\n'), CsvError);
    const bad = async () => {
      for await (const _r of parseCsv(['a,b\n1,2,3\n'])) void _r;
    };
    await assert.rejects(bad, /data row 1 has 3 fields, the header has 2/);
    const padded: Record<string, string>[] = [];
    for await (const r of parseCsv(['a,b\n1\n'], { columnMismatch: 'pad' })) padded.push(r);
    assert.deepEqual(padded, [{ a: '1', b: '' }]);
  });
});

describe('pod names', () => {
  it('drop the ReplicaSet hash and pod suffix, for both systems', () => {
    assert.equal(serviceOfPod('frontend-579b9bff58-t2dbm'), 'frontend');
    assert.equal(serviceOfPod('ts-travel-service-64469b5b48-25zj6'), 'ts-travel-service');
    assert.equal(serviceOfPod('redis'), 'redis');
  });
});

describe('log severity', () => {
  it('reads JSON level fields and the level word after an application clock', () => {
    assert.deepEqual(parseSeverity('16:48:42.468 ERROR f.s.FoodServiceImpl#302 TraceID: 49a5 [getAllFood][Failed!]'), { number: 17, text: 'ERROR' });
    assert.deepEqual(parseSeverity('16:50:08.261 WARN  i.s.InsidePaymentServiceImpl#71 Not allowed to Pay'), { number: 13, text: 'WARN' });
    assert.deepEqual(parseSeverity('05:18:42.995 INFO  - TraceID: 04c8 Get Ads by Category finish'), { number: 9, text: 'INFO' });
    assert.deepEqual(parseSeverity('2022-08-22 05:18:42,995 DEBUG x'), { number: 5, text: 'DEBUG' });
    assert.deepEqual(parseSeverity('{"severity":"info","message":"Get currency data successful"}'), { number: 9, text: 'INFO' });
    assert.deepEqual(parseSeverity('{"level":50,"msg":"boom"}'), { number: 17, text: 'ERROR' });
    assert.deepEqual(parseSeverity('TraceID: 04c8 GetCartAsync called with userId=af55'), { number: 0, text: '' });
  });

  it('normalizes ids to lowercase hex of the OTLP length', () => {
    assert.equal(normalizeHexId('ABCDEF0123456789', 8), 'abcdef0123456789');
    assert.equal(normalizeHexId('463ac35c9f6413ad', 16), '0000000000000000463ac35c9f6413ad');
    assert.equal(normalizeHexId('root', 8), undefined);
    assert.equal(normalizeHexId('0000000000000000', 8), undefined);
    assert.equal(normalizeHexId('a'.repeat(33), 16), undefined);
  });

  it('maps metric columns to stable names, with a generic fallback', () => {
    assert.deepEqual(metricForColumn('CpuUsageRate(%)'), { name: 'k8s.pod.cpu.usage_rate_percent', unit: '%' });
    assert.equal(metricForColumn('PodSuccessRate(%)'), null);
    assert.deepEqual(metricForColumn('PodQueueDepthP50(ms)'), { name: 'nezha.pod_queue_depth_p50_ms', unit: 'ms' });
  });
});

describe('Nezha Online Boutique data set', { skip: existsSync(ARCHIVE) ? false : MISSING_REASON }, () => {
  let layout: NezhaLayout;
  let cases: NezhaCase[];
  const day22 = () => join(layout.rcaData, '2022-08-22');

  before(async () => {
    const { dir, unpackedMs } = unpackOnce();
    if (unpackedMs !== undefined) console.log(`# unpacked ${ARCHIVE} in ${Math.round(unpackedMs)} ms`);
    layout = await resolveNezhaRoot(dir);
    cases = await listCases(layout);
  });

  it('lists the 56 labelled cases from the hour-grouped fault lists', () => {
    assert.equal(cases.length, 56);
    const byType: Record<string, number> = {};
    for (const c of cases) byType[c.faultType] = (byType[c.faultType] ?? 0) + 1;
    assert.deepEqual(byType, { cpu_contention: 16, network_delay: 16, cpu_consumed: 10, return: 7, exception: 7 });
    assert.equal(new Set(cases.map((c) => c.id)).size, 56);
    assert.deepEqual(cases[0], {
      id: '2022-08-22T03:53:54Z',
      day: '2022-08-22',
      injectTime: Date.parse('2022-08-22T03:53:54Z'),
      rootService: 'frontend',
      faultType: 'cpu_contention',
      injectPod: 'frontend-579b9bff58-t2dbm',
    });
    // Faults are 4–8 minutes apart within a day (the first of 2022-08-23 follows a night's gap).
    for (let i = 1; i < cases.length; i++) {
      const gap = cases[i]!.injectTime - cases[i - 1]!.injectTime;
      if (cases[i]!.day === cases[i - 1]!.day) assert.ok(gap >= 4 * 60_000 && gap <= 35 * 60_000, `${cases[i]!.id}: ${gap} ms after the previous fault`);
    }
  });

  it('finds the minute files of a window, names being the UTC minute, and reports what MISSING.txt lists', async () => {
    const first = cases[0]!;
    const f = await caseFiles(layout, first, 0, FAULT_MS);
    const names = (xs: { path: string }[]) => xs.map((x) => x.path.slice(x.path.lastIndexOf('/') + 1));
    assert.deepEqual(names(f.traces), ['03_53_trace.csv', '03_54_trace.csv', '03_55_trace.csv']);
    assert.deepEqual(names(f.traceIds), ['03_53_traceid.csv', '03_54_traceid.csv', '03_55_traceid.csv']);
    assert.deepEqual(f.logs, []);
    assert.deepEqual(f.missing, ['rca_data/2022-08-22/log/03_53_log.csv', 'rca_data/2022-08-22/log/03_54_log.csv', 'rca_data/2022-08-22/log/03_55_log.csv']);
    assert.equal(f.traces[1]!.minuteEnd, Date.parse('2022-08-22T03:54:00Z'));
    // HH_MM is UTC: the spans of 03_54_trace.csv start between 03:53:19 and 03:54:20 UTC.
    const starts = (await rowsOf(f.traces[1]!.path)).map((r) => Number(BigInt(r.StartTimeUnixNano!) / 1_000_000n));
    assert.equal(new Date(Math.min(...starts)).toISOString().slice(11, 19), '03:53:19');
    assert.equal(new Date(Math.max(...starts)).toISOString().slice(11, 19), '03:54:20');
    for (const s of starts) assert.ok(s >= f.traces[1]!.minuteEnd - MINUTE_FILE_REACH.beforeMs && s <= f.traces[1]!.minuteEnd + MINUTE_FILE_REACH.afterMs);
  });

  it('reads a real Docker json-file log line with embedded quotes and commas', async () => {
    const rows = await rowsOf(join(day22(), 'log', '05_19_log.csv'));
    assert.equal(rows.length, 7260);
    const r = rows[0]!;
    assert.equal(Object.keys(r).length, 8);
    assert.equal(r.PodName, 'recommendationservice-6cfdd55578-gfj6q');
    assert.equal(r.TraceID, '04c87ec97bae041b1b15b3c7676a43cc');
    const docker = JSON.parse(r.Log!) as { log: string; stream: string };
    assert.equal(docker.stream, 'stdout');
    assert.ok(docker.log.startsWith('{"timestamp": "2022-08-22T05:18:42.908318Z", "severity": "INFO",'), docker.log);
    assert.ok(docker.log.includes("product_ids=['9SIQT8TOJO', 'L9ECAV7KIM', '6E92ZMYYFZ', 'OLJCESPC7Z', '1YMWWN1N4O']"));

    const { items, skipped } = logsFromRows(rows);
    assert.deepEqual(skipped, {});
    const log = items[0]!;
    assert.equal(log.record.timeUnixNano, '1661145522908318000');
    assert.equal(log.record.body.stringValue, docker.log.replace(/\n$/, ''));
    assert.deepEqual([log.record.severityNumber, log.record.severityText], [9, 'INFO']);
    assert.equal(log.record.traceId, '04c87ec97bae041b1b15b3c7676a43cc');
    assert.equal(log.record.spanId, 'e4006dce6700e903');
    assert.deepEqual(log.resource, {
      'service.name': 'recommendationservice',
      'k8s.pod.name': 'recommendationservice-6cfdd55578-gfj6q',
      'k8s.node.name': '33.33.33.155',
      'k8s.container.name': 'server',
    });
    // The Java service writes "HH:MM:SS.mmm LEVEL …"; the .NET cart service writes no level at all.
    const ad = items.find((i) => i.resource['service.name'] === 'adservice')!;
    assert.ok(ad.record.body.stringValue.startsWith('05:18:42.995 INFO  - TraceID:'), ad.record.body.stringValue);
    assert.equal(ad.record.severityNumber, 9);
    assert.ok(items.filter((i) => i.resource['service.name'] === 'cartservice').every((i) => i.record.severityNumber === 0));
  });

  it('converts real spans: ids, parents, kinds, and durations that match Duration (µs)', async () => {
    const rows = await rowsOf(join(day22(), 'trace', '03_53_trace.csv'));
    const { items, skipped, fixed } = spansFromRows(rows);
    assert.deepEqual([skipped, fixed], [{}, {}]);
    assert.equal(items.length, rows.length);
    const byId = new Map(items.map((i) => [i.record.spanId, i]));
    const root = byId.get('ee744a66e6efcb2e')!;
    assert.deepEqual(root.record, {
      traceId: '0087f677c0a2cf3f80a551987167911b',
      spanId: 'ee744a66e6efcb2e',
      parentSpanId: '',
      name: 'hipstershop.Frontend/Recv.',
      kind: SPAN_KIND.SERVER,
      startTimeUnixNano: '1661140374351773094',
      endTimeUnixNano: '1661140374362982609',
    });
    assert.deepEqual(root.resource, { 'service.name': 'frontend', 'k8s.pod.name': 'frontend-579b9bff58-t2dbm' });
    const call = byId.get('a23660ca2e7cc4c8')!; // frontend's outgoing GetProduct
    assert.equal(call.record.parentSpanId, 'ee744a66e6efcb2e');
    assert.equal(call.record.kind, SPAN_KIND.CLIENT);
    const served = byId.get('55b2fda62c1b8ce1')!; // productcatalogservice serving it
    assert.equal(served.record.parentSpanId, 'a23660ca2e7cc4c8');
    assert.equal(served.record.kind, SPAN_KIND.SERVER);
    assert.equal(served.resource['service.name'], 'productcatalogservice');
    assert.equal(byId.get('234ca01a89eb63ee')!.record.kind, SPAN_KIND.INTERNAL); // sql.conn.query under it
    for (const [i, r] of rows.entries()) {
      const s = items[i]!.record;
      assert.equal((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1000n, BigInt(r.Duration!), `row ${i + 2}`);
    }
    // The traceid file (no header row) lists the traces rooted in that minute.
    const ids: string[] = [];
    for await (const r of readCsv(join(day22(), 'traceid', '03_53_traceid.csv'), { columns: ['TraceID'] })) ids.push(r.TraceID!);
    assert.deepEqual(ids.sort(), items.filter((i) => i.record.parentSpanId === '').map((i) => i.record.traceId).sort());
  });

  it('reads the largest trace file fast', async (t) => {
    const dir = join(day22(), 'trace');
    const files = (await readdir(dir)).map((n) => ({ path: join(dir, n), size: statSync(join(dir, n)).size }));
    const largest = files.sort((a, b) => b.size - a.size)[0]!;
    const time = async (count: () => Promise<number>) => {
      let rows = 0;
      let best = Infinity;
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        rows = await count();
        best = Math.min(best, performance.now() - t0);
      }
      return { rows, ms: best, perSecond: Math.round((rows / best) * 1000) };
    };
    const perRow = await time(async () => {
      let n = 0;
      for await (const _r of readCsv(largest.path)) n++;
      return n;
    });
    const perBatch = await time(async () => {
      let n = 0;
      for await (const b of readCsvBatches(largest.path)) n += b.length;
      return n;
    });
    const name = largest.path.slice(largest.path.lastIndexOf('/') + 1);
    t.diagnostic(`${name}: ${largest.size} bytes, ${perRow.rows} rows; per row ${perRow.ms.toFixed(1)} ms (${perRow.perSecond} rows/s), per batch ${perBatch.ms.toFixed(1)} ms (${perBatch.perSecond} rows/s)`);
    assert.equal(perBatch.rows, perRow.rows);
    assert.ok(perRow.rows > 20_000);
  });

  it('drops the spans that adjacent minute files share', async () => {
    const a = await rowsOf(join(day22(), 'trace', '03_54_trace.csv'));
    const b = await rowsOf(join(day22(), 'trace', '03_55_trace.csv'));
    const { items, skipped } = spansFromRows([...a, ...b]);
    assert.deepEqual(skipped, { duplicate: 373 });
    assert.equal(items.length, a.length + b.length - 373);
    const logs = logsFromRows([...(await rowsOf(join(day22(), 'log', '05_19_log.csv'))), ...(await rowsOf(join(day22(), 'log', '05_20_log.csv')))]);
    assert.equal(dedupe(logs.items, logIdentity).length, logs.items.length - 1076);
  });

  it('converts metric rows: a known value at a known time, NaN skipped, the always-zero success rate dropped', async () => {
    const file = join(day22(), 'metric', 'frontend-579b9bff58-t2dbm_metric.csv');
    const rows = await rowsOf(file);
    assert.equal(rows.length, 1209);
    const { items, skipped } = metricsFromRows(rows);
    assert.deepEqual(skipped, {});
    const at = (name: string, ns: string) => items.find((i) => i.record.name === name && i.record.point.timeUnixNano === ns)?.record.point.asDouble;
    assert.equal(at('k8s.pod.cpu.usage_rate_percent', '1661140279000000000'), 26.709652473466033);
    assert.equal(at('k8s.pod.memory.usage_mebibytes', '1661140279000000000'), 15.37890625);
    assert.equal(at('k8s.pod.server.latency.p90_seconds', '1661140339000000000'), 0.8150000000000005);
    assert.ok(!items.some((i) => i.record.name.includes('success')));
    assert.equal(items.length, rows.length * 18);

    const email = metricsFromRows(await rowsOf(join(day22(), 'metric', 'emailservice-55fdc5b988-f6xth_metric.csv')));
    assert.ok((email.skipped.empty_or_nan ?? 0) > 0, 'emailservice has NaN latency cells');
  });

  it('repairs the corrupted TimeStamps of one metric file from its Time column', async () => {
    const rows = await rowsOf(join(day22(), 'metric', 'adservice-5f6585d649-fnmft_metric.csv'));
    assert.equal(rows[0]!.TimeStamp, '1861140279'); // upstream corruption: 6 → 8, the year 2028
    const { items, fixed } = metricsFromRows(rows);
    assert.equal(fixed.timestamp_from_time_column, rows.length);
    const day = [Date.parse('2022-08-22T00:00:00Z'), Date.parse('2022-08-23T00:00:00Z')];
    for (const i of items) assert.ok(nanosToMs(i.record.point.timeUnixNano) >= day[0]! && nanosToMs(i.record.point.timeUnixNano) < day[1]!);
    assert.equal(items[0]!.record.point.timeUnixNano, '1661140279607158889');
  });

  it('finds, for every case, metric rows of the root service pods around the fault', async () => {
    for (const c of cases) {
      const f = await caseFiles(layout, c, 10 * 60_000, FAULT_MS);
      const pods = f.metrics.filter((m) => serviceOfPod(m.pod) === c.rootService);
      assert.ok(pods.length >= 1, `${c.id}: no metric file for ${c.rootService}`);
      for (const m of pods) {
        const { items } = metricsFromRows(await rowsOf(m.path));
        const inFault = items.filter((i) => {
          const t = nanosToMs(i.record.point.timeUnixNano);
          return i.record.name === 'k8s.pod.cpu.usage_rate_percent' && t >= c.injectTime && t <= c.injectTime + FAULT_MS;
        });
        assert.ok(inFault.length >= 2, `${c.id}: ${m.pod} has ${inFault.length} rows in the fault`);
      }
    }
  });

  it('builds requests that Rootline ingest accepts, each under the size limit', async () => {
    const bounds = timeBounds(3600_000);
    const state = () => ({ maxAttributes: 128, minMs: Infinity, maxMs: -Infinity });
    const body = (req: unknown) => Buffer.from(JSON.stringify(req));

    const spans = spansFromRows(await rowsOf(join(day22(), 'trace', '05_43_trace.csv'))).items;
    const treqs = traceRequests(spans);
    assert.equal(treqs.length, Math.ceil(spans.length / DEFAULT_BATCH_LIMITS.maxItems));
    let n = 0;
    for (const r of treqs) {
      const b = body(r);
      assert.ok(b.length <= DEFAULT_BATCH_LIMITS.maxBytes, `${b.length} bytes`);
      n += traceRows(decodeJson(b), state(), bounds).count;
    }
    assert.equal(n, spans.length);

    const logs = logsFromRows(await rowsOf(join(day22(), 'log', '05_19_log.csv'))).items;
    const lreqs = logRequests(logs, { maxBytes: 1_000_000 });
    assert.ok(lreqs.length >= 3);
    n = 0;
    for (const r of lreqs) {
      const b = body(r);
      assert.ok(b.length <= 1_000_000, `${b.length} bytes`);
      n += logRows(decodeJson(b), state(), bounds).count;
    }
    assert.equal(n, logs.length);

    const points = metricsFromRows(await rowsOf(join(day22(), 'metric', 'emailservice-55fdc5b988-f6xth_metric.csv'))).items;
    const mreqs = metricRequests(points, { maxItems: 5000 });
    n = 0;
    for (const r of mreqs) n += metricRows(decodeJson(body(r)), state(), bounds).count;
    assert.equal(n, points.length);
  });

  it('measures which cases have traces and logs inside the fault window', async (t) => {
    const table: Record<string, { cases: number; traces: number; logs: number }> = {};
    for (const c of cases) {
      const f = await caseFiles(layout, c, 0, FAULT_MS);
      const inFault = (ns: string | undefined) => {
        const ms = ns ? nanosToMs(ns) : NaN;
        return ms >= c.injectTime && ms <= c.injectTime + FAULT_MS;
      };
      const any = async (files: { path: string }[], column: string) => {
        for (const file of files) for await (const batch of readCsvBatches(file.path)) if (batch.some((r) => inFault(r[column]))) return true;
        return false;
      };
      const spans = await any(f.traces, 'StartTimeUnixNano');
      const logs = await any(f.logs, 'TimeUnixNano');
      const row = (table[c.faultType] ??= { cases: 0, traces: 0, logs: 0 });
      row.cases++;
      if (spans) row.traces++;
      if (logs) row.logs++;
    }
    t.diagnostic(JSON.stringify(table));
    assert.deepEqual(table, {
      cpu_contention: { cases: 16, traces: 14, logs: 2 },
      return: { cases: 7, traces: 7, logs: 0 },
      cpu_consumed: { cases: 10, traces: 9, logs: 0 },
      exception: { cases: 7, traces: 5, logs: 0 },
      network_delay: { cases: 16, traces: 14, logs: 0 },
    });
  });

  it('refuses to replay into a --reuse dir that holds other data (rows would be stored twice)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootline-reuse-'));
    try {
      writeFileSync(join(dir, '.eval-replayed'), '/elsewhere/other-data-set.tar.xz');
      mkdirSync(join(dir, 'chdb'));
      await assert.rejects(evalRca({ dataset: ARCHIVE, reuse: dir, json: true, log: () => {} }), /not empty and holds no replay of .*nezha-online-boutique\.tar\.xz \(it holds the replay of \/elsewhere\/other-data-set\.tar\.xz\)/);
      assert.deepEqual(readdirSync(dir).sort(), ['.eval-replayed', 'chdb'], 'nothing was written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
