// The runtime every demo service process runs on: an HTTP server with a route table (or the TCP key-value db),
// calls to other services, a db client pool, OpenTelemetry traces, metrics and logs for the instrumented
// services, and the faults the runner injects. The runner talks to the process over stdin/stdout, one JSON
// object a line: commands in ({"op":"fault",...}, {"op":"clear",...}), readiness, acks and stats out. Log lines
// go to stderr. The process exits when stdin closes, so it never outlives the runner.
import * as http from 'node:http';
import { createServer, connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { clearTimeout, setInterval, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Faults, readFeatureFlags } from './effects.mjs';

/** A response with a status below 500 that a handler chooses (bad input, not found, declined). */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A call to another service that failed (refused, timed out, or answered 5xx). */
export class UpstreamError extends Error {
  constructor(peer, what, cause) {
    super(`${peer} ${what}`, cause ? { cause } : undefined);
    this.name = 'UpstreamError';
  }
}

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// ------------------------------------------------------------------------------------------------ telemetry

/**
 * OpenTelemetry for an instrumented service: traces (W3C trace context in and out), process metrics and logs,
 * exported over OTLP/HTTP protobuf to Rootline with the bearer token. Without `cfg.otel` every method is a
 * no-op and the service is visible only to the eBPF collector.
 */
function telemetry(cfg) {
  const resource = resourceFromAttributes({
    'service.name': cfg.name,
    'service.version': cfg.version,
    'service.instance.id': randomUUID(),
    'host.name': cfg.hostName,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'deployment.environment.name': 'demo',
  });
  if (!cfg.otel) return { tracer: undefined, propagator: undefined, log() {}, async shutdown() {} };
  const headers = { Authorization: `Bearer ${cfg.otel.token}` };
  const url = (signal) => `${cfg.otel.endpoint}/v1/${signal}`;
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: url('traces'), headers }), { scheduledDelayMillis: 1000, maxQueueSize: 8192 })],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: url('metrics'), headers }), exportIntervalMillis: cfg.metricsIntervalMs ?? 5000 })],
  });
  const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: url('logs'), headers }), scheduledDelayMillis: 1000 })] });

  // Process metrics as gauges, the names OpenTelemetry's semantic conventions give them. No cumulative CPU time:
  // a level that only grows reads as an anomaly to a baseline; utilization is its rate.
  const meter = meterProvider.getMeter('rootline-demo', cfg.version);
  meter.createObservableGauge('process.memory.usage', { unit: 'By', description: 'Resident set size' }).addCallback((r) => r.observe(process.memoryUsage.rss()));
  meter.createObservableGauge('v8js.memory.heap.used', { unit: 'By', description: 'V8 heap in use' }).addCallback((r) => r.observe(process.memoryUsage().heapUsed));
  const cpu = cpuMeter();
  meter.createObservableGauge('process.cpu.utilization', { unit: '1', description: 'CPU time over elapsed time and available CPUs' }).addCallback((r) => r.observe(cpu() / availableParallelism()));

  const logger = loggerProvider.getLogger('rootline-demo', cfg.version);
  const severities = { DEBUG: SeverityNumber.DEBUG, INFO: SeverityNumber.INFO, WARN: SeverityNumber.WARN, ERROR: SeverityNumber.ERROR };
  return {
    tracer: tracerProvider.getTracer('rootline-demo', cfg.version),
    propagator: new W3CTraceContextPropagator(),
    log(level, body, attributes, context) {
      logger.emit({ severityNumber: severities[level], severityText: level, body, attributes, ...(context ? { context } : {}) });
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
}

/** Cores used since the previous call (CPU seconds per second, all threads). */
function cpuMeter() {
  let last = process.cpuUsage();
  let at = process.hrtime.bigint();
  return () => {
    const now = process.hrtime.bigint();
    const usage = process.cpuUsage();
    const cores = (usage.user - last.user + usage.system - last.system) / (Number(now - at) / 1000 || 1);
    last = usage;
    at = now;
    return cores;
  };
}

// ------------------------------------------------------------------------------------------------ CPU work

let itersPerMs = 0;
function calibrate() {
  let x = 1;
  const t = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - t < 20_000_000n) {
    for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) % 2147483648;
    n += 1000;
  }
  itersPerMs = Math.max(1000, Math.round(n / 20));
  return x;
}

