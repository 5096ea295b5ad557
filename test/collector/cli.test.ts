/** The collector's command line: bad arguments exit 2 naming the problem; a collector that cannot load exits 3. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { collectorBinary, rootSkipReason } from '../helpers/collector.ts';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function collector(args: string[], prefix: string[] = []): Promise<Result> {
  const bin = await collectorBinary();
  const [cmd, ...rest] = [...prefix, bin, ...args];
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.ROOTLINE_INGEST_URL;
    delete env.ROOTLINE_TOKEN;
    execFile(cmd!, rest, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const isRoot = process.getuid?.() === 0;

describe('collector: command line', () => {
  const bad: [string, string[], RegExp][] = [
    ['no ingest URL and no --stdout', [], /no ingest URL.*--ingest/],
    ['an ingest URL that is not http(s)', ['--ingest', 'ftp://127.0.0.1/'], /--ingest must start with http:\/\//],
    ['a ring size below the minimum', ['--ingest', 'http://127.0.0.1:1', '--ring-kb', '3'], /--ring-kb must be a whole number from 4 to \d+, got '3'/],
    ['a ring size that is not a power of two', ['--ingest', 'http://127.0.0.1:1', '--ring-kb', '12'], /--ring-kb must be a power of two, got 12/],
    ['a number that is not one', ['--ingest', 'http://127.0.0.1:1', '--poll-ms', 'soon'], /--poll-ms must be a whole number .* got 'soon'/],
    ['a batch size over the schema maximum', ['--ingest', 'http://127.0.0.1:1', '--batch-events', '20001'], /--batch-events must be a whole number from 1 to 20000/],
    ['a CPU sample interval under 100 ms', ['--ingest', 'http://127.0.0.1:1', '--cpu-sample-ms', '50'], /--cpu-sample-ms must be 0 \(off\) or at least 100, got 50/],
    ['a connection report interval under 1000 ms', ['--ingest', 'http://127.0.0.1:1', '--conn-report-ms', '999'], /--conn-report-ms must be 0 \(off\) or at least 1000, got 999/],
    ['a minimum CPU use that is no number', ['--ingest', 'http://127.0.0.1:1', '--cpu-min-cores', 'half'], /--cpu-min-cores must be a number from 0 to \d+, got 'half'/],
    ['a negative minimum CPU use', ['--ingest', 'http://127.0.0.1:1', '--cpu-min-cores', '-1'], /--cpu-min-cores must be a number/],
    ['an unknown option', ['--ingest', 'http://127.0.0.1:1', '--bogus'], /unrecognized option '--bogus'[\s\S]*usage: rootline-collector/],
    ['a stray argument', ['--ingest', 'http://127.0.0.1:1', 'stray'], /unexpected argument 'stray'/],
  ];
  for (const [what, args, message] of bad) {
    it(`exits 2 on ${what}`, async () => {
      const r = await collector(args);
      assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }

  it('prints its usage with --help and exits 0', async () => {
    const r = await collector(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage: rootline-collector --ingest URL/);
    for (const opt of ['--token', '--cgroup', '--ring-kb', '--ready-file', '--stats-file', '--stdout', '--cpu-sample-ms', '--cpu-min-cores', '--conn-report-ms']) assert.ok(r.stdout.includes(opt), opt);
  });

  it('exits 3, naming privileges, when it cannot load the eBPF programs', async () => {
    // Root drops to nobody without capabilities; anyone else already lacks them.
    const prefix = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] : [];
    const r = await collector(['--ingest', 'http://127.0.0.1:1'], prefix);
    assert.equal(r.code, 3, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /not running as root|CAP_BPF|Run as root/);
  });

  it('exits 2 when a --cgroup is no cgroup v2 directory', { skip: rootSkipReason() }, async () => {
    const r = await collector(['--ingest', 'http://127.0.0.1:1', '--cgroup', `/rootline-no-such-cgroup-${process.pid}`]);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`--cgroup /rootline-no-such-cgroup-${process.pid}: not a cgroup v2 directory`));
  });
});
