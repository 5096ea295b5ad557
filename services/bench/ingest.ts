/**
 * `rootline bench ingest`: starts the embedded service as its own process, drives OTLP protobuf traces at it
 * from a second process over loopback, then waits for every acknowledged span to be stored and counts them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../shared/net.ts';
export { freePort };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface IngestBenchResult {
  spans_per_s: number;
  p99_ms: number;
  rss_mb: number;
  acked: number;
  stored: number;
  p50_ms?: number;
  duration_s?: number;
  statuses?: Record<string, number>;
}


function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('service did not become ready');
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

export async function benchIngest(opts: { durationS: number; connections: number; json: boolean }): Promise<IngestBenchResult> {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'rootline-bench-'));
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const url = `http://127.0.0.1:${port}`;
  const service = spawn(process.execPath, [join(ROOT, 'bin/rootline.mjs'), 'start', '--role', 'ingest'], {
    cwd: ROOT,
    env: { ...process.env, ROOTLINE_PORT: String(port), ROOTLINE_DATA_DIR: dir, ROOTLINE_TOKENS: token, ROOTLINE_AUTH: 'on', ROOTLINE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(url, service, 60_000);
    say(`service ready on ${url}; sending OTLP protobuf traces for ${opts.durationS}s over ${opts.connections} connections`);
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(service.pid!, 'VmRSS'))), 250);
    const out = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'services/bench/otlp-load.ts'), url, token, String(opts.durationS), String(opts.connections), '10']);
    const load = JSON.parse(out.trim().split('\n').pop()!) as { acked: number; elapsed_s: number; p50_ms: number; p99_ms: number; statuses: Record<string, number> };
    say(`load done: ${load.acked} spans acknowledged; waiting for the store to catch up`);
    const auth = { authorization: `Bearer ${token}` };
    await fetch(`${url}/api/v1/telemetry/flush`, { method: 'POST', headers: auth });
    clearInterval(sampler);
    peakRss = Math.max(peakRss, rssMb(service.pid!, 'VmHWM'));
    const stats = (await (await fetch(`${url}/api/v1/telemetry/stats`, { headers: auth })).json()) as { rows: Record<string, number> };
    return {
      spans_per_s: Math.round(load.acked / load.elapsed_s),
      p99_ms: Math.round(load.p99_ms * 10) / 10,
      rss_mb: Math.round(peakRss),
      acked: load.acked,
      stored: stats.rows.spans ?? 0,
      p50_ms: Math.round(load.p50_ms * 10) / 10,
      duration_s: load.elapsed_s,
      statuses: load.statuses,
    };
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}
