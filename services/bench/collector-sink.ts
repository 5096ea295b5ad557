/**
 * The receiving end for `rootline bench collector`: a bare `POST /v1/collector/events` on loopback that counts
 * events and reads the collector's drop counters without parsing the batch. At ~20,000 events/s, JSON.parse in
 * the driver would compete with the ping-pong for the same two cores and show up as collector overhead.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export const DROP_COUNTERS = ['ring_full', 'buffer_full', 'send_failed'] as const;
export type DropCounter = (typeof DROP_COUNTERS)[number];

export interface CollectorSink {
  url: string;
  /** Events received since the last reset. */
  events: number;
  /** The largest value seen per drop counter since the last reset (the collector sends cumulative counters). */
  dropped: Record<DropCounter, number>;
  batches: number;
  reset(): void;
  close(): Promise<void>;
}

const EVENT_NAME = Buffer.from('"event.name"');
const COUNTER_KEYS = DROP_COUNTERS.map((k) => [k, Buffer.from(`"${k}":`)] as const);

function countOccurrences(body: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = body.indexOf(needle); i !== -1; i = body.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The integer after `"key":` (whitespace allowed), or -1 when the key is absent. */
function counterValue(body: Buffer, key: Buffer): number {
  const at = body.indexOf(key);
  if (at === -1) return -1;
  let i = at + key.length;
  while (body[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (let c = body[i]; c !== undefined && c >= 0x30 && c <= 0x39; c = body[++i]) {
    v = v * 10 + (c - 0x30);
    digits++;
  }
  return digits > 0 ? v : -1;
}

export async function startCollectorSink(): Promise<CollectorSink> {
  const sink = {
    events: 0,
    batches: 0,
    dropped: { ring_full: 0, buffer_full: 0, send_failed: 0 } as Record<DropCounter, number>,
  };
  const take = (body: Buffer) => {
    const n = countOccurrences(body, EVENT_NAME);
    sink.events += n;
    sink.batches++;
    for (const [name, key] of COUNTER_KEYS) sink.dropped[name] = Math.max(sink.dropped[name], counterValue(body, key));
    return n;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/collector/events') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const accepted = take(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"accepted":${accepted},"gaps":0}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('could not read the sink port');
  return Object.assign(sink, {
    url: `http://127.0.0.1:${address.port}`,
    reset() {
      sink.events = 0;
      sink.batches = 0;
      for (const k of DROP_COUNTERS) sink.dropped[k] = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
