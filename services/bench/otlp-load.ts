/**
 * The load process of `rootline bench ingest`: pre-encodes OTLP protobuf trace requests, then sends them over
 * keep-alive HTTP from N concurrent loops for a fixed time, and prints one JSON line with what was
 * acknowledged and the request latencies. Runs as its own process so it does not share the service's CPU
 * accounting or event loop.
 */
import { Agent, request } from 'node:http';
import { requestType } from '../ingest/otlp/decode.ts';
import { makeTraceRequest } from './traces.ts';

const [url, token, durationS, connections, tracesPerRequest] = process.argv.slice(2);
const target = new URL('/v1/traces', url);
const type = requestType('traces');
const bodies: { buf: Buffer; spans: number }[] = [];
for (let i = 0; i < 64; i++) {
  const { request: req, spans } = makeTraceRequest(i + 1, Number(tracesPerRequest ?? 10));
  bodies.push({ buf: Buffer.from(type.encode(type.fromObject(req)).finish()), spans });
}
const agent = new Agent({ keepAlive: true, maxSockets: Number(connections) });
const latencies: number[] = [];
const statuses: Record<string, number> = {};
let acked = 0;
let requests = 0;

function send(body: Buffer): Promise<{ status: number; retryAfter: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length, authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 0) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const deadline = Date.now() + Number(durationS) * 1000;
const started = Date.now();
async function loop(k: number): Promise<void> {
  let i = k;
  while (Date.now() < deadline) {
    const b = bodies[i++ % bodies.length]!;
    const t0 = process.hrtime.bigint();
    let r: { status: number; retryAfter: number };
    try {
      r = await send(b.buf);
    } catch {
      statuses.error = (statuses.error ?? 0) + 1;
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    requests++;
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.status === 200) acked += b.spans;
    else if (r.status === 429 || r.status === 503) await new Promise((res) => setTimeout(res, Math.min(1000, r.retryAfter * 1000 || 100)));
  }
}
await Promise.all(Array.from({ length: Number(connections) }, (_, k) => loop(k)));
const elapsed = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
agent.destroy();
console.log(JSON.stringify({ acked, requests, elapsed_s: elapsed, p50_ms: q(0.5), p99_ms: q(0.99), statuses }));
