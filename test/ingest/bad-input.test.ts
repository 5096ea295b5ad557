/**
 * Every receiver (/v1/traces, /v1/metrics, /v1/logs, /v1/collector/events) refuses bad input with a clear 4xx
 * and writes nothing of the request; afterwards the service is healthy and takes good requests.
 *
 * Each test snapshots the row counts, sends its bad requests, flushes, and checks that no table grew.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { requestType, type Signal } from '../../services/ingest/otlp/decode.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

// Small limits so the size cases are cheap: 64 KiB bodies, 1 MiB after decompression.
const MAX_BODY = 64 * 1024;
const MAX_DECOMPRESSED = 1024 * 1024;
const svc: TestService = await startTestService(
  { after },
  { ROOTLINE_MAX_BODY_BYTES: String(MAX_BODY), ROOTLINE_MAX_DECOMPRESSED_BYTES: String(MAX_DECOMPRESSED) },
);

const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];
const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

// ---------------------------------------------------------------------------------------------------------
// Request builders (protobufjs `fromObject` shapes; ids as Buffers)

const NOW = BigInt(Date.now()) * 1_000_000n;
const YEAR_1999 = 915_148_800n * 1_000_000_000n; // 1999-01-01
const ONE_SECOND_AFTER_EPOCH = 1_000_000_000n; // a seconds value sent as nanoseconds
const YEAR_2200 = 7_258_118_400n * 1_000_000_000n;

type Obj = Record<string, unknown>;
const kv = (key: string, value: string | number | boolean): Obj => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'number' ? { intValue: value } : { boolValue: value },
});
const resource = (extra: Obj[] = []): Obj => ({ attributes: [kv('service.name', 'bad-input-test'), kv('k8s.pod.name', 'bad-input-0'), ...extra] });

function span(o: Obj = {}): Obj {
  return {
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    name: 'GET /api/items',
    kind: 2,
    startTimeUnixNano: NOW.toString(),
    endTimeUnixNano: (NOW + 5_000_000n).toString(),
    attributes: [kv('http.route', '/api/items'), kv('http.response.status_code', 200)],
    status: { code: 1 },
    ...o,
  };
}
const traces = (spans: Obj[], res: Obj = resource(), scope: Obj = { name: 'bad-input' }): Obj => ({
  resourceSpans: [{ resource: res, scopeSpans: [{ scope, spans }] }],
});

function point(o: Obj = {}): Obj {
  return { timeUnixNano: NOW.toString(), startTimeUnixNano: (NOW - 60_000_000_000n).toString(), asDouble: 1.5, attributes: [kv('queue', 'a')], ...o };
}
const metrics = (points: Obj[], metric: Obj = {}, res: Obj = resource()): Obj => ({
  resourceMetrics: [{ resource: res, scopeMetrics: [{ scope: { name: 'bad-input' }, metrics: [{ name: 'queue.depth', unit: '1', gauge: { dataPoints: points }, ...metric }] }] }],
});

function record(o: Obj = {}): Obj {
  return {
    timeUnixNano: NOW.toString(),
    observedTimeUnixNano: NOW.toString(),
    severityNumber: 17,
    severityText: 'ERROR',
    body: { stringValue: 'payment failed' },
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    attributes: [kv('payment.provider', 'acme')],
    ...o,
  };
}
const logs = (records: Obj[], res: Obj = resource()): Obj => ({
  resourceLogs: [{ resource: res, scopeLogs: [{ scope: { name: 'bad-input' }, logRecords: records }] }],
});

/** One good request per signal. */
const GOOD: Record<Signal, () => Obj> = {
  traces: () => traces([span()]),
  metrics: () => metrics([point()]),
  logs: () => logs([record()]),
};

