/**
 * The real OpenTelemetry JS SDK exports to a running Rootline, and the data is read back through the service:
 * traces over OTLP/HTTP protobuf and JSON (gzip), metrics and logs over protobuf.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Span, type Tracer } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTestService, type TestService } from '../helpers/service.ts';

/** The ExportResult the SDK hands back (ExportResultCode: 0 SUCCESS, 1 FAILED). */
interface ExportResult {
  code: number;
  error?: Error;
}

/** Wraps `exporter.export` so the test sees every result the SDK would otherwise only log. */
function recordResults<I>(exporter: { export(items: I, done: (r: ExportResult) => void): void }): ExportResult[] {
  const results: ExportResult[] = [];
  const original = exporter.export.bind(exporter);
  exporter.export = (items: I, done: (r: ExportResult) => void) =>
    original(items, (r) => {
      results.push(r);
      done(r);
    });
  return results;
}

function assertExported(results: ExportResult[], expectedExports: number): void {
  const failures = results.filter((r) => r.code !== 0).map((r) => String(r.error?.message ?? r.error));
  assert.deepEqual(failures, [], 'every export succeeded');
  assert.equal(results.length, expectedExports, 'number of export calls');
}

interface StoredSpan {
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  name: string;
  kind: string;
  service_name: string;
  start_time_unix_nano: string;
  duration_ns: string;
  status_code: string;
  attributes: Record<string, string>;
  resource_attributes: Record<string, string>;
}

const SEC = Math.floor(Date.now() / 1000) - 30;
/** An HrTime [seconds, nanos] at SEC + ms, with a nanosecond remainder so precision loss would show. */
const at = (ms: number, extraNs = 0): [number, number] => [SEC + Math.floor(ms / 1000), (ms % 1000) * 1_000_000 + extraNs];
const nanos = (t: [number, number]) => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

// One embedded service per file (chDB allows one engine per process); the root `after` hook closes it.
const svc: TestService = await startTestService({ after });

/** Trace ids written by the two trace tests, checked again by the attribute-type test. */
const exportedTraces: { protobuf?: string; json?: string } = {};

