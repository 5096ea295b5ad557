/**
 * `rootline bench alerts`: an alert storm over a synthetic system of 1,000 services. The system is fed to
 * the running service as OTLP traces, so its topology is built the normal way. Then 20 root faults fire
 * alerts on the faulty service and on its callers up the dependency chain, sent over HTTP in Alertmanager
 * webhook bodies with repeats (duplicates) and finally resolves. Measured: alerts/s and request p99, the
 * incidents left, noise reduction (1 − incidents/alerts sent), and pairwise grouping F1 against the faults.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { spawnServiceProcess } from './service-process.ts';
import { rng } from './rng.ts';



/** 20 domains of layered services calling down, plus shared platform services every domain uses. */
export function makeSystem(services: number, domains: number, seed = 3) {
  const rand = rng(seed);
  const platform = Array.from({ length: Math.max(5, Math.round(services * 0.02)) }, (_, i) => `platform-${i}`);
  const perDomain = Math.floor((services - platform.length) / domains);
  const calls: [string, string][] = [];
  const domainServices: string[][] = [];
  for (let d = 0; d < domains; d++) {
    const layers = [0, 1, 2, 3, 4].map(() => [] as string[]);
    for (let i = 0; i < perDomain; i++) layers[Math.min(4, Math.floor((i / perDomain) * 5))]!.push(`d${d}-svc-${i}`);
    for (let l = 0; l < 4; l++) {
      for (const s of layers[l]!) {
        const next = layers[l + 1]!;
        for (let k = 0; k < 2 && next.length > 0; k++) calls.push([s, next[Math.floor(rand() * next.length)]!]);
      }
    }
    for (const s of layers[4]!) calls.push([s, platform[Math.floor(rand() * platform.length)]!]);
    domainServices.push(layers.flat());
  }
  return { calls: [...new Map(calls.map((c) => [c.join('>'), c])).values()], domainServices, platform };
}

export function otlpTraces(calls: [string, string][], tMs: number) {
  const ns = (ms: number) => String(BigInt(ms) * 1_000_000n);
  const byService = new Map<string, object[]>();
  for (const [from, to] of calls) {
    const traceId = randomBytes(16).toString('hex');
    const parent = randomBytes(8).toString('hex');
    const child = randomBytes(8).toString('hex');
    const span = (spanId: string, parentSpanId: string, name: string, kind: number) => ({ traceId, spanId, parentSpanId, name, kind, startTimeUnixNano: ns(tMs), endTimeUnixNano: ns(tMs + 5) });
    byService.set(from, [...(byService.get(from) ?? []), span(parent, '', `GET /${from}`, 2)]);
    byService.set(to, [...(byService.get(to) ?? []), span(child, parent, `GET /${to}`, 2)]);
  }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ spans }],
    })),
  };
}

interface SentAlert {
  labels: Record<string, string>;
  fault: number;
}

