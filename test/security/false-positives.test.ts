/**
 * False positives of the security rules and learned baselines: ordinary activity must raise NO security alert.
 *
 * A small shop (test/security/shop.mjs: frontend → catalog, frontend → cart → kv, and a load generator) runs in
 * cgroups laid out like Docker containers, started through a shell entrypoint (`sh -c '… exec node …'`, no
 * terminal) BEFORE the collector, as when the collector's DaemonSet rolls out on a running cluster. Health checks
 * are exec'd inside the service containers all along (from before the collector, through learning, after it), as
 * a kubelet's probes are. Once the baselines have learned, the load goes on and the services are restarted
 * (killed and started again with the same command, port and cgroup), then restarted one by one (a rolling
 * restart), and a build (cc, then make) runs in a fresh container. Not one security alert may come of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cleanup, createCgroup, REPO_ROOT, rootSkipReason, startCollector, startProc, type Proc, type TestCgroup } from '../helpers/collector.ts';
import { freePort, startTestService, type TestService } from '../helpers/service.ts';
import { WRAPPER_HOLD_MS } from '../../services/security/engine.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const SHOP = join(REPO_ROOT, 'test/security/shop.mjs');
const LEARN_MS = 8000;
/** How long past a workload's learning period the watch must have judged before the "after learning" part starts. */
const MARGIN_MS = 1500;

interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: string;
}

const SERVICES = ['kv', 'catalog', 'cart', 'frontend'] as const;
type Name = (typeof SERVICES)[number] | 'load' | 'build';

interface Container {
  name: Name;
  id: string;
  cg: TestCgroup;
  proc?: Proc;
}

