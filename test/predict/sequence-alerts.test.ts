/**
 * Flow alerts of the online API-sequence scorer: one alert per episode. Anomalous traces refresh the alert
 * while it lasts; once it has ended, the next one starts a new episode with its own identity, so an ended
 * alert never fires again (the alert service would count that as flapping and hold its incident open).
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DEFAULT_ONLINE, SequenceOnline, type AlertSink, type SequenceAnomaly } from '../../services/predict/online.ts';

const T = Date.UTC(2026, 0, 1, 12);
const realNow = Date.now;
afterEach(() => (Date.now = realNow));

function scorer() {
  const sent: Parameters<AlertSink>[1][] = [];
  const online = new SequenceOnline(
    {
      telemetry: undefined as never, queues: undefined as never, log: pino({ level: 'silent' }), modelsDir: '/nonexistent', modelName: 'm',
      model: async () => null, reload: () => {}, defaultTenant: 't',
      alert: async (_tenant, a) => void sent.push(a),
    },
    { ...DEFAULT_ONLINE, alertTtlMs: 30_000 },
  );
  // raise() is the scorer's private step after a trace is judged; driven directly with a controlled clock.
  const raise = (t: number, now: number) => {
    Date.now = () => now;
    const a: SequenceAnomaly = { kind: 'sequence_anomaly', t, traceId: `tr${t}`, entryService: 'service:frontend', callService: 'service:cart', unexpected: 'cart:POST /pay', previous: 'frontend:GET /', calls: [], score: Infinity, threshold: 2, significant: true };
    return (online as unknown as { raise(a: SequenceAnomaly): Promise<void> }).raise(a);
  };
  return { sent, raise };
}

describe('API-flow alerts', () => {
  it('refreshes a live alert at most every half TTL, its end counted from when the trace was scored', async () => {
    const { sent, raise } = scorer();
    await raise(T, T + 6000);
    await raise(T + 5000, T + 11_000);
    await raise(T + 16_000, T + 22_000);
    assert.equal(sent.length, 2, 'the trace 5 s later changes nothing');
    assert.deepEqual(sent.map((a) => [a.startsAt, a.endsAt]), [[T, T + 36_000], [T, T + 52_000]]);
    assert.equal(sent[0]!.upstreamKey, sent[1]!.upstreamKey, 'one episode, one alert');
  });

  it('starts a new episode, with its own identity, once the alert has ended', async () => {
    const { sent, raise } = scorer();
    await raise(T, T + 6000);
    // A trace 25 s later in trace time, scored after the alert ended (T + 36 s): by then the alert service
    // has resolved the alert, so this is a new episode, not the old alert firing again.
    await raise(T + 25_000, T + 37_000);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.startsAt, T + 25_000);
    assert.notEqual(sent[1]!.upstreamKey, sent[0]!.upstreamKey);
    assert.match(sent[1]!.upstreamKey!, /^api-sequence\|service:frontend\|cart:POST \/pay\|/);
  });
});