function encode(signal: Signal, request: Obj): Buffer {
  const type = requestType(signal);
  const err = type.verify(type.fromObject(request));
  if (err) throw new Error(`test request does not match the schema: ${err}`);
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

/** Replaces the first two bytes of `placeholder` in `buf` with 0xff 0xfe (never valid UTF-8). */
function breakUtf8(buf: Buffer, placeholder = 'XQXQ'): Buffer {
  const i = buf.indexOf(placeholder);
  assert.ok(i >= 0, `placeholder ${placeholder} in the encoded request`);
  assert.equal(buf.indexOf(placeholder, i + 1), -1, 'placeholder occurs once');
  const out = Buffer.from(buf);
  out[i] = 0xff;
  out[i + 1] = 0xfe;
  return out;
}

function collectorBatch(events: Obj[], collector: Obj = { 'host.name': 'node-1', 'host.id': 'node-1-id' }): Obj {
  return { collector, events };
}
let seq = 1;
function collectorEvent(o: Obj = {}): Obj {
  return {
    'event.name': 'aiops.tcp.connection',
    time_unix_nano: NOW.toString(),
    'aiops.seq': seq++,
    'process.executable.name': 'nginx',
    'server.address': '10.0.0.7',
    'server.port': 8080,
    ...o,
  };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

interface Sent {
  status: number;
  contentType: string;
  body: Buffer;
  headers: Headers;
}

async function send(
  path: string,
  body: Buffer | string,
  opts: { contentType?: string | null; contentEncoding?: string; authorization?: string | null } = {},
): Promise<Sent> {
  const headers: Record<string, string> = {};
  if (opts.authorization !== null) headers.authorization = opts.authorization ?? svc.headers.authorization!;
  if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? PROTOBUF;
  if (opts.contentEncoding) headers['content-encoding'] = opts.contentEncoding;
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const RpcStatus = protobuf.Root.fromJSON({
  nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } } },
}).lookupType('Status');

/**
 * Asserts the refusal: the status, and a message matching `message` — from a google.rpc.Status protobuf body
 * when `protobufBody`, otherwise from the JSON error body.
 */
function assertRefused(res: Sent, status: number, message: RegExp, protobufBody: boolean, what: string): void {
  const text = res.body.toString('utf8');
  assert.equal(res.status, status, `${what}: HTTP status (body: ${JSON.stringify(text.slice(0, 300))})`);
  if (protobufBody) {
    assert.match(res.contentType, /^application\/x-protobuf/, `${what}: protobuf error body`);
    const decoded = RpcStatus.toObject(RpcStatus.decode(res.body)) as { code?: number; message?: string };
    assert.equal(decoded.code, 3, `${what}: google.rpc.Status code INVALID_ARGUMENT`);
    assert.match(decoded.message ?? '', message, `${what}: google.rpc.Status message`);
    // The message text is in the body bytes as they are.
    assert.ok(res.body.includes(Buffer.from(decoded.message ?? '\0', 'utf8')), `${what}: message bytes in the body`);
  } else {
    assert.match(res.contentType, /^application\/json/, `${what}: JSON error body`);
    const parsed = JSON.parse(text) as { code?: number; message?: string };
    assert.equal(parsed.code, status, `${what}: code in the JSON body`);
    assert.match(parsed.message ?? '', message, `${what}: message`);
  }
}

/** Runs `fn`, flushes, and asserts that no table gained a row and nothing waits in the WAL. */
async function assertNothingWritten(fn: () => Promise<void>): Promise<void> {
  const before = await svc.stats();
  try {
    await fn();
  } finally {
    // Even when an assertion failed: whatever was accepted must be stored before the next test counts rows.
    await svc.flush();
  }
  const afterStats = await svc.stats();
  assert.deepEqual(afterStats.rows, before.rows, 'row counts unchanged');
  assert.equal(afterStats.wal_backlog_bytes, 0);
}

const T = { timeout: 120_000 };

// ---------------------------------------------------------------------------------------------------------
// Cases

