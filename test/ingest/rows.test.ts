/**
 * The decode worker's rows (no store needed): what a request turns into before it is written to the WAL.
 * Regression tests for values that were lost or mangled on the protobuf path, or that the store refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestType, type Signal } from '../../services/ingest/otlp/decode.ts';
import { decodeTask } from '../../services/ingest/worker.ts';
import { TABLE_COLUMNS } from '../../services/shared/telemetry/schema.ts';

const NOW = BigInt(Date.now()) * 1_000_000n;
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

function rows(signal: Signal, body: Uint8Array, encoding: 'protobuf' | 'json'): Record<string, string>[] {
  const result = decodeTask({ signal, body, encoding, maxDecompressedBytes: 1 << 20, maxAttributes: 256, maxFutureSkewMs: 3_600_000 });
  assert.ok(result.ok, `decoded: ${JSON.stringify(result)}`);
  const columns = TABLE_COLUMNS[result.table];
  return Buffer.from(result.rows)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const cells = line.split('\t');
      assert.equal(cells.length, columns.length, 'one cell per column');
      return Object.fromEntries(columns.map((c, i) => [c, cells[i]!]));
    });
}

const protobufBody = (signal: Signal, request: object) => requestType(signal).encode(requestType(signal).fromObject(request)).finish();
const jsonBody = (request: object) => Buffer.from(JSON.stringify(request));

/** One span with every AnyValue type; ids and bytes as protobuf (Buffer) or OTLP/JSON (hex, base64) wants them. */
function typedSpan(json: boolean): object {
  const id = (hex: string) => (json ? hex : Buffer.from(hex, 'hex'));
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'rows-test' } }, { key: 'process.pid', value: { intValue: 4242 } }] },
        scopeSpans: [
          {
            scope: { name: 'rows' },
            spans: [
              {
                traceId: id(TRACE_ID),
                spanId: id(SPAN_ID),
                name: 'GET /x',
                kind: 2,
                startTimeUnixNano: NOW.toString(),
                endTimeUnixNano: (NOW + 1000n).toString(),
                attributes: [
                  { key: 'app.string', value: { stringValue: 'text' } },
                  { key: 'app.int', value: { intValue: json ? '-3' : -3 } },
                  { key: 'http.response.status_code', value: { intValue: json ? '503' : 503 } },
                  { key: 'app.bool', value: { boolValue: true } },
                  { key: 'app.false', value: { boolValue: false } },
                  { key: 'app.double', value: { doubleValue: 0.25 } },
                  { key: 'app.array', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: json ? '2' : 2 }] } } },
                  { key: 'app.map', value: { kvlistValue: { values: [{ key: 'k', value: { boolValue: true } }] } } },
                  { key: 'app.bytes', value: { bytesValue: json ? Buffer.from([1, 2, 3]).toString('base64') : Buffer.from([1, 2, 3]) } },
                ],
                status: { code: 2, message: 'boom' },
              },
            ],
          },
        ],
      },
    ],
  };
}

test('protobuf and OTLP/JSON of the same spans give the same rows, typed attribute values included', () => {
  const [pb] = rows('traces', protobufBody('traces', typedSpan(false)), 'protobuf');
  const [js] = rows('traces', jsonBody(typedSpan(true)), 'json');
  assert.ok(pb && js);
  assert.equal(
    js.attributes,
    "{'app.string':'text','app.int':'-3','http.response.status_code':'503','app.bool':'true','app.false':'false','app.double':'0.25','app.array':'[\"a\",\"2\"]','app.map':'{\"k\":true}','app.bytes':'AQID'}",
  );
  assert.equal(js.http_response_status_code, '503');
  assert.equal(js.process_pid, '4242');
  assert.deepEqual(pb, js);
});

test('a negative int gauge point keeps its sign on the protobuf path (sfixed64 asInt)', () => {
  const request = (json: boolean) => ({
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'queue.depth.delta',
                sum: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: NOW.toString(), startTimeUnixNano: NOW.toString(), asInt: json ? '-9' : -9 }] },
              },
            ],
          },
        ],
      },
    ],
  });
  const [pb] = rows('metrics', protobufBody('metrics', request(false)), 'protobuf');
  const [js] = rows('metrics', jsonBody(request(true)), 'json');
  assert.equal(pb?.value, '-9');
  assert.equal(js?.value, '-9');
});

test('absent optional times (metric start time, span event time) are written as a DateTime64 the store can parse', () => {
  const [point] = rows(
    'metrics',
    protobufBody('metrics', { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: NOW.toString(), asDouble: 1 }] } }] }] }] }),
    'protobuf',
  );
  // ClickHouse reads fewer than 10 integer digits ("0.000000000") as a broken date and refuses the whole batch.
  assert.equal(point?.start_timestamp, '0000000000.000000000');
  const [span] = rows(
    'traces',
    protobufBody('traces', {
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.from(TRACE_ID, 'hex'), spanId: Buffer.from(SPAN_ID, 'hex'), name: 'x', startTimeUnixNano: NOW.toString(), events: [{ name: 'no time' }] }] }] }],
    }),
    'protobuf',
  );
  assert.equal(span?.events_time, "['0000000000.000000000']");
});
