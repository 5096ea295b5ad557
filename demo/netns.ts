/**
 * The demo's machines. As root, each demo host is a network namespace (`rl-demo-<pid>-<host>`) with its own
 * address on a bridge (`rldb<pid>`, 10.214.N.0/24; the machine running the demo is .1), and every process the
 * demo starts lives in a cgroup v2 under `rootline-demo-<pid>/` (`<service>.service` for services, which the
 * collector watches). Without root everything runs on loopback, without cgroups.
 *
 * Names carry the runner's pid: `cleanStale()` removes what a runner that died without cleaning up (SIGKILL) left.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DemoHost {
  /** The demo's name for it (one per service). */
  name: string;
  /** `host.name` in telemetry. */
  hostName: string;
  /** Its address: its own on the bridge, or 127.0.0.1. */
  address: string;
  /** Its network namespace, when it has one. */
  ns?: string;
}

export interface Infra {
  netns: boolean;
  cgroups: boolean;
  /** The demo machine as the hosts reach it: the bridge's address, or 127.0.0.1. */
  gateway: string;
  /** e.g. 10.214.37.0/24 with namespaces. */
  subnet?: string;
  hosts: Map<string, DemoHost>;
  /** The cgroup v2 directory `<demo>/<name>`, created on first use; undefined without cgroups. */
  cgroup(name: string): string | undefined;
  /** `argv` run in the network namespace of `host` (as is without namespaces). */
  inHost(host: string | undefined, argv: string[]): string[];
  /** Starts `argv`, in cgroup `cgroup` when given: the child is forked inside it, so its exec is seen there. */
  spawn(argv: string[], opts?: SpawnOptions & { cgroup?: string }): ChildProcess;
  /** Kills every process in the demo's cgroups and removes the cgroups, namespaces and the bridge. */
  close(): Promise<void>;
  /** The same, synchronously, for process exit. */
  closeSync(): void;
}

const NS_PREFIX = 'rl-demo-';
const BRIDGE_PREFIX = 'rldb';
const CGROUP_PREFIX = 'rootline-demo-';

const run = (argv: string[], timeoutMs = 10_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });

const runSync = (argv: string[]): void => {
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // best effort on the way out
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The cgroup v2 mount point (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
export function cgroup2Root(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2' && dir) return dir.replace(/\\040/g, ' ');
  }
  throw new Error('no cgroup2 file system is mounted (see /proc/mounts): the demo needs cgroup v2 to place services for the collector');
}

/** This process's own cgroup v2 directory. */
function ownCgroup(root: string): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  return join(root, line ? line.slice(3) : '/');
}

function pidsIn(dir: string): number[] {
  const out: number[] = [];
  try {
    out.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...pidsIn(join(dir, e.name)));
  } catch {
    // gone
  }
  return out;
}

function killTree(dir: string): void {
  if (existsSync(join(dir, 'cgroup.kill'))) {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // fall back to signals
    }
  }
  for (const pid of pidsIn(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function removeTree(dir: string): boolean {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory() && !removeTree(join(dir, e.name))) return false;
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function removeCgroupSync(dir: string): void {
  for (let i = 0; i < 60 && existsSync(dir); i++) {
    killTree(dir);
    if (pidsIn(dir).length === 0 && removeTree(dir)) return;
    pause(50);
  }
}

async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; i < 100 && existsSync(dir); i++) {
    killTree(dir);
    if (pidsIn(dir).length === 0 && removeTree(dir)) return;
    await sleep(50);
  }
  if (existsSync(dir)) throw new Error(`could not remove cgroup ${dir}`);
}

