/** A small shop system's traces for the call-sequence tests: normal checkout flows and OTLP/JSON traces of them. */
import { randomBytes } from 'node:crypto';

export const MIN = 60_000;
export const ns = (ms: number): string => String(BigInt(Math.round(ms * 1000)) * 1000n);

/** A normal checkout: frontend, then cart or not, then checkout and payment or not. */
export function flow(r: () => number): string[] {
  const s = ['frontend:GET /shop'];
  if (r() < 0.5) s.push('cart:POST /cart');
  if (r() < 0.7) s.push('checkout:POST /checkout', 'payment:POST /pay');
  return s;
}

/** One trace (OTLP/JSON resourceSpans) whose spans start `gapMs` apart in the order of `calls`, each the child of the one before. */
export function trace(t: number, calls: readonly string[], gapMs = 5): { traceId: string; rs: object[] } {
  const traceId = randomBytes(16).toString('hex');
  let parent = '';
  const rs = calls.map((c, i) => {
    const [service, name] = c.split(':') as [string, string];
    const spanId = randomBytes(8).toString('hex');
    const span = { traceId, spanId, parentSpanId: parent, name, kind: 2, startTimeUnixNano: ns(t + gapMs * i), endTimeUnixNano: ns(t + gapMs * i + 50) };
    parent = spanId;
    return { resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans: [span] }] };
  });
  return { traceId, rs };
}

/** frontend → checkout → payment, server spans; `slowMs` is added to payment (and so to its callers). */
export function slowLeafTrace(t: number, slowMs: number, jitter: number): object[] {
  const traceId = randomBytes(16).toString('hex');
  const own = { frontend: 20 + jitter, checkout: 30 + jitter, payment: 50 + jitter + slowMs };
  const total = { payment: own.payment, checkout: own.checkout + own.payment, frontend: own.frontend + own.checkout + own.payment };
  let parent = '';
  return (['frontend', 'checkout', 'payment'] as const).map((service, i) => {
    const spanId = randomBytes(8).toString('hex');
    const start = t + i * 2;
    const span = { traceId, spanId, parentSpanId: parent, name: `${service} op`, kind: 2, startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + total[service]) };
    parent = spanId;
    return { resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans: [span] }] };
  });
}
