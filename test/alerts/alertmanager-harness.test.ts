/**
 * Proves test/helpers/alertmanager.ts against a real Alertmanager 0.25 and the capture sink (not
 * against Rootline): grouping, partial and full resolve, retry after a 5xx, repeats, and the
 * fingerprint rule. Each test starts its own Alertmanager with short intervals; the file takes ~15 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { ALERTMANAGER_MISSING, startAlertmanager, startWebhookSink } from '../helpers/alertmanager.ts';
import type { AlertmanagerOptions, AmAlert, AmWebhookBody, SinkRequest, TestAlertmanager, WebhookSink } from '../helpers/alertmanager.ts';

/** Go's zero time: what a firing alert carries as endsAt in a webhook body. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
const WAIT_MS = 15_000;

/**
 * Alertmanager's (Prometheus model's) label-set fingerprint: FNV-1a-64 over the label pairs sorted
 * by name, each written as name, 0xff, value, 0xff; printed as 16 lowercase hex digits.
 */
function fingerprint(labels: Record<string, string>): string {
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  let hash = 0xcbf29ce484222325n;
  const feed = (bytes: Iterable<number>): void => {
    for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * prime) & mask;
  };
  for (const name of Object.keys(labels).sort()) {
    feed(Buffer.from(name, 'utf8'));
    feed([0xff]);
    feed(Buffer.from(labels[name] ?? '', 'utf8'));
    feed([0xff]);
  }
  return hash.toString(16).padStart(16, '0');
}

/** Starts a sink and an Alertmanager delivering to it, or skips the test when the binary is missing. */
async function setup(
  t: TestContext,
  opts: Omit<AlertmanagerOptions, 'webhookUrl'>,
  sinkOpts: { failFirst?: number } = {},
): Promise<{ am: TestAlertmanager; sink: WebhookSink } | null> {
  const sink = await startWebhookSink(sinkOpts, t);
  const am = await startAlertmanager({ ...opts, webhookUrl: sink.url }, t);
  if (am === null) {
    t.skip(ALERTMANAGER_MISSING);
    return null;
  }
  return { am, sink };
}

function bodyOf(req: SinkRequest): AmWebhookBody {
  assert.ok(req.body !== undefined, `webhook body was not JSON: ${req.raw.slice(0, 200)}`);
  return req.body;
}

function alertFor(body: AmWebhookBody, labels: Record<string, string>) {
  const fp = fingerprint(labels);
  const found = body.alerts.find((a) => a.fingerprint === fp);
  assert.ok(found, `no alert with fingerprint ${fp} (${JSON.stringify(labels)}) in ${JSON.stringify(body.alerts)}`);
  return found;
}

const fingerprints = (body: AmWebhookBody): string[] => body.alerts.map((a) => a.fingerprint).sort();

const latency = (instance: string): AmAlert => ({
  labels: { alertname: 'HighLatency', cluster: 'prod', service: 'checkout', severity: 'warning', instance },
  annotations: { summary: 'p99 latency > 1s', description: `${instance} slow` },
  generatorURL: 'http://prometheus.local/graph?g0.expr=latency',
});

