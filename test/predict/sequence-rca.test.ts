/**
 * Issue #7: the API call-sequence model trained as a queue job on the normal traces of a small system,
 * new traces scored online, and an injected abnormal API flow flagged: it raises an ApiSequenceAnomaly
 * alert (so an incident) and reaches RCA as `api_sequence` evidence at the entry service.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../services/predict/sequence/model.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { flow, MIN, trace } from '../helpers/shop-traces.ts';

const ABNORMAL = ['frontend:GET /shop', 'admin:DELETE /users'];

const svc: TestService = await startTestService({ after }, { ROOTLINE_ROLES: 'ingest,rca,predict', ROOTLINE_RETENTION_DAYS: '0' });
const json = { ...svc.headers, 'content-type': 'application/json' };

async function send(traces: { rs: object[] }[]): Promise<void> {
  const res = await fetch(`${svc.url}/v1/traces`, { method: 'POST', headers: json, body: JSON.stringify({ resourceSpans: traces.flatMap((t) => t.rs) }) });
  assert.equal(res.status, 200, await res.text());
  await svc.flush();
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await probe().catch((err: unknown) => {
      if ((err as { fatal?: boolean }).fatal) throw err;
      last = err;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface TrainStatus { jobId: string; state: string; progress: unknown; version?: string; sessions?: number; error?: string }

describe('API call-sequence anomalies: training job, online scoring, RCA evidence', () => {
  const r = seededRandom(5);
  const start = Date.now();
  let job: TrainStatus;
  const progress: unknown[] = [];

  before(async () => {
    // 500 normal traces over the last five minutes.
    const t0 = start - 5 * MIN;
    await send(Array.from({ length: 500 }, (_, i) => trace(t0 + i * 500, flow(r))));
  });

  it('trains the model as a queue job, with progress, and lists the new version', async () => {
    const res = await fetch(`${svc.url}/api/v1/models/api-sequences/train`, { method: 'POST', headers: json, body: JSON.stringify({ from: start - 10 * MIN, to: start }) });
    const queued = (await res.json()) as TrainStatus;
    assert.equal(res.status, 202, JSON.stringify(queued));
    assert.match(queued.jobId, /^train-/);
    job = await until('the training job', 45_000, async () => {
      const s = (await (await fetch(`${svc.url}/api/v1/models/api-sequences/train/${queued.jobId}`, { headers: svc.headers })).json()) as TrainStatus;
      if (s.progress !== null) progress.push(s.progress);
      if (s.state === 'failed') throw Object.assign(new Error(`training failed: ${s.error}`), { fatal: true });
      return s.state === 'completed' ? s : undefined;
    });
    assert.equal(job.version, 'v1');
    assert.equal(job.sessions, 500);
    assert.ok(progress.length > 0, 'no progress was reported');
    const models = (await (await fetch(`${svc.url}/api/v1/models`, { headers: svc.headers })).json()) as { models: { name: string; versions: string[]; training: TrainStatus[] }[] };
    const m = models.models.find((x) => x.name === 'api-sequences');
    assert.deepEqual(m?.versions, ['v1']);
    assert.equal(m?.training[0]?.state, 'completed');
  });

  it('flags an injected abnormal API flow online; the alert opens an incident whose RCA cites it', async () => {
    assert.ok(job, 'the model was not trained');
    const now = Date.now();
    const odd = trace(now, ABNORMAL);
    // A normal flow whose calls are 4 s apart: online polls (every 2 s) see its head before its tail, and
    // must wait for the whole trace instead of scoring "frontend, checkout" as a flow that ended early.
    const slow = trace(now, ['frontend:GET /shop', 'checkout:POST /checkout', 'payment:POST /pay'], 4000);
    await send([...Array.from({ length: 20 }, (_, i) => trace(now - 500 + i * 20, flow(r))), odd, slow]);

    const incident = await until('an ApiSequenceAnomaly incident', 30_000, async () => {
      const body = (await (await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers })).json()) as { incidents: { id: string; title: string; entities: string[] }[] };
      return body.incidents.find((i) => i.entities.includes('service:frontend'));
    });
    const detail = (await (await fetch(`${svc.url}/api/v1/incidents/${incident.id}`, { headers: svc.headers })).json()) as Record<string, unknown>;
    assert.match(JSON.stringify(detail), /ApiSequenceAnomaly/);
    assert.match(JSON.stringify(detail), new RegExp(odd.traceId));
    // One alert per episode: its identity carries the episode's start, so a later episode opens its own incident.
    const flowAlert = (detail.alerts as { fingerprint: string; startsAt: number; labels: Record<string, string> }[]).find((a) => a.labels.alertname === 'ApiSequenceAnomaly');
    assert.equal(flowAlert?.fingerprint, `api-sequence|service:frontend|${flowAlert?.labels.unexpected_call}|${flowAlert?.startsAt}`);

    const res = await fetch(`${svc.url}/api/v1/incidents/${incident.id}/rca`, { headers: svc.headers });
    const rca = (await res.json()) as { causes: { entity: string; kind: string; evidence: { signal: string; indicator: string; baseline: number; observed: number; onset?: number }[] }[] };
    assert.equal(res.status, 200, JSON.stringify(rca));
    const frontend = rca.causes.find((c) => c.entity === 'service:frontend');
    assert.ok(frontend, `frontend is not a cause: ${JSON.stringify(rca)}`);
    const ev = frontend.evidence.find((e) => e.signal === 'api_sequence');
    assert.ok(ev, `no api_sequence evidence: ${JSON.stringify(frontend)}`);
    assert.match(ev.indicator, /unexpected call admin:DELETE \/users after frontend:GET \/shop/);
    assert.match(ev.indicator, new RegExp(odd.traceId));
    assert.ok(ev.observed > ev.baseline, JSON.stringify(ev));
    assert.equal(ev.onset, Math.round(now));
    assert.equal(frontend.kind, 'api_sequence');

    // Once the slow trace has settled and a poll has passed it, no alert names it.
    await new Promise((res) => setTimeout(res, Math.max(0, now + 8000 + 5000 + 4500 - Date.now())));
    const all = (await (await fetch(`${svc.url}/api/v1/incidents`, { headers: svc.headers })).json()) as { incidents: { id: string }[] };
    for (const i of all.incidents) {
      const body = await (await fetch(`${svc.url}/api/v1/incidents/${i.id}`, { headers: svc.headers })).text();
      assert.doesNotMatch(body, new RegExp(slow.traceId), `a normal flow was flagged: ${body}`);
    }
  });
});
