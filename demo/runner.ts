/**
 * `rootline demo`: a small real shop (demo/system.mjs) observed by Rootline. `startDemo` starts, in order:
 * the network (one namespace per service when root, demo/netns.ts), an embedded Rootline as a child process
 * (`rootline start`, every role, the service watch on), the services (each in `<service>.service` when root),
 * one eBPF collector per demo host (root only), the load generator and the control API (demo/control.ts).
 * `demo.inject` / `demo.clear` put real faults in and take them out (demo/faults.ts); `demo.stop` undoes
 * everything, and the process's exit does it too, synchronously, if nobody called stop.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICES, nextVersion, type ServiceDef } from './system.mjs';
import { FaultManager, type Fault, type FaultTarget } from './faults.ts';
import { cleanStale, createInfra, type DemoHost, type Infra } from './netns.ts';
import { startControl, type Control } from './control.ts';
import { collectorBinary, startCollector, type CollectorEvent, type CollectorTap } from './collector.ts';
import { baseEnv, exited, freePort, gone, parseJson, stopChild, tail } from './proc.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/**
 * The embedded Rootline's settings for the demo (the user's own ROOTLINE_* variables and `rootlineEnv` win).
 * Short intervals, so faults show within a minute or two.
 */
export const DEMO_ROOTLINE_ENV: Record<string, string> = {
  ROOTLINE_ROLES: 'all',
  ROOTLINE_WATCH: 'on',
  ROOTLINE_FLUSH_INTERVAL_MS: '500',
  ROOTLINE_LOG_LEVEL: 'warn',
  // The watch and RCA judge 10-second points (one minute by default): the demo's faults are confirmed over
  // two steps, so an incident and its RCA come within a minute of the onset. Telemetry lands within seconds
  // (collector batches, OTLP exporters every 5 s), so 5 s of settling is enough. Alerts resolve after 30 s
  // of quiet (an API-flow alert 30 s after its last anomalous trace, checked every 5 s), so that the shop is
  // calm again within a minute of a fault's end and the next fault opens a new incident.
  ROOTLINE_STEP_MS: '10000',
  ROOTLINE_WATCH_INTERVAL_MS: '5000',
  ROOTLINE_WATCH_SETTLE_MS: '5000',
  ROOTLINE_WATCH_QUIET_MS: '30000',
  ROOTLINE_ALERT_TICK_MS: '5000',
  ROOTLINE_SEQUENCE_ALERT_TTL_MS: '30000',
  ROOTLINE_WATCH_LOOKBACK_MS: '900000',
};

/** Settings of `rootline start` the demo owns: the user's environment does not change these. */
const OWNED_ENV = ['ROOTLINE_PORT', 'ROOTLINE_HOST', 'ROOTLINE_DATA_DIR', 'ROOTLINE_TOKENS', 'ROOTLINE_AUTH', 'CLICKHOUSE_URL', 'NEO4J_URI', 'REDIS_URL'];

