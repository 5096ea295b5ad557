/**
 * Security facts and the alerts derived from them: a shell in a "container" cgroup, a new listening port, a
 * mount and a write under /etc inside a private mount namespace (a tmpfs: the real /etc is never touched),
 * and the reverse-shell shape (a socket dup'ed onto stdin/stdout/stderr).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import {
  assertCleanStop,
  Cleanup, createCgroup, inCgroup, PEERS, pythonPath, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const alert = (kind: string) => (e: Ev) => e['event.name'] === 'aiops.security.alert' && e['aiops.security.kind'] === kind;

async function listenHere(host: string, port = 0): Promise<Server> {
  const server = createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  cleanup.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

describe('collector: security alerts', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let container: TestCgroup;
  const containerId = randomBytes(32).toString('hex');
  let collector: RunningCollector;
  let preexisting: number;

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-sec`);
    // The layout Docker uses under systemd: <parent>/docker-<64 hex>.scope.
    const parent = createCgroup(cleanup, `rootline-test-${process.pid}-ctr`);
    container = createCgroup(cleanup, `docker-${containerId}.scope`, parent.path);
    // A port already listening when the collector starts is not "new".
    preexisting = ((await listenHere('127.0.0.1')).address() as AddressInfo).port;
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path, container.path] });
  });

  it('alerts on a shell in a container, with the container id', async () => {
    const p = startProc(cleanup, container.wrap(['/bin/sh', '-c', '/bin/true']));
    assert.deepEqual(await p.done(), { code: 0, signal: null });
    const exec = await sink.waitFor('exec of the shell', (e) => e['event.name'] === 'aiops.process.exec' && e['process.pid'] === p.pid && inCgroup(container)(e));
    assert.equal(exec['container.id'], containerId);
    assert.ok(String(exec['process.linux.cgroup']).endsWith(`/docker-${containerId}.scope`), String(exec['process.linux.cgroup']));
    const a = await sink.waitFor('shell_in_container', (e) => alert('shell_in_container')(e) && e['process.pid'] === p.pid);
    assert.equal(a['container.id'], containerId);
    assert.equal(a['process.executable.name'], 'sh');
    assert.equal(a['security_rule.reference'], 'T1059');
    assert.equal(a['aiops.evidence_event_ids'], String(exec['aiops.seq']));
    assert.equal(a['process.parent_pid'], process.pid);
    // /bin/true in the container is no shell; the same shell outside a container raises nothing.
    const t = await sink.waitFor('exec of true', (e) => e['event.name'] === 'aiops.process.exec' && e['process.executable.name'] === 'true' && inCgroup(container)(e));
    assert.equal(t['container.id'], containerId);
    const outside = startProc(cleanup, cg.wrap(['/bin/sh', '-c', 'exit 0']));
    await outside.done();
    await sink.waitFor('exit of the shell outside', (e) => e['event.name'] === 'aiops.process.exit' && e['process.pid'] === outside.pid);
    const shells = sink.events.filter(alert('shell_in_container'));
    assert.deepEqual(shells.map((e) => e['process.pid']), [p.pid], 'exactly one shell_in_container alert');
  });

  it('reports a new listening port once, and not a port that was listening before', async () => {
    const l = startProc(cleanup, cg.wrap([process.execPath, PEERS, 'listen', '127.0.0.1']));
    const { port } = await l.json<{ port: number }>();
    const open = await sink.waitFor('listen open', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === l.pid && e['aiops.listen.action'] === 'open');
    assert.equal(open['network.local.address'], '127.0.0.1');
    assert.equal(open['network.local.port'], port);
    assert.equal(open['network.transport'], 'tcp');
    const a = await sink.waitFor('new_listen_port', (e) => alert('new_listen_port')(e) && e['network.local.port'] === port);
    assert.equal(a['process.pid'], l.pid);
    assert.equal(a['aiops.evidence_event_ids'], String(open['aiops.seq']));
    assert.equal(a['security_rule.reference'], 'T1571');
    l.endInput();
    assert.deepEqual(await l.done(), { code: 0, signal: null });
    const close = await sink.waitFor('listen close', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === l.pid && e['aiops.listen.action'] === 'close');
    assert.equal(close['network.local.address'], '127.0.0.1');

    // The same port again: a listen event, no second alert.
    const again = startProc(cleanup, cg.wrap([process.execPath, PEERS, 'listen', '127.0.0.1', String(port)]));
    await again.json();
    await sink.waitFor('second listen open', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === again.pid && e['aiops.listen.action'] === 'open');
    // A port that already listened when the collector started (here on another address): no alert.
    const old = startProc(cleanup, cg.wrap([process.execPath, PEERS, 'listen', '127.0.0.2', String(preexisting)]));
    await old.json();
    await sink.waitFor('listen on the old port', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === old.pid && e['network.local.port'] === preexisting);
    await new Promise((r) => setTimeout(r, 300)); // an alert would follow its listen event at once
    assert.equal(sink.events.filter((e) => alert('new_listen_port')(e) && e['network.local.port'] === port).length, 1, 'once per port');
    assert.equal(sink.events.filter((e) => alert('new_listen_port')(e) && e['network.local.port'] === preexisting).length, 0);
    again.endInput();
    old.endInput();
    await again.done();
    await old.done();
    // Bound to an explicit port, a listener keeps it until the close event.
    const closed = await sink.waitFor('close of the second listener', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === again.pid && e['aiops.listen.action'] === 'close');
    assert.equal(closed['network.local.port'], port);
  });

  it('names the port a listener on an ephemeral port closes', async () => {
    const l = startProc(cleanup, cg.wrap([process.execPath, PEERS, 'listen', '127.0.0.1']));
    const { port } = await l.json<{ port: number }>();
    l.endInput();
    await l.done();
    const close = await sink.waitFor('listen close', (e) => e['event.name'] === 'aiops.tcp.listen' && e['process.pid'] === l.pid && e['aiops.listen.action'] === 'close', 5000);
    assert.equal(close['network.local.port'], port);
  });

  it('reports a mount and a write under /etc inside a private mount namespace', async () => {
    const file = `/etc/rootline-test-${process.pid}`;
    const mountsBefore = readFileSync('/proc/self/mounts', 'utf8');
    assert.ok(!existsSync(file));
    // Refuses to mount unless it really is in a new mount namespace: the host's /etc stays untouched.
    const hostNs = readlinkSync('/proc/self/ns/mnt');
    const script = `[ "$(readlink /proc/self/ns/mnt)" != "${hostNs}" ] || exit 99; mount -t tmpfs tmpfs /etc && echo x > ${file}`;
    const p = startProc(cleanup, cg.wrap(['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());

    const m = await sink.waitFor('mount alert for /etc', (e) => alert('mount')(e) && e['aiops.mount.target'] === '/etc' && inCgroup(cg)(e));
    assert.equal(m['aiops.mount.fstype'], 'tmpfs');
    assert.equal(m['aiops.mount.source'], 'tmpfs');
    assert.equal(m['aiops.syscall'], 'mount');
    assert.equal(m['aiops.syscall.result'], 0);
    assert.equal(m['process.executable.name'], 'mount');
    assert.equal(m['security_rule.reference'], 'T1611');

    const w = await sink.waitFor('sensitive_write', (e) => alert('sensitive_write')(e) && e['file.path'] === file);
    assert.equal(w['process.executable.name'], 'sh');
    assert.equal(w['security_rule.name'], 'Write below etc');
    assert.equal(w['aiops.syscall'], 'openat');
    assert.ok(Number(w['aiops.syscall.result']) >= 0, 'the open succeeded (on the tmpfs)');
    assert.ok(Number(w['aiops.open.flags']) & 1, 'opened for writing');
    assert.ok(Number(m['aiops.seq']) < Number(w['aiops.seq']), 'mount first, then the write');

    assert.ok(!existsSync(file), 'the real /etc is untouched');
    assert.equal(readFileSync('/proc/self/mounts', 'utf8'), mountsBefore, 'no mount leaked into this namespace');
  });

  it('alerts on a socket dup2-ed onto stdin, stdout and stderr', async () => {
    const python = await pythonPath();
    const port = ((await listenHere('127.0.0.1')).address() as AddressInfo).port;
    const code = `import os, socket; s = socket.create_connection(('127.0.0.1', ${port})); print(s.fileno(), flush=True)\n`
      + `for fd in (0, 1, 2): os.dup2(s.fileno(), fd)\nos.execv('/bin/true', ['true'])`;
    const p = startProc(cleanup, cg.wrap([python, '-c', code]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    const sockFd = Number(p.stdout().trim());
    // Only python's own dup2 calls: the cgroup wrapper shell (same pid, before it execs python) restores its
    // stdout, a unix socket here, with dup2 too, which is no network socket and raises nothing (next test).
    const hits = await sink.waitForCount('reverse_shell alerts', 3, (e) => alert('reverse_shell')(e) && e['process.pid'] === p.pid && String(e['process.executable.name']).startsWith('python'));
    assert.deepEqual(hits.map((e) => e['aiops.dup.newfd']), [0, 1, 2]);
    for (const a of hits) {
      assert.equal(a['aiops.dup.oldfd'], sockFd);
      assert.match(String(a['aiops.syscall']), /^dup[23]$/);
      assert.equal(a['aiops.severity'], 'Critical');
      assert.equal(a['security_rule.reference'], 'T1059');
    }
  });

  it('raises no reverse_shell alert for a unix socket dup2-ed onto stdout', async () => {
    const python = await pythonPath();
    // stdout is one end of a unix socketpair; `echo hi > /dev/null` makes dash save fd 1 and dup2 it back.
    const code = "import socket, subprocess; a, b = socket.socketpair(); subprocess.run(['/bin/sh', '-c', 'echo hi > /dev/null'], stdout=a, check=True)";
    const p = startProc(cleanup, cg.wrap([python, '-c', code]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    const shExit = await sink.waitFor('exit of the shell', (e) => e['event.name'] === 'aiops.process.exit' && e['process.executable.name'] === 'sh' && inCgroup(cg)(e) && Number(e['process.pid']) > p.pid);
    const falseAlarms = sink.events.filter((e) => alert('reverse_shell')(e) && e['process.pid'] === shExit['process.pid']);
    assert.deepEqual(falseAlarms, []);
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