test('malformed protobuf (truncated message, invalid wire type) → 400 google.rpc.Status', T, async () => {
  await assertNothingWritten(async () => {
    for (const signal of SIGNALS) {
      const good = encode(signal, GOOD[signal]());
      assertRefused(await send(`/v1/${signal}`, good.subarray(0, good.length - 3)), 400, /malformed protobuf .*index out of range/, true, `${signal} truncated`);
      // Field 15, wire type 7: no such wire type. After a complete valid message, so only the tail is bad.
      const badWire = Buffer.concat([good, Buffer.from([0x7f, 0x01, 0x02])]);
      assertRefused(await send(`/v1/${signal}`, badWire), 400, /malformed protobuf .*invalid wire type 7/, true, `${signal} invalid wire type`);
      // A length prefix pointing past the end of the body.
      assertRefused(await send(`/v1/${signal}`, Buffer.from([0x0a, 0xff, 0x01, 0x00])), 400, /malformed protobuf/, true, `${signal} overlong length`);
    }
  });
});

test('malformed or mis-shaped JSON → 400', T, async () => {
  await assertNothingWritten(async () => {
    for (const signal of SIGNALS) {
      const key = { traces: 'resourceSpans', metrics: 'resourceMetrics', logs: 'resourceLogs' }[signal];
      assertRefused(await send(`/v1/${signal}`, `{"${key}": [`, { contentType: JSON_TYPE }), 400, /malformed JSON/, false, `${signal} truncated JSON`);
      assertRefused(await send(`/v1/${signal}`, '[]', { contentType: JSON_TYPE }), 400, /must be an object/, false, `${signal} JSON array`);
      assertRefused(await send(`/v1/${signal}`, `{"${key}": {"x": 1}}`, { contentType: JSON_TYPE }), 400, /must be a list/, false, `${signal} JSON wrong shape`);
    }
    assertRefused(await send('/v1/collector/events', '{"collector": {', { contentType: JSON_TYPE }), 400, /JSON/, false, 'collector truncated JSON');
    assertRefused(await send('/v1/collector/events', '[]', { contentType: JSON_TYPE }), 400, /body must be object/, false, 'collector JSON array');
  });
});

test('wrong or missing Content-Type → 415', T, async () => {
  await assertNothingWritten(async () => {
    for (const signal of SIGNALS) {
      const good = encode(signal, GOOD[signal]());
      assertRefused(await send(`/v1/${signal}`, good, { contentType: 'text/plain' }), 415, /unsupported Content-Type/i, false, `${signal} text/plain`);
      assertRefused(await send(`/v1/${signal}`, good, { contentType: 'application/grpc' }), 415, /unsupported Content-Type/i, false, `${signal} application/grpc`);
      assertRefused(await send(`/v1/${signal}`, good, { contentType: null }), 415, /unsupported Content-Type/i, false, `${signal} no Content-Type`);
    }
    const batch = JSON.stringify(collectorBatch([collectorEvent()]));
    assertRefused(await send('/v1/collector/events', batch, { contentType: 'application/xml' }), 415, /unsupported Content-Type/i, false, 'collector application/xml');
  });
});

test('collector events sent as text/plain → 415', { ...T }, async () => {
  await assertNothingWritten(async () => {
    const batch = JSON.stringify(collectorBatch([collectorEvent()]));
    assertRefused(await send('/v1/collector/events', batch, { contentType: 'text/plain' }), 415, /unsupported Content-Type/i, false, 'collector text/plain');
  });
});

test('body over ROOTLINE_MAX_BODY_BYTES → 413 on every receiver', T, async () => {
  await assertNothingWritten(async () => {
    const big = Buffer.alloc(MAX_BODY + 4096, 0x20);
    for (const signal of SIGNALS) {
      assertRefused(await send(`/v1/${signal}`, big), 413, /larger than the limit/, true, `${signal} protobuf`);
      assertRefused(await send(`/v1/${signal}`, big, { contentType: JSON_TYPE }), 413, /larger than the limit/, false, `${signal} JSON`);
    }
    assertRefused(await send('/v1/collector/events', big, { contentType: JSON_TYPE }), 413, /larger than the limit/, false, 'collector');
  });
});

