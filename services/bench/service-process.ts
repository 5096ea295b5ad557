/**
 * Starts the real service as its own process for a benchmark: a temp data directory, a free loopback port, a
 * fresh token; resolves once /readyz answers. Benchmarks measure the service over HTTP, like a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../shared/net.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServiceProcess {
  url: string;
  token: string;
  auth: { authorization: string };
  child: ChildProcess;
  dir: string;
  stop(): Promise<void>;
}

export async function spawnServiceProcess(opts: { role?: string; env?: Record<string, string>; tokens?: (token: string) => string; readyTimeoutMs?: number } = {}): Promise<ServiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rootline-bench-'));
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(ROOT, 'bin/rootline.mjs'), 'start', '--role', opts.role ?? 'all'], {
    cwd: ROOT,
    env: { ...process.env, ROOTLINE_PORT: String(port), ROOTLINE_DATA_DIR: dir, ROOTLINE_AUTH: 'on', ROOTLINE_TOKENS: opts.tokens?.(token) ?? token, ROOTLINE_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const until = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`the service exited with ${child.exitCode} while starting`);
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) {
      await stop();
      throw new Error('the service did not become ready');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, token, auth: { authorization: `Bearer ${token}` }, child, dir, stop };
}