/** A probe program: GET /health over HTTP, or one kv command over TCP, exiting 0 on an answer. */
const httpProbe = (port: number) => `fetch('http://127.0.0.1:${port}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
const kvProbe = (port: number) =>
  `const s = require('net').connect(${port}, '127.0.0.1', () => s.write('GET health\\n')); s.on('data', () => process.exit(0)); s.on('error', () => process.exit(1))`;

describe('security: ordinary microservice activity raises no security alert', { skip: rootSkipReason() }, () => {
  let svc: TestService;
  let dir: string;
  const containers = new Map<Name, Container>();
  const ports: Record<string, number> = {};
  let judgedAtLearned = 0;
  let activityEnd = 0;
  let probing = true;
  let probes: Promise<void>;
  const probeRuns = { ok: 0, failed: 0 };

  const c = (n: Name) => containers.get(n)!;
  const env = () => ({
    KV_PORT: String(ports.kv), CATALOG_PORT: String(ports.catalog), CART_PORT: String(ports.cart), FRONTEND_PORT: String(ports.frontend), NODE_OPTIONS: '',
    // cart's kv connections are retired after 2 s, as pools retire theirs after a maximum lifetime (scaled down
    // like the learning period). A connection held open from before the collector through all of learning is
    // never reported (connections are reported at close, and those open at the collector's start not at all),
    // so its reconnection after a kv restart would be a new destination. That gap is the collector's (see
    // "What is not captured" in collector-native/README.md); this suite does not pretend to cover it.
    KV_MAX_LIFETIME_MS: '2000',
  });
  /** The container's entrypoint, as an image would have it: a shell that sets up and execs the program. */
  const entrypoint = (name: Name) => ['/bin/sh', '-c', `set -e; cd '${dir}'; exec node '${SHOP}' ${name}`];

  const start = async (name: Name) => {
    const ct = c(name);
    ct.proc = startProc(cleanup, ct.cg.wrap(entrypoint(name)), { env: env() });
    const ready = await ct.proc.json<{ ready?: string }>();
    if (name !== 'load') assert.equal(ready.ready, name, ct.proc.stderr());
  };
  const stop = async (name: Name, signal: NodeJS.Signals) => {
    const p = c(name).proc!;
    p.child.kill(signal);
    await p.done();
  };

  /** The load generator's counters so far. */
  const loadCounts = (): { ok: number; errors: number } => {
    const lines = c('load').proc!.stdout().trim().split('\n').filter((l) => l.startsWith('{'));
    return JSON.parse(lines.at(-1) ?? '{"ok":0,"errors":0}') as { ok: number; errors: number };
  };
  const loadProgress = async (what: string, more = 20) => {
    const from = loadCounts().ok;
    const until = Date.now() + 10_000;
    while (loadCounts().ok < from + more) {
      if (Date.now() > until) assert.fail(`the shop served no requests ${what}: ${JSON.stringify(loadCounts())}\n${c('load').proc!.stderr()}`);
      await sleep(100);
    }
  };

  /** Probes exec'd inside each service container every second, as a kubelet's exec probes are. */
  const probeLoop = async () => {
    const probe: Record<(typeof SERVICES)[number], string[]> = {
      kv: ['node', '-e', kvProbe(ports.kv!)],
      catalog: ['node', '-e', httpProbe(ports.catalog!)],
      // A probe through a shell (no terminal), its output discarded, as `exec: [sh, -c, …]` probes are written.
      cart: ['/bin/sh', '-c', `node -e "${httpProbe(ports.cart!)}" >/dev/null 2>&1`],
      frontend: ['node', '-e', httpProbe(ports.frontend!)],
    };
    while (probing) {
      const round = SERVICES.map(async (s) => {
        const p = startProc(cleanup, c(s).cg.wrap(probe[s]), { env: { NODE_OPTIONS: '' } });
        const { code } = await p.done();
        if (code === 0) probeRuns.ok++;
        else probeRuns.failed++;
      });
      await Promise.all([...round, sleep(1000)]);
    }
  };

  const securityAlerts = async (): Promise<AlertState[]> => {
    const res = await fetch(`${svc.url}/api/v1/alerts`, { headers: svc.headers });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { alerts: AlertState[] };
    return body.alerts.filter((a) => a.labels.detector === 'rootline-security');
  };
  const describeAlerts = (alerts: AlertState[]) =>
    alerts.map((a) => {
      const who = [...containers.values()].find((x) => x.id === a.labels.container_id)?.name ?? a.labels.workload;
      return `- [${who}] ${a.labels.alertname}: ${a.annotations.summary}`;
    }).join('\n');
  const assertNoAlerts = async (when: string) => {
    const alerts = await securityAlerts();
    assert.equal(alerts.length, 0, `security alerts ${when}:\n${describeAlerts(alerts)}`);
  };
  const workloadOf = (n: Name) => {
    const w = svc.service.security!.watch.engine.baselines.list(1000).find((b) => b.workload.endsWith(`/docker-${c(n).id}.scope`));
    return w;
  };

  before(async () => {
    svc = await startTestService(cleanup, {
      ROOTLINE_ROLES: 'ingest,rca', ROOTLINE_WATCH: 'off', ROOTLINE_SECURITY_INTERVAL_MS: '250', ROOTLINE_SECURITY_LEARN_MS: String(LEARN_MS), ROOTLINE_SECURITY_TENANT: 'test',
    });
    dir = mkdtempSync(join(tmpdir(), 'rootline-fp-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    // Every cgroup exists before the collector starts: its --cgroup filter is by cgroup id.
    const parent = createCgroup(cleanup, `rootline-test-${process.pid}-fp`);
    for (const name of [...SERVICES, 'load', 'build'] as const) {
      const id = randomBytes(32).toString('hex');
      containers.set(name, { name, id, cg: createCgroup(cleanup, `docker-${id}.scope`, parent.path) });
    }
    for (const s of SERVICES) ports[s] = await freePort();

    // The shop is running, probed and under load before the collector arrives.
    for (const s of SERVICES) await start(s);
    await start('load');
    probes = probeLoop();
    cleanup.after(async () => {
      probing = false;
      await probes;
    });
    await loadProgress('before the collector started');

    await startCollector(cleanup, { ingest: svc.url, token: svc.token, cgroups: [...containers.values()].map((x) => x.cg.path) });
    const judgedBefore = svc.service.security!.watch.judged;

    // Learning: every workload's baseline must have been past its learning period, with margin, before we go on.
    const until = Date.now() + LEARN_MS + 20_000;
    for (;;) {
      const learnedBy = Math.max(...['load', ...SERVICES].map((n) => (workloadOf(n as Name)?.first ?? Infinity) + LEARN_MS));
      if (Number.isFinite(learnedBy) && svc.service.security!.watch.judgedAt > learnedBy + MARGIN_MS) break;
      if (Date.now() > until) assert.fail(`the baselines did not finish learning: ${JSON.stringify(svc.service.security!.watch.engine.baselines.list(20))}`);
      await sleep(200);
    }
    judgedAtLearned = svc.service.security!.watch.judgedAt;
    assert.ok(svc.service.security!.watch.judged - judgedBefore > 100, `the watch judged the shop's events while learning (${svc.service.security!.watch.judged - judgedBefore})`);
    assert.ok(probeRuns.ok > 0, 'the health checks pass');
    await assertNoAlerts('while learning');
  });

  it('learned the shop while it ran', () => {
    for (const n of SERVICES) {
      const b = workloadOf(n)!;
      assert.ok(b.processes.some((p) => p.endsWith('/node')), `${n} runs node: ${JSON.stringify(b)}`);
      assert.ok(b.first + LEARN_MS < judgedAtLearned, `${n} is past learning`);
    }
  });

  it('keeps serving under load after learning', async () => {
    await loadProgress('after learning', 100);
  });

  it('restarts every service: killed, started again with the same command, port and container', async () => {
    for (const s of SERVICES) {
      await stop(s, 'SIGKILL');
      await start(s);
    }
    await loadProgress('after the restarts');
  });

  it('rolls a restart through the services, one at a time', async () => {
    for (const s of ['frontend', 'cart', 'catalog', 'kv'] as const) {
      await stop(s, 'SIGTERM');
      await start(s);
      await loadProgress(`after restarting ${s}`, 10);
    }
  });

  it('builds and runs a program in a fresh container (cc, then make)', async () => {
    writeFileSync(join(dir, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from the build"); return 0; }\n');
    writeFileSync(join(dir, 'greet.c'), '#include <stdio.h>\nint main(int argc, char **argv) { printf("greetings, %s\\n", argc > 1 ? argv[1] : "world"); return 0; }\n');
    writeFileSync(join(dir, 'Makefile'), 'all: greet\n\ngreet: greet.c\n\t$(CC) -O2 -o $@ $<\n\nclean:\n\trm -f greet hello\n');
    const build = startProc(cleanup, c('build').cg.wrap(['/bin/sh', '-c', `cd '${dir}' && cc hello.c -o hello && ./hello && make -s && ./greet shop && make -s clean`]));
    assert.deepEqual(await build.done(60_000), { code: 0, signal: null }, build.stderr());
    assert.match(build.stdout(), /hello from the build\ngreetings, shop\n/);
  });

  it('raises no security alert for any of it', async () => {
    await loadProgress('at the end');
    activityEnd = Date.now();
    assert.ok(probeRuns.ok > 20, `the health checks ran all along (${JSON.stringify(probeRuns)})`);
    const watch = svc.service.security!.watch;
    // Past the end, and past the longest an exec can be held (a possible wrapper) before it is judged.
    const until = Date.now() + 20_000;
    while (watch.judgedAt < activityEnd + WRAPPER_HOLD_MS + 1000) {
      if (Date.now() > until) assert.fail('the security watch fell behind');
      await sleep(200);
    }
    assert.ok(watch.judged >= 1000, `the watch judged the shop's events (${watch.judged})`);
    for (const n of ['load', ...SERVICES] as const) assert.ok(workloadOf(n), `${n} was judged`);
    assert.ok(workloadOf('build'), 'the build was judged');
    console.log(`security watch: ${watch.judged} events judged, ${watch.matched} rule matches; load ${JSON.stringify(loadCounts())}; probes ${JSON.stringify(probeRuns)}`);
    await assertNoAlerts('for ordinary activity');
    assert.equal(watch.matched, 0, 'no rule matched at all');
  });
});