test('gzip bomb → 413, bad gzip → 400, unknown Content-Encoding → 415', T, async () => {
  // 8 MiB of zeros gzip to ~8 KiB: under the body limit, far over the decompressed limit.
  const bomb = gzipSync(Buffer.alloc(8 * MAX_DECOMPRESSED));
  assert.ok(bomb.length < MAX_BODY, 'the bomb itself fits the body limit');
  await assertNothingWritten(async () => {
    for (const signal of SIGNALS) {
      assertRefused(await send(`/v1/${signal}`, bomb, { contentEncoding: 'gzip' }), 413, /decompressed body exceeds 1048576 bytes/, true, `${signal} gzip bomb`);
      assertRefused(await send(`/v1/${signal}`, bomb, { contentEncoding: 'gzip', contentType: JSON_TYPE }), 413, /decompressed body exceeds/, false, `${signal} JSON gzip bomb`);
      const good = encode(signal, GOOD[signal]());
      assertRefused(await send(`/v1/${signal}`, good, { contentEncoding: 'gzip' }), 400, /not valid gzip/, true, `${signal} not gzip`);
      const gz = gzipSync(good);
      assertRefused(await send(`/v1/${signal}`, gz.subarray(0, gz.length - 10), { contentEncoding: 'gzip' }), 400, /not valid gzip/, true, `${signal} truncated gzip`);
      assertRefused(await send(`/v1/${signal}`, good, { contentEncoding: 'br' }), 415, /unsupported Content-Encoding "br"/, true, `${signal} br`);
    }
  });
});

test('timestamps before 2000 or far in the future → 400', T, async () => {
  await assertNothingWritten(async () => {
    for (const [label, ns] of [['1999', YEAR_1999], ['1 s after epoch', ONE_SECOND_AFTER_EPOCH], ['2200', YEAR_2200]] as const) {
      const t = ns.toString();
      const cases: [Signal, Obj][] = [
        ['traces', traces([span({ startTimeUnixNano: t, endTimeUnixNano: t })])],
        ['metrics', metrics([point({ timeUnixNano: t, startTimeUnixNano: t })])],
        ['logs', logs([record({ timeUnixNano: t, observedTimeUnixNano: t })])],
        // No event time: the observed time stands in, and is checked too.
        ['logs', logs([record({ timeUnixNano: '0', observedTimeUnixNano: t })])],
      ];
      for (const [signal, req] of cases) {
        assertRefused(await send(`/v1/${signal}`, encode(signal, req)), 400, /timestamp \d+ .* is out of range/, true, `${signal} ${label}`);
      }
      const batch = JSON.stringify(collectorBatch([collectorEvent({ time_unix_nano: t })]));
      assertRefused(await send('/v1/collector/events', batch, { contentType: JSON_TYPE }), 400, /out of range/, false, `collector ${label}`);
    }
    // OTLP/JSON too.
    const json = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'x', startTimeUnixNano: YEAR_2200.toString() }] }] }],
    });
    assertRefused(await send('/v1/traces', json, { contentType: JSON_TYPE }), 400, /out of range/, false, 'traces JSON 2200');
  });
});

test('invalid UTF-8 in a protobuf string field → 400 naming the field', T, async () => {
  const cases: [string, Signal, Obj, RegExp][] = [
    ['span name', 'traces', traces([span({ name: 'XQXQ span' })]), /spans\[0\]\.name: string is not valid UTF-8/],
    ['span attribute key', 'traces', traces([span({ attributes: [kv('XQXQ.key', 'v')] })]), /spans\[0\]\.attributes\[0\]\.key: string is not valid UTF-8/],
    ['span attribute value', 'traces', traces([span({ attributes: [kv('k', 'XQXQ value')] })]), /attributes\[0\]\.value\.stringValue: string is not valid UTF-8/],
    ['resource attribute', 'traces', traces([span()], resource([kv('host.name', 'XQXQ-host')])), /resource\.attributes\[2\]\.value\.stringValue: string is not valid UTF-8/],
    ['metric point attribute', 'metrics', metrics([point({ attributes: [kv('queue', 'XQXQ')] })]), /dataPoints\[0\]\.attributes\[0\]\.value\.stringValue: string is not valid UTF-8/],
    ['log body', 'logs', logs([record({ body: { stringValue: 'XQXQ body' } })]), /logRecords\[0\]\.body\.stringValue: string is not valid UTF-8/],
    ['log attribute', 'logs', logs([record({ attributes: [kv('user', 'XQXQ')] })]), /logRecords\[0\]\.attributes\[0\]\.value\.stringValue: string is not valid UTF-8/],
  ];
  await assertNothingWritten(async () => {
    for (const [label, signal, req, message] of cases) {
      assertRefused(await send(`/v1/${signal}`, breakUtf8(encode(signal, req))), 400, message, true, label);
    }
  });
});