export interface DemoOptions {
  /** Port of the embedded Rootline (the UI and API); 0 or undefined picks a free one. */
  port?: number;
  /** Load, requests a second over all users (default 15). */
  rate?: number;
  /** Start the load generator (default true). */
  load?: boolean;
  /** One network namespace per service (default: when root). */
  netns?: boolean;
  /** The eBPF collector (default: when root). */
  collector?: boolean;
  /** Port of the control API on 127.0.0.1 (0 or undefined: a free one; false: none). */
  controlPort?: number | false;
  /** Where the embedded Rootline keeps its data (default ./data/demo); emptied at start unless keepData. */
  dataDir?: string;
  keepData?: boolean;
  /** Use this Rootline instead of starting one. */
  rootline?: { url: string; token: string };
  /** More environment for the embedded Rootline (after DEMO_ROOTLINE_ENV and the user's ROOTLINE_*). */
  rootlineEnv?: Record<string, string>;
  /** The collector binary (default collector-native/build/rootline-collector, built when missing). */
  collectorBin?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface DemoService {
  name: string;
  kind: 'http' | 'kv';
  /** Sends OpenTelemetry traces, metrics and logs (otherwise only the collector sees it). */
  otel: boolean;
  calls: readonly string[];
  /** The running release and whether it is a bad deploy. */
  version: string;
  bad: boolean;
  /** The demo host it runs on and that host's `host.name`. */
  host: string;
  hostName: string;
  address: string;
  port: number;
  /** http://address:port (the db speaks its own line protocol there). */
  url: string;
  /** Its process (changes when it restarts); undefined while down. */
  pid: number | undefined;
  state: 'starting' | 'up' | 'down' | 'stopped';
  restarts: number;
  /** The latest numbers the process reported (every 2 s). */
  stats?: { rss: number; heapUsed: number; cpuCores: number; requests: number; errors: number; faults: string[] };
  /** `<service>.service` when root. */
  cgroup?: string;
}

export interface LoadStats {
  t: number;
  rate: number;
  requests: number;
  ok: number;
  errors: number;
  failed: number;
  last: { requests: number; statuses: Record<string, number>; p50: number | null; p90: number | null };
}

export type { CollectorEvent };

export interface Demo {
  rootline: { url: string; token: string; uiUrl: string };
  /** The control API (see demo/control.ts), when started. */
  control?: { url: string };
  netns: boolean;
  subnet?: string;
  collector: boolean;
  services: Record<string, DemoService>;
  inject(kind: string, service: string, params?: Record<string, unknown>): Promise<Fault>;
  /** Clears one fault, or every fault. */
  clear(id?: string): Promise<Fault[]>;
  faults(): Fault[];
  setRate(rate: number): void;
  load(): LoadStats | undefined;
  /** Events the collectors sent (from their --stdout copy): counts by host and event name, and the latest ones. */
  collectorEvents(): { counts: Record<string, Record<string, number>>; recent: CollectorEvent[] };
  /** The last log lines (stderr) of a service, newest last. */
  logs(service: string): string[];
  status(): Record<string, unknown>;
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------------------------------ services

interface ServiceEnv {
  infra: Infra;
  host: DemoHost;
  peers: Record<string, { address: string; port: number }>;
  otel?: { endpoint: string; token: string };
  track(c: ChildProcess): void;
  log(line: string): void;
  faults(): FaultManager;
  stopping(): boolean;
}

/** One service's process: started, supervised (restarted after a crash), taken down, redeployed. */
class ServiceProc implements FaultTarget {
  readonly info: DemoService;
  readonly baseVersion: string;
  private child?: ChildProcess;
  private failRate = 0;
  private down?: 'kill' | 'stop';
  private expectExit = false;
  private seq = 0;
  private readonly acks = new Map<number, (error?: string) => void>();
  private logLines: () => string[] = () => [];

  constructor(readonly def: ServiceDef, private readonly env: ServiceEnv) {
    this.baseVersion = def.version;
    const h = env.host;
    const port = env.peers[def.name]!.port;
    this.info = {
      name: def.name, kind: def.kind, otel: def.otel, calls: def.calls, version: def.version, bad: false,
      host: h.name, hostName: h.hostName, address: h.address, port, url: `http://${h.address}:${port}`,
      pid: undefined, state: 'starting', restarts: 0,
    };
  }

  logs(): string[] {
    return this.logLines();
  }

  nextVersion(): string {
    return nextVersion(this.baseVersion);
  }

