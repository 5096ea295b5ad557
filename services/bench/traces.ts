/**
 * Synthetic but realistic OTLP traces for load: a small service graph, 5–20 spans per trace, 10–30 attributes
 * per span with semantic-convention keys, resources with Kubernetes identity. Deterministic per seed.
 */
import { randomBytes } from 'node:crypto';
import { rng } from './rng.ts';


const kv = (key: string, value: string | number | boolean) => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'number' ? (Number.isInteger(value) ? { intValue: value } : { doubleValue: value }) : { boolValue: value },
});

/** One ExportTraceServiceRequest-shaped object (protobufjs `fromObject` input) with `traces` traces. */
export function makeTraceRequest(seed: number, traces: number, services = 40): { request: object; spans: number } {
  const rand = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const svc = (i: number) => `svc-${i % services}`;
  const byService = new Map<string, ReturnType<typeof kv>[][]>();
  const resources = new Map<string, object>();
  let spanCount = 0;
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16);
    const n = 5 + Math.floor(rand() * 16);
    const ids: Buffer[] = [];
    const start = now - BigInt(Math.floor(rand() * 5e9));
    for (let i = 0; i < n; i++) {
      const service = svc(Math.floor(rand() * services));
      const spanId = randomBytes(8);
      ids.push(spanId);
      const attrs = [
        kv('http.request.method', pick(['GET', 'POST', 'PUT'])),
        kv('http.route', pick(['/api/cart', '/api/checkout', '/api/products/:id', '/api/users/:id', '/healthz'])),
        kv('http.response.status_code', rand() < 0.02 ? 500 : 200),
        kv('server.address', `${service}.default.svc.cluster.local`),
        kv('server.port', 8080),
        kv('url.scheme', 'http'),
        kv('network.protocol.version', '1.1'),
        kv('user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36'),
        kv('client.address', `10.0.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}`),
        kv('app.request_id', randomBytes(8).toString('hex')),
      ];
      const extra = Math.floor(rand() * 21);
      for (let a = 0; a < extra; a++) attrs.push(kv(`app.attr_${a}`, a % 3 === 0 ? Math.floor(rand() * 1e6) : a % 3 === 1 ? `value-${Math.floor(rand() * 1e4)}` : rand() < 0.5));
      const s0 = start + BigInt(i) * 1_000_000n;
      const span = {
        traceId,
        spanId,
        parentSpanId: i === 0 ? undefined : ids[Math.floor(rand() * i)],
        name: pick(['GET /api/cart', 'POST /api/checkout', 'GET /api/products/:id', 'SELECT orders', 'redis GET']),
        kind: i === 0 ? 2 : pick([2, 3, 1]),
        startTimeUnixNano: s0.toString(),
        endTimeUnixNano: (s0 + BigInt(Math.floor(rand() * 50_000_000))).toString(),
        attributes: attrs,
        status: { code: rand() < 0.02 ? 2 : 0 },
      };
      if (!byService.has(service)) {
        byService.set(service, []);
        resources.set(service, {
          attributes: [
            kv('service.name', service),
            kv('service.namespace', 'shop'),
            kv('service.version', '1.4.2'),
            kv('k8s.namespace.name', 'default'),
            kv('k8s.pod.name', `${service}-7d9f8c-${Math.floor(rand() * 3)}`),
            kv('k8s.node.name', `node-${Math.floor(rand() * 4)}`),
            kv('host.name', `node-${Math.floor(rand() * 4)}`),
            kv('telemetry.sdk.language', 'nodejs'),
          ],
        });
      }
      byService.get(service)!.push(span as never);
      spanCount++;
    }
  }
  const resourceSpans = [...byService].map(([service, spans]) => ({
    resource: resources.get(service),
    scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.52.0' }, spans }],
  }));
  return { request: { resourceSpans }, spans: spanCount };
}
