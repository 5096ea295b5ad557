/**
 * `rootline bench rca`: RCA latency on a synthetic system. The system (N services in domains, calling down
 * layers and into shared platform services) is fed as one hour of OTLP traces, a fault slows one deep service
 * in the last minutes, and RCA is asked over HTTP for the entry services of several domains.
 */
import { spawnServiceProcess } from './service-process.ts';
import { makeSystem, otlpTraces } from './alerts.ts';


export async function benchRca(opts: { services: number; minutes: number; queries: number }) {
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const svc = await spawnServiceProcess({ env: { ROOTLINE_RETENTION_DAYS: '0' } });
  const { url, auth } = svc;
  try {
    const domains = Math.max(1, Math.round(opts.services / 50));
    const sys = makeSystem(opts.services, domains);
    const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const start = end - opts.minutes * 60_000;
    let spans = 0;
    for (let m = start; m < end; m += 60_000) {
      for (let i = 0; i < sys.calls.length; i += 2000) {
        const body = otlpTraces(sys.calls.slice(i, i + 2000), m + 1000);
        const r = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`traces: ${r.status}`);
        spans += Math.min(2000, sys.calls.length - i) * 2;
      }
      if (((m - start) / 60_000) % 10 === 0) say(`fed ${(m - start) / 60_000}/${opts.minutes} minutes (${spans} spans)`);
    }
    await fetch(`${url}/api/v1/telemetry/flush`, { method: 'POST', headers: auth });
    const wanted = new Set(sys.calls.flat()).size;
    for (let i = 0; ; i++) {
      const snap = (await (await fetch(`${url}/api/v1/topology?at=${end - 60_000}&view=horizontal`, { headers: auth })).json()) as { entities: { kind: string }[] };
      if (snap.entities.filter((e) => e.kind === 'service').length >= wanted) break;
      if (i > 600) throw new Error('topology never settled');
      await new Promise((r) => setTimeout(r, 500));
    }
    say(`topology of ${wanted} services ready; ${spans} spans over ${opts.minutes} minutes; asking RCA ${opts.queries} times`);
    const entries = sys.domainServices.map((d) => d[0]!);
    const lat: number[] = [];
    for (let q = 0; q < opts.queries; q++) {
      const entity = `service:${entries[q % entries.length]}`;
      const t0 = performance.now();
      const r = await fetch(`${url}/api/v1/rca`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ entity, time: String(end - 2 * 60_000) }) });
      await r.json();
      if (!r.ok) throw new Error(`rca: ${r.status}`);
      lat.push(performance.now() - t0);
    }
    lat.sort((a, b) => a - b);
    return {
      services: wanted,
      p50_ms: Math.round(lat[Math.floor(lat.length / 2)]!),
      p95_ms: Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.95))]!),
      spans,
      minutes: opts.minutes,
      queries: opts.queries,
    };
  } finally {
    await svc.stop();
  }
}
