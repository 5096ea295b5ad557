/**
 * Rules files at run time: a bad file (bad YAML, unknown fields, bad conditions) is refused at load with its
 * problems named, over the API, the CLI and the file watch, and the rules running before keep matching.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_RULES_FILE } from '../../services/security/index.ts';
import { Cleanup, REPO_ROOT } from '../helpers/collector.ts';
import { newToken, startTestService, type TestService } from '../helpers/service.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

const BAD_FILES: [string, string, RegExp][] = [
  ['bad YAML', '- rule: [unclosed\n', /YAML error at line \d+: Flow sequence/],
  ['an unknown field', '- rule: R\n  desc: d\n  condition: event.name = aiops.process.exec\n  output: o\n  priority: NOTICE\n  severity: high\n', /unknown field 'severity'/],
  ['a bad condition', '- rule: R\n  desc: d\n  condition: event.name = aiops.process.exec and (proc.name = sh\n  output: o\n  priority: NOTICE\n', /condition: unknown field 'proc.name'/],
];

const ONE_RULE = '- rule: Any exec\n  desc: every program start\n  condition: event.name = aiops.process.exec\n  output: exec of %process.executable.name\n  priority: INFO\n  tags: [T1059]\n';

describe('security rules: refused files keep the running rules', () => {
  let svc: TestService;
  let dir: string;
  let file: string;
  let otherToken: string;
  const get = async () => (await (await fetch(`${svc.url}/api/v1/security/rules`, { headers: svc.headers })).json()) as { source: string; rules: { name: string }[]; lastError?: { problems: string[] } };
  const reload = () => fetch(`${svc.url}/api/v1/security/rules/reload`, { method: 'POST', headers: svc.headers });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rootline-rules-'));
    cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    file = join(dir, 'rules.yaml');
    copyFileSync(DEFAULT_RULES_FILE, file);
    otherToken = newToken(); // a second tenant's, next to the test tenant's
    svc = await startTestService(cleanup, { ROOTLINE_ROLES: 'ingest,rca', ROOTLINE_WATCH: 'off', ROOTLINE_SECURITY_RULES: file, ROOTLINE_SECURITY_INTERVAL_MS: '200', ROOTLINE_SECURITY_TENANT: 'test', ROOTLINE_TOKENS: `other:${otherToken}` });
  });

  it('serves the rules in force, behind the token', async () => {
    const r = await get();
    assert.equal(r.source, file);
    assert.ok(r.rules.some((x) => x.name === 'Terminal shell in container'));
    assert.equal((await fetch(`${svc.url}/api/v1/security/rules`)).status, 401);
    const other = { authorization: `Bearer ${otherToken}` };
    assert.equal((await fetch(`${svc.url}/api/v1/security/rules`, { headers: other })).status, 403, 'another tenant may not read them');
    assert.equal((await fetch(`${svc.url}/api/v1/security/rules/reload`, { method: 'POST', headers: other })).status, 403, 'nor reload them');
    assert.equal((await fetch(`${svc.url}/api/v1/security/baselines`, { headers: other })).status, 403);
  });

  for (const [what, text, problem] of BAD_FILES) {
    it(`refuses a file with ${what}, names the problem, and keeps matching with the previous rules`, async () => {
      const before = await get();
      writeFileSync(file, text);
      const res = await reload();
      assert.equal(res.status, 422);
      const body = (await res.json()) as { problems: string[] };
      assert.ok(body.problems.some((p) => problem.test(p)), JSON.stringify(body));
      const after = await get();
      assert.deepEqual(after.rules.map((x) => x.name), before.rules.map((x) => x.name));
      assert.ok(after.lastError?.problems.some((p) => problem.test(p)));
      // The previous rules still match: a shell with a terminal in a container.
      const pid = 70_000 + BAD_FILES.findIndex(([w]) => w === what);
      const batch = { collector: { 'host.name': 'rules-test' }, events: [{ 'event.name': 'aiops.process.exec', time_unix_nano: String(BigInt(Date.now()) * 1_000_000n), 'aiops.seq': pid, 'process.pid': pid, 'process.executable.name': 'bash', 'process.interactive': true, 'container.id': 'c0ffee', 'process.linux.cgroup': '/docker-c0ffee.scope' }] };
      const posted = await fetch(`${svc.url}/v1/collector/events`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify(batch) });
      assert.equal(posted.status, 200);
      const until = Date.now() + 20_000;
      for (;;) {
        const { alerts } = (await (await fetch(`${svc.url}/api/v1/alerts`, { headers: svc.headers })).json()) as { alerts: { labels: Record<string, string> }[] };
        if (alerts.some((a) => a.labels.alertname === 'Terminal shell in container' && a.labels.pid === String(pid))) break;
        assert.ok(Date.now() < until, 'the running rules still raise their alert');
        await sleep(200);
      }
    });
  }

  it('loads a good file on reload, and picks up an edited file by itself', async () => {
    writeFileSync(file, ONE_RULE);
    const res = await reload();
    assert.equal(res.status, 200);
    assert.deepEqual((await get()).rules.map((x) => x.name), ['Any exec']);
    assert.equal((await get()).lastError, undefined);
    writeFileSync(file, ONE_RULE.replace('Any exec', 'Every exec'));
    const until = Date.now() + 15_000;
    while ((await get()).rules[0]?.name !== 'Every exec') {
      assert.ok(Date.now() < until, 'the edited file was loaded within 15 s');
      await sleep(250);
    }
  });

  it('judges a backlog larger than its page, also when one insert holds more rows than a page', async () => {
    const watch = svc.service.security!.watch;
    const before = watch.judged;
    const t0 = BigInt(Date.now()) * 1_000_000n;
    // 30,000 events in two batches, landing together (the flusher inserts them as one block, one inserted_at).
    for (let b = 0; b < 2; b++) {
      const events = Array.from({ length: 15_000 }, (_, i) => ({ 'event.name': 'aiops.process.exit', time_unix_nano: String(t0 + BigInt(i)), 'aiops.seq': 100_000 + b * 15_000 + i, 'process.pid': 1000 + (i % 300), 'process.exit.code': 0 }));
      const res = await fetch(`${svc.url}/v1/collector/events`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ collector: { 'host.name': 'backlog-test' }, events }) });
      assert.equal(res.status, 200);
    }
    await svc.flush();
    const until = Date.now() + 60_000;
    while (watch.judged - before < 30_000) {
      assert.ok(Date.now() < until, `judged ${watch.judged - before} of 30,000 within 60 s`);
      await sleep(250);
    }
    assert.equal(watch.judged - before, 30_000, 'each once');
  });

  it('checks a rules text without loading it', async () => {
    const check = (yaml: string) => fetch(`${svc.url}/api/v1/security/rules/check`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ yaml }) });
    const ok = await check(ONE_RULE);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { rules: 1, lists: 0, macros: 0 });
    const bad = await check(BAD_FILES[2]![1]);
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(await bad.json()), /unknown field 'proc.name'/);
    assert.equal((await get()).rules[0]?.name, 'Every exec', 'a check loads nothing');
  });
});

describe('security rules: the CLI', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/rootline.mjs', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

  it('check-rules accepts the default rules and refuses a bad file with its problems', () => {
    const good = cli('security', 'check-rules', DEFAULT_RULES_FILE);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /\d+ rules, \d+ macros, \d+ lists: ok/);
    const dir = mkdtempSync(join(tmpdir(), 'rootline-rules-cli-'));
    try {
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, BAD_FILES[1]![1]);
      const r = cli('security', 'check-rules', bad);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /unknown field 'severity'/);
      assert.equal(cli('security', 'check-rules').status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
