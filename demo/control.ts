/**
 * The demo's control API (HTTP on 127.0.0.1, bearer token = the demo Rootline's token) and the `rootline demo`
 * command line, which runs a demo or talks to a running one through that API.
 *
 *   GET    /status            services, faults, load, collector counts
 *   GET    /faults            active faults
 *   POST   /faults            {"kind","service","params"?: {...}} → 201 {"fault"}
 *   DELETE /faults[/{id}]     clear every fault, or one → {"cleared": [...]}
 *   POST   /load              {"rate": R} → requests a second
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { FAULT_KINDS, FaultError, faultHelp } from './faults.ts';
import type { Demo, DemoOptions } from './runner.ts';

export interface Control {
  url: string;
  close(): Promise<void>;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
      if (s.length > 65_536) req.destroy(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        const v: unknown = s ? JSON.parse(s) : {};
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FaultError('the body must be a JSON object');
        resolve(v as Record<string, unknown>);
      } catch (err) {
        reject(err instanceof FaultError ? err : new FaultError(`the body is not JSON: ${String(err)}`));
      }
    });
    req.on('error', reject);
  });
}

export async function startControl(demo: Demo, port: number, token: string): Promise<Control> {
  const expected = Buffer.from(`Bearer ${token}`);
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body, null, 1);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  const server = createServer((req, res) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return send(res, 401, { error: 'Authorization: Bearer <the demo token> is required' });
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '') || '/';
    const route = async (): Promise<[number, unknown]> => {
      if (req.method === 'GET' && path === '/status') return [200, demo.status()];
      if (req.method === 'GET' && path === '/faults') return [200, { faults: demo.faults() }];
      if (req.method === 'POST' && path === '/faults') {
        const { kind, service, params, ...rest } = await readJson(req);
        // Parameters nested under "params" or given flat beside kind and service.
        const p = typeof params === 'object' && params !== null ? { ...(params as Record<string, unknown>), ...rest } : rest;
        return [201, { fault: await demo.inject(String(kind ?? ''), String(service ?? ''), p) }];
      }
      if (req.method === 'DELETE' && path === '/faults') return [200, { cleared: await demo.clear() }];
      const one = /^\/faults\/([\w-]+)$/.exec(path);
      if (req.method === 'DELETE' && one) return [200, { cleared: await demo.clear(one[1]) }];
      if (req.method === 'POST' && path === '/load') {
        const rate = Number((await readJson(req)).rate);
        if (!(rate > 0 && rate <= 1000)) throw new FaultError('rate must be a number of requests a second in (0, 1000]');
        demo.setRate(rate);
        return [200, { rate }];
      }
      return [404, { error: `no route ${req.method} ${path}` }];
    };
    route().then(
      ([status, body]) => send(res, status, body),
      (err: unknown) => send(res, err instanceof FaultError ? err.status : 500, { error: err instanceof Error ? err.message : String(err) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: actual } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------------------------------------ CLI

export const DEMO_USAGE = `usage: rootline demo [options]                 run the demo shop observed by Rootline until Ctrl-C
       rootline demo fault <kind> <service> [--<param> <value> ...]   inject a fault into the running demo
       rootline demo clear [<fault id>]       clear every fault (or one)
       rootline demo status                   services, faults, load and collector counts (JSON)

options of \`rootline demo\`:
  --port N           Rootline's port (UI and API; default 8080)
  --rate R           load in requests a second over all users (default 15)
  --no-netns         run every service on 127.0.0.1 even as root (default: one network namespace per service when root)
  --no-collector     do not start the eBPF collector (default: started when root)
  --control-port N   port of the demo's control API on 127.0.0.1 (default: a free one, written to <data>/demo.json)
  --data DIR         data directory (default ./data/demo; emptied at start unless --keep-data)
  --keep-data        keep the previous run's data

options of fault, clear and status: --data DIR (where the running demo wrote demo.json), or --control URL --token T

services: frontend, catalog, cart, checkout (OpenTelemetry), recommendation, currency, payment, shipping, db (eBPF only)
fault kinds and their parameters:
${faultHelp()}

examples:
  sudo rootline demo
  rootline demo fault latency catalog --ms 800
  rootline demo fault dependency-down db
  rootline demo fault bad-deploy checkout
  rootline demo clear`;

const CLIENT_FLAGS = new Set(['data', 'control', 'token', 'help']);

function stateFile(flags: Map<string, string>): string {
  return join(resolve(flags.get('data') ?? 'data/demo'), 'demo.json');
}

async function client(flags: Map<string, string>, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let control = flags.get('control');
  let token = flags.get('token');
  if (!control || !token) {
    const file = stateFile(flags);
    if (!existsSync(file)) throw new Error(`no running demo found (${file} is missing): start one with \`rootline demo\`, or pass --control URL --token T`);
    const state = JSON.parse(readFileSync(file, 'utf8')) as { control?: string; token?: string };
    control ??= state.control;
    token ??= state.token;
  }
  const res = await fetch(`${control}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  }).catch((err: unknown) => {
    throw new Error(`the demo's control API at ${control} does not answer (${String((err as Error).cause ?? err)}): is the demo still running?`);
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function summary(demo: Demo): string {
  const load = demo.load();
  const l = load ? `load ${load.last.requests} req/s, p90 ${load.last.p90 ?? '-'} ms, ${Object.entries(load.last.statuses).filter(([s]) => s === 'error' || Number(s) >= 500).reduce((n, [, c]) => n + c, 0)} failed` : 'load starting';
  const f = demo.faults();
  return `${new Date().toISOString().slice(11, 19)} ${l}; faults: ${f.length === 0 ? 'none' : f.map((x) => `${x.id} ${x.kind} ${x.service}`).join(', ')}`;
}

/** `rootline demo …`; returns the exit code. */
export async function demoCommand(args: string[], flags: Map<string, string>): Promise<number> {
  const [sub, ...rest] = args;
  if (flags.has('help') || sub === 'help') {
    console.log(DEMO_USAGE);
    return 0;
  }
  try {
    if (sub === 'fault') {
      const [kind, service] = rest;
      if (!kind || !service) {
        console.error(`usage: rootline demo fault <kind> <service> [--<param> <value> ...]\nkinds: ${FAULT_KINDS.join(', ')}`);
        return 2;
      }
      const params = Object.fromEntries([...flags].filter(([k]) => !CLIENT_FLAGS.has(k)));
      const r = await client(flags, 'POST', '/faults', { kind, service, params });
      if (r.status !== 201) throw new Error(String(r.json.error));
      const fault = r.json.fault as { id: string; description: string };
      console.log(`${fault.id}: ${fault.description}`);
      return 0;
    }
    if (sub === 'clear') {
      const r = await client(flags, 'DELETE', rest[0] ? `/faults/${encodeURIComponent(rest[0])}` : '/faults');
      if (r.status !== 200) throw new Error(String(r.json.error));
      const cleared = r.json.cleared as { id: string; kind: string; service: string }[];
      console.log(cleared.length === 0 ? 'no active faults' : `cleared ${cleared.map((f) => `${f.id} (${f.kind} on ${f.service})`).join(', ')}`);
      return 0;
    }
    if (sub === 'status') {
      const r = await client(flags, 'GET', '/status');
      if (r.status !== 200) throw new Error(String(r.json.error));
      console.log(JSON.stringify(r.json, null, 2));
      return 0;
    }
    if (sub !== undefined) {
      console.error(`unknown demo command: ${sub}\n${DEMO_USAGE}`);
      return 2;
    }
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  return runDemo(flags);
}

async function runDemo(flags: Map<string, string>): Promise<number> {
  const num = (name: string, def: number) => {
    const v = flags.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} ${v}: not a number`);
    return n;
  };
  const root = process.getuid?.() === 0;
  let opts: DemoOptions;
  try {
    opts = {
      port: num('port', 8080),
      rate: num('rate', 15),
      netns: root && !flags.has('no-netns'),
      collector: root && !flags.has('no-collector'),
      controlPort: num('control-port', 0),
      dataDir: resolve(flags.get('data') ?? 'data/demo'),
      keepData: flags.has('keep-data'),
      log: (line) => console.log(`demo: ${line}`),
    };
  } catch (err) {
    console.error(String((err as Error).message));
    return 2;
  }
  if (!root) {
    console.log('demo: not running as root: no network namespaces, cgroups or eBPF collector. Every service runs on 127.0.0.1;');
    console.log('demo: frontend, catalog, cart and checkout are seen through OpenTelemetry, the others only as the peers those call.');
    console.log('demo: run it with sudo to see the separate hosts and the collector.');
  }
  const { startDemo } = await import('./runner.ts');
  const demo = await startDemo(opts);
  const file = join(opts.dataDir!, 'demo.json');
  writeFileSync(file, JSON.stringify({ pid: process.pid, control: demo.control?.url, token: demo.rootline.token, rootline: demo.rootline.url }, null, 1) + '\n', { mode: 0o600 });
  console.log(`
Rootline demo is running.
  UI         ${demo.rootline.uiUrl}
  API token  ${demo.rootline.token}   (curl -H "Authorization: Bearer ${demo.rootline.token}" ${demo.rootline.url}/api/v1/topology)
  control    ${demo.control?.url}   (state in ${file})
  services   ${Object.values(demo.services).map((s) => `${s.name}${s.otel ? '*' : ''}@${s.hostName}`).join(' ')}   (* OpenTelemetry)

Inject a fault from another terminal, then watch the UI for the alert, the incident and its root cause:
  rootline demo fault latency catalog --ms 800      rootline demo fault memory cart
  rootline demo fault dependency-down db            rootline demo fault bad-deploy checkout
  rootline demo clear                                rootline demo --help (every kind and parameter)
Ctrl-C stops the demo and removes everything it created.
`);
  const ticker = setInterval(() => console.log(summary(demo)), 10_000);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  clearInterval(ticker);
  console.log('demo: stopping');
  rmSync(file, { force: true });
  try {
    await demo.stop();
  } catch (err) {
    console.error(`demo: clean-up problems: ${String((err as Error).message)}`);
    return 1;
  }
  return 0;
}
