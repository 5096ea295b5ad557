/**
 * The RCA evaluation's monitoring (detect.ts) and scoring (score.ts) on small synthetic inputs: no service,
 * no data set. A stub HTTP server stands in for POST /api/v1/rca where the answer's parsing is tested.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  DEFAULT_DETECT,
  EntryObserver,
  alertBody,
  detect,
  entryServicesOf,
  flagSeries,
  quantile,
  type Detection,
  type MinutePoint,
  type Series,
} from '../../services/rca/eval/detect.ts';
import { MATCH_WINDOW, accuracy, askRca, baselineRanking, matchDetections, rankOf, serviceName, summarize, type CaseResult } from '../../services/rca/eval/score.ts';
import { chunkMinuteFiles } from '../../services/rca/eval/replay.ts';
import { SPAN_KIND, type MetricPoint, type OtlpSpan, type Resourced } from '../../services/rca/eval/otlp.ts';

const T0 = Date.UTC(2022, 7, 22, 3, 0);
const MIN = 60_000;

/** Deterministic noise in [-1, 1] (a fixed LCG), so the tests never flake. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

function series(values: number[], opts: { direction?: 'up' | 'down'; signal?: string; service?: string; start?: number } = {}): Series {
  return {
    service: opts.service ?? 'web',
    signal: opts.signal ?? 'metric.server_latency_p90',
    direction: opts.direction ?? 'up',
    points: values.map((value, i) => ({ t: (opts.start ?? T0) + i * MIN, value })),
  };
}

const noisy = (n: number, level: number, amplitude: number, seed = 1) => {
  const r = noise(seed);
  return Array.from({ length: n }, () => level + amplitude * r());
};

describe('detection on entry-service series', () => {
  it('flags a step change from its first minute, and every minute of it (anomalies never join the baseline)', () => {
    const values = [...noisy(30, 0.5, 0.05), 2, 2.1, 1.9, 2.2, 2, ...noisy(10, 0.5, 0.05, 7)];
    const flags = flagSeries(series(values));
    assert.deepEqual(flags.map((f) => (f.t - T0) / MIN), [30, 31, 32, 33, 34]);
    assert.ok(Math.abs(flags[0]!.baseline - 0.5) < 0.05);
    assert.ok(flags[0]!.threshold > 0.5 && flags[0]!.threshold < 2);
  });

  it('raises nothing on noise only', () => {
    for (let seed = 1; seed <= 20; seed++) {
      // Uniform ±20 % around the level, and bell-shaped noise of 10 % (a sum of three uniforms), four hours each.
      assert.deepEqual(detect([series(noisy(240, 0.5, 0.1, seed))]), [], `uniform, seed ${seed}`);
      const r = noise(seed + 100);
      assert.deepEqual(detect([series(Array.from({ length: 240 }, () => 0.5 + 0.05 * (r() + r() + r())))]), [], `bell, seed ${seed}`);
    }
  });

  it('needs `confirm` anomalous minutes in a row: a one-minute blip is not an alert', () => {
    const values = [...noisy(30, 0.5, 0.05), 3, ...noisy(10, 0.5, 0.05, 9)];
    assert.deepEqual(flagSeries(series(values)), []);
    assert.deepEqual(flagSeries(series(values), { confirm: 1 }).map((f) => (f.t - T0) / MIN), [30]);
  });

  it('treats a gap of more than 90 s as breaking the run', () => {
    const s = series([...noisy(30, 0.5, 0.05), 3, 3]);
    s.points[31]!.t += 2 * MIN; // the second anomalous minute is three minutes after the first
    assert.deepEqual(flagSeries(s), []);
  });

  it('watches a falling signal when its direction is down (requests that fail early make fewer spans)', () => {
    const values = [...noisy(30, 45, 1), 20, 22, 21, ...noisy(5, 45, 1, 3)];
    const down = series(values, { direction: 'down', signal: 'trace.spans_per_request' });
    assert.deepEqual(flagSeries(down).map((f) => (f.t - T0) / MIN), [30, 31, 32]);
    assert.deepEqual(flagSeries({ ...down, direction: 'up' }), []);
  });

  it('judges nothing without `minBaseline` earlier minutes, and uses only the last `lookbackMs` of them', () => {
    assert.deepEqual(flagSeries(series([0.5, 0.5, 0.51, 0.49, 9, 9])), []);
    // Five baseline minutes are enough.
    assert.deepEqual(flagSeries(series([0.5, 0.52, 0.49, 0.5, 0.51, 9, 9])).length, 2);
    // A sparse series: baseline points two hours back are out of reach.
    const sparse: Series = { service: 'web', signal: 'trace.root_latency_p90', direction: 'up', points: [] };
    for (let i = 0; i < 5; i++) sparse.points.push({ t: T0 + i * MIN, value: 500 });
    sparse.points.push({ t: T0 + 120 * MIN, value: 5000 }, { t: T0 + 121 * MIN, value: 5000 });
    assert.deepEqual(flagSeries(sparse), []);
    assert.equal(flagSeries(sparse, { lookbackMs: 3 * 3600_000 }).length, 2);
  });

  it('floors the scale at a share of the median, so a flat baseline does not alert on a small wiggle', () => {
    const flat = [...Array<number>(30).fill(100), 130, 130];
    assert.deepEqual(flagSeries(series(flat)), []); // 30 % above: within 3.5 × 10 %
    assert.equal(flagSeries(series([...Array<number>(30).fill(100), 140, 140])).length, 2);
  });

  it('turns flags into alerts with a cool-down, merging signals of the same minute', () => {
    const base = noisy(30, 0.5, 0.05);
    // Two incidents: minutes 30–32, then 36–37 (3 quiet minutes between: beyond the 2-minute cool-down).
    const lat = series([...base, 2, 2, 2, 0.5, 0.5, 0.5, 2, 2, ...noisy(10, 0.5, 0.05, 4)]);
    const fan = series([...noisy(30, 45, 1), 20, 20, 45, 45, 45, 45, 45, 45, ...noisy(10, 45, 1, 4)], { direction: 'down', signal: 'trace.spans_per_request' });
    const d = detect([lat, fan]);
    assert.deepEqual(d.map((x) => (x.t - T0) / MIN), [30, 36]);
    assert.equal(d[0]!.name, 'LatencyHigh');
    assert.deepEqual(d[0]!.flags.map((f) => f.signal).sort(), ['metric.server_latency_p90', 'trace.spans_per_request']);
    // With a longer cool-down the second burst belongs to the first alert.
    assert.deepEqual(detect([lat, fan], { quietMs: 5 * MIN }).map((x) => (x.t - T0) / MIN), [30]);
    // Services are independent.
    const other = series([...base, 2, 2], { service: 'api' });
    assert.deepEqual(detect([lat, other]).map((x) => `${x.service}@${(x.t - T0) / MIN}`), ['api@30', 'web@30', 'web@36']);
  });

  it('names entry services from root-span ownership, not from a list', () => {
    assert.deepEqual(entryServicesOf([['gateway', 9_000], ['ui', 900], ['cron', 5]]), ['gateway', 'ui']);
    assert.deepEqual(entryServicesOf([['only', 3]]), ['only']);
    assert.deepEqual(entryServicesOf([]), []);
  });

  it('builds generic alert bodies: name, entry service label, RFC 3339 start', () => {
    const d: Detection = { service: 'web', t: T0 + 5 * MIN, name: 'LatencyHigh', flags: [{ service: 'web', signal: 'metric.server_latency_p90', t: T0 + 5 * MIN, value: 2, baseline: 0.5, threshold: 0.8 }] };
    const body = alertBody([d]);
    assert.equal(body.alerts.length, 1);
    const a = body.alerts[0]!;
    assert.equal(a.name, 'LatencyHigh');
    assert.deepEqual(a.labels, { service: 'web', signal: 'metric.server_latency_p90', source: 'rootline-eval-monitor' });
    assert.equal(a.startsAt, '2022-08-22T03:05:00.000Z');
    assert.ok(a.fingerprint.length > 0 && a.fingerprint.length <= 128);
  });
});

describe('the observer that builds the series from replayed records', () => {
  const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
  const span = (service: string, traceId: string, spanId: string, parent: string, startMs: number, durMs: number, kind: number = SPAN_KIND.SERVER): Resourced<OtlpSpan> => ({
    resource: { 'service.name': service, 'k8s.pod.name': `${service}-5f6585d649-abcde` },
    record: { traceId, spanId, parentSpanId: parent, name: 'op', kind, startTimeUnixNano: ns(startMs), endTimeUnixNano: ns(startMs + durMs) },
  });

  it('gives root p90 and spans per request per minute of each entry service', () => {
    const o = new EntryObserver({ minRoots: 2 });
    const items: Resourced<OtlpSpan>[] = [];
    for (let i = 0; i < 10; i++) {
      const tid = i.toString(16).padStart(32, '0');
      const start = T0 + 1_000 + i * 1_000;
      items.push(span('web', tid, `${i}`.padStart(16, 'a'), '', start, (i + 1) * 10));
      items.push(span('db', tid, `${i}`.padStart(16, 'b'), `${i}`.padStart(16, 'a'), start + 1, 5));
      items.push(span('db', tid, `${i}`.padStart(16, 'c'), `${i}`.padStart(16, 'a'), start + 2, 5));
    }
    o.addSpans(items);
    assert.deepEqual(o.rootCounts(), [['web', 10]]);
    assert.deepEqual(o.entryServices(), ['web']);
    const s = o.series();
    const byName = Object.fromEntries(s.map((x) => [x.signal, x.points]));
    assert.deepEqual(byName['trace.root_latency_p90'], [{ t: T0, value: 90 }]);
    assert.deepEqual(byName['trace.spans_per_request'], [{ t: T0, value: 3 }]);
    assert.ok(o.dataMinutes().spans.has(T0));
    assert.ok(o.serviceSeries().get('db')?.has('trace.server_latency_p90'));
  });

  it('puts a metric point at T on the minute before it, worst pod first', () => {
    const o = new EntryObserver();
    const point = (pod: string, ms: number, v: number): Resourced<MetricPoint> => ({
      resource: { 'service.name': 'web', 'k8s.pod.name': pod },
      record: { name: 'k8s.pod.server.latency.p90_seconds', unit: 's', point: { timeUnixNano: ns(ms), asDouble: v } },
    });
    o.addMetricPoints([point('web-1-a', T0 + 19_000, 0.4), point('web-1-b', T0 + 19_000, 0.9), point('web-1-a', T0 + 79_000, 0.5)]);
    const lat = o.series(['web']).find((x) => x.signal === 'metric.server_latency_p90')!;
    assert.deepEqual(lat.points, [{ t: T0 - 41_000, value: 0.9 }, { t: T0 + 19_000, value: 0.5 }]);
  });

  it('watches the CPU of each service (worst pod), which raises CpuHigh when it leaves its baseline', () => {
    const o = new EntryObserver();
    const point = (pod: string, ms: number, v: number): Resourced<MetricPoint> => ({
      resource: { 'service.name': 'ads', 'k8s.pod.name': pod },
      record: { name: 'k8s.pod.cpu.usage_rate_percent', unit: '%', point: { timeUnixNano: ns(ms), asDouble: v } },
    });
    const points: Resourced<MetricPoint>[] = [];
    for (let m = 0; m < 30; m++) points.push(point('ads-1-a', T0 + m * MIN, m >= 25 && m < 28 ? 40 : 4 + (m % 3) * 0.2), point('ads-1-b', T0 + m * MIN, 1));
    o.addMetricPoints(points);
    const cpu = o.series(['ads']).find((x) => x.signal === 'metric.cpu_usage')!;
    assert.equal(cpu.points.length, 30);
    assert.ok(cpu.points.every((p) => p.value >= 4), 'the worst pod speaks for the service');
    const alerts = detect(o.series(['ads']));
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.name, 'CpuHigh');
    assert.equal(alerts[0]!.t, T0 + 24 * MIN);
  });

  it('computes nearest-rank quantiles', () => {
    assert.equal(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9);
    assert.equal(quantile([5], 0.9), 5);
    assert.ok(Number.isNaN(quantile([], 0.9)));
  });
});

describe('scoring', () => {
  const inject = T0 + 60 * MIN;
  const det = (offsetMs: number, service = 'web'): Detection => ({ service, t: inject + offsetMs, name: 'LatencyHigh', flags: [] });
  const label = { id: 'c1', injectTime: inject, rootService: 'cart', faultType: 'cpu_contention' };

  it('matches a case to the first detection within [inject − 60 s, inject + 180 s]', () => {
    assert.deepEqual(MATCH_WINDOW, { beforeMs: 60_000, afterMs: 180_000 });
    const m = (ds: Detection[]) => matchDetections([label], ds).get('c1')?.t;
    assert.equal(m([det(-60_001), det(180_001)]), undefined);
    assert.equal(m([det(-60_000)]), inject - 60_000);
    assert.equal(m([det(180_000)]), inject + 180_000);
    assert.equal(m([det(120_000), det(30_000), det(-90_000)]), inject + 30_000);
  });

  it('ranks at service level: ids lose their prefix, namespace or pod suffix; duplicates count once', () => {
    assert.equal(serviceName('service:cart'), 'cart');
    assert.equal(serviceName('service:shop/cart'), 'cart');
    assert.equal(serviceName('pod:default/cart-579f59597d-wc2lz'), 'cart');
    assert.equal(serviceName('node:n1'), undefined);
    assert.equal(rankOf(['service:web', 'service:cart'], 'cart'), 2);
    assert.equal(rankOf(['service:web', 'pod:default/web-1a2b3c-xyz12', 'service:cart'], 'cart'), 2);
    assert.equal(rankOf(['service:web'], 'cart'), undefined);
    assert.equal(rankOf([], 'cart'), undefined);
  });

  const result = (faultType: string, rank: number | undefined, detected = true, traces = true, day = '2022-08-22'): CaseResult => ({
    id: `${day}T${faultType}-${rank}-${detected}`, faultType, rootService: 'x', detected, rank, top: [], traces, logs: false, source: detected ? 'rootline' : 'none',
  });

  it('computes top-1/3/5 with undetected cases as misses', () => {
    const rs = [result('a', 1), result('a', 2), result('a', 4), result('a', 9), result('a', undefined), result('a', 1, false)];
    assert.deepEqual(accuracy(rs), { cases: 6, detected: 5, top1: 0.1667, top3: 0.3333, top5: 0.5 });
    assert.deepEqual(accuracy([]), { cases: 0, detected: 0, top1: 0, top3: 0, top5: 0 });
  });

  it('aggregates by fault type and by the data present in the window', () => {
    const rs = [result('cpu', 1), result('cpu', 3), result('net', 2, true, false), result('net', undefined, false, false, '2022-08-23')];
    const s = summarize(rs);
    assert.deepEqual([s.cases, s.detected, s.top1, s.top3, s.top5], [4, 3, 0.25, 0.75, 0.75]);
    assert.deepEqual(s.by_type, {
      cpu: { cases: 2, detected: 2, top1: 0.5, top3: 1, top5: 1 },
      net: { cases: 2, detected: 1, top1: 0, top3: 0.5, top5: 0.5 },
    });
    assert.deepEqual(s.by_data, {
      no_traces: { cases: 2, detected: 1, top1: 0, top3: 0.5, top5: 0.5 },
      traces: { cases: 2, detected: 2, top1: 0.5, top3: 1, top5: 1 },
    });
    assert.deepEqual(s.by_day, {
      '2022-08-22': { cases: 3, detected: 3, top1: 0.3333, top3: 1, top5: 1 },
      '2022-08-23': { cases: 1, detected: 0, top1: 0, top3: 0, top5: 0 },
    });
  });

  it('ranks with the naive fallback by each service’s own rise (harness self-test only)', () => {
    const pts = (level: number, after: number): MinutePoint[] => Array.from({ length: 30 }, (_, i) => ({ t: inject + (i - 25) * MIN, value: (i >= 25 ? after : level) + (i % 3) * 0.01 }));
    const s = new Map([
      ['web', new Map([['metric.cpu', pts(10, 12)]])],
      ['cart', new Map([['metric.cpu', pts(10, 80)]])],
      ['db', new Map([['metric.cpu', pts(10, 10)]])],
    ]);
    assert.deepEqual(baselineRanking(s, inject), ['service:cart', 'service:web', 'service:db']);
  });

  it('reads the RCA answer, and says when the endpoint is absent', async () => {
    let mode: 'missing' | 'services' | 'causes' = 'missing';
    const bodies: unknown[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(b));
        if (mode === 'missing') {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Route POST:/api/v1/rca not found', error: 'Not Found', statusCode: 404 }));
        } else if (mode === 'services') {
          res.end(JSON.stringify({ causes: [{ entity: 'pod:default/cart-1-a' }], services: [{ service: 'service:cart', score: 0.9 }, { service: 'service:web', score: 0.1 }] }));
        } else {
          res.end(JSON.stringify({ causes: [{ entity: 'pod:default/cart-5f6585d649-abcde' }, { entity: 'node:n1' }, { entity: 'service:web' }] }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      assert.equal((await askRca(url, 't', 'service:web', inject)).available, false);
      assert.deepEqual(bodies[0], { entity: 'service:web', time: String(inject) });
      mode = 'services';
      assert.deepEqual((await askRca(url, 't', 'service:web', inject)).services, ['service:cart', 'service:web']);
      mode = 'causes';
      const a = await askRca(url, 't', 'service:web', inject);
      assert.deepEqual(a.services, ['pod:default/cart-5f6585d649-abcde', 'service:web']);
      assert.equal(rankOf(a.services, 'cart'), 1);
    } finally {
      server.close();
    }
  });
});

describe('replay chunking', () => {
  it('cuts time-ordered minute files into runs of adjacent files', () => {
    const f = (m: number) => ({ path: `/d/${m}.csv`, minuteEnd: T0 + m * MIN });
    const chunks = chunkMinuteFiles([f(3), f(0), f(1), f(2), f(10), f(11)], 2);
    assert.deepEqual(
      chunks.map((c) => [c.files.map((x) => (x.minuteEnd - T0) / MIN), c.contiguous]),
      [[[0, 1], false], [[2, 3], true], [[10, 11], false]],
    );
  });

  it('keeps the documented defaults', () => {
    assert.deepEqual(DEFAULT_DETECT, { k: 3.5, lookbackMs: 3_600_000, maxBaseline: 20, minBaseline: 5, floorRel: 0.1, quietMs: 120_000, confirm: 2, runGapMs: 90_000 });
  });
});
