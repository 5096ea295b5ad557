/**
 * Rootline for integration tests: the embedded service in this process (`startTestService`), or the real CLI
 * as a child process (`spawnService`) for tests that kill it.
 *
 * chDB allows one engine per process and data directory, so a test FILE may start at most one embedded
 * service; node's test runner gives every file its own process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../services/shared/config.ts';
import { startService, type RunningService } from '../../services/main.ts';
import { freePort } from '../../services/shared/net.ts';
import { exited } from './process.ts';
export { exited };
export { freePort };

/** The part of node:test's TestContext (or the module-level `after` hook) used for cleanup. */
export interface AfterHook {
  after(fn: () => Promise<void> | void): void;
}

export interface TelemetryStats {
  rows: Record<string, number>;
  wal_backlog_bytes: number;
}

export interface TestService {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  token: string;
  /** `{ authorization: 'Bearer <token>' }`. */
  headers: Record<string, string>;
  dataDir: string;
  service: RunningService;
  /** POST /api/v1/telemetry/flush: resolves once every acknowledged item is stored (rejects after `timeoutMs`). */
  flush(timeoutMs?: number): Promise<void>;
  /** GET /api/v1/telemetry/stats. */
  stats(): Promise<TelemetryStats>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

async function getJson<T>(url: string, init: RequestInit, what: string): Promise<T> {
  const res = await fetch(url, init).catch((err: unknown) => {
    throw new Error(`${what}: ${url}: ${String((err as Error).cause ?? err)}`);
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** POST /api/v1/telemetry/flush; fails after `timeoutMs` instead of hanging when the store never catches up. */
export function flushService(url: string, token: string, timeoutMs = 90_000): Promise<void> {
  return getJson<unknown>(
    `${url}/api/v1/telemetry/flush`,
    { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) },
    'flush',
  ).then(() => undefined);
}

export function serviceStats(url: string, token: string): Promise<TelemetryStats> {
  return getJson<TelemetryStats>(`${url}/api/v1/telemetry/stats`, { headers: { authorization: `Bearer ${token}` } }, 'stats');
}

/**
 * Starts the embedded service on a loopback port with a fresh temporary data directory; it is closed and the
 * directory removed after `t`.
 */
export async function startTestService(t: AfterHook, envOverrides: Record<string, string> = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rootline-test-'));
  const token = newToken();
  let service: RunningService;
  try {
    const config = loadConfig(
      {
        ROOTLINE_PORT: '0',
        ROOTLINE_HOST: '127.0.0.1',
        ROOTLINE_DATA_DIR: dataDir,
        ROOTLINE_LOG_LEVEL: 'warn',
        ROOTLINE_FLUSH_INTERVAL_MS: '100',
        ...envOverrides,
        // More tokens (e.g. another tenant's) join the test tenant's rather than replace it.
        ROOTLINE_TOKENS: [`test:${token}`, envOverrides.ROOTLINE_TOKENS].filter(Boolean).join(','),
      },
      // Ingest alone unless the test asks for more roles.
      { roles: envOverrides.ROOTLINE_ROLES ?? 'ingest' },
    );
    service = await startService(config);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    try {
      await service.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
  const url = service.url.replace(/\/$/, '');
  return {
    url,
    token,
    headers: { authorization: `Bearer ${token}` },
    dataDir,
    service,
    flush: (timeoutMs?: number) => flushService(url, token, timeoutMs),
    stats: () => serviceStats(url, token),
  };
}


export interface SpawnedService extends ChildProcess {
  /** Everything the child wrote to stdout and stderr so far, for failure messages. */
  output(): string;
}


/**
 * Starts `node bin/rootline.mjs start --role ingest` on `dataDir` and `port` with `token`, and resolves once
 * /readyz answers 200. The child is SIGKILLed if this process exits first. Stopping it is the caller's job.
 */
export async function spawnService(
  dataDir: string,
  port: number,
  token: string,
  env: Record<string, string> = {},
  readyTimeoutMs = 60_000,
): Promise<SpawnedService> {
  const child = spawn(process.execPath, ['bin/rootline.mjs', 'start', '--role', 'ingest'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ROOTLINE_PORT: String(port),
      ROOTLINE_HOST: '127.0.0.1',
      ROOTLINE_DATA_DIR: dataDir,
      ROOTLINE_TOKENS: `test:${token}`,
      ROOTLINE_LOG_LEVEL: 'warn',
      ROOTLINE_FLUSH_INTERVAL_MS: '100',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as SpawnedService;
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 64 * 1024) out = out.slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.output = () => out;
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`rootline exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${out}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  await exited(child);
  throw new Error(`rootline on port ${port} was not ready within ${readyTimeoutMs} ms:\n${out}`);
}
