/** Child-process chores of the demo runner: a clean environment, free ports, stopping, reading output by lines. */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** A minimal environment for children: no test-runner or store variables leak into them. */
export function baseEnv(extra: Record<string, string>): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...extra };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const gone = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
export const exited = (c: ChildProcess) => (gone(c) ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));

export async function stopChild(c: ChildProcess, graceMs = 5000): Promise<void> {
  if (gone(c)) return;
  c.kill('SIGCONT');
  c.kill('SIGTERM');
  if (!(await Promise.race([exited(c).then(() => true), sleep(graceMs, false, { ref: false })]))) {
    c.kill('SIGKILL');
    await exited(c);
  }
}

/** Keeps the last `n` lines a stream wrote. */
export function tail(stream: NodeJS.ReadableStream | null, n: number, onLine?: (line: string) => void): () => string[] {
  const lines: string[] = [];
  if (stream) {
    createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      if (lines.length > n) lines.shift();
      onLine?.(l);
    });
  }
  return () => [...lines];
}

export function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
