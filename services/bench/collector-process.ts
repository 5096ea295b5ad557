/**
 * Starts and stops the native collector for `rootline bench collector`, and reads what it costs: CPU time from
 * /proc and its own counters from the stats file it rewrites about once a second.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CollectorStats {
  events_total: number;
  sent: number;
  ring_full: number;
  buffer_full: number;
  send_failed: number;
}

export interface CollectorProcess {
  pid: number;
  /** CPU seconds (user + system, all threads) the collector has used so far. */
  cpuSeconds(): number;
  /** The last stats the collector wrote, or null before the first write. */
  stats(): CollectorStats | null;
  stop(): Promise<void>;
}

// The bench token only has to look like one; the sink does not check it.
const TOKEN = 'bench-token-0123456789';

let clockTicks: number | undefined;
function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat), counted after the `)` that ends the command name. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  return (Number(fields[11]) + Number(fields[12])) / clkTck();
}

export async function startCollector(bin: string, ingestUrl: string, readyTimeoutMs = 30_000): Promise<CollectorProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rootline-bench-collector-'));
  const readyFile = join(dir, 'ready');
  const statsFile = join(dir, 'stats.json');
  const child = spawn(bin, ['--ingest', ingestUrl, '--token', TOKEN, '--ready-file', readyFile, '--stats-file', statsFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Keep the tail of stderr to explain a failed start; let it pass to ours otherwise.
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
    process.stderr.write(d);
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let lastStats: CollectorStats | null = null;
  const stats = () => {
    try {
      lastStats = JSON.parse(readFileSync(statsFile, 'utf8')) as CollectorStats;
    } catch {
      /* not written yet, or caught mid-rewrite: keep the last good one */
    }
    return lastStats;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    stats();
    rmSync(dir, { recursive: true, force: true });
  };
  const until = Date.now() + readyTimeoutMs;
  while (!existsSync(readyFile)) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      const why = spawnError?.message ?? `exited with ${child.exitCode ?? child.signalCode}`;
      throw new Error(`the collector (${bin}) ${why} while starting${stderr ? `:\n${stderr.trimEnd()}` : ''}`);
    }
    if (Date.now() > until) {
      await stop();
      throw new Error(`the collector did not write its ready file within ${readyTimeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid!;
  return { pid, cpuSeconds: () => procCpuSeconds(pid), stats, stop };
}
