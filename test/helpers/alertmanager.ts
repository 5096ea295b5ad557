/**
 * A real Prometheus Alertmanager for integration tests, plus a tiny webhook capture sink.
 *
 * `startAlertmanager` writes a one-route config (everything goes to one webhook receiver), spawns
 * Debian's `prometheus-alertmanager` on a free loopback port with HA clustering off, and waits for
 * `/-/ready`. Alerts are pushed through the v2 API exactly as Prometheus would push them.
 *
 * Alertmanager 0.25 behaviour the tests rely on (measured, see test/alerts/alertmanager-harness.test.ts):
 * - the first notification of a group is sent `group_wait` after its first alert arrives;
 * - later changes (new alert, resolve) are sent on the next `group_interval` tick, and every
 *   notification carries the whole group (max_alerts: 0), not a diff;
 * - an unchanged group is re-sent on the first `group_interval` tick at which `repeat_interval` has
 *   passed since the last send, so repeats come no faster than every `group_interval`;
 * - a new group whose alert's startsAt + group_wait is already past skips group_wait (sent at once);
 * - delivery is at least once: a 5xx answer is retried (after ~0.3-1 s) with the same body, a 4xx is not.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../services/shared/net.ts';
import { stopChild } from './process.ts';

/** How to make the skip reason visible in the test report. */
export const ALERTMANAGER_MISSING =
  'prometheus-alertmanager not installed: apt-get install -y prometheus-alertmanager';

/** The part of node:test's TestContext (or suite hooks) used to stop the server after the test. */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

/** One alert as posted to `/api/v2/alerts` (what Prometheus sends). */
export interface AmAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** Defaults to "now" on the Alertmanager side. */
  startsAt?: string | Date;
  /** Omit while firing (Alertmanager then uses now + resolve_timeout); a past/now value resolves the alert. */
  endsAt?: string | Date;
  generatorURL?: string;
}

/** One alert inside a webhook body (format version 4). */
export interface AmWebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  /** `0001-01-01T00:00:00Z` while firing. */
  endsAt: string;
  generatorURL: string;
  /** 16 lowercase hex digits: FNV-1a-64 over the sorted label pairs. */
  fingerprint: string;
}

/** The JSON body Alertmanager's webhook receiver POSTs (format version 4). */
export interface AmWebhookBody {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  /** "resolved" only when every alert in the body is resolved. */
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AmWebhookAlert[];
}

export interface AlertmanagerOptions {
  /** Where the single webhook receiver delivers, e.g. a {@link startWebhookSink} url. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` on every webhook POST. */
  bearerToken?: string;
  /** Default 1000 ms. May be 0. */
  groupWaitMs?: number;
  /** Default 2000 ms. Must be > 0. */
  groupIntervalMs?: number;
  /** Default 1 h (no repeats during a test). Must be > 0; repeats still only happen on group_interval ticks. */
  repeatIntervalMs?: number;
  /** Default `['alertname']`. `['...']` groups by all labels. */
  groupBy?: string[];
  /** Default true. */
  sendResolved?: boolean;
}

export interface TestAlertmanager {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The config file in use (YAML), for debugging. */
  configPath: string;
  /** POSTs the alerts to `/api/v2/alerts`; throws unless Alertmanager answers 200. */
  push(alerts: AmAlert[]): Promise<void>;
  /** Pushes the same labels again with `endsAt` = `at` (default now), which resolves them. */
  resolve(alerts: AmAlert[], at?: Date): Promise<void>;
  /** Rewrites the config with these options merged over the current ones and POSTs `/-/reload`. */
  reload(opts: Partial<AlertmanagerOptions>): Promise<void>;
  /** Alertmanager's stderr so far (its log), for assertion messages. */
  logs(): string;
  /** Kills the process and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const DEFAULT_BINARIES = ['/usr/bin/prometheus-alertmanager'];
const PATH_NAMES = ['prometheus-alertmanager', 'alertmanager'];
const MAX_LOG_CHARS = 64 * 1024;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** ALERTMANAGER_BIN, then Debian's path, then the PATH. */
export function findAlertmanagerBinary(): string | undefined {
  const given = process.env.ALERTMANAGER_BIN;
  if (given !== undefined && given !== '') return isExecutable(given) ? given : undefined;
  for (const candidate of DEFAULT_BINARIES) if (isExecutable(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of PATH_NAMES) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}


/** Milliseconds as a Prometheus duration in the largest unit that divides it: 3600000 → "1h", 500 → "500ms". */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`duration must be a non-negative integer of ms, got ${ms}`);
  if (ms === 0) return '0s';
  const units: [string, number][] = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

type ResolvedOptions = Required<Omit<AlertmanagerOptions, 'bearerToken'>> & { bearerToken?: string };

function withDefaults(opts: AlertmanagerOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    webhookUrl: opts.webhookUrl,
    groupWaitMs: opts.groupWaitMs ?? 1000,
    groupIntervalMs: opts.groupIntervalMs ?? 2000,
    repeatIntervalMs: opts.repeatIntervalMs ?? 3_600_000,
    groupBy: opts.groupBy ?? ['alertname'],
    sendResolved: opts.sendResolved ?? true,
  };
  if (opts.bearerToken !== undefined) resolved.bearerToken = opts.bearerToken;
  // Alertmanager rejects zero here ("group_interval cannot be zero", "repeat_interval cannot be zero").
  if (resolved.groupIntervalMs <= 0) throw new Error('groupIntervalMs must be > 0');
  if (resolved.repeatIntervalMs <= 0) throw new Error('repeatIntervalMs must be > 0');
  return resolved;
}