/** A fixed amount of CPU work (calibrated at start to take `ms`): it takes longer when the CPU is contended. */
function burn(ms) {
  let x = 1;
  for (let i = 0, n = ms * itersPerMs; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}

// ------------------------------------------------------------------------------------------------ db client

/** A pool of persistent connections to the db, one command a line, reconnecting after the db comes back. */
class KvPool {
  constructor(address, port, size = 4) {
    Object.assign(this, { address, port, size, conns: [], next: 0 });
  }

  open() {
    const c = { sock: connect({ host: this.address, port: this.port }), waiting: [], buf: '', alive: true };
    c.sock.setEncoding('utf8');
    c.sock.setNoDelay(true);
    c.sock.on('data', (chunk) => {
      c.buf += chunk;
      for (let i = c.buf.indexOf('\n'); i >= 0; i = c.buf.indexOf('\n')) {
        const line = c.buf.slice(0, i);
        c.buf = c.buf.slice(i + 1);
        c.waiting.shift()?.resolve(line);
      }
    });
    const lost = (err) => {
      if (!c.alive) return;
      c.alive = false;
      c.sock.destroy();
      for (const w of c.waiting.splice(0)) w.reject(err ?? new Error('db connection closed'));
    };
    c.sock.on('error', lost).on('close', () => lost());
    return c;
  }

  command(line, timeoutMs = 2000) {
    const i = this.next++ % this.size;
    if (!this.conns[i]?.alive) this.conns[i] = this.open();
    const c = this.conns[i];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => c.sock.destroy(new Error(`db command timed out after ${timeoutMs} ms`)), timeoutMs);
      c.waiting.push({
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      c.sock.write(`${line}\n`);
    });
  }

  close() {
    for (const c of this.conns) c?.sock.destroy();
  }
}

// ------------------------------------------------------------------------------------------------ HTTP service

function compile(routes) {
  return Object.entries(routes).map(([key, handler]) => {
    const [method, route] = key.split(' ');
    const names = [];
    const re = new RegExp(`^${route.replace(/:(\w+)/g, (_, n) => (names.push(n), '([^/]+)'))}$`);
    return { method, route, re, names, handler };
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (s += c)).on('end', () => resolve(s)).on('error', reject);
  });
}

