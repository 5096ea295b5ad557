/**
 * `rootline bench ingest`: starts the embedded service as its own process, drives OTLP protobuf traces at it
 * from a second process over loopback, then waits for every acknowledged span to be stored and counts them.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../shared/net.ts';
import { ROOT, spawnServiceProcess } from './service-process.ts';
export { freePort };

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
  const svc = await spawnServiceProcess({ role: 'ingest' });
  const { url, token } = svc;
  const service = svc.child;
  try {
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
    await svc.stop();
  }
}
