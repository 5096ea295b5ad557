/** The report HTML escapes every text it shows, and the file store lists newest first and replaces by id. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReportHtml } from '../../services/predict/reports/html.ts';
import type { Report } from '../../services/predict/reports/model.ts';
import { FileReportStore } from '../../services/predict/reports/store.ts';

function report(to: number, service = 'svc'): Report {
  return {
    id: `r${to}-1000`,
    period: { from: to - 1000, to },
    createdAt: to + 5,
    trigger: 'schedule',
    settings: { historyMinutes: 180, horizonMinutes: 60, errorRateThreshold: 0.05, latencyFactor: 2, driftSigmas: 4, driftWindowMinutes: 15 },
    predictedBreaches: [{ service, signal: 'error_rate', threshold: 0.05, leadMinutes: 3, at: to + 180_000, predicted: 0.051, confidence: 0.8 }],
    anomalousSequences: { available: true, note: 'scored 1', scored: 1, items: [{ traceId: 'abc', calls: [`${service}:GET /`], score: 9, misses: 1, unknown: 0 }] },
    driftingEntities: [{ service, signal: 'p95_ms', previousMedian: 10, recentMean: 60, robustZ: 12 }],
    seriesAnomalies: [{ service, signal: 'p95_ms', at: to - 60_000, value: 60, score: 0.91 }],
    forecasts: [{ service, signal: 'error_rate', observed: [[to - 120_000, 0.01], [to - 60_000, 0.03]], forecast: [[to, 0.04, 0.03, 0.05], [to + 60_000, 0.05, 0.03, 0.07]], threshold: 0.05, method: 'Holt' }],
  };
}

describe('report HTML and store', () => {
  it('escapes service names and other text, and draws an SVG per series', () => {
    const html = renderReportHtml(report(1_700_000_000_000, '<script>alert("x")</script>'));
    assert.ok(!html.includes('<script>'), 'unescaped markup');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
    assert.equal((html.match(/<svg /g) ?? []).length, 1);
    assert.match(html, /Series anomalies.*<td>p95_ms<\/td>.*<td>0\.91<\/td>/s);
  });

  it('stores durably, lists newest first and replaces a report with the same id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootline-reports-'));
    try {
      const store = new FileReportStore(dir);
      await store.put(report(2000));
      await store.put(report(4000));
      await store.put(report(3000));
      await store.put({ ...report(3000), createdAt: 99_999 });
      const list = await new FileReportStore(dir).list(10);
      assert.deepEqual(list.map((r) => r.period.to), [4000, 3000, 2000]);
      assert.equal(list[1]!.createdAt, 99_999);
      assert.equal((await store.list(1)).length, 1);
      assert.equal(await store.get('../etc/passwd'), null);
      assert.equal(await store.get('missing'), null);
      assert.ok(readdirSync(dir).every((f) => f.endsWith('.json')), 'temporary files left behind');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
