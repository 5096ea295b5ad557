/**
 * `rootline bench collector`: what the eBPF collector costs the requests it watches. A native client and server
 * (collector-native/bench/pingpong.c) play keep-alive HTTP ping-pong over loopback, alternately without and with
 * the collector running, in the same run; the collector's CPU and drops are then measured at a paced
 * 10,000 requests/s. The machine is small and shared, so phases are interleaved and medians are reported.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../shared/net.ts';
import { DROP_COUNTERS, startCollectorSink } from './collector-sink.ts';
import { startCollector, type CollectorProcess, type CollectorStats } from './collector-process.ts';
import { ROOT } from './service-process.ts';

export interface CollectorBenchOptions {
  /** Requests per latency phase (back to back). */
  requests: number;
  /** Without/with pairs; medians are taken across them. */
  rounds: number;
  /** CPU to pin the client and server to (both on one, see pingpong.c), or null to let them float. */
  cpu: number | null;
  /** Paced rate and duration of the CPU phase. */
  rate?: number;
  cpuPhaseS?: number;
}

export interface CollectorBenchResult {
  rps_without: number;
  rps_with: number;
  p50_us_added: number;
  p99_us_added: number;
  collector_cpu_pct: number;
  events_per_s: number;
  dropped: number;
  rounds: number;
  requests: number;
  p50_us_without: number;
  p99_us_without: number;
  /** Drops the collector reported during the back-to-back phases, far above the 10,000/s the target is set at. */
  dropped_back_to_back: number;
}

interface ClientResult {
  requests: number;
  seconds: number;
  rps: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
}

const BUILD = join(ROOT, 'collector-native/build');
const PINGPONG = join(BUILD, 'pingpong');
const say = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round2 = (x: number) => Math.round(x * 100) / 100;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs a command with its output on our stderr, so stdout keeps only the result line. */
function make(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('make', args, { cwd: ROOT, stdio: ['ignore', 2, 2] });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`make ${args.join(' ')} exited with ${code}`))));
  });
}

async function build(collectorBin: string, customCollector: boolean): Promise<void> {
  // A stand-in collector (ROOTLINE_COLLECTOR_BIN) needs no build of the real one, which may not compile yet.
  if (!customCollector) await make(['-C', 'collector-native']);
  if (!existsSync(PINGPONG)) await make(['-C', 'collector-native/bench', 'OUT=../build']);
  if (!existsSync(collectorBin)) throw new Error(`no collector binary at ${collectorBin}`);
}

function runClient(port: number, requests: number, cpuArgs: string[], rate?: number): Promise<ClientResult> {
  const args = ['client', '--port', String(port), '--requests', String(requests), ...cpuArgs, ...(rate ? ['--rate', String(rate)] : [])];
  return new Promise((resolve, reject) => {
    const p = spawn(PINGPONG, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => {
      if (code !== 0) return reject(new Error(`pingpong ${args.join(' ')} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ClientResult);
    });
  });
}

async function waitListening(port: number, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`the pingpong server did not listen on ${port}`);
    await sleep(20);
  }
}

export async function benchCollector(opts: CollectorBenchOptions): Promise<CollectorBenchResult> {
  if (process.getuid?.() !== 0) throw new Error('bench collector must run as root: the collector loads eBPF programs');
  const rate = opts.rate ?? 10_000;
  const cpuPhaseS = opts.cpuPhaseS ?? 10;
  const collectorBin = process.env.ROOTLINE_COLLECTOR_BIN ?? join(BUILD, 'rootline-collector');
  await build(collectorBin, process.env.ROOTLINE_COLLECTOR_BIN !== undefined);
  const cpuArgs = opts.cpu === null ? [] : ['--cpu', String(opts.cpu)];

  const sink = await startCollectorSink();
  const port = await freePort();
  const server = spawn(PINGPONG, ['server', '--port', String(port), ...cpuArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Runs fn with a fresh collector and stops it; the stats are the collector's last word, read after it exits.
  const withCollector = async <T>(fn: (c: CollectorProcess) => Promise<T>): Promise<{ result: T; stats: CollectorStats | null }> => {
    const c = await startCollector(collectorBin, sink.url);
    try {
      // Let start-up work (loading programs, the first scan and batch) finish before measuring.
      await sleep(500);
      const result = await fn(c);
      await c.stop();
      return { result, stats: c.stats() };
    } finally {
      await c.stop(); // a no-op after the stop above; here for errors
    }
  };
  try {
    await waitListening(port);
    const fmt = (r: ClientResult) => `${r.rps} req/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs`;
    const warm = await runClient(port, Math.min(opts.requests, 50_000), cpuArgs);
    say(`warm-up without the collector: ${fmt(warm)}`);

    const pairs: { without: ClientResult; with: ClientResult }[] = [];
    for (let r = 1; r <= opts.rounds; r++) {
      const without = await runClient(port, opts.requests, cpuArgs);
      say(`round ${r}/${opts.rounds} without the collector: ${fmt(without)}`);
      const withC = (await withCollector(() => runClient(port, opts.requests, cpuArgs))).result;
      say(`round ${r}/${opts.rounds} with the collector:    ${fmt(withC)}`);
      pairs.push({ without, with: withC });
    }
    const droppedBackToBack = DROP_COUNTERS.reduce((n, k) => n + sink.dropped[k], 0);

    sink.reset();
    say(`CPU phase: ${rate} requests/s for ${cpuPhaseS} s with the collector`);
    const { result: cpu, stats } = await withCollector(async (c) => {
      const cpu0 = c.cpuSeconds();
      const t0 = performance.now();
      const paced = await runClient(port, rate * cpuPhaseS, cpuArgs, rate);
      const wallS = (performance.now() - t0) / 1000;
      const cpuS = c.cpuSeconds() - cpu0;
      say(`paced: ${fmt(paced)}; collector used ${cpuS.toFixed(2)} CPU s in ${wallS.toFixed(2)} s`);
      await sleep(2000); // the collector's last batch
      return { cpuS, wallS };
    });
    const droppedStats = stats ? stats.ring_full + stats.buffer_full + stats.send_failed : 0;
    const droppedSink = DROP_COUNTERS.reduce((n, k) => n + sink.dropped[k], 0);

    return {
      rps_without: Math.round(median(pairs.map((p) => p.without.rps))),
      rps_with: Math.round(median(pairs.map((p) => p.with.rps))),
      p50_us_added: round2(median(pairs.map((p) => p.with.p50_us - p.without.p50_us))),
      p99_us_added: round2(median(pairs.map((p) => p.with.p99_us - p.without.p99_us))),
      collector_cpu_pct: round2((cpu.cpuS / cpu.wallS) * 100),
      events_per_s: Math.round(sink.events / cpu.wallS),
      dropped: Math.max(droppedStats, droppedSink),
      rounds: opts.rounds,
      requests: opts.requests,
      p50_us_without: round2(median(pairs.map((p) => p.without.p50_us))),
      p99_us_without: round2(median(pairs.map((p) => p.without.p99_us))),
      dropped_back_to_back: droppedBackToBack,
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
    }
    await sink.close();
  }
}