async function waitFor(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function resourceFor(service: string): Resource {
  return resourceFromAttributes({
    'service.name': service,
    'service.namespace': 'shop',
    'service.version': '2.3.4',
    'service.instance.id': `${service}-7d9f8c-x2k4q`,
    'k8s.namespace.name': 'prod',
    'k8s.pod.name': `${service}-7d9f8c-x2k4q`,
    'k8s.node.name': 'node-3',
    'host.name': 'node-3',
    'deployment.environment.name': 'test',
  });
}

async function getTrace(traceId: string): Promise<StoredSpan[]> {
  const res = await fetch(`${svc.url}/api/v1/traces/${traceId}`, { headers: svc.headers });
  const body = (await res.json()) as { spans: StoredSpan[] };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.spans;
}

/** One request-shaped trace: SERVER root, CLIENT child with an error and an event, INTERNAL child. */
function emitTrace(tracer: Tracer): { server: Span; client: Span; internal: Span; times: Record<string, [[number, number], [number, number]]> } {
  const times: Record<string, [[number, number], [number, number]]> = {
    server: [at(0, 7), at(120, 11)],
    client: [at(10, 3), at(95, 5)],
    internal: [at(100, 1), at(110, 2)],
  };
  const server = tracer.startSpan('POST /api/checkout', {
    kind: SpanKind.SERVER,
    startTime: times.server![0],
    attributes: {
      'http.request.method': 'POST',
      'http.route': '/api/checkout',
      'http.response.status_code': 502,
      'app.cart.items': 3,
      'app.customer.premium': true,
      'app.discount.ratio': 0.25,
      'app.tags': ['blue', 'fast'],
    },
  });
  const ctx = trace.setSpan(ROOT_CONTEXT, server);
  const client = tracer.startSpan(
    'SELECT orders',
    {
      kind: SpanKind.CLIENT,
      startTime: times.client![0],
      attributes: { 'db.system.name': 'postgresql', 'server.address': 'orders-db.prod.svc', 'server.port': 5432 },
    },
    ctx,
  );
  client.addEvent('connection.retry', { 'retry.attempt': 2 }, at(50));
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset by peer' });
  client.end(times.client![1]);
  const internal = tracer.startSpan('render receipt', { kind: SpanKind.INTERNAL, startTime: times.internal![0] }, ctx);
  internal.end(times.internal![1]);
  server.setStatus({ code: SpanStatusCode.OK });
  server.end(times.server![1]);
  return { server, client, internal, times };
}

async function assertStoredTrace(emitted: ReturnType<typeof emitTrace>, service: string): Promise<void> {
  const { server, client, internal, times } = emitted;
  const traceId = server.spanContext().traceId;
  const spans = await getTrace(traceId);
  assert.equal(spans.length, 3, `spans of trace ${traceId}: ${JSON.stringify(spans)}`);
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const s = byId.get(server.spanContext().spanId);
  const c = byId.get(client.spanContext().spanId);
  const i = byId.get(internal.spanContext().spanId);
  assert.ok(s && c && i, `all three span ids stored: ${JSON.stringify([...byId.keys()])}`);

  for (const sp of spans) {
    assert.equal(sp.trace_id, traceId);
    assert.equal(sp.service_name, service);
    assert.equal(sp.resource_attributes['service.name'], service);
    assert.equal(sp.resource_attributes['k8s.pod.name'], `${service}-7d9f8c-x2k4q`);
    assert.equal(sp.resource_attributes['k8s.namespace.name'], 'prod');
    assert.equal(sp.resource_attributes['deployment.environment.name'], 'test');
  }

  assert.equal(s.name, 'POST /api/checkout');
  assert.equal(s.kind, 'SERVER');
  assert.equal(s.parent_span_id, '');
  assert.equal(s.status_code, 'OK');
  assert.equal(s.start_time_unix_nano, nanos(times.server![0]));
  assert.equal(s.duration_ns, (BigInt(nanos(times.server![1])) - BigInt(nanos(times.server![0]))).toString());
  assert.equal(s.attributes['http.request.method'], 'POST');
  assert.equal(s.attributes['http.route'], '/api/checkout');

  assert.equal(c.name, 'SELECT orders');
  assert.equal(c.kind, 'CLIENT');
  assert.equal(c.parent_span_id, server.spanContext().spanId);
  assert.equal(c.status_code, 'ERROR');
  assert.equal(c.attributes['db.system.name'], 'postgresql');
  assert.equal(c.attributes['server.address'], 'orders-db.prod.svc');
  assert.equal(c.duration_ns, (BigInt(nanos(times.client![1])) - BigInt(nanos(times.client![0]))).toString());

  assert.equal(i.name, 'render receipt');
  assert.equal(i.kind, 'INTERNAL');
  assert.equal(i.parent_span_id, server.spanContext().spanId);
  assert.equal(i.status_code, 'UNSET');
  assert.deepEqual(i.attributes, {});

  // Ordered by start time.
  assert.deepEqual(spans.map((sp) => sp.name), ['POST /api/checkout', 'SELECT orders', 'render receipt']);
}

test('traces from OTLPTraceExporter (protobuf) are stored and read back', { timeout: 60_000 }, async (t) => {
  const before = await svc.stats();
  const exporter = new ProtoTraceExporter({ url: `${svc.url}/v1/traces`, headers: svc.headers });
  const results = recordResults(exporter);
  const provider = new BasicTracerProvider({ resource: resourceFor('checkout'), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  t.after(() => provider.shutdown());

  const emitted = emitTrace(provider.getTracer('rootline-test', '1.0.0'));
  exportedTraces.protobuf = emitted.server.spanContext().traceId;
  await provider.forceFlush();
  assertExported(results, 3); // SimpleSpanProcessor: one export per span

  await svc.flush();
  await assertStoredTrace(emitted, 'checkout');
  const afterStats = await svc.stats();
  assert.equal(afterStats.rows.spans! - before.rows.spans!, 3);
  assert.equal(afterStats.wal_backlog_bytes, 0);
});

test('traces from the OTLP/HTTP JSON exporter (gzip, BatchSpanProcessor) are stored and read back', { timeout: 60_000 }, async (t) => {
  const before = await svc.stats();
  type JsonConfig = NonNullable<ConstructorParameters<typeof JsonTraceExporter>[0]>;
  const exporter = new JsonTraceExporter({
    url: `${svc.url}/v1/traces`,
    headers: svc.headers,
    compression: 'gzip' as NonNullable<JsonConfig['compression']>,
  });
  const results = recordResults(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFor('frontend'),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60_000, maxExportBatchSize: 512 })],
  });
  t.after(() => provider.shutdown());

  const emitted = emitTrace(provider.getTracer('rootline-test', '1.0.0'));
  exportedTraces.json = emitted.server.spanContext().traceId;
  assert.equal(results.length, 0, 'nothing exported before forceFlush');
  await provider.forceFlush();
  assertExported(results, 1); // one batch with all three spans

  await svc.flush();
  await assertStoredTrace(emitted, 'frontend');
  const afterStats = await svc.stats();
  assert.equal(afterStats.rows.spans! - before.rows.spans!, 3);
});

test('int, bool, double and array attribute values survive both encodings', { timeout: 60_000 }, async () => {
  for (const [encoding, traceId] of Object.entries(exportedTraces)) {
    assert.ok(traceId, `the ${encoding} trace test ran`);
    const server = (await getTrace(traceId)).find((sp) => sp.kind === 'SERVER');
    assert.ok(server, `${encoding}: SERVER span stored`);
    assert.deepEqual(
      {
        status: server.attributes['http.response.status_code'],
        items: server.attributes['app.cart.items'],
        premium: server.attributes['app.customer.premium'],
        ratio: server.attributes['app.discount.ratio'],
        tags: server.attributes['app.tags'],
      },
      { status: '502', items: '3', premium: 'true', ratio: '0.25', tags: '["blue","fast"]' },
      `${encoding}: typed attribute values as stored`,
    );
    const client = (await getTrace(traceId)).find((sp) => sp.kind === 'CLIENT');
    assert.equal(client?.attributes['server.port'], '5432', `${encoding}: int attribute server.port`);
  }
});