/** Removes namespaces, bridges and cgroups of demo runners that are no longer alive. Returns what it removed. */
export async function cleanStale(): Promise<string[]> {
  const removed: string[] = [];
  const dead = (name: string, prefix: string) => {
    const m = new RegExp(`^${prefix}(\\d+)`).exec(name);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  const root = cgroup2Root();
  for (const name of readdirSync(root)) {
    if (dead(name, CGROUP_PREFIX)) {
      await removeCgroup(join(root, name));
      removed.push(`cgroup ${name}`);
    }
  }
  for (const line of (await run(['ip', 'netns', 'list'])).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (dead(name, NS_PREFIX)) {
      await run(['ip', 'netns', 'delete', name]).catch(() => undefined);
      removed.push(`netns ${name}`);
    }
  }
  for (const line of (await run(['ip', '-o', 'link', 'show', 'type', 'bridge'])).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '';
    if (dead(name, BRIDGE_PREFIX)) {
      await run(['ip', 'link', 'delete', name]).catch(() => undefined);
      removed.push(`bridge ${name}`);
    }
  }
  return removed;
}

/** A /24 in 10.214.0.0/16 that no interface or route of this machine uses. */
async function freeSubnet(): Promise<number> {
  const used = (await run(['ip', '-4', '-o', 'addr', 'show'])) + (await run(['ip', '-4', 'route', 'show']));
  for (let i = 0; i < 230; i++) {
    const n = 20 + ((process.pid + i) % 230);
    if (!used.includes(`10.214.${n}.`)) return n;
  }
  throw new Error('no free /24 in 10.214.0.0/16 for the demo network');
}

export interface InfraOptions {
  /** Demo hosts to create, by name (one network namespace each with `netns`). */
  hosts: string[];
  netns: boolean;
  cgroups: boolean;
  /** `host.name` of a host. */
  hostName(name: string): string;
}

export async function createInfra(opts: InfraOptions): Promise<Infra> {
  const id = String(process.pid);
  const hosts = new Map<string, DemoHost>();
  const namespaces: string[] = [];
  const bridge = `${BRIDGE_PREFIX}${id}`;
  let bridgeMade = false;
  let cgRoot: string | undefined;
  let cgParent: string | undefined;
  let gateway = '127.0.0.1';
  let subnet: string | undefined;
  let closed = false;

  const closeSync = () => {
    if (closed) return;
    closed = true;
    if (cgParent) removeCgroupSync(cgParent);
    for (const ns of namespaces) runSync(['ip', 'netns', 'delete', ns]);
    if (bridgeMade) runSync(['ip', 'link', 'delete', bridge]);
  };
  const close = async () => {
    if (closed) return;
    closed = true;
    const errors: unknown[] = [];
    if (cgParent) await removeCgroup(cgParent).catch((err: unknown) => errors.push(err));
    for (const ns of namespaces) await run(['ip', 'netns', 'delete', ns]).catch((err: unknown) => errors.push(err));
    if (bridgeMade) await run(['ip', 'link', 'delete', bridge]).catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, `demo clean-up: ${errors.map(String).join('; ')}`);
  };

  try {
    if (opts.cgroups) {
      cgRoot = cgroup2Root();
      cgParent = join(cgRoot, `${CGROUP_PREFIX}${id}`);
      mkdirSync(cgParent, { recursive: true });
    }
    if (opts.netns) {
      const n = await freeSubnet();
      subnet = `10.214.${n}.0/24`;
      gateway = `10.214.${n}.1`;
      await run(['ip', 'link', 'add', bridge, 'type', 'bridge']);
      bridgeMade = true;
      await run(['ip', 'addr', 'add', `${gateway}/24`, 'dev', bridge]);
      await run(['ip', 'link', 'set', bridge, 'up']);
      let i = 0;
      for (const name of opts.hosts) {
        i++;
        const ns = `${NS_PREFIX}${id}-${name}`;
        const veth = `rldv${id}x${i}`.slice(0, 15);
        const address = `10.214.${n}.${i + 1}`;
        await run(['ip', 'netns', 'add', ns]);
        namespaces.push(ns);
        await run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        await run(['ip', 'link', 'set', veth, 'master', bridge, 'up']);
        await run(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
        await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
        await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        await run(['ip', '-n', ns, 'route', 'add', 'default', 'via', gateway]);
        hosts.set(name, { name, hostName: opts.hostName(name), address, ns });
      }
    } else {
      for (const name of opts.hosts) hosts.set(name, { name, hostName: opts.hostName(name), address: '127.0.0.1' });
    }
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }

  return {
    netns: opts.netns,
    cgroups: opts.cgroups,
    gateway,
    ...(subnet ? { subnet } : {}),
    hosts,
    cgroup(name) {
      if (!cgParent) return undefined;
      const dir = join(cgParent, name);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    inHost(host, argv) {
      const ns = host === undefined ? undefined : hosts.get(host)?.ns;
      // nsenter switches only the network namespace (`ip netns exec` also remounts /sys, hiding the cgroup and
      // trace file systems the collector needs).
      return ns ? ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv] : argv;
    },
    spawn(argv, { cgroup, ...options } = {}) {
      const [cmd, ...args] = argv;
      if (!cmd) throw new Error('spawn: empty argv');
      if (!cgroup || !cgRoot) return spawn(cmd, args, options);
      // Fork inside the cgroup: join it for the moment of the fork, then go back. The child's exec and everything
      // after is in the cgroup; a shell wrapper that writes its own pid would show as a socket dup2 of its stdio.
      const home = ownCgroup(cgRoot);
      writeFileSync(join(cgroup, 'cgroup.procs'), String(process.pid));
      try {
        return spawn(cmd, args, options);
      } finally {
        writeFileSync(join(home, 'cgroup.procs'), String(process.pid));
      }
    },
    close,
    closeSync,
  };
}
