/**
 * The RCA engine on small hand-built systems, one per fault kind. The shop:
 *   frontend → checkout → payment,  frontend → cart → redis (external);
 *   pods implement the services, pods run on node-1 / node-2.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rankCauses } from '../../services/rca/engine/rank.ts';
import type { RcaInput, SignalSeries } from '../../services/rca/engine/model.ts';

const T = Date.UTC(2026, 0, 1, 12);
const STEP = 60_000;
const edges: RcaInput['edges'] = [
  { from: 'service:frontend', to: 'service:checkout', type: 'CALLS' },
  { from: 'service:checkout', to: 'service:payment', type: 'CALLS' },
  { from: 'service:frontend', to: 'service:cart', type: 'CALLS' },
  { from: 'service:cart', to: 'external:redis:6379', type: 'CALLS' },
  ...['frontend', 'checkout', 'payment', 'cart'].flatMap((s, i) => [
    { from: `pod:shop/${s}-1`, to: `service:${s}`, type: 'IMPLEMENTS' },
    { from: `node:node-${(i % 2) + 1}`, to: `pod:shop/${s}-1`, type: 'RUNS' },
  ]),
];
const entities = [...new Set(edges.flatMap((e) => [e.from, e.to]))];

/** A flat noisy baseline around `level`, and an observed window that jumps to `to` from minute `from`. */
function series(entity: string, signal: string, kind: SignalSeries['kind'], level: number, to: number, opts: { from?: number; inclusive?: boolean } = {}): SignalSeries {
  const noise = (i: number) => level * 0.03 * Math.sin(i * 1.7);
  const from = opts.from ?? 1;
  return {
    entity, signal, kind, inclusive: opts.inclusive,
    baseline: Array.from({ length: 30 }, (_, i) => level + noise(i)),
    observed: Array.from({ length: 5 }, (_, i) => (i >= from ? to : level) + noise(i + 100)),
    observedStart: T, step: STEP,
  };
}
/** Healthy signals everywhere, so every candidate has a baseline. */
const healthy: SignalSeries[] = ['frontend', 'checkout', 'payment', 'cart'].flatMap((s) => [
  series(`pod:shop/${s}-1`, 'cpu.usage', 'cpu_saturation', 0.3, 0.3),
  series(`pod:shop/${s}-1`, 'memory.working_set', 'memory', 200, 200),
  series(`service:${s}`, 'span.self_time.p90', 'network_delay', 20, 20),
  series(`service:${s}`, 'span.duration.p90', 'latency', 60, 60, { inclusive: true }),
  series(`service:${s}`, 'log.error_templates', 'errors', 0, 0),
]);
const run = (signals: SignalSeries[], extra: Partial<RcaInput> = {}) => {
  const byKey = new Map(healthy.map((s) => [`${s.entity}|${s.signal}`, s]));
  for (const s of signals) byKey.set(`${s.entity}|${s.signal}`, s);
  return rankCauses({ symptom: 'service:frontend', t: T, entities, edges, signals: [...byKey.values()], ...extra });
};
const serviceOf = (id: string) => id.replace(/^pod:shop\/(.*)-1$/, 'service:$1');