test('invalid UTF-8 in the other protobuf string fields → 400', { ...T }, async () => {
  const cases: [string, Signal, Obj][] = [
    ['span status message', 'traces', traces([span({ status: { code: 2, message: 'XQXQ' } })])],
    ['span event name', 'traces', traces([span({ events: [{ timeUnixNano: NOW.toString(), name: 'XQXQ' }] })])],
    ['scope name', 'traces', traces([span()], resource(), { name: 'XQXQ' })],
    ['metric name', 'metrics', metrics([point()], { name: 'XQXQ.depth' })],
    ['metric unit', 'metrics', metrics([point()], { unit: 'XQXQ' })],
    ['log severity text', 'logs', logs([record({ severityText: 'XQXQ' })])],
  ];
  const failures: string[] = [];
  await assertNothingWritten(async () => {
    for (const [label, signal, req] of cases) {
      const res = await send(`/v1/${signal}`, breakUtf8(encode(signal, req)));
      if (res.status !== 400) failures.push(`${label}: HTTP ${res.status}`);
    }
  }).catch((err: Error) => failures.push(err.message));
  assert.deepEqual(failures, []);
});

test('invalid UTF-8 in a JSON body → 400', T, async () => {
  await assertNothingWritten(async () => {
    const bodies: Record<Signal, string> = {
      traces: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: 'XQXQ', startTimeUnixNano: NOW.toString() }] }] }] }),
      metrics: JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'XQXQ', gauge: { dataPoints: [{ timeUnixNano: NOW.toString(), asDouble: 1 }] } }] }] }] }),
      logs: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: NOW.toString(), body: { stringValue: 'XQXQ' } }] }] }] }),
    };
    for (const signal of SIGNALS) {
      assertRefused(await send(`/v1/${signal}`, breakUtf8(Buffer.from(bodies[signal])), { contentType: JSON_TYPE }), 400, /not valid UTF-8/, false, `${signal} JSON`);
    }
  });
});

test('collector events with invalid UTF-8 in the JSON body → 400', { ...T }, async () => {
  await assertNothingWritten(async () => {
    const batch = Buffer.from(JSON.stringify(collectorBatch([collectorEvent({ 'process.executable.name': 'XQXQ' })])));
    assertRefused(await send('/v1/collector/events', breakUtf8(batch), { contentType: JSON_TYPE }), 400, /UTF-8/, false, 'collector');
  });
});

test('10,000 attributes → 400 (ROOTLINE_MAX_ATTRIBUTES)', T, async () => {
  const many = Array.from({ length: 10_000 }, (_, i) => kv(`app.attr_${i}`, `v${i}`));
  const cases: [string, Signal, Obj][] = [
    ['span attributes', 'traces', traces([span({ attributes: many })])],
    ['resource attributes', 'traces', traces([span()], resource(many))],
    ['span event attributes', 'traces', traces([span({ events: [{ timeUnixNano: NOW.toString(), name: 'e', attributes: many }] })])],
    ['metric point attributes', 'metrics', metrics([point({ attributes: many })])],
    ['log attributes', 'logs', logs([record({ attributes: many })])],
  ];
  await assertNothingWritten(async () => {
    for (const [label, signal, req] of cases) {
      // Gzip keeps the request under the 64 KiB body limit; it inflates to well under the decompressed limit.
      const body = gzipSync(encode(signal, req));
      assert.ok(body.length < MAX_BODY, `${label}: compressed request fits the body limit (${body.length})`);
      assertRefused(await send(`/v1/${signal}`, body, { contentEncoding: 'gzip' }), 400, /\d+ attributes exceed the limit of 256/, true, label);
    }
    const event = collectorEvent();
    for (let i = 0; i < 200; i++) event[`app.attr_${i}`] = i;
    assertRefused(await send('/v1/collector/events', JSON.stringify(collectorBatch([event])), { contentType: JSON_TYPE }), 400, /must NOT have more than 128 properties/, false, 'collector 200 attributes');
  });
});