function post(agent: Agent, url: string, token: string, body: object): Promise<{ status: number; ms: number }> {
  const data = Buffer.from(JSON.stringify(body));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

export async function benchAlerts(opts: { services: number; faults: number; alerts: number; concurrency: number }) {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const warmToken = randomBytes(16).toString('hex');
  const svc = await spawnServiceProcess({ tokens: (t) => `bench:${t},warmup:${warmToken}`, env: { ROOTLINE_FLUSH_INTERVAL_MS: '200' } });
  const { url, token, auth } = svc;
  try {
    // 1. The system, as traces: its topology is built by the normal extraction.
    const sys = makeSystem(opts.services, opts.faults);
    const now = Date.now();
    for (let i = 0; i < sys.calls.length; i += 500) {
      const r = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(otlpTraces(sys.calls.slice(i, i + 500), now - 30_000)) });
      if (!r.ok) throw new Error(`traces: ${r.status} ${await r.text()}`);
    }
    await fetch(`${url}/api/v1/telemetry/flush`, { method: 'POST', headers: auth });
    const wanted = new Set(sys.calls.flat()).size;
    for (let i = 0; ; i++) {
      const snap = (await (await fetch(`${url}/api/v1/topology?view=horizontal`, { headers: auth })).json()) as { entities: { kind: string }[] };
      const n = snap.entities.filter((e) => e.kind === 'service').length;
      if (n >= wanted) break;
      if (i > 120) throw new Error(`topology has ${n}/${wanted} services`);
      await new Promise((r) => setTimeout(r, 500));
    }
    say(`topology ready: ${wanted} services, ${sys.calls.length} call edges`);

    // 2. Faults: a root in each domain, alerts on it and on its callers up to three levels.
    const rand = rng(9);
    const callers = new Map<string, string[]>();
    for (const [from, to] of sys.calls) callers.set(to, [...(callers.get(to) ?? []), from]);
    const distinct: SentAlert[] = [];
    for (let f = 0; f < opts.faults; f++) {
      const dom = sys.domainServices[f % sys.domainServices.length]!;
      const root = dom[Math.floor(dom.length * (0.6 + rand() * 0.35))]!; // deep in the domain
      const cone = new Set([root]);
      let frontier = [root];
      for (let depth = 0; depth < 3; depth++) {
        frontier = frontier.flatMap((s) => (callers.get(s) ?? []).filter((c) => !cone.has(c) && cone.add(c)));
      }
      for (const svc of cone) {
        const names = svc === root ? ['HighErrorRate', 'HighLatency', 'PodRestarting'] : ['HighLatency', 'UpstreamErrors'];
        for (const alertname of names) {
          for (let pod = 0; pod < 2; pod++) distinct.push({ fault: f, labels: { alertname, service: svc, instance: `${svc}-${pod}:8080`, cluster: 'prod', severity: svc === root ? 'critical' : 'warning' } });
        }
      }
    }
    // Firing once each (root first within a fault is not guaranteed: shuffle), repeats, then resolves.
    const order: { a: SentAlert; status: 'firing' | 'resolved' }[] = distinct.map((a) => ({ a, status: 'firing' as const })).sort(() => rand() - 0.5);
    const repeats = Math.max(0, opts.alerts - 2 * distinct.length);
    for (let i = 0; i < repeats; i++) order.push({ a: distinct[Math.floor(rand() * distinct.length)]!, status: 'firing' });
    for (const a of distinct) order.push({ a, status: 'resolved' });
    say(`sending ${order.length} alerts (${distinct.length} distinct, ${opts.faults} faults) in Alertmanager bodies of 50`);

    // 3. Send: the firing phase first (so grouping sees the storm), measured end to end.
    const bodies: object[] = [];
    const resolvedFrom = order.length - distinct.length;
    const t = new Date(now).toISOString();
    for (const part of [order.slice(0, resolvedFrom), order.slice(resolvedFrom)]) {
      for (let i = 0; i < part.length; i += 50) {
        const slice = part.slice(i, i + 50);
        bodies.push({
          version: '4', status: slice.every((x) => x.status === 'resolved') ? 'resolved' : 'firing', receiver: 'rootline', groupKey: `bench-${bodies.length}`,
          alerts: slice.map(({ a, status }) => ({ status, labels: a.labels, annotations: { summary: `${a.labels.alertname} on ${a.labels.service}` }, startsAt: t, endsAt: status === 'resolved' ? new Date(now + 60_000).toISOString() : '0001-01-01T00:00:00Z' })),
        });
      }
    }
    const sentAlerts = bodies.reduce((n, b) => n + (b as { alerts: unknown[] }).alerts.length, 0);
    const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
    const lat: number[] = [];
    let next = 0;
    let failed = 0;
    const firingBodies = bodies.filter((b) => (b as { status: string }).status === 'firing');
    const resolveBodies = bodies.filter((b) => (b as { status: string }).status === 'resolved');
    // Warm-up on another tenant (JIT and first topology lookups cost up to ~150 ms per request in a fresh
    // process); the measured storm's tenant starts empty.
    const warm = firingBodies.slice(0, 30).map((b) => ({ ...b, alerts: (b as { alerts: { labels: Record<string, string> }[] }).alerts.map((a) => ({ ...a, labels: { ...a.labels, alertname: `Warmup${a.labels.alertname}` } })) }));
    await Promise.all(
      Array.from({ length: opts.concurrency }, async (_, k) => {
        for (let i = k; i < warm.length; i += opts.concurrency) await post(agent, `${url}/api/v1/alerts/alertmanager`, warmToken, warm[i]!);
      }),
    );
    const t0 = performance.now();
    for (const phase of [firingBodies, resolveBodies]) {
      next = 0;
      await Promise.all(
        Array.from({ length: opts.concurrency }, async () => {
          while (next < phase.length) {
            const b = phase[next++]!;
            const r = await post(agent, `${url}/api/v1/alerts/alertmanager`, token, b);
            lat.push(r.ms);
            if (process.env.ROOTLINE_BENCH_TRACE) say(`req ${lat.length} ${r.ms.toFixed(1)} ms`);
            if (r.status !== 200) failed++;
          }
        }),
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    agent.destroy();
    lat.sort((a, b) => a - b);

    // 4. Score: incidents left (not merged away), and pairwise grouping F1 over distinct alerts.
    const alertsRes = await fetch(`${url}/api/v1/alerts`, { headers: auth });
    if (!alertsRes.ok) throw new Error(`GET /api/v1/alerts: ${alertsRes.status} ${await alertsRes.text()}`);
    const alertsNow = (await alertsRes.json()) as { alerts: { labels: Record<string, string>; incidentId?: string }[] };
    const incRes = await fetch(`${url}/api/v1/incidents?limit=1000`, { headers: auth });
    if (!incRes.ok) throw new Error(`GET /api/v1/incidents: ${incRes.status} ${await incRes.text()}`);
    const incidents = (await incRes.json()) as { incidents: unknown[] };
    const key = (l: Record<string, string>) => `${l.alertname}|${l.instance}`;
    const truth = new Map(distinct.map((a) => [key(a.labels), a.fault]));
    const pred = new Map(alertsNow.alerts.map((a) => [key(a.labels), a.incidentId ?? `none-${key(a.labels)}`]));
    const keys = [...truth.keys()];
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < keys.length; i++) {
      for (let j = i + 1; j < keys.length; j++) {
        const sameTrue = truth.get(keys[i]!) === truth.get(keys[j]!);
        const samePred = pred.get(keys[i]!) === pred.get(keys[j]!);
        if (sameTrue && samePred) tp++;
        else if (samePred) fp++;
        else if (sameTrue) fn++;
      }
    }
    const precision = tp / Math.max(1, tp + fp);
    const recall = tp / Math.max(1, tp + fn);
    return {
      alerts_per_s: Math.round(sentAlerts / seconds),
      p99_ms: Math.round(lat[Math.floor(lat.length * 0.99)]! * 10) / 10,
      p50_ms: Math.round(lat[Math.floor(lat.length * 0.5)]! * 10) / 10,
      max_ms: Math.round(lat[lat.length - 1]! * 10) / 10,
      requests: lat.length,
      incidents: incidents.incidents.length,
      noise_reduction: Math.round((1 - incidents.incidents.length / sentAlerts) * 10000) / 10000,
      grouping_f1: Math.round(((2 * precision * recall) / Math.max(1e-9, precision + recall)) * 10000) / 10000,
      alerts: sentAlerts,
      distinct_alerts: distinct.length,
      faults: opts.faults,
      failed_requests: failed,
      precision: Math.round(precision * 10000) / 10000,
      recall: Math.round(recall * 10000) / 10000,
    };
  } finally {
    await svc.stop();
  }
}