function httpCall(peer, target, method, path, body, headers, { fresh, timeoutMs }, agents) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const h = { host: `${peer}:${target.port}`, ...headers };
    if (text !== undefined) Object.assign(h, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    const agent = fresh ? false : (agents[peer] ??= new http.Agent({ keepAlive: true, maxSockets: 16 }));
    const req = http.request({ host: target.address, port: target.port, method, path, headers: h, agent, timeout: timeoutMs }, (res) => {
      readBody(res).then((s) => {
        let json;
        try {
          json = s ? JSON.parse(s) : undefined;
        } catch {
          json = s;
        }
        resolve({ status: res.statusCode, body: json });
      }, reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(text);
  });
}

/** Starts the HTTP service `cfg.name` with the route table `routes`. */
export async function runHttpService(cfg, routes) {
  calibrate();
  const otel = telemetry(cfg);
  const log = logger(cfg, otel);
  const faults = new Faults(cfg.name, log);
  const table = compile(routes);
  const agents = {};
  const db = cfg.peers.db ? new KvPool(cfg.peers.db.address, cfg.peers.db.port) : undefined;
  const counts = { requests: 0, errors: 0 };
  const propagator = otel.propagator;
  const tracer = otel.tracer;

  const server = http.createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    void handle(req, res);
  });

  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status, obj) => {
      const text = JSON.stringify(obj ?? {});
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (url.pathname === '/health') return send(200, { status: 'ok', service: cfg.name, version: cfg.version, pid: process.pid });
    const method = req.method ?? 'GET';
    let match;
    const params = {};
    for (const r of table) {
      const m = r.method === method && r.re.exec(url.pathname);
      if (!m) continue;
      match = r;
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
      break;
    }
    counts.requests++;
    const parent = propagator ? propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter) : ROOT_CONTEXT;
    const span = tracer?.startSpan(`${method} ${match?.route ?? url.pathname}`, {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': method,
        'url.path': url.pathname,
        'url.scheme': 'http',
        ...(match ? { 'http.route': match.route } : {}),
        'server.address': cfg.name,
        'server.port': cfg.port,
        'client.address': req.socket.remoteAddress ?? '',
        'network.protocol.version': req.httpVersion,
      },
    }, parent);
    const spanCtx = span ? trace.setSpan(parent, span) : ROOT_CONTEXT;
    let status;
    let out;
    try {
      if (!match) throw new HttpError(404, `no route ${method} ${url.pathname}`);
      const raw = await readBody(req);
      let body;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        throw new HttpError(400, 'the body is not JSON');
      }
      const injected = await faults.before(url.pathname);
      if (injected) {
        ({ status, body: out } = injected);
      } else {
        if (cfg.bad && Math.random() < (cfg.badFailRate ?? 0.25)) readFeatureFlags(undefined);
        const ctx = context(spanCtx);
        const r = await match.handler({ method, path: url.pathname, params, query: Object.fromEntries(url.searchParams), body, headers: req.headers }, ctx);
        status = r?.status ?? 200;
        out = r?.body;
      }
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        out = { error: err.message };
      } else {
        status = 500;
        out = { error: err instanceof UpstreamError ? `upstream failure: ${err.message}` : 'internal server error' };
        span?.recordException(err);
        log.error(`${method} ${match?.route ?? url.pathname} failed: ${err instanceof UpstreamError ? err.message : err.stack ?? err}`, err, spanCtx);
      }
    }
    if (status >= 500) counts.errors++;
    span?.setAttribute('http.response.status_code', status);
    if (status >= 500) span?.setStatus({ code: SpanStatusCode.ERROR, message: out?.error });
    span?.end();
    send(status, out);
  }

  /** What a handler uses to do its work inside the request's trace. */
  function context(spanCtx) {
    const clientSpan = (name, attributes) => tracer?.startSpan(name, { kind: SpanKind.CLIENT, attributes }, spanCtx);
    const endSpan = (span, err) => {
      if (!span) return;
      if (err) {
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(err.message ?? err) });
        span.setAttribute('error.type', err.code ?? err.name ?? 'Error');
      }
      span.end();
    };
    return {
      bad: Boolean(cfg.bad),
      random: Math.random,
      fail(status, message) {
        throw new HttpError(status, message);
      },
      async work(cpuMs, waitMs = 0) {
        burn(cpuMs);
        if (waitMs > 0) await sleep(waitMs);
      },
      async call(peer, method, path, body, opts = {}) {
        const target = cfg.peers[peer];
        if (!target) throw new Error(`${cfg.name} does not know ${peer}`);
        const route = opts.route ?? path.split('?')[0];
        const span = clientSpan(`${method} ${route}`, {
          'http.request.method': method, 'server.address': peer, 'server.port': target.port,
          'url.full': `http://${peer}:${target.port}${path}`, 'network.peer.address': target.address, 'network.peer.port': target.port,
        });
        const headers = {};
        if (span && propagator) propagator.inject(trace.setSpan(spanCtx, span), headers, defaultTextMapSetter);
        let res;
        try {
          res = await httpCall(peer, target, method, path, body, headers, { fresh: opts.fresh, timeoutMs: opts.timeoutMs ?? 3000 }, agents);
        } catch (err) {
          endSpan(span, err);
          if (opts.tolerate) return null;
          throw new UpstreamError(peer, `${method} ${route}: ${err.code ?? err.message}`, err);
        }
        span?.setAttribute('http.response.status_code', res.status);
        if (res.status >= 500) {
          const err = new UpstreamError(peer, `${method} ${route} answered ${res.status}`);
          endSpan(span, Object.assign(err, { code: String(res.status) }));
          if (opts.tolerate) return null;
          throw err;
        }
        endSpan(span);
        return res;
      },
      async kv(line) {
        if (!db) throw new Error(`${cfg.name} has no db`);
        const op = line.split(' ', 1)[0];
        const span = clientSpan(`kv ${op}`, { 'db.system.name': 'kv', 'db.operation.name': op, 'server.address': 'db', 'server.port': cfg.peers.db.port, 'network.peer.address': cfg.peers.db.address });
        try {
          const reply = await db.command(line);
          if (reply.startsWith('ERR')) throw Object.assign(new Error(`db: ${reply}`), { code: 'KV_ERR' });
          endSpan(span);
          return reply;
        } catch (err) {
          endSpan(span, err);
          throw new UpstreamError('db', `${op}: ${err.code ?? err.message}`, err);
        }
      },
    };
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.bindAddress, resolve);
  });
  log.info(`${cfg.name} ${cfg.version}${cfg.bad ? ' (bad release)' : ''} listening on ${cfg.bindAddress}:${cfg.port}`);
  control(cfg, faults, counts, async () => {
    server.close();
    server.closeIdleConnections();
    for (const a of Object.values(agents)) a.destroy();
    db?.close();
    await Promise.race([otel.shutdown(), sleep(3000)]);
  });
}

