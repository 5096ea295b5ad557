/**
 * The eBPF collector under test: build it, run it against a validating test sink (or the real ingest), put test
 * programs in a per-test cgroup v2 so only they are traced, and clean everything up afterwards.
 *
 * Root checks: these tests need root (eBPF, cgroups, network namespaces). Without root they skip with a
 * visible reason, except under CI=true, where missing root is a failure.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CollectorBatch } from '../../services/ingest/collector/schema.ts';
import { exited } from './process.ts';
import { newToken, type AfterHook } from './service.ts';

export type Ev = Record<string, string | number | boolean>;

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COLLECTOR_DIR = join(REPO_ROOT, 'collector-native');
/** The test programs (servers, clients) the collector watches. */
export const PEERS = join(REPO_ROOT, 'test/collector/peers.mjs');

function isCI(): boolean {
  const ci = (process.env.CI ?? '').toLowerCase();
  return ci !== '' && ci !== '0' && ci !== 'false';
}

/**
 * The reason to skip a test that needs root, or false when it can run. Under CI=true without root this throws:
 * CI runs as root, so a skip there would hide that the suite never ran.
 */
export function rootSkipReason(): string | false {
  if (process.getuid?.() === 0) return false;
  const why = 'needs root (eBPF programs, cgroups, network namespaces)';
  if (isCI()) throw new Error(`CI is set but the tests do not run as root: the collector suite ${why}`);
  return `${why}; not root here, and CI is not set`;
}

/** Cleanups registered while tests run, undone in reverse order from one `after` hook. */
export class Cleanup implements AfterHook {
  private readonly fns: (() => Promise<void> | void)[] = [];
  after(fn: () => Promise<void> | void): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `cleanup failed: ${errors.map(String).join('; ')}`);
  }
}

let built: Promise<string> | undefined;

/** `make -C collector-native` once per test process (quick when up to date); ROOTLINE_COLLECTOR_BIN overrides. */
export function collectorBinary(): Promise<string> {
  const given = process.env.ROOTLINE_COLLECTOR_BIN;
  if (given) return Promise.resolve(given);
  built ??= new Promise((resolve, reject) => {
    execFile('make', ['-C', COLLECTOR_DIR], { timeout: 300_000, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`make -C collector-native failed: ${err.message}\n${stderr}`));
      else resolve(join(COLLECTOR_DIR, 'build/rootline-collector'));
    });
  });
  return built;
}

// ------------------------------------------------------------------------------------------------ processes

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** The first JSON line the program prints (peers.mjs reports readiness and results that way). */
  json<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  /** Resolves with the exit status once it has exited (and its output has been read). */
  done(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ends its stdin (peers.mjs servers close and exit then). */
  endInput(): void;
}

export interface ProcOptions {
  env?: Record<string, string>;
  /**
   * 'ignore' connects stdin/stdout/stderr to /dev/null. By default they are pipes, which node makes from unix
   * socketpairs: a shell that dup2()s them back after a redirection shows up as a socket dup (reverse_shell).
   */
  stdio?: 'pipe' | 'ignore';
}

/** Starts `argv`; it is SIGKILLed after `t` if still running. */
export function startProc(t: AfterHook, argv: string[], opts: ProcOptions = {}): Proc {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('startProc: empty argv');
  const child = spawn(cmd, args, { stdio: opts.stdio ?? 'pipe', env: { ...process.env, ...opts.env } });
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin?.on('error', () => {});
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  const describe = () => `${argv.join(' ')} (pid ${child.pid}, exit ${child.exitCode ?? child.signalCode})\nstdout: ${out}\nstderr: ${err}`;
  const proc: Proc = {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    async json<T>(timeoutMs = 20_000): Promise<T> {
      const until = Date.now() + timeoutMs;
      const firstLine = () => out.split('\n').slice(0, -1).find((l) => l.startsWith('{')); // complete lines only
      for (;;) {
        const line = firstLine();
        if (line) return JSON.parse(line) as T;
        if (child.exitCode !== null || child.signalCode !== null) {
          await Promise.race([closed, sleep(2000, undefined, { ref: false })]); // the last output may still be in the pipe
          const late = firstLine();
          if (late) return JSON.parse(late) as T;
          throw new Error(`exited before printing its result: ${describe()}`);
        }
        if (Date.now() > until) throw new Error(`no result within ${timeoutMs} ms: ${describe()}`);
        await sleep(20);
      }
    },
    async done(timeoutMs = 20_000) {
      const ok = await Promise.race([exited(child).then(() => true), sleep(timeoutMs, false, { ref: false })]);
      if (!ok) throw new Error(`still running after ${timeoutMs} ms: ${describe()}`);
      await Promise.race([closed, sleep(2000, undefined, { ref: false })]); // and its output read
      return { code: child.exitCode, signal: child.signalCode };
    },
    endInput: () => child.stdin?.end(),
  };
  return proc;
}

