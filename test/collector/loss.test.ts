/**
 * Loss accounting: with a tiny ring and the collector stopped (SIGSTOP), a workload makes more records than
 * the ring holds. Every record must either arrive as an event or be counted in dropped.ring_full, exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cleanup, createCgroup, inCgroup, rootSkipReason, startCollector, startProc, startSink,
  type RunningCollector, type Sink, type TestCgroup,
} from '../helpers/collector.ts';

const RUNS = 300;
const cleanup = new Cleanup();
after(() => cleanup.run());

describe('collector: ring buffer loss is counted exactly', { skip: rootSkipReason() }, () => {
  let sink: Sink;
  let cg: TestCgroup;
  let collector: RunningCollector;

  before(async () => {
    sink = await startSink(cleanup);
    cg = createCgroup(cleanup, `rootline-test-${process.pid}-loss`);
    // 4 KiB holds four exec records (~900 bytes each). No CPU samples: they are not ring records.
    collector = await startCollector(cleanup, { ingest: sink.url, token: sink.token, cgroups: [cg.path], args: ['--ring-kb', '4', '--cpu-sample-ms', '0', '--conn-report-ms', '0'] });
  });

  it('events received + ring_full = records made', async (t) => {
    // dash: `[` and arithmetic are builtins, so the only forks are the /bin/true runs. The cgroup wrapper shell
    // is traced only from the moment it moves itself in; it then execs the loop shell in place. Records, all
    // from this cgroup: exec of the loop shell, RUNS × (exec + exit of true), exit of the loop shell. stdio is
    // /dev/null, so the wrapper's `echo > cgroup.procs` restores no socket (no dup record), and nothing here
    // opens a sensitive path, listens or connects.
    const expected = 1 + 2 * RUNS + 1;
    collector.child.kill('SIGSTOP');
    const p = startProc(cleanup, cg.wrap(['/bin/sh', '-c', `i=0; while [ $i -lt ${RUNS} ]; do /bin/true; i=$((i+1)); done`]), { stdio: 'ignore' });
    assert.deepEqual(await p.done(60_000), { code: 0, signal: null });
    assert.equal(await collector.stop(), 0, collector.stderr()); // SIGCONT, SIGTERM: drains and sends the rest

    const mine = sink.events.filter(inCgroup(cg));
    const procEvents = mine.filter((e) => e['event.name'] === 'aiops.process.exec' || e['event.name'] === 'aiops.process.exit');
    assert.deepEqual(mine.filter((e) => !procEvents.includes(e)), [], 'only exec and exit records came from the workload');
    const stats = collector.stats();
    t.diagnostic(`${procEvents.length} events received, ${sink.dropped.ring_full} dropped (ring full), ${expected} made`);
    assert.ok(sink.dropped.ring_full > 0, 'the ring overflowed');
    assert.equal(stats.ring_full, sink.dropped.ring_full, 'the stats file and the last batch agree');
    assert.equal(procEvents.length + sink.dropped.ring_full, expected,
      `received ${procEvents.length} exec/exit events and ${sink.dropped.ring_full} ring_full drops; ${expected} records were made`);
    assert.equal(sink.dropped.buffer_full + sink.dropped.send_failed, 0);

    // What the ring did hold came first: the loop shell's exec.
    const first = procEvents[0]!;
    assert.equal(first['event.name'], 'aiops.process.exec');
    assert.equal(first['process.pid'], p.pid);
    assert.equal(first['process.command_line'], `/bin/sh -c i=0; while [ $i -lt ${RUNS} ]; do /bin/true; i=$((i+1)); done`);
    // Sequence numbers stay dense: loss in the kernel is a counter, not a gap.
    const seqs = sink.events.map((e) => Number(e['aiops.seq']));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
    assert.deepEqual(sink.invalid, []);
    assert.equal(stats.sent, stats.events_total);
  });
});
