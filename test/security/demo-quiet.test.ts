/**
 * False positives on the demo: `rootline demo` (nine services on their own hosts and cgroups under the eBPF
 * collectors, with load) runs its security watch with a short learning period. After learning, the shop keeps
 * serving under load, the db crashes and is started again, and checkout is deployed as a new release and rolled
 * back. None of that may raise a security alert.
 *
 * Silence alone proves nothing (a watch that judged nothing is silent too), so the test ends with a positive
 * control: a program catalog never ran is started in catalog's cgroup on catalog's host, and its baseline alert
 * must come. The watch judges events in the order they landed, so that alert also means everything before it
 * was judged. Builds, probes and rolling restarts are covered by false-positives.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootSkipReason } from '../helpers/collector.ts';
import { demoForSuite } from '../helpers/demo.ts';
import type { Demo } from '../../demo/runner.ts';

const LEARN_MS = 20_000;

interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

describe('security: the demo shop under load, restarted and redeployed, raises no security alert', { skip: rootSkipReason(), timeout: 420_000 }, () => {
  let demo: Demo;
  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${demo.rootline.url}${path}`, { ...init, headers: { authorization: `Bearer ${demo.rootline.token}`, ...(init.headers ?? {}) }, signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const securityAlerts = async () => (await api<{ alerts: AlertState[] }>('/api/v1/alerts')).alerts.filter((a) => a.labels.detector === 'rootline-security');
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) assert.fail(`${what}: not within ${ms / 1000} s`);
      await sleep(1000);
    }
  };

  demoForSuite((d) => (demo = d), { ROOTLINE_SECURITY_LEARN_MS: String(LEARN_MS) });

  it('learns every service of the shop, then stays quiet through load, a crash and restart, and a deploy and rollback', { timeout: 300_000 }, async () => {
    // Every service is a workload of its own (its cgroup on its host), and each has finished learning.
    const names = Object.keys(demo.services);
    const learned = await until('a learned baseline for every service', async () => {
      const { workloads } = await api<{ workloads: { workload: string; first: number; processes: string[] }[] }>('/api/v1/security/baselines?limit=1000');
      const mine = names.map((n) => workloads.find((w) => w.workload.endsWith(`/${n}.service`)));
      return mine.every((w) => w && w.processes.length > 0) ? mine.map((w) => w!) : undefined;
    }, 90_000);
    const learnedAt = Math.max(...learned.map((w) => w.first)) + LEARN_MS;
    await sleep(Math.max(0, learnedAt - Date.now()) + 5000);
    assert.deepEqual(await securityAlerts(), [], 'nothing while learning');

    // After learning: load, then the db crashes and comes back, then checkout is redeployed and rolled back.
    const served = demo.load()!.ok;
    await sleep(10_000);
    assert.ok(demo.load()!.ok > served + 100, 'the shop keeps serving under load');
    const db = demo.services.db!;
    const dbPid = db.pid;
    await demo.inject('dependency-down', 'db');
    await sleep(3000);
    await demo.clear();
    assert.equal(db.state, 'up');
    assert.notEqual(db.pid, dbPid, 'the db runs again, as a new process');
    const checkout = demo.services.checkout!;
    const checkoutPid = checkout.pid;
    await demo.inject('bad-deploy', 'checkout', { failRate: 0.1 });
    await sleep(6000);
    await demo.clear();
    assert.notEqual(checkout.pid, checkoutPid, 'checkout was redeployed');
    assert.equal(checkout.version, '1.3.0', 'and rolled back');
    await sleep(8000);

    // The positive control: a program catalog never ran, started in its cgroup on its host.
    const catalog = demo.services.catalog!;
    assert.ok(catalog.cgroup && existsSync(catalog.cgroup), `catalog's cgroup: ${catalog.cgroup}`);
    const run = spawnSync('nsenter', ['-t', String(catalog.pid), '-n', '--', '/bin/sh', '-c', `echo $$ > '${catalog.cgroup}/cgroup.procs' && exec /usr/bin/env true`], { stdio: 'ignore' });
    assert.equal(run.status, 0, 'the control program ran');
    const control = await until('the control alert', async () => (await securityAlerts()).find((a) => a.labels.workload?.endsWith('/catalog.service')), 45_000);
    assert.equal(control.labels.alertname, 'Unexpected process in workload');
    assert.match(control.annotations.summary!, /file=\/usr\/bin\/env/);

    // Nothing else: every security alert so far is the control's.
    const others = (await securityAlerts()).filter((a) => !(a.labels.workload?.endsWith('/catalog.service') && a.labels.alertname === control.labels.alertname));
    assert.deepEqual(others.map((a) => `${a.labels.alertname} ${a.labels.workload} ${a.annotations.summary}`), [], 'ordinary activity raised no security alert');
  });
});