  async start(): Promise<void> {
    const { def, env, info } = this;
    const cfg = {
      name: def.name, kind: def.kind, version: info.version, bad: info.bad, badFailRate: this.failRate,
      bindAddress: env.host.address, port: info.port, hostName: env.host.hostName, peers: env.peers,
      ...(def.otel && env.otel ? { otel: env.otel } : {}), metricsIntervalMs: 5000,
    };
    const cgroup = env.infra.cgroup(`${def.name}.service`);
    if (cgroup) info.cgroup = cgroup;
    // Name and version on the command line too: the collector's exec event shows which release started.
    const child = env.infra.spawn(env.infra.inHost(env.host.name, [process.execPath, join(REPO, 'demo/service.mjs'), def.name, info.version]), {
      cgroup, cwd: REPO, env: baseEnv({ DEMO_SERVICE: JSON.stringify(cfg) }), stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    });
    this.child = child;
    this.expectExit = false;
    info.state = 'starting';
    env.track(child);
    child.stdin?.on('error', () => {});
    const previous = this.logLines();
    const lines = tail(child.stderr, 200);
    this.logLines = () => [...previous.slice(-100), ...lines()];
    let ready!: () => void;
    let failed!: (err: Error) => void;
    const isReady = new Promise<void>((res, rej) => ((ready = res), (failed = rej)));
    isReady.catch(() => {}); // an exit after the timeout is reported there
    tail(child.stdout, 0, (line) => {
      const msg = parseJson(line);
      if (!msg) return;
      if (msg.ready) {
        info.pid = Number(msg.pid);
        info.state = 'up';
        ready();
      } else if (msg.stats) info.stats = msg.stats as DemoService['stats'];
      else if ('ack' in msg) this.acks.get(Number(msg.ack))?.(msg.error as string | undefined);
    });
    child.once('exit', (code, signal) => {
      failed(new Error(`${def.name} exited (${signal ?? code}) before it was ready:\n${this.logLines().slice(-20).join('\n')}`));
      for (const done of this.acks.values()) done(`${def.name} exited`);
      this.acks.clear();
      if (this.child !== child) return;
      info.pid = undefined;
      if (this.expectExit || env.stopping()) return;
      // A crash (an out-of-memory leak, a bug): restart it, as a supervisor would.
      env.log(`${def.name} exited unexpectedly (${signal ?? `code ${code}`}); restarting`);
      info.state = 'starting';
      info.restarts++;
      void sleep(1000).then(() => (this.child === child && !env.stopping() && !this.down ? this.start() : undefined)).catch((err: unknown) => env.log(`${def.name} did not restart: ${String(err)}`));
    });
    const timeout = sleep(20_000, 'timeout', { ref: false });
    if ((await Promise.race([isReady, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`${def.name} was not ready within 20 s:\n${this.logLines().slice(-20).join('\n')}`);
    }
    for (const f of env.faults().inProcess(def.name)) await this.apply(f);
  }

  private send(cmd: Record<string, unknown>): Promise<void> {
    const child = this.child;
    if (!child || gone(child) || this.info.state !== 'up') return Promise.reject(new Error(`${this.def.name} is not running`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done('no answer within 5 s'), 5000);
      const done = (error?: string) => {
        clearTimeout(timer);
        this.acks.delete(seq);
        if (error) reject(new Error(`${this.def.name}: ${error}`));
        else resolve();
      };
      this.acks.set(seq, done);
      child.stdin?.write(JSON.stringify({ ...cmd, seq }) + '\n');
    });
  }

  apply(f: Fault): Promise<void> {
    return this.send({ op: 'fault', fault: { id: f.id, kind: f.kind, params: f.params } });
  }

  async unapply(f: Fault): Promise<void> {
    // A process that restarted since no longer has it.
    if (this.info.state === 'up') await this.send({ op: 'clear', id: f.id });
  }

  async takeDown(mode: 'kill' | 'stop'): Promise<void> {
    const child = this.child;
    this.down = mode;
    this.info.state = 'down';
    if (!child || gone(child)) return;
    if (mode === 'stop') {
      child.kill('SIGSTOP');
      return;
    }
    this.expectExit = true;
    child.kill('SIGKILL');
    await exited(child);
    this.info.pid = undefined;
  }

  async bringUp(): Promise<void> {
    const was = this.down;
    this.down = undefined;
    if (was === 'stop' && this.child && !gone(this.child)) {
      this.child.kill('SIGCONT');
      this.info.state = 'up';
      return;
    }
    await this.start();
  }

  async deploy(version: string, bad: boolean, failRate: number): Promise<void> {
    Object.assign(this.info, { version, bad });
    this.failRate = failRate;
    if (this.down) return; // takes effect when it comes back
    await this.stop();
    this.info.restarts++;
    await this.start();
  }

  async stop(): Promise<void> {
    this.expectExit = true;
    if (this.child) await stopChild(this.child);
    this.info.pid = undefined;
    this.info.state = 'stopped';
  }
}

// ------------------------------------------------------------------------------------------------ Rootline

async function startRootline(o: { infra: Infra; dataDir: string; port: number; token: string; env?: Record<string, string>; track(c: ChildProcess): void }): Promise<{ url: string; child: ChildProcess }> {
  const user: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('ROOTLINE_') && v !== undefined && !OWNED_ENV.includes(k)) user[k] = v;
  const env = baseEnv({
    ...DEMO_ROOTLINE_ENV, ...user, ...o.env,
    ROOTLINE_HOST: '127.0.0.1', ROOTLINE_PORT: String(o.port), ROOTLINE_DATA_DIR: o.dataDir, ROOTLINE_TOKENS: `default:${o.token}`, ROOTLINE_AUTH: 'on',
  });
  // The guard ends Rootline (SIGTERM) when the demo's end of its stdin closes: it never outlives the runner.
  const child = o.infra.spawn([process.execPath, '--import', join(REPO, 'demo/parent-guard.mjs'), join(REPO, 'bin/rootline.mjs'), 'start'], {
    cgroup: o.infra.cgroup('rootline.scope'), cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
  });
  o.track(child);
  const out = tail(child.stdout, 100);
  const err = tail(child.stderr, 100);
  const url = `http://127.0.0.1:${o.port}`;
  for (const until = Date.now() + 120_000; ; await sleep(200)) {
    if (gone(child)) throw new Error(`rootline exited (${child.signalCode ?? child.exitCode}) before it was ready:\n${[...out(), ...err()].join('\n')}`);
    if (Date.now() > until) throw new Error(`rootline was not ready within 120 s:\n${[...out(), ...err()].join('\n')}`);
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => (void r.arrayBuffer(), r.status === 200), () => false);
    if (ok) return { url, child };
  }
}

/** Forwards `listen` (the bridge address, reachable from every demo host) to Rootline on loopback. */
async function forward(listen: string, port: number, to: URL): Promise<Server> {
  const server = createServer((a) => {
    const b = connect({ host: to.hostname, port: Number(to.port) });
    a.pipe(b).pipe(a);
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listen, resolve);
  });
  return server;
}

