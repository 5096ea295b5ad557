/**
 * One place that turns environment variables into a validated, typed config.
 * `loadConfig` never reads `process.env` itself: `services/main.ts` hands it the environment, so tests can
 * pass their own. Every bad variable is collected and reported in a single error.
 */
import { availableParallelism } from 'node:os';

export type Role = 'ingest' | 'topology' | 'rca' | 'predict';
export const ALL_ROLES: readonly Role[] = ['ingest', 'topology', 'rca', 'predict'];

export interface Config {
  roles: Role[];
  host: string;
  port: number;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  auth: { enabled: boolean; tokens: Map<string, string> /* token -> tenant */ };
  clickhouse: { url?: string; user: string; password: string; database: string };
  neo4j: { uri?: string; user: string; password: string };
  redis: { url?: string };
  ingest: {
    maxBodyBytes: number;
    maxDecompressedBytes: number;
    maxAttributes: number;
    maxFutureSkewMs: number;
    workers: number;
    maxQueuedRequests: number;
    walMaxBacklogBytes: number;
    walSync: 'none' | 'always';
    flushIntervalMs: number;
    flushMaxBytes: number;
  };
  retentionDays: number;
  alerts: {
    windowMs: number;
    maxIncidentAgeMs: number;
    hops: number;
    minAlerts: number;
    dedupLabels: string[];
    ratePerS: number;
    hmacSecret?: string;
    tickMs: number;
  };
  /** Rootline's own golden-signal detection: alerts into the incident flow. */
  /**
   * Rootline's own detection. `stepMs` is also RCA's series step: detection and RCA look at the same points;
   * `settleMs` is how long telemetry may take to land before a step is judged; `lookbackMs` the baseline reach.
   */
  watch: { enabled: boolean; intervalMs: number; tenant: string; stepMs: number; settleMs: number; lookbackMs: number; quietMs: number };
  /** The security watch over collector events (services/security). `rulesFile` empty: the default rules. */
  security: { enabled: boolean; rulesFile: string; intervalMs: number; learnMs: number; resolveAfterMs: number; tenant: string };
  sequences: { alertTtlMs: number };
  reports: { periodMs: number; errorRateThreshold: number; latencyFactor: number; webhookUrl?: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and validates the configuration; throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env, overrides: { roles?: string } = {}): Config {
  const problems: string[] = [];
  const str = (name: string, dflt: string): string => env[name] ?? dflt;
  const opt = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const numeric = (name: string, dflt: number, min: number, max: number, integer: boolean): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < min || n > max) {
      problems.push(`${name}=${raw}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return dflt;
    }
    return n;
  };
  const int = (name: string, dflt: number, min: number, max: number): number => numeric(name, dflt, min, max, true);
  const num = (name: string, dflt: number, min: number, max: number): number => numeric(name, dflt, min, max, false);
  const oneOf = <T extends string>(name: string, dflt: T, allowed: readonly T[]): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name}=${raw}: expected one of ${allowed.join(', ')}`);
      return dflt;
    }
    return raw as T;
  };
  const url = (name: string, schemes: string[]): string | undefined => {
    const raw = opt(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!schemes.includes(u.protocol.replace(/:$/, ''))) {
        problems.push(`${name}=${raw}: expected a ${schemes.join(' or ')} URL`);
      }
    } catch {
      problems.push(`${name}=${raw}: not a URL`);
    }
    return raw;
  };

  const rolesRaw = overrides.roles ?? str('ROOTLINE_ROLES', 'all');
  const roles: Role[] = [];
  for (const r of rolesRaw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (r === 'all') roles.push(...ALL_ROLES);
    else if ((ALL_ROLES as readonly string[]).includes(r)) roles.push(r as Role);
    else problems.push(`role "${r}": expected all, ${ALL_ROLES.join(', ')}`);
  }

  const authMode = oneOf('ROOTLINE_AUTH', 'on', ['on', 'off'] as const);
  const tokens = new Map<string, string>();
  for (const entry of str('ROOTLINE_TOKENS', '').split(',').map((s) => s.trim()).filter(Boolean)) {
    // "tenant:token" or a bare token for the default tenant.
    const idx = entry.indexOf(':');
    const [tenant, token] = idx > 0 ? [entry.slice(0, idx), entry.slice(idx + 1)] : ['default', entry];
    if (token.length < 16) problems.push(`ROOTLINE_TOKENS: a token for tenant "${tenant}" is shorter than 16 characters`);
    else tokens.set(token, tenant);
  }

  const cores = availableParallelism();
  const config: Config = {
    roles: [...new Set(roles)],
    host: str('ROOTLINE_HOST', '127.0.0.1'),
    port: int('ROOTLINE_PORT', 8080, 0, 65535),
    dataDir: str('ROOTLINE_DATA_DIR', './data'),
    logLevel: oneOf('ROOTLINE_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    auth: { enabled: authMode === 'on', tokens },
    clickhouse: {
      url: url('CLICKHOUSE_URL', ['http', 'https']),
      user: str('CLICKHOUSE_USER', 'default'),
      password: str('CLICKHOUSE_PASSWORD', ''),
      database: str('CLICKHOUSE_DATABASE', 'rootline'),
    },
    neo4j: {
      uri: url('NEO4J_URI', ['bolt', 'neo4j', 'bolt+s', 'neo4j+s']),
      user: str('NEO4J_USER', 'neo4j'),
      password: str('NEO4J_PASSWORD', ''),
    },
    redis: { url: url('REDIS_URL', ['redis', 'rediss']) },
    ingest: {
      maxBodyBytes: int('ROOTLINE_MAX_BODY_BYTES', 8 * 1024 * 1024, 1024, 512 * 1024 * 1024),
      maxDecompressedBytes: int('ROOTLINE_MAX_DECOMPRESSED_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      maxAttributes: int('ROOTLINE_MAX_ATTRIBUTES', 256, 1, 100_000),
      maxFutureSkewMs: int('ROOTLINE_MAX_FUTURE_SKEW_MS', 60 * 60 * 1000, 0, 7 * 24 * 3600 * 1000),
      workers: int('ROOTLINE_INGEST_WORKERS', Math.max(1, cores), 1, 64),
      maxQueuedRequests: int('ROOTLINE_INGEST_MAX_QUEUED', 256, 1, 100_000),
      walMaxBacklogBytes: int('ROOTLINE_WAL_MAX_BACKLOG_BYTES', 2 * 1024 ** 3, 1024 * 1024, Number.MAX_SAFE_INTEGER),
      walSync: oneOf('ROOTLINE_WAL_SYNC', 'none', ['none', 'always'] as const),
      flushIntervalMs: int('ROOTLINE_FLUSH_INTERVAL_MS', 1000, 10, 60_000),
      flushMaxBytes: int('ROOTLINE_FLUSH_MAX_BYTES', 32 * 1024 * 1024, 1024, 1024 ** 3),
    },
    // 0 keeps data forever: replays of old incidents (the RCA evaluation) would otherwise expire on insert.
    retentionDays: int('ROOTLINE_RETENTION_DAYS', 7, 0, 3650),
    alerts: {
      windowMs: int('ROOTLINE_ALERT_WINDOW_MS', 10 * 60_000, 1000, 24 * 3600_000),
      maxIncidentAgeMs: int('ROOTLINE_INCIDENT_MAX_AGE_MS', 4 * 3600_000, 60_000, 30 * 24 * 3600_000),
      hops: int('ROOTLINE_ALERT_HOPS', 3, 0, 10),
      minAlerts: int('ROOTLINE_INCIDENT_MIN_ALERTS', 1, 1, 1000),
      dedupLabels: str('ROOTLINE_ALERT_DEDUP_LABELS', '').split(',').map((x) => x.trim()).filter(Boolean),
      ratePerS: int('ROOTLINE_ALERT_RATE_PER_S', 20_000, 1, 10_000_000),
      hmacSecret: opt('ROOTLINE_WEBHOOK_HMAC_SECRET'),
      // How often alerts past their endsAt are resolved, and held-down resolves of flapping alerts finished.
      tickMs: int('ROOTLINE_ALERT_TICK_MS', 30_000, 1000, 600_000),
    },
    // Rootline's own detection of every service's golden signals (alerts into the incident flow).
    watch: {
      enabled: oneOf('ROOTLINE_WATCH', 'on', ['on', 'off'] as const) === 'on',
      intervalMs: int('ROOTLINE_WATCH_INTERVAL_MS', 60_000, 1000, 3600_000),
      tenant: str('ROOTLINE_WATCH_TENANT', 'default'),
      stepMs: int('ROOTLINE_STEP_MS', 60_000, 1000, 600_000),
      settleMs: int('ROOTLINE_WATCH_SETTLE_MS', 30_000, 0, 600_000),
      lookbackMs: int('ROOTLINE_WATCH_LOOKBACK_MS', 3600_000, 60_000, 24 * 3600_000),
      quietMs: int('ROOTLINE_WATCH_QUIET_MS', 120_000, 1000, 24 * 3600_000),
    },
    // Security rules over collector events, and learned per-workload baselines (alerts into the incident flow).
    security: {
      enabled: oneOf('ROOTLINE_SECURITY', 'on', ['on', 'off'] as const) === 'on',
      rulesFile: str('ROOTLINE_SECURITY_RULES', ''),
      intervalMs: int('ROOTLINE_SECURITY_INTERVAL_MS', 2000, 100, 600_000),
      learnMs: int('ROOTLINE_SECURITY_LEARN_MS', 3600_000, 0, 30 * 86_400_000),
      resolveAfterMs: int('ROOTLINE_SECURITY_RESOLVE_MS', 15 * 60_000, 1000, 7 * 86_400_000),
      tenant: str('ROOTLINE_SECURITY_TENANT', 'default'),
    },
    // Online scoring of API call sequences: a flow alert ends this long after its last anomalous trace.
    sequences: {
      alertTtlMs: int('ROOTLINE_SEQUENCE_ALERT_TTL_MS', 60_000, 5000, 24 * 3600_000),
    },
    reports: {
      periodMs: int('ROOTLINE_REPORT_PERIOD_MS', 3600_000, 1000, 7 * 24 * 3600_000),
      errorRateThreshold: num('ROOTLINE_REPORT_ERROR_RATE', 0.05, 0, 1),
      latencyFactor: num('ROOTLINE_REPORT_LATENCY_FACTOR', 2, 1, 100),
      webhookUrl: url('ROOTLINE_REPORT_WEBHOOK_URL', ['http', 'https']),
    },
  };
  if (config.roles.length === 0) problems.push('no role selected');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