/** Runs a setup command to completion; throws with its output when it fails. */
export function sh(argv: string[], timeoutMs = 20_000): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(cmd!, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

let python: Promise<string> | undefined;

/** The real python3 binary (not a pyenv shim script), so exec events are the interpreter's own. */
export function pythonPath(): Promise<string> {
  python ??= sh(['python3', '-c', 'import os, sys; print(os.path.realpath(sys.executable))']).then((s) => s.trim());
  return python;
}

// ------------------------------------------------------------------------------------------------ cgroups

/** The cgroup v2 mount point, from /proc/mounts (e.g. /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
export function cgroup2Root(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2' && dir) return dir.replace(/\\040/g, ' ');
  }
  throw new Error('no cgroup2 file system mounted (see /proc/mounts)');
}

export interface TestCgroup {
  path: string;
  /** The cgroup id the kernel reports (the directory's inode number): events carry it as aiops.cgroup.id. */
  id: number;
  /** `argv` run inside this cgroup: a shell moves itself in, then execs it (same pid). */
  wrap(argv: string[]): string[];
}

/** Creates `<cgroup2 root>/<name>` (or `<parent>/<name>`); after `t` its processes are killed and it is removed. */
export function createCgroup(t: AfterHook, name: string, parent?: string): TestCgroup {
  const path = join(parent ?? cgroup2Root(), name);
  mkdirSync(path);
  t.after(() => removeCgroup(path));
  return {
    path,
    id: statSync(path).ino,
    wrap: (argv) => ['/bin/sh', '-c', `echo $$ > '${path}/cgroup.procs' && exec "$@"`, 'sh', ...argv],
  };
}

function pidsIn(path: string): number[] {
  try {
    return readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function removeCgroup(path: string): Promise<void> {
  if (!existsSync(path)) return;
  for (let i = 0; i < 100 && pidsIn(path).length > 0; i++) {
    // Every process in it was started by this test.
    if (existsSync(join(path, 'cgroup.kill'))) writeFileSync(join(path, 'cgroup.kill'), '1');
    else for (const pid of pidsIn(path)) process.kill(pid, 'SIGKILL');
    await sleep(50);
  }
  for (let i = 0; ; i++) {
    try {
      rmdirSync(path);
      return;
    } catch (err) {
      if (i >= 50) throw new Error(`could not remove cgroup ${path}: ${String(err)}`, { cause: err });
      await sleep(100);
    }
  }
}

// ------------------------------------------------------------------------------------------------ test sink

export interface Dropped {
  ring_full: number;
  buffer_full: number;
  send_failed: number;
}

export interface Sink {
  url: string;
  token: string;
  events: Ev[];
  batches: number;
  /** Bodies that failed CollectorBatch validation (or JSON parsing), with the reasons. */
  invalid: string[];
  /** Requests without the right bearer token. */
  unauthorized: number;
  /** The highest drop counters reported (they are cumulative). */
  dropped: Dropped;
  /** The first event matching `pred` (waits for it), failing after `timeoutMs` with what did arrive. */
  waitFor(what: string, pred: (e: Ev) => boolean, timeoutMs?: number): Promise<Ev>;
  /** Events matching `pred` once `count` of them have arrived. */
  waitForCount(what: string, count: number, pred: (e: Ev) => boolean, timeoutMs?: number): Promise<Ev[]>;
}

const checkBatch = TypeCompiler.Compile(CollectorBatch);

/** A stand-in for ingest's POST /v1/collector/events that validates every batch against the shared schema. */
export async function startSink(t: AfterHook, token = newToken()): Promise<Sink> {
  const sink: Sink = {
    url: '',
    token,
    events: [],
    batches: 0,
    invalid: [],
    unauthorized: 0,
    dropped: { ring_full: 0, buffer_full: 0, send_failed: 0 },
    waitFor: async (what, pred, timeoutMs) => (await sink.waitForCount(what, 1, pred, timeoutMs))[0]!,
    async waitForCount(what, count, pred, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hits = sink.events.filter(pred);
        if (hits.length >= count) return hits;
        if (Date.now() > until) {
          const recent = sink.events.slice(-40).map((e) => JSON.stringify(e)).join('\n');
          throw new Error(`timed out waiting for ${count} × ${what} (found ${hits.length}); ${sink.events.length} events arrived, the last ones:\n${recent}`);
        }
        await sleep(50);
      }
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/collector/events') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        sink.unauthorized++;
        res.writeHead(401).end();
        return;
      }
      let body: unknown;
      try {
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        sink.invalid.push(`unparseable body: ${String(err)}`);
        res.writeHead(400).end();
        return;
      }
      if (!checkBatch.Check(body)) {
        const why = [...checkBatch.Errors(body)].slice(0, 5).map((e) => `${e.path}: ${e.message}`);
        sink.invalid.push(`${why.join('; ')} in ${JSON.stringify(body).slice(0, 2000)}`);
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: why }));
        return;
      }
      sink.batches++;
      for (const e of body.events) sink.events.push(e as Ev);
      for (const k of ['ring_full', 'buffer_full', 'send_failed'] as const) {
        sink.dropped[k] = Math.max(sink.dropped[k], body.dropped?.[k] ?? 0);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: body.events.length, gaps: 0 }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sink;
}

