/**
 * Per-process CPU samples (aiops.process.sample, from /proc every --cpu-sample-ms): a busy loop is sampled at
 * about one core, a sleeping process in the same cgroup is not sampled at all, and nothing outside the watched
 * cgroups is.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  assertCleanStop,
  Cleanup, createCgroup, inCgroup, rootSkipReason, startCollector, startProc, startSink,
  type Ev, type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

/** Online CPUs, as sysconf(_SC_NPROCESSORS_ONLN) counts them: /sys/devices/system/cpu/online ("0-3,6"). */
function onlineCpus(): number {
  return readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',').reduce((n, r) => {
    const [a, b] = r.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

describe('collector: per-process CPU samples', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let collector: RunningCollector;
  const sample = (e: Ev) => e['event.name'] === 'aiops.process.sample';

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-cpu`);
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path], args: ['--cpu-sample-ms', '1000'] });
  });

  it('samples a busy loop at about a core, and not a sleeping process', async () => {
    const busy = startProc(cleanup, cg.wrap(['/bin/sh', '-c', 'while :; do :; done']), { stdio: 'ignore' });
    const idle = startProc(cleanup, cg.wrap(['/bin/sleep', '60']), { stdio: 'ignore' });
    const samples = await sink.waitForCount('3 samples of the busy loop', 3, (e) => sample(e) && e['process.pid'] === busy.pid, 20_000);
    const cpus = onlineCpus();
    let lastTime = 0;
    for (const s of samples) {
      const cores = Number(s['aiops.process.cpu.cores']);
      assert.ok(cores >= 0.5, `a busy loop uses at least half a core: ${JSON.stringify(s)}`);
      assert.ok(cores <= 1.2, `a single-threaded loop uses at most about one core: ${JSON.stringify(s)}`);
      assert.equal(typeof s['process.cpu.utilization'], 'number');
      assert.ok(Math.abs(Number(s['process.cpu.utilization']) * cpus - cores) < 0.01, `utilization = cores / ${cpus} online CPUs: ${JSON.stringify(s)}`);
      const interval = Number(s['aiops.sample.interval_ms']);
      assert.ok(interval >= 900 && interval <= 2500, `interval_ms ${interval}`);
      const time = s['process.cpu.time'];
      assert.equal(typeof time, 'number');
      assert.ok(Number(time) > lastTime, `process.cpu.time is cumulative and grows: ${JSON.stringify(samples)}`);
      lastTime = Number(time);
      assert.equal(s['process.executable.name'], 'sh');
      assert.equal(s['process.command_line'], '/bin/sh -c while :; do :; done');
      assert.equal(s['aiops.cgroup.id'], cg.id);
      assert.equal(s['process.linux.cgroup'], cg.path.slice(cg.path.lastIndexOf('/')));
    }
    assert.ok(Number(samples.at(-1)!['time_unix_nano']) > Number(samples[0]!['time_unix_nano']));

    assert.deepEqual(sink.events.filter((e) => sample(e) && e['process.pid'] === idle.pid), [], 'a sleeping process uses no CPU: no sample');
    const elsewhere = sink.events.filter((e) => sample(e) && !inCgroup(cg)(e));
    assert.deepEqual(elsewhere, [], 'only processes in the watched cgroup are sampled');
  });

  it('sent only valid batches', async () => {
    await assertCleanStop(collector, sink);
  });
});
