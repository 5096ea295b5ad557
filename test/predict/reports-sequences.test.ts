/**
 * The anomalous-API-sequence section of a prediction report with a trained model: a small call-sequence
 * model learns the normal (service:operation) flows, is saved where the predict role looks for it, and a
 * report built for a period lists the traces whose call sequence breaks those flows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { API_SEQUENCE_MODEL } from '../../services/predict/index.ts';
import { loadTf } from '../../services/predict/sequence/backend.ts';
import { SequenceDetector } from '../../services/predict/sequence/detector.ts';
import { seededRandom } from '../../services/predict/sequence/model.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { flow, MIN, trace } from '../helpers/shop-traces.ts';

const ODD = [
  ['frontend:GET /shop', 'payment:POST /pay'],
  ['frontend:GET /shop', 'admin:DELETE /users'],
];


const svc: TestService = await startTestService({ after }, { ROOTLINE_ROLES: 'ingest,predict', ROOTLINE_RETENTION_DAYS: '0' });

describe('prediction report: anomalous API sequences with a trained model', () => {
  const odd = new Set<string>();
  let normal = 0;
  const to = Math.floor(Date.now() / MIN) * MIN;
  const from = to - 10 * MIN;

  before(async () => {
    const r = seededRandom(3);
    const sessions = Array.from({ length: 600 }, () => flow(r));
    const runtime = await loadTf();
    const { detector } = await SequenceDetector.train(
      runtime,
      { train: sessions.slice(0, 400), validation: sessions.slice(400), window: { sessions: 400, from: '2024-01-01T00:00:00Z', to: '2024-01-02T00:00:00Z' } },
      { window: 4, units: 16, layers: 1, targetFpr: 0.01, train: { epochs: 30, batchSize: 64, learningRate: 0.02, patience: 5 } },
    );
    await detector.save(join(svc.dataDir, 'models'), API_SEQUENCE_MODEL);

    const rs: object[] = [];
    for (let i = 0; i < 60; i++) {
      const t = from + 30_000 + i * 5000;
      const calls = i % 15 === 7 ? ODD[(i / 15) % 2 | 0]! : flow(r);
      const tr = trace(t, calls);
      if (calls === ODD[0] || calls === ODD[1]) odd.add(tr.traceId);
      else normal += 1;
      rs.push(...tr.rs);
    }
    const res = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: rs }) });
    assert.equal(res.status, 200, await res.text());
    await svc.flush();
  });

  it('lists the traces whose call sequence the model finds anomalous', async () => {
    const res = await fetch(`${svc.url}/api/v1/reports`, { method: 'POST', headers: { ...svc.headers, 'content-type': 'application/json' }, body: JSON.stringify({ from, to }) });
    const body = (await res.json()) as { anomalousSequences: { available: boolean; scored: number; items: { traceId: string; calls: string[] }[] } };
    assert.equal(res.status, 200, JSON.stringify(body));
    const seq = body.anomalousSequences;
    assert.equal(seq.available, true);
    assert.equal(seq.scored, normal + odd.size);
    const flagged = new Set(seq.items.map((i) => i.traceId));
    for (const id of odd) assert.ok(flagged.has(id), `odd trace ${id} not flagged: ${JSON.stringify(seq.items)}`);
    const falsePositives = [...flagged].filter((id) => !odd.has(id)).length;
    assert.ok(falsePositives <= 2, `${falsePositives} normal traces flagged of ${normal}`);
    const unknown = seq.items.find((i) => i.calls.includes('admin:DELETE /users'));
    assert.ok(unknown, 'the unknown call is not listed with its calls');
  });
});