// ------------------------------------------------------------------------------------------------ the collector

export interface CollectorStats {
  events_total: number;
  sent: number;
  queued: number;
  ring_full: number;
  buffer_full: number;
  send_failed: number;
  post_errors: number;
  http_unmatched_responses: number;
}

export interface RunningCollector {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  stdout(): string;
  /** The last --stats-file contents. */
  stats(): CollectorStats;
  /** SIGTERM (after SIGCONT, in case it was stopped); resolves with the exit code once it has drained and exited. */
  stop(): Promise<number | null>;
}

export interface CollectorOptions {
  ingest: string;
  token: string;
  cgroups: string[];
  /** More arguments, e.g. ['--ring-kb', '4']. */
  args?: string[];
}

/** Starts the collector and waits (up to 30 s) for its --ready-file; stopped after `t`. */
export async function startCollector(t: AfterHook, opts: CollectorOptions): Promise<RunningCollector> {
  const bin = await collectorBinary();
  const dir = mkdtempSync(join(tmpdir(), 'rootline-collector-'));
  const ready = join(dir, 'ready');
  const statsFile = join(dir, 'stats.json');
  const args = [
    '--ingest', opts.ingest, '--token', opts.token,
    ...opts.cgroups.flatMap((c) => ['--cgroup', c]),
    '--ready-file', ready, '--stats-file', statsFile,
    '--flush-ms', '100', '--poll-ms', '20',
    ...(opts.args ?? []),
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const gone = await Promise.race([exited(child).then(() => true), sleep(20_000, false, { ref: false })]);
      if (!gone) {
        child.kill('SIGKILL');
        await exited(child);
        throw new Error(`the collector did not exit within 20 s of SIGTERM:\n${err}`);
      }
    }
    process.removeListener('exit', kill);
    return child.exitCode;
  };
  t.after(async () => {
    try {
      await stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const until = Date.now() + 30_000;
  while (!existsSync(ready)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the collector exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${err}`);
    }
    if (Date.now() > until) throw new Error(`the collector was not ready within 30 s:\n${err}`);
    await sleep(50);
  }
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    stdout: () => out,
    stats: () => JSON.parse(readFileSync(statsFile, 'utf8')) as CollectorStats,
    stop,
  };
}

/** Events of the collector that came from processes in `cg`. */
export function inCgroup(cg: TestCgroup): (e: Ev) => boolean {
  return (e) => e['aiops.cgroup.id'] === cg.id;
}

/** Stops the collector and checks the run was clean: exit 0, every batch valid and authorised, nothing lost. */
export async function assertCleanStop(collector: RunningCollector, sink: Sink): Promise<void> {
  assert.equal(await collector.stop(), 0, collector.stderr());
  assert.deepEqual(sink.invalid, []);
  assert.equal(sink.unauthorized, 0);
  const stats = collector.stats();
  assert.equal(stats.sent, stats.events_total);
  assert.equal(stats.ring_full + stats.buffer_full + stats.send_failed, 0);
}
