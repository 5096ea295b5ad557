/**
 * Learned baselines on real events: a containerised workload learns its program, port and destination under
 * the real collector; after learning, a new destination, a new program started by the workload itself and a
 * new listening port each raise their baseline rule once, and what it learned is served by the API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cleanup, createCgroup, PEERS, rootSkipReason, startCollector, startProc, type TestCgroup } from '../helpers/collector.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const LEARN_MS = 6000;

interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

describe('security baselines: learn, then alert once per deviation', { skip: rootSkipReason() }, () => {
  let svc: TestService;
  let app: TestCgroup;
  let peers: TestCgroup;
  const id = randomBytes(32).toString('hex');

  const alerts = async (): Promise<AlertState[]> => {
    const body = (await (await fetch(`${svc.url}/api/v1/alerts`, { headers: svc.headers })).json()) as { alerts: AlertState[] };
    return body.alerts.filter((a) => a.labels.detector === 'rootline-security' && a.labels.container_id === id);
  };
  const waitFor = async (name: string): Promise<AlertState> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const a = (await alerts()).find((x) => x.labels.alertname === name);
      if (a) return a;
      if (Date.now() > until) assert.fail(`no '${name}' within 30 s; fired: ${JSON.stringify((await alerts()).map((x) => x.labels.alertname))}`);
      await sleep(200);
    }
  };

  before(async () => {
    svc = await startTestService(cleanup, { ROOTLINE_ROLES: 'ingest,rca', ROOTLINE_WATCH: 'off', ROOTLINE_SECURITY_INTERVAL_MS: '250', ROOTLINE_SECURITY_TENANT: 'test', ROOTLINE_SECURITY_LEARN_MS: String(LEARN_MS) });
    const parent = createCgroup(cleanup, `rootline-test-${process.pid}-baseline`);
    app = createCgroup(cleanup, `docker-${id}.scope`, parent.path);
    peers = createCgroup(cleanup, 'peers', parent.path);
    await startCollector(cleanup, { ingest: svc.url, token: svc.token, cgroups: [app.path, peers.path] });
  });

  it('learns quietly, then names each new destination, program and port once', async () => {
    // Two servers outside the workload: the one it always talks to, and the one it will talk to later.
    const usual = startProc(cleanup, peers.wrap([process.execPath, PEERS, 'listen', '127.0.0.1']));
    const { port: usualPort } = await usual.json<{ port: number }>();
    const other = startProc(cleanup, peers.wrap([process.execPath, PEERS, 'listen', '127.0.0.1']));
    const { port: otherPort } = await other.json<{ port: number }>();

    // The workload: a node program that connects to the usual server every 300 ms, and on command to another
    // server, starts a child program, or listens on a new port.
    const code = `
      const net = require('node:net'); const { execFileSync } = require('node:child_process');
      const dial = (port) => { const s = net.connect(port, '127.0.0.1', () => s.end()); s.on('error', () => {}); };
      setInterval(() => dial(${usualPort}), 300);
      process.stdin.on('data', (d) => {
        for (const cmd of String(d).trim().split('\\n')) {
          if (cmd === 'other') dial(${otherPort});
          if (cmd === 'child') execFileSync('/usr/bin/env', ['true']);
          if (cmd === 'listen') net.createServer().listen(0, '127.0.0.1', function () { console.log(JSON.stringify({ port: this.address().port })); });
        }
      });
      console.log(JSON.stringify({ ready: true }));`;
    const workload = startProc(cleanup, app.wrap([process.execPath, '-e', code]));
    await workload.json();
    await sleep(LEARN_MS + 2000);
    assert.deepEqual((await alerts()).map((a) => a.labels.alertname), [], 'nothing while it learns and behaves');

    workload.child.stdin!.write('other\n');
    const peer = await waitFor('Unexpected outbound connection destination');
    assert.match(peer.annotations.summary!, new RegExp(`peer=127\\.0\\.0\\.1:${otherPort}`));
    workload.child.stdin!.write('child\n');
    const program = await waitFor('Unexpected process in workload');
    assert.match(program.annotations.summary!, /file=\/usr\/bin\/env/);
    workload.child.stdin!.write('listen\n');
    const port = await waitFor('Unexpected listening port in workload');
    assert.equal(port.labels.security_kind, 'new_listen_port');

    // Once each: the same deviations again are now part of the baseline.
    workload.child.stdin!.write('other\nchild\n');
    await sleep(3000);
    const counts = new Map<string, number>();
    for (const a of await alerts()) counts.set(a.labels.alertname!, (counts.get(a.labels.alertname!) ?? 0) + 1);
    assert.equal(counts.get('Unexpected outbound connection destination'), 1);
    assert.equal(counts.get('Unexpected process in workload'), 1);

    const res = await fetch(`${svc.url}/api/v1/security/baselines?workload=${encodeURIComponent(peer.labels.workload!)}`, { headers: svc.headers });
    const { workloads } = (await res.json()) as { workloads: { processes: string[]; ports: string[]; peers: string[] }[] };
    assert.equal(workloads.length, 1);
    assert.ok(workloads[0]!.peers.includes(`127.0.0.1:${usualPort}`) && workloads[0]!.peers.includes(`127.0.0.1:${otherPort}`), JSON.stringify(workloads[0]));
    assert.ok(workloads[0]!.processes.includes('/usr/bin/env'));
  });
});
