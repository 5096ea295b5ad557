import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../services/shared/config.ts';

describe('config', () => {
  it('defaults to every role, embedded stores and auth on', () => {
    const c = loadConfig({});
    assert.deepEqual(c.roles, ['ingest', 'topology', 'rca', 'predict']);
    assert.equal(c.clickhouse.url, undefined);
    assert.equal(c.redis.url, undefined);
    assert.equal(c.auth.enabled, true);
  });

  it('lists every bad variable in one error', () => {
    assert.throws(
      () => loadConfig({ ROOTLINE_PORT: 'eighty', REDIS_URL: 'http://x', ROOTLINE_AUTH: 'maybe', ROOTLINE_TOKENS: 'short' }, { roles: 'ingest,nope' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        for (const name of ['ROOTLINE_PORT', 'REDIS_URL', 'ROOTLINE_AUTH', 'ROOTLINE_TOKENS', 'role "nope"']) {
          assert.ok(err.message.includes(name), `${name} missing from: ${err.message}`);
        }
        assert.equal(err.problems.length, 5);
        return true;
      },
    );
  });

  it('reads the report settings, with defaults, and reports bad ones with the rest', () => {
    assert.deepEqual(loadConfig({}).reports, { periodMs: 3_600_000, errorRateThreshold: 0.05, latencyFactor: 2, webhookUrl: undefined });
    const c = loadConfig({ ROOTLINE_REPORT_PERIOD_MS: '60000', ROOTLINE_REPORT_ERROR_RATE: '0.01', ROOTLINE_REPORT_WEBHOOK_URL: 'https://hooks.example/r' });
    assert.equal(c.reports.periodMs, 60_000);
    assert.equal(c.reports.errorRateThreshold, 0.01);
    assert.equal(c.reports.webhookUrl, 'https://hooks.example/r');
    assert.throws(
      () => loadConfig({ ROOTLINE_REPORT_PERIOD_MS: '10', ROOTLINE_REPORT_ERROR_RATE: '5', ROOTLINE_REPORT_LATENCY_FACTOR: 'x', ROOTLINE_PORT: 'eighty' }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 4 && err.message.includes('ROOTLINE_REPORT_PERIOD_MS'),
    );
  });

  it('maps tenant:token pairs and bare tokens to tenants', () => {
    const c = loadConfig({ ROOTLINE_TOKENS: 'acme:0123456789abcdef0123, fedcba9876543210fedc' });
    assert.equal(c.auth.tokens.get('0123456789abcdef0123'), 'acme');
    assert.equal(c.auth.tokens.get('fedcba9876543210fedc'), 'default');
  });
});
