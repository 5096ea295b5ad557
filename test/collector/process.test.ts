/** Process exec and exit: command lines, parents, exit codes, and deaths by signal. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertCleanStop,
  Cleanup, createCgroup, inCgroup, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

describe('collector: process exec and exit', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let collector: RunningCollector;
  const named = (name: string) => (e: Ev) => e['event.name'] === name && inCgroup(cg)(e);

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-proc`);
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path] });
  });

  it('reports exec with the command line and parent, and the exit code', async () => {
    // The wrapper shell moves itself into the cgroup, then execs /bin/sh in place: same pid, parent = this process.
    const p = startProc(cleanup, cg.wrap(['/bin/sh', '-c', 'cat /dev/null; exit 7']));
    assert.deepEqual(await p.done(), { code: 7, signal: null });

    const exec = await sink.waitFor('exec of sh', (e) => named('aiops.process.exec')(e) && e['process.pid'] === p.pid);
    assert.equal(exec['process.executable.name'], 'sh');
    assert.equal(exec['process.executable.path'], '/bin/sh');
    assert.equal(exec['process.command_line'], '/bin/sh -c cat /dev/null; exit 7');
    assert.equal(exec['process.parent_pid'], process.pid);
    assert.equal(exec['aiops.process.parent_executable.name'], 'node');
    assert.equal(exec['process.user.id'], 0);
    assert.equal(exec['process.interactive'], false);
    assert.equal(exec['process.linux.cgroup'], cg.path.slice(cg.path.lastIndexOf('/')), 'cgroup path below the cgroup2 root');

    const exit = await sink.waitFor('exit of sh', (e) => named('aiops.process.exit')(e) && e['process.pid'] === p.pid);
    assert.equal(exit['process.exit.code'], 7);
    assert.equal(exit['aiops.process.exit.signal'], undefined);
    assert.ok(Number(exit['aiops.seq']) > Number(exec['aiops.seq']), 'exit after exec');

    // The child the shell forked: its own exec (cat, parent = the shell) and a clean exit.
    const cat = await sink.waitFor('exec of cat', (e) => named('aiops.process.exec')(e) && e['process.parent_pid'] === p.pid);
    assert.equal(cat['process.executable.name'], 'cat');
    assert.equal(cat['process.command_line'], 'cat /dev/null');
    assert.equal(cat['aiops.process.parent_executable.name'], 'sh');
    const catExit = await sink.waitFor('exit of cat', (e) => named('aiops.process.exit')(e) && e['process.pid'] === cat['process.pid']);
    assert.equal(catExit['process.exit.code'], 0);
  });

  it('reports a process killed by a signal', async () => {
    const p = startProc(cleanup, cg.wrap(['/bin/sleep', '60']));
    const exec = await sink.waitFor('exec of sleep', (e) => named('aiops.process.exec')(e) && e['process.pid'] === p.pid);
    assert.equal(exec['process.command_line'], '/bin/sleep 60');
    p.child.kill('SIGTERM');
    assert.deepEqual(await p.done(), { code: null, signal: 'SIGTERM' });
    const exit = await sink.waitFor('exit of sleep', (e) => named('aiops.process.exit')(e) && e['process.pid'] === p.pid);
    assert.equal(exit['process.exit.code'], 128 + 15);
    assert.equal(exit['aiops.process.exit.signal'], 15);

    const q = startProc(cleanup, cg.wrap(['/bin/sh', '-c', 'kill -KILL $$']));
    assert.deepEqual(await q.done(), { code: null, signal: 'SIGKILL' });
    const killed = await sink.waitFor('exit of the self-killed shell', (e) => named('aiops.process.exit')(e) && e['process.pid'] === q.pid);
    assert.equal(killed['process.exit.code'], 128 + 9);
    assert.equal(killed['aiops.process.exit.signal'], 9);
  });

  it('reports one exit per process, not per thread', async () => {
    // node runs several threads (libuv pool, V8 workers); only the process's end is an event.
    const p = startProc(cleanup, cg.wrap([process.execPath, '-e', 'setTimeout(() => process.exit(3), 200)']));
    assert.deepEqual(await p.done(), { code: 3, signal: null });
    const exit = await sink.waitFor('exit of node', (e) => named('aiops.process.exit')(e) && e['process.pid'] === p.pid);
    assert.equal(exit['process.exit.code'], 3);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sink.events.filter((e) => named('aiops.process.exit')(e) && e['process.pid'] === p.pid).length, 1);
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