describe('Alertmanager harness (real prometheus-alertmanager → webhook sink)', () => {
  it('computes the same fingerprints as the captured Alertmanager 0.25 bodies', () => {
    // From /work/shared/fixtures/alertmanager/post-1.json, post-2.json and retry-truncation/post-1.json.
    assert.equal(
      fingerprint({ alertname: 'HighLatency', cluster: 'prod', instance: 'checkout-1:8080', service: 'checkout', severity: 'warning' }),
      '48ca1ad69155db26',
    );
    assert.equal(fingerprint({ alertname: 'DBDown', cluster: 'staging', service: 'postgres', severity: 'critical' }), '4a66ce148d18a717');
    assert.equal(fingerprint({ instance: 'a', alertname: 'X' }), '109a9abdc9362f9a');
    // The empty label set hashes to the FNV-64 offset basis.
    assert.equal(fingerprint({}), 'cbf29ce484222325');
  });

  it('(a) delivers two alerts of one group in ONE version-4 body, with bearer auth and fingerprints', async (t) => {
    const env = await setup(t, { bearerToken: 's3cret-token', groupBy: ['alertname', 'cluster'], groupWaitMs: 1000, groupIntervalMs: 2000 });
    if (env === null) return;
    const { am, sink } = env;
    const a1 = latency('checkout-1:8080');
    const a2 = latency('checkout-2:8080');
    // An alert that started long ago: Alertmanager skips group_wait for a new group whose alert's
    // startsAt + group_wait is already past, and flushes it at once.
    const oldStart = new Date(Date.now() - 60_000);
    const other: AmAlert = { labels: { alertname: 'DBDown', cluster: 'staging', severity: 'critical' }, annotations: { summary: 'db down' }, startsAt: oldStart };

    const pushedAt = Date.now();
    await am.push([a1, a2, other]);
    const req = await sink.waitFor((r) => r.body?.groupLabels.alertname === 'HighLatency', WAIT_MS);
    const elapsed = req.receivedAt - pushedAt;
    const dbReq = await sink.waitFor((r) => r.body?.groupLabels.alertname === 'DBDown', WAIT_MS);
    const dbElapsed = dbReq.receivedAt - pushedAt;
    t.diagnostic(`push → webhook: ${elapsed} ms (group_wait 1s, startsAt now); ${dbElapsed} ms (startsAt 60 s ago)`);

    // Not before group_wait (a little slack for timer granularity), and not absurdly late.
    assert.ok(elapsed >= 900, `notified after ${elapsed} ms, before group_wait 1000 ms`);
    assert.ok(elapsed < 5000, `notified after ${elapsed} ms`);
    assert.ok(dbElapsed < 900, `old alert notified after ${dbElapsed} ms: group_wait was not skipped`);

    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hook');
    assert.equal(req.headers.authorization, 'Bearer s3cret-token');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.match(req.headers['user-agent'] ?? '', /^Alertmanager\/0\.\d+/);

    const body = bodyOf(req);
    assert.equal(body.version, '4');
    assert.equal(body.status, 'firing');
    assert.equal(body.receiver, 'webhook');
    assert.equal(body.groupKey, '{}:{alertname="HighLatency", cluster="prod"}');
    assert.deepEqual(body.groupLabels, { alertname: 'HighLatency', cluster: 'prod' });
    assert.deepEqual(body.commonLabels, { alertname: 'HighLatency', cluster: 'prod', service: 'checkout', severity: 'warning' });
    assert.deepEqual(body.commonAnnotations, { summary: 'p99 latency > 1s' });
    assert.equal(body.truncatedAlerts, 0);
    // Derived from the machine's hostname and the listen port, not from 127.0.0.1.
    assert.equal(new URL(body.externalURL).port, new URL(am.url).port);
    assert.equal(body.alerts.length, 2);
    for (const pushed of [a1, a2]) {
      const got = alertFor(body, pushed.labels);
      assert.match(got.fingerprint, /^[0-9a-f]{16}$/);
      assert.equal(got.status, 'firing');
      assert.deepEqual(got.labels, pushed.labels);
      assert.deepEqual(got.annotations, pushed.annotations);
      assert.equal(got.generatorURL, pushed.generatorURL);
      // Without startsAt, Alertmanager stamps the time it received the alert (nanosecond precision).
      const startsAt = Date.parse(got.startsAt);
      assert.ok(Math.abs(startsAt - pushedAt) < 2000, `startsAt ${got.startsAt} vs push at ${new Date(pushedAt).toISOString()}`);
      assert.equal(got.endsAt, GO_ZERO_TIME);
    }
    assert.notEqual(body.alerts[0]?.fingerprint, body.alerts[1]?.fingerprint);

    // The other group is its own notification, never mixed into this body.
    const db = bodyOf(dbReq);
    assert.equal(db.groupKey, '{}:{alertname="DBDown", cluster="staging"}');
    assert.deepEqual(fingerprints(db), [fingerprint(other.labels)]);
    assert.equal(Date.parse(db.alerts[0]?.startsAt ?? ''), oldStart.getTime());
    assert.equal(db.alerts[0]?.generatorURL, '');
  });

  it('(b) partial resolve marks one alert resolved; full resolve resolves the group', async (t) => {
    const env = await setup(t, { groupBy: ['alertname', 'cluster'], groupWaitMs: 500, groupIntervalMs: 1000 });
    if (env === null) return;
    const { am, sink } = env;
    const a1 = latency('checkout-1:8080');
    const a2 = latency('checkout-2:8080');
    const fp1 = fingerprint(a1.labels);
    const fp2 = fingerprint(a2.labels);

    await am.push([a1, a2]);
    const first = bodyOf(await sink.waitFor((r) => r.body?.alerts.length === 2, WAIT_MS));
    assert.equal(first.status, 'firing');
    assert.deepEqual(fingerprints(first), [fp1, fp2].sort());
    const startsAt1 = alertFor(first, a1.labels).startsAt;

    // Partial: the whole group is re-sent, one alert resolved, so the group status stays "firing".
    const resolvedAt1 = new Date();
    await am.resolve([a1], resolvedAt1);
    const partialReq = await sink.waitFor((r) => r.body?.alerts.some((a) => a.fingerprint === fp1 && a.status === 'resolved') === true, WAIT_MS);
    t.diagnostic(`resolve → webhook: ${partialReq.receivedAt - resolvedAt1.getTime()} ms (group_interval 1s)`);
    const partial = bodyOf(partialReq);
    assert.equal(partial.status, 'firing');
    assert.equal(partial.alerts.length, 2);
    const r1 = alertFor(partial, a1.labels);
    assert.equal(r1.status, 'resolved');
    assert.equal(Date.parse(r1.endsAt), resolvedAt1.getTime());
    assert.equal(r1.startsAt, startsAt1, 'resolving keeps the original startsAt');
    const f2 = alertFor(partial, a2.labels);
    assert.equal(f2.status, 'firing');
    assert.equal(f2.endsAt, GO_ZERO_TIME);
    assert.equal(partial.groupKey, first.groupKey);

    // Full: once the resolved alert was delivered it leaves the group, so the last body holds only a2.
    const resolvedAt2 = new Date();
    await am.resolve([a2], resolvedAt2);
    const fullReq = await sink.waitFor((r) => r.body?.status === 'resolved', WAIT_MS);
    const full = bodyOf(fullReq);
    assert.equal(full.groupKey, first.groupKey);
    assert.deepEqual(fingerprints(full), [fp2]);
    assert.ok(full.alerts.every((a) => a.status === 'resolved'));
    assert.equal(Date.parse(alertFor(full, a2.labels).endsAt), resolvedAt2.getTime());
    assert.deepEqual(full.commonLabels, a2.labels);

    // A fully resolved group is dropped: nothing more arrives on the following group_interval ticks.
    const count = sink.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(sink.requests.length, count, `unexpected notifications after full resolve: ${sink.requests.length - count}`);
  });

  it('(c) retries after a 500 with the same body (at-least-once delivery)', async (t) => {
    const env = await setup(t, { bearerToken: 'retry-token', groupWaitMs: 200, groupIntervalMs: 2000 }, { failFirst: 1 });
    if (env === null) return;
    const { am, sink } = env;
    const alerts: AmAlert[] = [
      { labels: { alertname: 'X', instance: 'a' } },
      { labels: { alertname: 'X', instance: 'b' }, annotations: { summary: 'b' } },
    ];
    await am.push(alerts);
    const ok = await sink.waitFor((r) => r.status === 200, WAIT_MS);
    const [failed, retried] = sink.requests;
    assert.ok(failed !== undefined && retried !== undefined);
    assert.equal(failed.status, 500);
    assert.equal(retried, ok, 'the first 200 is the second request: the retry');
    t.diagnostic(`500 → retry: ${retried.receivedAt - failed.receivedAt} ms`);
    assert.ok(retried.receivedAt - failed.receivedAt < 10_000);

    const b1 = bodyOf(failed);
    const b2 = bodyOf(retried);
    assert.deepEqual(fingerprints(b1), alerts.map((a) => fingerprint(a.labels)).sort());
    assert.deepEqual(fingerprints(b2), fingerprints(b1));
    assert.deepEqual(b2, b1, 'the retry carries the identical body');
    assert.equal(retried.headers.authorization, 'Bearer retry-token');
    assert.equal(failed.headers.authorization, 'Bearer retry-token');
    assert.match(am.logs(), /Notify attempt failed, will retry later.*status code 500/);
  });

  // Alertmanager only re-checks a group on its group_interval ticks, so repeat_interval cannot make
  // repeats faster than group_interval (config accepts any value > 0, even 1ms). With
  // repeat_interval == group_interval it is a race between the notification-log timestamp of the
  // last send and the next tick: usually the entry is just too young and the repeat comes 2 ticks
  // later (~2 s with 1s/1s), under CPU load sometimes after 1 tick (~1 s). Both satisfy "after
  // repeat_interval", which is what is asserted.
  it('(d) re-sends an unchanged group when repeat_interval has passed', async (t) => {
    const env = await setup(t, { groupWaitMs: 200, groupIntervalMs: 1000, repeatIntervalMs: 1000 });
    if (env === null) return;
    const { am, sink } = env;
    const alert: AmAlert = { labels: { alertname: 'Repeat', instance: 'r1' }, annotations: { summary: 'still broken' } };
    await am.push([alert]);
    const second = await sink.waitFor((_r, all) => all.length >= 2, WAIT_MS);
    const first = sink.requests[0];
    assert.ok(first !== undefined);
    const gap = second.receivedAt - first.receivedAt;
    t.diagnostic(`repeat gap: ${gap} ms (group_interval 1s, repeat_interval 1s)`);
    assert.ok(gap >= 900, `repeat after ${gap} ms, before repeat_interval`);
    assert.ok(gap < 6000, `repeat after ${gap} ms`);
    // Nothing changed, so the repeat is the same notification again.
    assert.deepEqual(bodyOf(second), bodyOf(first));
    assert.deepEqual(fingerprints(bodyOf(second)), [fingerprint(alert.labels)]);
    assert.equal(bodyOf(second).status, 'firing');
  });

  it('(e) a new alert joining a notified group is sent with the whole group on the next group_interval tick', async (t) => {
    const env = await setup(t, { groupWaitMs: 200, groupIntervalMs: 1000 });
    if (env === null) return;
    const { am, sink } = env;
    const x1: AmAlert = { labels: { alertname: 'Join', instance: 'j1' } };
    const x2: AmAlert = { labels: { alertname: 'Join', instance: 'j2' } };
    await am.push([x1]);
    const first = await sink.waitFor(() => true, WAIT_MS);
    assert.deepEqual(fingerprints(bodyOf(first)), [fingerprint(x1.labels)]);
    const joinedAt = Date.now();
    await am.push([x2]);
    const joined = await sink.waitFor((r) => r.body?.alerts.length === 2, WAIT_MS);
    t.diagnostic(`join → webhook: ${joined.receivedAt - joinedAt} ms; first send → second: ${joined.receivedAt - first.receivedAt} ms`);
    // Sent on a tick of the group's timer (started at the first flush), not group_wait after the join.
    assert.ok(joined.receivedAt - first.receivedAt >= 900);
    assert.deepEqual(fingerprints(bodyOf(joined)), [x1, x2].map((a) => fingerprint(a.labels)).sort());
    assert.ok(bodyOf(joined).alerts.every((a) => a.status === 'firing'));
    // With repeat_interval 1h (the default) nothing was sent in between: the join caused this send.
    assert.equal(sink.requests.indexOf(joined), 1);
  });
});
