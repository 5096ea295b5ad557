/** Per-edge latency files of the Nezha layout → service-graph gauges with client/server labels. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE_METRICS, edgeMetricsFromRows, splitEdgeColumn } from '../../services/rca/eval/otlp.ts';

describe('edge latency files', () => {
  it('splits <client>_<server> columns, preferring known service names when names hold underscores', () => {
    const known = new Set(['frontend', 'cart_service', 'ts-order-service', 'ts-station-service']);
    assert.deepEqual(splitEdgeColumn('frontend_cart_service', known), ['frontend', 'cart_service']);
    assert.deepEqual(splitEdgeColumn('ts-order-service_ts-station-service', known), ['ts-order-service', 'ts-station-service']);
    assert.deepEqual(splitEdgeColumn('a_b', new Set()), ['a', 'b']);
    assert.equal(splitEdgeColumn('a_b_c', new Set()), undefined, 'ambiguous without known names');
  });

  it('turns each cell into a gauge point of its side, labelled with the edge, and skips bad cells', () => {
    const rows = [
      { time: '2022-08-22 03:51:20.021338403 +0000 UTC m=+0.527292383', timestamp: '1661140280', frontend_cart: '0.004', frontend_ad: 'NaN' },
      { time: '', timestamp: '', frontend_cart: '0.005', frontend_ad: '0.002' },
    ];
    const c = edgeMetricsFromRows(rows, 'client', '0.5', new Set(['frontend', 'cart', 'ad']));
    assert.equal(c.items.length, 1);
    const p = c.items[0]!;
    assert.equal(p.record.name, EDGE_METRICS.client);
    assert.equal(p.resource['service.name'], 'frontend', 'the client side reports');
    assert.equal(p.record.point.asDouble, 0.004);
    assert.equal(p.record.point.timeUnixNano, '1661140280000000000');
    assert.deepEqual(Object.fromEntries((p.record.point.attributes ?? []).map((a) => [a.key, (a.value as { stringValue: string }).stringValue])), { client: 'frontend', server: 'cart', quantile: '0.5' });
    assert.equal(c.skipped.empty_or_nan, 1);
    assert.equal(c.skipped.bad_time, 1);
    const s = edgeMetricsFromRows(rows.slice(0, 1), 'server', '0.5', new Set(['frontend', 'cart', 'ad']));
    assert.equal(s.items[0]!.resource['service.name'], 'cart', 'the server side reports');
  });
});