/** JSON strings are valid YAML double-quoted scalars, so every value is quoted with JSON.stringify. */
function q(value: string): string {
  return JSON.stringify(value);
}

/** The config Alertmanager gets: one route, one webhook receiver. Exported for tests of the helper. */
export function alertmanagerConfig(opts: AlertmanagerOptions): string {
  const o = withDefaults(opts);
  const lines = [
    'route:',
    '  receiver: "webhook"',
    `  group_by: [${o.groupBy.map(q).join(', ')}]`,
    `  group_wait: ${q(formatDuration(o.groupWaitMs))}`,
    `  group_interval: ${q(formatDuration(o.groupIntervalMs))}`,
    `  repeat_interval: ${q(formatDuration(o.repeatIntervalMs))}`,
    'receivers:',
    '  - name: "webhook"',
    '    webhook_configs:',
    `      - url: ${q(o.webhookUrl)}`,
    `        send_resolved: ${o.sendResolved ? 'true' : 'false'}`,
    '        max_alerts: 0',
  ];
  if (o.bearerToken !== undefined) {
    lines.push('        http_config:', '          authorization:', '            type: "Bearer"', `            credentials: ${q(o.bearerToken)}`);
  }
  return `${lines.join('\n')}\n`;
}



async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function toWire(alert: AmAlert): Record<string, unknown> {
  const wire: Record<string, unknown> = { labels: alert.labels, annotations: alert.annotations ?? {} };
  const time = (value: string | Date): string => (value instanceof Date ? value.toISOString() : value);
  if (alert.startsAt !== undefined) wire.startsAt = time(alert.startsAt);
  if (alert.endsAt !== undefined) wire.endsAt = time(alert.endsAt);
  if (alert.generatorURL !== undefined) wire.generatorURL = alert.generatorURL;
  return wire;
}

async function spawnAlertmanager(binary: string, opts: AlertmanagerOptions): Promise<TestAlertmanager | undefined> {
  let current = withDefaults(opts);
  const dir = mkdtempSync(join(tmpdir(), 'rootline-am-'));
  const configPath = join(dir, 'alertmanager.yml');
  const storagePath = join(dir, 'data');
  writeFileSync(configPath, alertmanagerConfig(current));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.path=${storagePath}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no HA gossip, so nothing binds 0.0.0.0:9094 and no peer settle wait before notifying.
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (stderr.length > MAX_LOG_CHARS) stderr = stderr.slice(-MAX_LOG_CHARS);
  });
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  // If the test process dies without running hooks, leave neither a server nor a temp dir behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
    removeDir();
  };
  process.once('exit', killOnExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      await stopChild(child);
      removeDir();
    })();
    return stopped;
  };

  const post = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`POST ${path} → ${res.status}: ${text.trim()}`);
  };

  const am: TestAlertmanager = {
    url,
    configPath,
    push: (alerts) => post('/api/v2/alerts', alerts.map(toWire)),
    resolve: (alerts, at = new Date()) => post('/api/v2/alerts', alerts.map((a) => toWire({ ...a, endsAt: at }))),
    async reload(patch) {
      current = withDefaults({ ...current, ...patch });
      writeFileSync(configPath, alertmanagerConfig(current));
      await post('/-/reload', undefined);
    },
    logs: () => stderr,
    stop,
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.removeListener('exit', killOnExit);
      removeDir();
      // Most likely someone took the port between the probe and the bind: let the caller retry.
      if (/address already in use/i.test(stderr)) return undefined;
      throw new Error(`alertmanager exited with code ${child.exitCode}: ${stderr.trim()}`);
    }
    if (await isReady(url)) return am;
    await sleep(50);
  }
  await stop();
  throw new Error(`alertmanager on ${url} was not ready within ${READY_TIMEOUT_MS} ms:\n${stderr.trim()}`);
}

