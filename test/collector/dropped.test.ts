/**
 * Dropped binaries: the exec of a file that a watched process opened for writing a moment before carries the
 * writer (name, pid) and how long ago it wrote. Executables nobody wrote recently carry none of that.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertCleanStop,
  Cleanup, createCgroup, inCgroup, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const WRITER = ['aiops.process.executable.writer.name', 'aiops.process.executable.writer.pid', 'aiops.process.executable.written_ago_ms'];

function assertNoWriter(e: Ev, what: string): void {
  for (const f of WRITER) assert.equal(e[f], undefined, `${what}: no ${f} (${JSON.stringify(e)})`);
}

describe('collector: exec of a freshly written binary', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let collector: RunningCollector;
  let dir: string;
  const exec = (e: Ev) => e['event.name'] === 'aiops.process.exec' && inCgroup(cg)(e);

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-dropped`);
    dir = mkdtempSync(join(tmpdir(), 'rootline-dropped-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path] });
  });

  it('names the writer of an executable written just before its exec, and nothing for /bin/true', async () => {
    const dropped = join(dir, 'dropped');
    const p = startProc(cleanup, cg.wrap(['/bin/sh', '-c', `cp /bin/true '${dropped}' && '${dropped}' && /bin/true`]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());

    const cp = await sink.waitFor('exec of cp', (e) => exec(e) && e['process.parent_pid'] === p.pid && e['process.executable.name'] === 'cp');
    const d = await sink.waitFor('exec of dropped', (e) => exec(e) && e['process.executable.path'] === dropped);
    assert.equal(d['process.executable.name'], 'dropped');
    assert.equal(d['aiops.process.executable.writer.name'], 'cp');
    assert.equal(d['aiops.process.executable.writer.pid'], cp['process.pid']);
    const ago = d['aiops.process.executable.written_ago_ms'];
    assert.equal(typeof ago, 'number');
    assert.ok(Number(ago) >= 0 && Number(ago) < 5000, `written_ago_ms ${ago}`);

    // dash may exec the last command of `-c` in place (same pid) or fork it: either way it is /bin/true.
    const t = await sink.waitFor('exec of /bin/true', (e) => exec(e) && e['process.executable.path'] === '/bin/true' && (e['process.pid'] === p.pid || e['process.parent_pid'] === p.pid));
    assertNoWriter(t, '/bin/true');
    assertNoWriter(cp, 'cp');
  });

  it('follows the file, not its name: written under one name, renamed, then run', async () => {
    const tmp = join(dir, 'staged.tmp');
    const final = join(dir, 'renamed');
    const p = startProc(cleanup, cg.wrap(['/bin/sh', '-c', `cp /bin/true '${tmp}' && mv '${tmp}' '${final}' && '${final}'; exit $?`]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    const d = await sink.waitFor('exec of renamed', (e) => exec(e) && e['process.executable.path'] === final);
    assert.equal(d['aiops.process.executable.writer.name'], 'cp');
  });

  it('does not count a write by a process outside the watched cgroups', async () => {
    // Written by this test process (not in the cgroup, so not traced), then run inside the cgroup.
    const outside = join(dir, 'outside');
    copyFileSync('/bin/true', outside);
    const p = startProc(cleanup, cg.wrap([outside]));
    assert.deepEqual(await p.done(), { code: 0, signal: null }, p.stderr());
    const d = await sink.waitFor('exec of outside', (e) => exec(e) && e['process.executable.path'] === outside);
    assertNoWriter(d, 'a binary written outside the cgroup filter');
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