test('trace and span ids of the wrong length → 400', T, async () => {
  await assertNothingWritten(async () => {
    const pb: [string, Signal, Obj, RegExp][] = [
      ['15-byte traceId', 'traces', traces([span({ traceId: randomBytes(15) })]), /traceId: 15 bytes, expected 16/],
      ['17-byte traceId', 'traces', traces([span({ traceId: randomBytes(17) })]), /traceId: 17 bytes, expected 16/],
      ['7-byte spanId', 'traces', traces([span({ spanId: randomBytes(7) })]), /spanId: 7 bytes, expected 8/],
      ['9-byte parentSpanId', 'traces', traces([span({ parentSpanId: randomBytes(9) })]), /parentSpanId: 9 bytes, expected 8/],
      ['missing traceId', 'traces', traces([span({ traceId: Buffer.alloc(0) })]), /traceId and spanId are required/],
      ['log 15-byte traceId', 'logs', logs([record({ traceId: randomBytes(15) })]), /traceId: 15 bytes, expected 16/],
      ['log 4-byte spanId', 'logs', logs([record({ spanId: randomBytes(4) })]), /spanId: 4 bytes, expected 8/],
    ];
    for (const [label, signal, req, message] of pb) assertRefused(await send(`/v1/${signal}`, encode(signal, req)), 400, message, true, label);

    const jsonSpan = (traceId: string, spanId: string) =>
      JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId, spanId, name: 'x', startTimeUnixNano: NOW.toString() }] }] }] });
    const spanId = randomBytes(8).toString('hex');
    assertRefused(await send('/v1/traces', jsonSpan('abc', spanId), { contentType: JSON_TYPE }), 400, /"abc" is not a 16-byte hex id/, false, 'JSON short traceId');
    assertRefused(await send('/v1/traces', jsonSpan('z'.repeat(32), spanId), { contentType: JSON_TYPE }), 400, /is not a 16-byte hex id/, false, 'JSON non-hex traceId');
    assertRefused(await send('/v1/traces', jsonSpan(randomBytes(16).toString('hex'), 'abcd'), { contentType: JSON_TYPE }), 400, /is not a 8-byte hex id/, false, 'JSON short spanId');
  });
});

test('missing or wrong bearer token → 401 on every receiver', T, async () => {
  await assertNothingWritten(async () => {
    const receivers: [string, Buffer | string, string][] = [
      ...SIGNALS.map((s): [string, Buffer, string] => [`/v1/${s}`, encode(s, GOOD[s]()), PROTOBUF]),
      ['/v1/collector/events', JSON.stringify(collectorBatch([collectorEvent()])), JSON_TYPE],
    ];
    for (const [path, body, contentType] of receivers) {
      const missing = await send(path, body, { contentType, authorization: null });
      assertRefused(missing, 401, /missing bearer token/, false, `${path} without a token`);
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/, `${path}: WWW-Authenticate`);
      assertRefused(await send(path, body, { contentType, authorization: `Bearer ${'0'.repeat(32)}` }), 401, /unknown token/, false, `${path} wrong token`);
      assertRefused(await send(path, body, { contentType, authorization: `Basic ${Buffer.from(`test:${svc.token}`).toString('base64')}` }), 401, /missing bearer token/, false, `${path} basic auth`);
    }
  });
});