test('an exporter with a wrong bearer token fails and writes nothing', { timeout: 60_000 }, async (t) => {
  const before = await svc.stats();
  const exporter = new ProtoTraceExporter({ url: `${svc.url}/v1/traces`, headers: { authorization: 'Bearer not-the-right-token-000000' } });
  const results = recordResults(exporter);
  const provider = new BasicTracerProvider({ resource: resourceFor('intruder'), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  t.after(() => provider.shutdown());
  const span = provider.getTracer('rootline-test').startSpan('should not be stored', { kind: SpanKind.SERVER });
  span.end();
  // SimpleSpanProcessor's forceFlush rejects with the export errors; the recorded result is what is checked.
  await provider.forceFlush().catch(() => undefined);
  await waitFor('the export result', () => results.length > 0);
  assert.equal(results.length, 1);
  assert.equal(results[0]!.code, 1, 'export FAILED');
  assert.match(String(results[0]!.error?.message), /401|Unauthorized/i);

  await svc.flush();
  assert.deepEqual((await getTrace(span.spanContext().traceId)).length, 0);
  assert.deepEqual((await svc.stats()).rows, before.rows);
});

test('metrics from OTLPMetricExporter (protobuf): counter, up-down counter and histogram points are stored', { timeout: 60_000 }, async (t) => {
  const before = await svc.stats();
  const exporter = new OTLPMetricExporter({ url: `${svc.url}/v1/metrics`, headers: svc.headers });
  const results = recordResults(exporter);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, exportTimeoutMillis: 30_000 });
  const provider = new MeterProvider({ resource: resourceFor('checkout'), readers: [reader] });
  t.after(() => provider.shutdown());

  const meter = provider.getMeter('rootline-test', '1.0.0');
  const orders = meter.createCounter('checkout.orders', { unit: '{order}', description: 'orders placed' });
  orders.add(2, { region: 'eu' });
  orders.add(3, { region: 'us' });
  orders.add(1, { region: 'eu' });
  const depth = meter.createUpDownCounter('checkout.queue.depth');
  depth.add(4, { queue: 'payments' });
  depth.add(-9, { queue: 'payments' }); // a negative int point
  const latency = meter.createHistogram('checkout.latency', { unit: 'ms' });
  for (const v of [12, 250, 40, 3]) latency.record(v, { 'http.route': '/api/checkout' });

  await provider.forceFlush();
  assertExported(results, 1);

  await svc.flush();
  const afterStats = await svc.stats();
  // counter: 2 attribute sets; up-down counter: 1; histogram: 1.
  assert.equal(afterStats.rows.metric_points! - before.rows.metric_points!, 4);
  assert.equal(afterStats.rows.spans, before.rows.spans, 'no spans written by a metrics export');
  assert.equal(afterStats.wal_backlog_bytes, 0);

  // Shutdown collects once more; with cumulative temporality the same four series are exported again.
  await provider.shutdown();
  assertExported(results, 2);
  await svc.flush();
  assert.equal((await svc.stats()).rows.metric_points! - before.rows.metric_points!, 8);
});

test('logs from OTLPLogExporter (protobuf) with trace context, attributes and severity are stored', { timeout: 60_000 }, async (t) => {
  const before = await svc.stats();
  const exporter = new OTLPLogExporter({ url: `${svc.url}/v1/logs`, headers: svc.headers });
  const results = recordResults(exporter);
  const provider = new LoggerProvider({ resource: resourceFor('checkout'), processors: [new SimpleLogRecordProcessor({ exporter })] });
  t.after(() => provider.shutdown());

  const logger = provider.getLogger('rootline-test', '1.0.0');
  const spanContext = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: TraceFlags.SAMPLED };
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'payment declined',
    attributes: { 'payment.provider': 'acme', 'payment.amount': 42.5, 'exception.type': 'CardDeclined' },
    context: trace.setSpanContext(ROOT_CONTEXT, spanContext),
    timestamp: at(200),
  });
  logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: { reason: 'slow', ms: 930 }, eventName: 'checkout.slow' });
  // SimpleLogRecordProcessor.forceFlush does not wait for exports already started: wait for both results.
  await provider.forceFlush();
  await waitFor('two log exports', () => results.length >= 2);
  assertExported(results, 2); // SimpleLogRecordProcessor: one export per record

  await svc.flush();
  const afterStats = await svc.stats();
  assert.equal(afterStats.rows.logs! - before.rows.logs!, 2);
  assert.equal(afterStats.rows.metric_points, before.rows.metric_points, 'no metric points written by a logs export');
  assert.equal(afterStats.wal_backlog_bytes, 0);
});