describe('fault-tree RCA on hand-built graphs', () => {
  it('names the culprit of a network delay even though its callers look worse', () => {
    // The measured pitfall: callers' inclusive p90 76 → 2,284 ms, the culprit only 71 → 273 ms.
    const causes = run([
      series('service:frontend', 'span.duration.p90', 'latency', 76, 2284, { inclusive: true }),
      series('service:checkout', 'span.duration.p90', 'latency', 74, 2200, { inclusive: true }),
      series('service:payment', 'span.duration.p90', 'latency', 71, 273, { inclusive: true }),
      series('service:payment', 'span.self_time.p90', 'network_delay', 20, 222),
    ]);
    assert.equal(causes[0]!.entity, 'service:payment');
    assert.equal(causes[0]!.kind, 'network_delay');
    assert.deepEqual(causes[0]!.path, ['service:frontend', 'service:checkout', 'service:payment']);
    const frontend = causes.find((c) => c.entity === 'service:frontend');
    assert.ok(!frontend || frontend.score < causes[0]!.score / 3, 'the caller is explained by its dependency');
    assert.match(causes[0]!.evidence[0]!.signal, /self_time/);
  });

  it('finds CPU saturation on the pod, with its onset', () => {
    const causes = run([
      series('pod:shop/payment-1', 'cpu.usage', 'cpu_saturation', 0.3, 0.98, { from: 2 }),
      series('service:payment', 'span.self_time.p90', 'network_delay', 20, 45, { from: 2 }),
      series('service:frontend', 'span.duration.p90', 'latency', 60, 300, { inclusive: true, from: 2 }),
    ]);
    assert.equal(serviceOf(causes[0]!.entity), 'service:payment');
    const pod = causes.find((c) => c.entity === 'pod:shop/payment-1')!;
    assert.equal(pod.kind, 'cpu_saturation');
    assert.equal(pod.evidence[0]!.onset, T + 2 * STEP);
    assert.match(pod.hint, /CPU/);
  });

  it('finds a memory leak', () => {
    const causes = run([series('pod:shop/cart-1', 'memory.working_set', 'memory', 200, 900)]);
    assert.equal(causes[0]!.entity, 'pod:shop/cart-1');
    assert.equal(causes[0]!.kind, 'memory');
  });

  it('finds errors and exceptions from log templates, not from callers that only pass them on', () => {
    const causes = run([
      series('service:cart', 'log.error_templates', 'errors', 0, 40),
      series('service:frontend', 'span.errors', 'errors', 0, 30, { inclusive: true }),
    ]);
    assert.equal(causes[0]!.entity, 'service:cart');
    assert.equal(causes[0]!.kind, 'errors');
  });

  it('reads a caller\'s error logs about a failing callee as passed on, not its own failure', () => {
    // The callee answers errors (error spans, no logs); the caller logs each failed call and fails too.
    const causes = run([
      series('service:cart', 'span.errors', 'errors', 0, 30, { inclusive: true }),
      series('service:frontend', 'span.errors', 'errors', 0, 30, { inclusive: true }),
      series('service:frontend', 'log.errors', 'errors', 0, 60),
    ]);
    assert.equal(causes[0]!.entity, 'service:cart');
    const logs = causes.find((c) => c.entity === 'service:frontend')?.evidence.find((e) => e.signal === 'log.errors');
    assert.match(logs?.indicator ?? '', /explained by a dependency/);
    // Errors that start before the callee's are the caller's own.
    const first = run([
      series('service:cart', 'span.errors', 'errors', 0, 30, { inclusive: true, from: 4 }),
      series('service:frontend', 'log.errors', 'errors', 0, 60, { from: 1 }),
    ]);
    assert.equal(first[0]!.entity, 'service:frontend');
  });

  it('names a dependency that is down from connection failures', () => {
    const causes = run([
      series('external:redis:6379', 'tcp.connect_failures', 'dependency_down', 0, 50),
      series('service:cart', 'span.errors', 'errors', 0, 30, { inclusive: true }),
    ]);
    assert.equal(causes[0]!.entity, 'external:redis:6379');
    assert.equal(causes[0]!.kind, 'dependency_down');
    assert.deepEqual(causes[0]!.path, ['service:frontend', 'service:cart', 'external:redis:6379']);
  });

  it('blames a recent deploy when the changed service misbehaves', () => {
    const causes = run([series('service:checkout', 'log.error_templates', 'errors', 0, 12)], {
      changes: [{ entity: 'service:checkout', t: T - 5 * 60_000, attr: 'service.version', before: '1.4.2', after: '1.5.0' }],
    });
    assert.equal(causes[0]!.entity, 'service:checkout');
    assert.equal(causes[0]!.kind, 'recent_change');
    assert.ok(causes[0]!.evidence.some((e) => e.indicator === 'service.version: 1.4.2 → 1.5.0'));
  });

  it('names a security event as the root cause of CPU contention (a miner)', () => {
    const causes = run([series('node:node-2', 'cpu.usage', 'cpu_saturation', 0.4, 0.99), series('pod:shop/checkout-1', 'cpu.usage', 'cpu_saturation', 0.3, 0.7)], {
      security: [{ entity: 'node:node-2', t: T, rule: 'crypto mining' }],
    });
    assert.equal(causes[0]!.entity, 'node:node-2');
    assert.equal(causes[0]!.kind, 'security_event');
  });

  it('names a flagged process beside a slow service as the cause (a miner reached through the node it shares)', () => {
    // checkout's own time grows; nothing it calls is anomalous; on its node, a process the security watch
    // flagged starts burning CPU. Without the security event, that process is no candidate at all.
    const slow = series('service:checkout', 'span.self_time.p90', 'network_delay', 20, 90);
    const miner = { ...series('process:node-2/4242', 'process.cpu.cores', 'cpu_saturation', 0, 0.98), scaleFloor: 0.05 };
    const flagged = { entity: 'process:node-2/4242', t: T + 30_000, rule: 'Known crypto miner launched', on: ['host:node-2', 'node:node-2'] };
    const causes = run([slow, miner], { symptom: 'service:checkout', security: [flagged] });
    assert.equal(causes[0]!.entity, 'process:node-2/4242');
    assert.equal(causes[0]!.kind, 'security_event');
    assert.deepEqual(causes[0]!.path, ['service:checkout', 'pod:shop/checkout-1', 'node:node-2', 'process:node-2/4242']);
    assert.ok(causes[0]!.evidence.some((e) => e.signal === 'process.cpu.cores'), 'its CPU is evidence');
    assert.ok(causes[0]!.evidence.some((e) => e.indicator.startsWith('Known crypto miner launched')), 'and the rule that fired');
    // On another machine, the same flagged process explains nothing here.
    const elsewhere = run([slow, miner], { symptom: 'service:checkout', security: [{ ...flagged, on: ['host:node-9'] }] });
    assert.equal(elsewhere[0]!.entity, 'service:checkout');
    // A notice (a new listening port) on that process says nothing hostile: no candidate through the machine.
    const notice = run([slow, miner], { symptom: 'service:checkout', security: [{ ...flagged, rule: 'New listening port', severity: 'info' }] });
    assert.equal(notice[0]!.entity, 'service:checkout');
  });

  it('finds nothing in a healthy system, and gives the same answer every time', () => {
    assert.deepEqual(run([]), []);
    const a = run([series('pod:shop/cart-1', 'memory.working_set', 'memory', 200, 900)]);
    const b = run([series('pod:shop/cart-1', 'memory.working_set', 'memory', 200, 900)]);
    assert.deepEqual(a, b);
  });

  it('names the callee of a slow network from the gap between what callers and the callee measure', () => {
    // Callers' client-side latency grows (inclusive, on the caller pods), the callee's own latency does not;
    // the network gap into the callee does.
    const causes = run([
      series('pod:shop/frontend-1', 'k8s.pod.client.latency', 'latency', 5, 250, { inclusive: true }),
      series('pod:shop/checkout-1', 'k8s.pod.client.latency', 'latency', 5, 240, { inclusive: true }),
      series('service:payment', 'edge.network_gap', 'network_delay', 1, 200),
    ]);
    assert.equal(causes[0]!.entity, 'service:payment');
    assert.equal(causes[0]!.kind, 'network_delay');
  });

  it('names the common end of slow links: a delayed service slows the calls into it and the calls it makes', () => {
    // A delay on checkout's network: frontend waits longer on checkout than checkout takes, and checkout
    // waits longer on payment (reached through checkout alone) than payment takes. Checkout is the common end.
    const causes = run([
      series('service:checkout', 'edge.network_gap', 'network_delay', 1, 200),
      series('service:payment', 'edge.network_gap', 'network_delay', 1, 260),
    ]);
    assert.equal(causes[0]!.entity, 'service:checkout', JSON.stringify(causes.slice(0, 2)));
    assert.equal(causes[0]!.kind, 'network_delay');
    const payment = causes.find((c) => c.entity === 'service:payment');
    assert.ok(!payment || payment.score < causes[0]!.score / 3, 'the callee is explained by its caller');
    // A delay at payment alone shows only on the link into it: payment.
    const alone = run([series('service:payment', 'edge.network_gap', 'network_delay', 1, 260)]);
    assert.equal(alone[0]!.entity, 'service:payment');
  });

  it('reads a drop in the calls a service makes per request as its own failure', () => {
    const drop = { ...series('service:checkout', 'span.calls_per_span', 'errors', 4, 1), direction: 'down' as const };
    const causes = run([drop, series('service:frontend', 'span.duration.p90', 'latency', 60, 40, { inclusive: true })]);
    assert.equal(causes[0]!.entity, 'service:checkout');
    assert.equal(causes[0]!.kind, 'errors');
    assert.ok(causes[0]!.evidence[0]!.observed < causes[0]!.evidence[0]!.baseline, 'the evidence shows the drop');
    // The same drop read the wrong way is no evidence.
    assert.deepEqual(run([{ ...drop, direction: 'up' }]), []);
  });

  it('ranks a stronger anomaly above a weaker one of the same kind (no saturation)', () => {
    const causes = run([
      series('pod:shop/cart-1', 'cpu.usage', 'cpu_saturation', 0.3, 0.9),
      series('pod:shop/payment-1', 'cpu.usage', 'cpu_saturation', 0.3, 3),
    ]);
    assert.deepEqual(causes.slice(0, 2).map((c) => c.entity), ['pod:shop/payment-1', 'pod:shop/cart-1']);
  });

  it('counts the callers of a symptom as candidates (a starved caller makes its callee look slow)', () => {
    const causes = rankCauses({ symptom: 'service:cart', t: T, entities, edges, signals: [...healthy, series('pod:shop/frontend-1', 'cpu.usage', 'cpu_saturation', 0.3, 3)] });
    assert.equal(causes[0]!.entity, 'pod:shop/frontend-1');
    assert.deepEqual(causes[0]!.path, ['service:cart', 'service:frontend', 'pod:shop/frontend-1']);
  });

  it('widens the candidates to what any symptom of an incident depends on', () => {
    const sig = [series('pod:shop/payment-1', 'cpu.usage', 'cpu_saturation', 0.3, 3)];
    // redis: only cart calls it, and cart does not depend on payment.
    const onlyRedis = rankCauses({ symptom: 'external:redis:6379', t: T, entities, edges, signals: [...healthy, ...sig] });
    assert.ok(!onlyRedis.some((c) => c.entity === 'pod:shop/payment-1'), 'payment is neither below redis nor below its callers');
    const both = rankCauses({ symptom: 'external:redis:6379', symptoms: ['service:checkout'], t: T, entities, edges, signals: [...healthy, ...sig] });
    assert.equal(both[0]!.entity, 'pod:shop/payment-1');
    assert.deepEqual(both[0]!.path, ['service:checkout', 'service:payment', 'pod:shop/payment-1']);
  });

  it('ranks an anomaly that began with the incident above an equal one that began minutes after it', () => {
    const causes = run([
      series('pod:shop/cart-1', 'cpu.usage', 'cpu_saturation', 0.3, 3, { from: 3 }),
      series('pod:shop/payment-1', 'cpu.usage', 'cpu_saturation', 0.3, 3, { from: 0 }),
    ]);
    assert.deepEqual(causes.slice(0, 2).map((c) => c.entity), ['pod:shop/payment-1', 'pod:shop/cart-1']);
  });

  it('names a leak, not the API flows it breaks, and leaves flows of an earlier episode out', () => {
    const leak = series('service:checkout', 'process.memory.usage', 'memory', 200, 900);
    const flow = { entity: 'service:checkout', traceId: 'ab12', unexpected: '(end of trace)', previous: 'checkout:POST /charge', score: 6, threshold: 2.5 };
    const now = run([leak], { observedFrom: T - 3 * STEP, apiSequences: [{ ...flow, t: T + 20_000 }] });
    assert.equal(now[0]!.entity, 'service:checkout');
    assert.equal(now[0]!.kind, 'memory', 'timeouts from a leak break flows; the leak is the fault');
    assert.ok(now[0]!.evidence.some((e) => e.signal === 'api_sequence'), 'the broken flow is still evidence');
    const earlier = run([leak], { observedFrom: T - 3 * STEP, apiSequences: [{ ...flow, t: T - 5 * STEP }] });
    assert.ok(!earlier[0]!.evidence.some((e) => e.signal === 'api_sequence'), 'flows that stopped before the observed window are not this incident\'s');
    const alone = run([], { observedFrom: T - 3 * STEP, apiSequences: [{ ...flow, entity: 'service:cart', t: T }] });
    assert.equal(alone.find((c) => c.entity === 'service:cart')?.kind, 'api_sequence');
  });
});
