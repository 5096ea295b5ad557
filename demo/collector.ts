/**
 * The demo's eBPF collectors: one per demo host, as on real machines (its --host-name and its own machine id),
 * each watching the cgroups of that host's services and posting to Rootline. Their --stdout copy of every event
 * is counted per host and kept (the latest few thousand) for `demo.collectorEvents()`.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoHost, Infra } from './netns.ts';
import { baseEnv, gone, parseJson, tail } from './proc.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

export type CollectorEvent = Record<string, string | number | boolean>;

let built: Promise<string> | undefined;

/** The collector binary: `given`, or collector-native/build/rootline-collector, built with make when missing. */
export function collectorBinary(given?: string): Promise<string> {
  if (given) return Promise.resolve(given);
  const bin = join(REPO, 'collector-native/build/rootline-collector');
  if (existsSync(bin)) return Promise.resolve(bin);
  built ??= new Promise((resolve, reject) => {
    execFile('make', ['-C', join(REPO, 'collector-native')], { timeout: 300_000, maxBuffer: 16 << 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`make -C collector-native failed (build packages: see collector-native/README.md): ${err.message}\n${stderr}`));
      else resolve(bin);
    });
  });
  return built;
}

export interface CollectorTap {
  counts: Record<string, Record<string, number>>;
  recent: CollectorEvent[];
}

/** Starts one collector for `host`, watching `cgroups`, posting to `ingest`; its --stdout copy feeds `tap`. */
export async function startCollector(o: { infra: Infra; host: DemoHost; bin: string; ingest: string; token: string; cgroups: string[]; dir: string; tap: CollectorTap; track(c: ChildProcess): void }): Promise<ChildProcess> {
  const ready = join(o.dir, `ready-${o.host.name}`);
  rmSync(ready, { force: true });
  const args = [
    '--ingest', o.ingest, '--host-name', o.host.hostName, ...o.cgroups.flatMap((c) => ['--cgroup', c]),
    '--ready-file', ready, '--flush-ms', '1000', '--cpu-sample-ms', '5000', '--conn-report-ms', '10000', '--ring-kb', '2048', '--stdout',
  ];
  let argv = o.infra.inHost(o.host.name, [o.bin, ...args]);
  if (o.host.ns) {
    // Each demo host has its own machine id (host.id), as separate machines do: a private mount namespace
    // with a file bound over /etc/machine-id. Ingest tracks sequence numbers per host.id.
    const idFile = join(o.dir, `machine-id-${o.host.name}`);
    writeFileSync(idFile, randomBytes(16).toString('hex') + '\n');
    argv = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/machine-id && exec "$@"', idFile, ...argv];
  }
  // SIGTERM when the runner dies, even by SIGKILL (the collector reads no stdin to notice).
  argv = ['setpriv', '--pdeathsig', 'TERM', '--', ...argv];
  // The token in the environment, not on the command line (which every process can read).
  const child = o.infra.spawn(argv, { cgroup: o.infra.cgroup('collectors.scope'), env: baseEnv({ ROOTLINE_TOKEN: o.token }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  o.track(child);
  const err = tail(child.stderr, 50);
  const counts = (o.tap.counts[o.host.hostName] ??= {});
  tail(child.stdout, 0, (line) => {
    const e = parseJson(line) as CollectorEvent | undefined;
    if (!e) return;
    const name = String(e['event.name'] ?? '');
    counts[name] = (counts[name] ?? 0) + 1;
    o.tap.recent.push({ ...e, 'host.name': o.host.hostName });
    if (o.tap.recent.length > 5000) o.tap.recent.splice(0, 1000);
  });
  for (const until = Date.now() + 30_000; !existsSync(ready); await sleep(50)) {
    if (gone(child)) throw new Error(`the collector for ${o.host.name} exited (${child.signalCode ?? child.exitCode}):\n${err().join('\n')}`);
    if (Date.now() > until) throw new Error(`the collector for ${o.host.name} was not ready within 30 s:\n${err().join('\n')}`);
  }
  return child;
}