test('collector batches that break the event schema → 400', T, async () => {
  const bad: [string, Obj, RegExp][] = [
    ['unknown event.name', collectorBatch([collectorEvent({ 'event.name': 'aiops.tcp.teleport' })]), /event\.name/],
    ['missing aiops.seq', collectorBatch([(({ 'aiops.seq': _seq, ...rest }) => rest)(collectorEvent())]), /must have required property 'aiops\.seq'/],
    ['negative aiops.seq', collectorBatch([collectorEvent({ 'aiops.seq': -1 })]), /aiops\.seq/],
    ['non-scalar attribute (object)', collectorBatch([collectorEvent({ 'http.request.header': { a: 1 } })]), /must be (string|number|boolean)/],
    ['non-scalar attribute (array)', collectorBatch([collectorEvent({ 'net.peers': ['a', 'b'] })]), /must be (string|number|boolean)/],
    ['time_unix_nano not digits', collectorBatch([collectorEvent({ time_unix_nano: '12:00' })]), /time_unix_nano/],
    ['missing host.name', collectorBatch([collectorEvent()], { 'host.id': 'x' }), /host\.name/],
    ['unknown top-level field', { ...collectorBatch([collectorEvent()]), extra: true }, /additional properties/],
  ];
  await assertNothingWritten(async () => {
    for (const [label, batch, message] of bad) {
      assertRefused(await send('/v1/collector/events', JSON.stringify(batch), { contentType: JSON_TYPE }), 400, message, false, label);
    }
  });
});

test('a request mixing good and bad items writes none of them (all-or-nothing)', T, async () => {
  const goodSpan = span();
  const goodTraceId = (goodSpan.traceId as Buffer).toString('hex');
  await assertNothingWritten(async () => {
    // One good and one bad span in the same scope.
    const sameScope = traces([goodSpan, span({ traceId: goodSpan.traceId, parentSpanId: goodSpan.spanId, spanId: randomBytes(7) })]);
    assertRefused(await send('/v1/traces', encode('traces', sameScope)), 400, /spans\[1\]\.spanId: 7 bytes/, true, 'good + bad span');
    // A good resource followed by one whose span is out of range.
    const twoResources = {
      resourceSpans: [
        { resource: resource(), scopeSpans: [{ spans: [goodSpan] }] },
        { resource: resource(), scopeSpans: [{ spans: [span({ startTimeUnixNano: YEAR_2200.toString() })] }] },
      ],
    };
    assertRefused(await send('/v1/traces', encode('traces', twoResources)), 400, /resourceSpans\[1\].*out of range/, true, 'good + bad resource');
    // The good span comes last, after a bad one with too many attributes.
    const tooMany = Array.from({ length: 300 }, (_, i) => kv(`k${i}`, i));
    assertRefused(await send('/v1/traces', encode('traces', traces([span({ attributes: tooMany }), goodSpan]))), 400, /300 attributes exceed/, true, 'bad + good span');
    assertRefused(await send('/v1/metrics', encode('metrics', metrics([point(), point({ timeUnixNano: YEAR_1999.toString() })]))), 400, /dataPoints\[1\].*out of range/, true, 'good + bad point');
    assertRefused(await send('/v1/logs', encode('logs', logs([record(), record({ severityNumber: 99 })]))), 400, /severityNumber 99 is not 0–24/, true, 'good + bad log record');
    const mixed = collectorBatch([collectorEvent(), collectorEvent({ 'event.name': 'nope' })]);
    assertRefused(await send('/v1/collector/events', JSON.stringify(mixed), { contentType: JSON_TYPE }), 400, /event\.name/, false, 'good + bad collector event');
    const mixedTime = collectorBatch([collectorEvent(), collectorEvent({ time_unix_nano: YEAR_1999.toString() })]);
    assertRefused(await send('/v1/collector/events', JSON.stringify(mixedTime), { contentType: JSON_TYPE }), 400, /events\[1\].*out of range/, false, 'good + bad collector time');
  });
  const res = await fetch(`${svc.url}/api/v1/traces/${goodTraceId}`, { headers: svc.headers });
  assert.deepEqual(await res.json(), { spans: [] }, 'the good span of the refused requests is not stored');
});

