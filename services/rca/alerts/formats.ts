/**
 * The webhook bodies Rootline accepts without adapters, as TypeBox schemas, and their mapping to one
 * normalized alert: Alertmanager (webhook v4), Grafana alerting (same shape, version "1"), PagerDuty Events
 * API v2, and a documented generic form.
 */
import { Type, type Static } from '@sinclair/typebox';

const Labels = Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 4096 }), { maxProperties: 64 });
const Time = Type.String({ maxLength: 64 });

export const AmAlert = Type.Object({
  status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
  labels: Type.Intersect([Labels, Type.Object({ alertname: Type.String({ minLength: 1 }) })]),
  annotations: Type.Optional(Labels),
  startsAt: Time,
  endsAt: Type.Optional(Time),
  generatorURL: Type.Optional(Type.String({ maxLength: 4096 })),
  fingerprint: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{1,32}$' })),
});

/** Alertmanager's webhook (version "4") and Grafana's (version "1", same alert shape plus extras). */
export const AlertmanagerWebhook = Type.Object({
  version: Type.String({ maxLength: 8 }),
  receiver: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
  alerts: Type.Array(AmAlert, { minItems: 1, maxItems: 5000 }),
  groupKey: Type.Optional(Type.String()),
  groupLabels: Type.Optional(Labels),
  commonLabels: Type.Optional(Labels),
  commonAnnotations: Type.Optional(Labels),
  externalURL: Type.Optional(Type.String()),
  truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 })),
  // Grafana extras, accepted and ignored.
  orgId: Type.Optional(Type.Integer()),
  title: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});
export type AlertmanagerWebhook = Static<typeof AlertmanagerWebhook>;

export const PagerDutyEvent = Type.Object({
  routing_key: Type.String({ minLength: 1, maxLength: 128 }),
  event_action: Type.Union([Type.Literal('trigger'), Type.Literal('acknowledge'), Type.Literal('resolve')]),
  dedup_key: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  payload: Type.Optional(
    Type.Object({
      summary: Type.String({ minLength: 1, maxLength: 1024 }),
      source: Type.String({ minLength: 1, maxLength: 255 }),
      severity: Type.Union([Type.Literal('critical'), Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
      timestamp: Type.Optional(Time),
      component: Type.Optional(Type.String()),
      group: Type.Optional(Type.String()),
      class: Type.Optional(Type.String()),
      custom_details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
  client: Type.Optional(Type.String()),
  client_url: Type.Optional(Type.String()),
});
export type PagerDutyEvent = Static<typeof PagerDutyEvent>;

/** The generic form: a list of alerts with labels; `name` or labels.alertname names it. */
export const GenericAlerts = Type.Object({
  alerts: Type.Array(
    Type.Object({
      name: Type.Optional(Type.String({ minLength: 1 })),
      status: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
      labels: Labels,
      annotations: Type.Optional(Labels),
      startsAt: Type.Optional(Time),
      endsAt: Type.Optional(Time),
      fingerprint: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    }),
    { minItems: 1, maxItems: 5000 },
  ),
});
export type GenericAlerts = Static<typeof GenericAlerts>;

export interface IncomingAlert {
  /** `rootline-security`: raised in-process by the security watch; no API accepts it, so it cannot be forged. */
  source: 'alertmanager' | 'grafana' | 'pagerduty' | 'generic' | 'rootline-security';
  /** Upstream identity when the sender gives one (fingerprint or dedup_key). */
  upstreamKey?: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: number;
  endsAt?: number;
  generatorURL?: string;
}

const RFC3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:?\d\d)$/;

/** An RFC 3339 time (and PagerDuty's ±hhmm offset) in ms; not Date.parse's guesses such as "0" or "Nov 25". */
export function parseRfc3339(v: string, what: string): number {
  const t = RFC3339.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw Object.assign(new Error(`${what}: "${v.slice(0, 40)}" is not an RFC 3339 time`), { statusCode: 400 });
  return t;
}

/** Alertmanager writes 0001-01-01 for "no end". */
function time(v: string | undefined, what: string, fallback?: number): number | undefined {
  if (v === undefined || v === '' || v.startsWith('0001-01-01')) return fallback;
  return parseRfc3339(v, what);
}

export function fromAlertmanager(body: AlertmanagerWebhook, source: 'alertmanager' | 'grafana', now: number): IncomingAlert[] {
  if (source === 'alertmanager' && body.version !== '4') {
    throw Object.assign(new Error(`unsupported Alertmanager webhook version "${body.version}"; expected "4"`), { statusCode: 400 });
  }
  return body.alerts.map((a, i) => ({
    source,
    upstreamKey: a.fingerprint?.toLowerCase(),
    status: a.status,
    labels: { ...a.labels },
    annotations: { ...(a.annotations ?? {}) },
    startsAt: time(a.startsAt, `alerts[${i}].startsAt`, now)!,
    endsAt: time(a.endsAt, `alerts[${i}].endsAt`),
    generatorURL: a.generatorURL,
  }));
}

export function fromPagerDuty(e: PagerDutyEvent, dedupKey: string, now: number): IncomingAlert {
  const p = e.payload;
  const labels: Record<string, string> = { alertname: p?.class || p?.summary || 'pagerduty', dedup_key: dedupKey };
  if (p) {
    labels.severity = p.severity;
    labels.source = p.source;
    if (p.component) labels.service = p.component;
    if (p.group) labels.group = p.group;
  }
  return {
    source: 'pagerduty',
    upstreamKey: dedupKey,
    status: e.event_action === 'resolve' ? 'resolved' : 'firing',
    labels,
    annotations: p ? { summary: p.summary } : {},
    startsAt: time(p?.timestamp, 'payload.timestamp', now)!,
  };
}

export function fromGeneric(body: GenericAlerts, now: number): IncomingAlert[] {
  return body.alerts.map((a, i) => {
    const labels = { ...a.labels };
    if (a.name) labels.alertname = a.name;
    if (!labels.alertname) throw Object.assign(new Error(`alerts[${i}]: a name or labels.alertname is required`), { statusCode: 400 });
    return {
      source: 'generic' as const,
      upstreamKey: a.fingerprint,
      status: a.status ?? 'firing',
      labels,
      annotations: { ...(a.annotations ?? {}) },
      startsAt: time(a.startsAt, `alerts[${i}].startsAt`, now)!,
      endsAt: time(a.endsAt, `alerts[${i}].endsAt`),
    };
  });
}