// ------------------------------------------------------------------------------------------------ the demo

let running = false;

export async function startDemo(opts: DemoOptions = {}): Promise<Demo> {
  if (running) throw new Error('a demo is already running in this process');
  const root = process.getuid?.() === 0;
  const netns = opts.netns ?? root;
  const wantCollector = opts.collector ?? root;
  if ((netns || wantCollector) && !root) throw new Error('network namespaces and the collector need root');
  running = true;
  const log = opts.log ?? (() => {});
  const children = new Set<ChildProcess>();
  const track = (c: ChildProcess) => {
    children.add(c);
    c.once('exit', () => children.delete(c));
  };
  let stopped = false;
  let infra: Infra | undefined;
  let control: Control | undefined;
  let forwarder: Server | undefined;
  let rootlineChild: ChildProcess | undefined;
  const collectors: ChildProcess[] = [];
  let loadChild: ChildProcess | undefined;
  let lastLoad: LoadStats | undefined;
  const procs = new Map<string, ServiceProc>();
  const tap: CollectorTap = { counts: {}, recent: [] };
  const dataDir = resolve(opts.dataDir ?? join(REPO, 'data/demo'));

  // On exit without stop(): kill what is left and remove namespaces and cgroups, synchronously.
  const onExit = () => {
    for (const c of children) c.kill('SIGKILL');
    infra?.closeSync();
  };
  process.once('exit', onExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const errors: unknown[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      const t = Date.now();
      try {
        await fn();
      } catch (err) {
        errors.push(new Error(`${what}: ${String(err)}`));
      }
      if (Date.now() - t > 2000) log(`stopping ${what} took ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };
    await attempt('control', async () => control?.close());
    await attempt('load', async () => loadChild && stopChild(loadChild));
    // Services first (they send their last telemetry while Rootline still listens), then the collectors (they
    // drain), then Rootline.
    await attempt('services', () => Promise.all([...procs.values()].map((p) => p.stop())));
    await attempt('collectors', () => Promise.all(collectors.map((c) => stopChild(c, 10_000))));
    await attempt('rootline', async () => rootlineChild && stopChild(rootlineChild, 30_000));
    await attempt('forwarder', async () => forwarder && new Promise<void>((r) => forwarder!.close(() => r())));
    for (const c of children) c.kill('SIGKILL');
    await attempt('network and cgroups', async () => infra?.close());
    process.removeListener('exit', onExit);
    running = false;
    if (errors.length > 0) throw new AggregateError(errors, errors.map(String).join('; '));
  };

  try {
    if (root) {
      const stale = await cleanStale();
      if (stale.length > 0) log(`removed what an earlier demo left behind: ${stale.join(', ')}`);
    }
    const defs = SERVICES;
    infra = await createInfra({
      hosts: defs.map((d) => d.name),
      netns,
      cgroups: root,
      hostName: (name) => (netns ? `demo-${name}` : hostname()),
    });
    if (netns) log(`network: ${defs.length} hosts on ${infra.subnet} (bridge at ${infra.gateway}), one network namespace each`);
    else log('network: every service on 127.0.0.1 (no network namespaces)');

    // Rootline.
    let rootline: { url: string; token: string };
    if (opts.rootline) {
      rootline = { url: opts.rootline.url.replace(/\/$/, ''), token: opts.rootline.token };
    } else {
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir, { recursive: true });
      const token = randomBytes(16).toString('hex');
      const port = opts.port || (await freePort());
      log(`starting Rootline on 127.0.0.1:${port} (data in ${dataDir})`);
      const r = await startRootline({ infra, dataDir, port, token, ...(opts.rootlineEnv ? { env: opts.rootlineEnv } : {}), track });
      rootlineChild = r.child;
      rootline = { url: r.url, token };
    }
    const rootlineUrl = new URL(rootline.url);
    let ingest = rootline.url;
    if (netns) {
      forwarder = await forward(infra.gateway, Number(rootlineUrl.port), rootlineUrl);
      ingest = `http://${infra.gateway}:${rootlineUrl.port}`;
    }

    // Services: all at once (they call each other only when a request comes). Each host has its own address
    // with namespaces, so the usual ports; on loopback, free ones.
    const peers: Record<string, { address: string; port: number }> = {};
    for (const d of defs) peers[d.name] = { address: infra.hosts.get(d.name)!.address, port: netns ? d.port : await freePort() };
    const faults = new FaultManager(procs);
    for (const d of defs) {
      procs.set(d.name, new ServiceProc(d, {
        infra, host: infra.hosts.get(d.name)!, peers, otel: { endpoint: ingest, token: rootline.token }, track, log,
        faults: () => faults, stopping: () => stopped,
      }));
    }
    await Promise.all([...procs.values()].map((p) => p.start()));
    log(`services: ${defs.map((d) => `${d.name}${d.otel ? ' (OTel)' : ''}`).join(', ')}`);

    // Collectors, after the services listen (a port already open when a collector starts is not a new one).
    if (wantCollector) {
      const bin = await collectorBinary(opts.collectorBin);
      const dir = join(dataDir, 'collector');
      mkdirSync(dir, { recursive: true });
      const byHost = new Map<string, string[]>();
      for (const p of procs.values()) {
        const host = netns ? p.info.host : 'local';
        byHost.set(host, [...(byHost.get(host) ?? []), p.info.cgroup!]);
      }
      const hosts = [...byHost].map(([h, cgroups]) => ({ host: netns ? infra!.hosts.get(h)! : { name: 'local', hostName: hostname(), address: '127.0.0.1' }, cgroups }));
      collectors.push(...(await Promise.all(hosts.map(({ host, cgroups }) => startCollector({ infra: infra!, host, bin, ingest, token: rootline.token, cgroups, dir, tap, track })))));
      log(`collector: ${collectors.length} running (one per demo host), watching ${procs.size} service cgroups`);
    } else {
      log(root ? 'collector: skipped (--no-collector)' : 'collector: skipped (it needs root); recommendation, currency, payment, shipping and db are then visible only through the OTel services\' client spans');
    }

    // Users.
    if (opts.load !== false) {
      const frontend = procs.get('frontend')!.info;
      loadChild = infra.spawn([process.execPath, join(REPO, 'demo/load.mjs')], {
        cgroup: infra.cgroup('load.scope'), cwd: REPO, env: baseEnv({ DEMO_LOAD: JSON.stringify({ target: frontend.url, rate: opts.rate ?? 15 }) }), stdio: ['pipe', 'pipe', 'pipe'], detached: true,
      });
      track(loadChild);
      loadChild.stdin?.on('error', () => {});
      tail(loadChild.stdout, 0, (line) => {
        const msg = parseJson(line);
        if (msg?.stats) lastLoad = msg.stats as LoadStats;
      });
      log(`load: about ${opts.rate ?? 15} requests/s against ${frontend.url}`);
    }

    const services: Record<string, DemoService> = {};
    for (const [name, p] of procs) services[name] = p.info;
    const demo: Demo = {
      rootline: { ...rootline, uiUrl: `${rootline.url}/ui/#token=${rootline.token}` },
      netns,
      ...(infra.subnet ? { subnet: infra.subnet } : {}),
      collector: collectors.length > 0,
      services,
      inject: (kind, service, params) => faults.inject(kind, service, params),
      clear: (id) => faults.clear(id),
      faults: () => faults.list(),
      setRate(rate) {
        if (!(rate > 0)) throw new Error('rate must be above 0');
        loadChild?.stdin?.write(JSON.stringify({ op: 'rate', rate }) + '\n');
      },
      load: () => lastLoad,
      collectorEvents: () => ({ counts: structuredClone(tap.counts), recent: [...tap.recent] }),
      logs: (service) => procs.get(service)?.logs() ?? [],
      status: () => ({
        rootline: { url: rootline.url, ui: `${rootline.url}/ui/#token=${rootline.token}` },
        ...(control ? { control: control.url } : {}),
        network: netns ? { namespaces: true, subnet: infra!.subnet } : { namespaces: false },
        collector: { running: collectors.length, events: tap.counts },
        services: Object.values(services).map(({ stats, ...s }) => ({ ...s, ...(stats ? { rssMb: Math.round(stats.rss / 1048576), cpuCores: stats.cpuCores, requests: stats.requests, errors: stats.errors } : {}) })),
        faults: faults.list(),
        load: lastLoad ?? null,
      }),
      stop,
    };
    if (opts.controlPort !== false) {
      control = await startControl(demo, opts.controlPort || 0, rootline.token);
      demo.control = { url: control.url };
    }
    return demo;
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