// ------------------------------------------------------------------------------------------------ db service

/** Starts the key-value db: GET k, SET k v, DEL k, INCR k [n], PING; one command and one reply a line. */
export async function runKvService(cfg) {
  const log = logger(cfg, telemetry({ ...cfg, otel: undefined }));
  const faults = new Faults(cfg.name, log);
  const data = new Map();
  const counts = { requests: 0, errors: 0 };
  const exec = async (line) => {
    counts.requests++;
    const [cmd = '', key = '', ...rest] = line.split(' ');
    try {
      const injected = await faults.before(`/${cmd.toLowerCase()}`);
      if (injected) return (counts.errors++, 'ERR internal error');
    } catch (err) {
      counts.errors++;
      log.error(`${cmd} ${key} failed: ${err.stack ?? err}`);
      return 'ERR internal error';
    }
    if (cfg.bad && cmd === 'INCR' && Math.random() < (cfg.badFailRate ?? 0.25)) {
      counts.errors++;
      log.error(`INCR ${key} failed: value is not an integer or out of range`);
      return 'ERR value is not an integer or out of range';
    }
    const value = rest.join(' ');
    switch (cmd) {
      case 'GET': return data.get(key) ?? '';
      case 'SET': return (data.set(key, value), 'OK');
      case 'DEL': return data.delete(key) ? '1' : '0';
      case 'INCR': return data.set(key, String((Number(data.get(key)) || 0) + (Number(value) || 1))).get(key);
      case 'PING': return 'PONG';
      default: return 'ERR unknown command';
    }
  };
  const server = createServer((sock) => {
    let buf = '';
    let chain = Promise.resolve();
    sock.setEncoding('utf8');
    sock.setNoDelay(true);
    sock.on('data', (chunk) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        // Replies go out in command order, each after its own (possibly delayed) execution.
        chain = chain.then(() => exec(line)).then((reply) => void (sock.writable && sock.write(`${reply}\n`)));
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.bindAddress, resolve);
  });
  log.info(`${cfg.name} ${cfg.version} listening on ${cfg.bindAddress}:${cfg.port}`);
  control(cfg, faults, counts, async () => {
    server.close();
  });
}

// ------------------------------------------------------------------------------------------------ plumbing

function logger(cfg, otel) {
  const line = (level, msg) => process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${cfg.name}: ${msg}\n`);
  return {
    info(msg) {
      line('INFO', msg);
      otel.log('INFO', msg);
    },
    error(msg, err, context) {
      line('ERROR', msg);
      const attributes = err instanceof Error ? { 'exception.type': err.name, 'exception.message': err.message, 'exception.stacktrace': err.stack ?? '' } : {};
      otel.log('ERROR', msg.split('\n')[0], attributes, context);
    },
  };
}

/** The runner's channel: commands on stdin, readiness, acks and stats on stdout; stdin's end means stop. */
function control(cfg, faults, counts, close) {
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    faults.stopAll();
    await close();
    process.exit(code);
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      if (cmd.op === 'fault') faults.apply(cmd.fault);
      else if (cmd.op === 'clear') faults.clear(cmd.id);
      say({ ack: cmd.seq });
    } catch (err) {
      say({ ack: cmd?.seq, error: String(err.message ?? err) });
    }
  }).on('close', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
  const cpu = cpuMeter();
  setInterval(() => {
    const m = process.memoryUsage();
    say({ stats: { rss: m.rss, heapUsed: m.heapUsed, cpuCores: Math.round(cpu() * 1000) / 1000, ...counts, faults: [...faults.active.keys()] } });
  }, 2000).unref();
  say({ ready: cfg.name, version: cfg.version, pid: process.pid, port: cfg.port });
}