/**
 * Starts a real Alertmanager that delivers every group to `opts.webhookUrl`, or returns null when the
 * binary is not installed outside CI (the caller then skips with {@link ALERTMANAGER_MISSING}).
 * In CI (CI=true) a missing binary throws, so the suite cannot pass by skipping.
 * With `t`, the server is stopped after that test or suite.
 */
export async function startAlertmanager(opts: AlertmanagerOptions, t?: AfterHook): Promise<TestAlertmanager | null> {
  const binary = findAlertmanagerBinary();
  if (binary === undefined) {
    if (process.env.CI === 'true') throw new Error(`${ALERTMANAGER_MISSING} (CI=true, so the Alertmanager tests may not skip)`);
    return null;
  }
  withDefaults(opts); // validate before spawning
  for (let tries = 0; tries < 3; tries += 1) {
    const am = await spawnAlertmanager(binary, opts);
    if (am !== undefined) {
      t?.after(() => am.stop());
      return am;
    }
  }
  throw new Error('alertmanager could not bind a free port after 3 tries');
}

/** One POST the sink received. */
export interface SinkRequest {
  method: string;
  /** Path and query, e.g. `/hook`. */
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  /** The parsed JSON body, or undefined when it was not JSON. */
  body: AmWebhookBody | undefined;
  /** Date.now() when the body was complete. */
  receivedAt: number;
  /** What the sink answered (500 for the first `failFirst` requests, else 200). */
  status: number;
}

export interface WebhookSink {
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  /** Every request so far, in arrival order (live array). */
  requests: SinkRequest[];
  /**
   * Resolves with the first request (already received or future) for which the predicate holds;
   * `all` is the requests up to and including it. Rejects after `timeoutMs` listing what arrived.
   */
  waitFor(predicate: (req: SinkRequest, all: readonly SinkRequest[]) => boolean, timeoutMs?: number): Promise<SinkRequest>;
  close(): Promise<void>;
}

function summarize(requests: readonly SinkRequest[]): string {
  if (requests.length === 0) return '(no requests)';
  return requests
    .map((r, i) => {
      const b = r.body;
      const alerts = b?.alerts.map((a) => `${a.labels.alertname ?? '?'}/${a.fingerprint}:${a.status}`).join(',') ?? r.raw.slice(0, 80);
      return `#${i} ${r.method} ${r.path} → ${r.status} ${b?.status ?? ''} [${alerts}]`;
    })
    .join('\n');
}

/**
 * A loopback HTTP server that records every request and answers 200 (500 for the first
 * `failFirst` requests, to exercise Alertmanager's retry after a 5xx).
 */
export async function startWebhookSink(opts: { failFirst?: number } = {}, t?: AfterHook): Promise<WebhookSink> {
  let failLeft = opts.failFirst ?? 0;
  const requests: SinkRequest[] = [];
  const waiters = new Set<() => void>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: AmWebhookBody | undefined;
      try {
        body = JSON.parse(raw) as AmWebhookBody;
      } catch {
        body = undefined;
      }
      const status = failLeft > 0 ? 500 : 200;
      if (failLeft > 0) failLeft -= 1;
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        raw,
        body,
        receivedAt: Date.now(),
        status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'induced failure');
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('could not read the sink port');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  t?.after(close);

  const waitFor: WebhookSink['waitFor'] = (predicate, timeoutMs = 10_000) =>
    new Promise<SinkRequest>((resolve, reject) => {
      let checked = 0;
      const check = (): boolean => {
        for (; checked < requests.length; checked += 1) {
          const req = requests[checked];
          if (req !== undefined && predicate(req, requests.slice(0, checked + 1))) {
            resolve(req);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const wake = (): void => {
        if (check()) finish();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`webhook sink: no matching request within ${timeoutMs} ms; received:\n${summarize(requests)}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      waiters.add(wake);
    });

  return { url: `http://127.0.0.1:${address.port}/hook`, requests, waitFor, close };
}