test('optional times left out (gauge start time, span event time, log event time) are stored, not a stuck store', T, async () => {
  const before = await svc.stats();
  const noStart = point();
  delete noStart.startTimeUnixNano;
  const eventSpan = span({ events: [{ name: 'cache.miss', attributes: [kv('key', 'user:1')] }] });
  const results = [
    await send('/v1/metrics', encode('metrics', metrics([noStart]))),
    await send('/v1/traces', encode('traces', traces([eventSpan]))),
    // Only the observed time: it stands in for the event time.
    await send('/v1/logs', encode('logs', logs([record({ timeUnixNano: '0' })]))),
  ];
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200]);
  // A row the store refuses would be retried forever and this flush would never return.
  await svc.flush(30_000);
  const afterStats = await svc.stats();
  assert.equal(afterStats.rows.metric_points! - before.rows.metric_points!, 1);
  assert.equal(afterStats.rows.spans! - before.rows.spans!, 1);
  assert.equal(afterStats.rows.logs! - before.rows.logs!, 1);
});

test('afterwards the service is healthy and stores good requests on every receiver', T, async () => {
  const health = await fetch(`${svc.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`${svc.url}/readyz`);
  assert.equal(ready.status, 200, await ready.text());

  const before = await svc.stats();
  const goodSpan = span({ name: 'after the storm' });
  const ok = (res: Sent, what: string) => assert.equal(res.status, 200, `${what}: ${res.body.toString('utf8').slice(0, 300)}`);
  ok(await send('/v1/traces', encode('traces', traces([goodSpan]))), 'traces protobuf');
  ok(await send('/v1/traces', gzipSync(encode('traces', traces([span(), span()]))), { contentEncoding: 'gzip' }), 'traces protobuf gzip');
  ok(await send('/v1/metrics', encode('metrics', metrics([point(), point({ attributes: [kv('queue', 'b')] })]))), 'metrics protobuf');
  ok(await send('/v1/logs', encode('logs', logs([record()]))), 'logs protobuf');
  const jsonLog = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: NOW.toString(), severityNumber: 9, body: { stringValue: 'json ok' } }] }] }] });
  ok(await send('/v1/logs', jsonLog, { contentType: JSON_TYPE }), 'logs JSON');
  const collector = await send('/v1/collector/events', JSON.stringify(collectorBatch([collectorEvent(), collectorEvent()])), { contentType: JSON_TYPE });
  ok(collector, 'collector');
  assert.equal((JSON.parse(collector.body.toString('utf8')) as { accepted: number }).accepted, 2);

  await svc.flush();
  const afterStats = await svc.stats();
  const delta = Object.fromEntries(Object.entries(afterStats.rows).map(([k, v]) => [k, v - (before.rows[k] ?? 0)]));
  assert.deepEqual(delta, { spans: 3, metric_points: 2, logs: 2, collector_events: 2, alerts: 0 });

  const res = await fetch(`${svc.url}/api/v1/traces/${(goodSpan.traceId as Buffer).toString('hex')}`, { headers: svc.headers });
  const { spans } = (await res.json()) as { spans: { name: string; service_name: string }[] };
  assert.deepEqual(spans.map((s) => [s.name, s.service_name]), [['after the storm', 'bad-input-test']]);
});

// Out-of-range secondary times once reached ClickHouse and blocked the flusher; they must be refused up front.
test(
  'secondary timestamps out of range (span event, metric start, log observed time) → 400, never a stuck store',
  { ...T },
  async () => {
    const far = (2n ** 64n - 1n).toString(); // beyond DateTime64(9)
    const cases: [string, Signal, Obj][] = [
      ['span event time', 'traces', traces([span({ events: [{ timeUnixNano: far, name: 'e' }] })])],
      ['metric start time', 'metrics', metrics([point({ startTimeUnixNano: far })])],
      ['log observed time', 'logs', logs([record({ observedTimeUnixNano: far })])],
    ];
    const accepted: string[] = [];
    for (const [label, signal, req] of cases) {
      const res = await send(`/v1/${signal}`, encode(signal, req));
      if (res.status !== 400) accepted.push(`${label}: HTTP ${res.status}`);
    }
    let flushError = '';
    await svc.flush(15_000).catch((err: Error) => {
      flushError = `flush did not complete: ${err.message}`;
    });
    assert.deepEqual({ accepted, flushError }, { accepted: [], flushError: '' });
  },
);
