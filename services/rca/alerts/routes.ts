/**
 * The alert webhook (Alertmanager, Grafana, PagerDuty Events v2, generic) and the incident and silence APIs.
 * Bodies are checked for UTF-8 and, when a secret is configured, an HMAC signature over the raw bytes.
 * Each tenant has a rate limit; a notification that resolves anything is never refused by it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AlertmanagerWebhook, fromAlertmanager, fromGeneric, fromPagerDuty, GenericAlerts, PagerDutyEvent, parseRfc3339, type IncomingAlert } from './formats.ts';
import { fingerprint } from './fingerprint.ts';
import type { AlertService } from './service.ts';
import type { AlertState, Incident, Silence } from './model.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly retryAfterS?: number) {
    super(message);
  }
}

/** Token bucket per tenant: `rate` alerts per second, bursting to two seconds' worth. */
class TenantRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly rate: number) {}
  take(tenant: string, n: number, now = Date.now()): boolean {
    const b = this.buckets.get(tenant) ?? { tokens: this.rate * 2, at: now };
    b.tokens = Math.min(this.rate * 2, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    this.buckets.set(tenant, b);
    if (b.tokens < n) return false;
    b.tokens -= n;
    return true;
  }
}

const SEC = { security: [{ bearer: [] }] };
const Accepted = Type.Object({ status: Type.String(), alerts: Type.Integer(), incidents: Type.Array(Type.String()) });
const Alert = Type.Object({
  fingerprint: Type.String(), status: Type.String(), source: Type.String(), labels: Type.Record(Type.String(), Type.String()),
  annotations: Type.Record(Type.String(), Type.String()), startsAt: Type.Number(), endsAt: Type.Optional(Type.Number()), flapping: Type.Boolean(),
  silencedBy: Type.Optional(Type.String()), incidentId: Type.Optional(Type.String()), entities: Type.Array(Type.String()),
});
const IncidentSummary = Type.Object({
  id: Type.String(), status: Type.String(), title: Type.String(), severity: Type.String(), createdAt: Type.Number(), updatedAt: Type.Number(),
  resolvedAt: Type.Optional(Type.Number()),
  reopenedAt: Type.Optional(Type.Number({ description: 'start of its latest episode, when an alert firing again reopened it (RCA runs there)' })),
  alertCount: Type.Integer(), entities: Type.Array(Type.String()), version: Type.Integer(),
});
const IncidentDetail = Type.Intersect([
  IncidentSummary,
  Type.Object({
    alerts: Type.Array(Alert),
    timeline: Type.Array(Type.Object({ t: Type.Number(), event: Type.String(), detail: Type.Optional(Type.String()) })),
    rootCauses: Type.Union([Type.Null(), Type.Array(Type.Unknown())], { description: 'Ranked causes once RCA has run' }),
  }),
]);
const MatcherSchema = Type.Object({ name: Type.String({ minLength: 1 }), value: Type.String(), isRegex: Type.Optional(Type.Boolean()), isEqual: Type.Optional(Type.Boolean()) });
const SilenceInput = Type.Object({
  matchers: Type.Array(MatcherSchema, { maxItems: 32 }),
  entity: Type.Optional(Type.String({ minLength: 1, description: 'Silence this topology entity and everything that runs on it' })),
  startsAt: Type.Optional(Type.String()),
  endsAt: Type.String(),
  createdBy: Type.String({ minLength: 1, maxLength: 256 }),
  comment: Type.String({ maxLength: 4096 }),
});
const SilenceOut = Type.Object({
  id: Type.String(), matchers: Type.Array(MatcherSchema), entity: Type.Optional(Type.String()), startsAt: Type.Number(), endsAt: Type.Number(),
  createdBy: Type.String(), comment: Type.String(),
});
const NotFound = Type.Object({ code: Type.Number(), message: Type.String() });

const summary = (i: Incident) => ({
  id: i.id, status: i.status, title: i.title, severity: i.severity, createdAt: i.createdAt, updatedAt: i.updatedAt,
  ...(i.resolvedAt !== undefined ? { resolvedAt: i.resolvedAt } : {}), ...(i.reopenedAt !== undefined ? { reopenedAt: i.reopenedAt } : {}), alertCount: i.alerts.length, entities: i.entities, version: i.version,
});
const alertOut = (a: AlertState) => ({
  fingerprint: a.fingerprint, status: a.status, source: a.source, labels: a.labels, annotations: a.annotations, startsAt: a.startsAt,
  ...(a.endsAt !== undefined ? { endsAt: a.endsAt } : {}), flapping: a.flapping, ...(a.silencedBy ? { silencedBy: a.silencedBy } : {}),
  ...(a.incidentId ? { incidentId: a.incidentId } : {}), entities: a.entities,
});

export interface AlertRoutesOptions {
  service: AlertService;
  /** Ranked causes of an incident once RCA has run, else null. */
  rootCauses?: (incidentId: string) => unknown[] | null;
  ratePerS: number;
  hmacSecret?: string;
}

export const alertRoutes: FastifyPluginAsyncTypebox<AlertRoutesOptions> = async (app, opts) => {
  const limit = new TenantRateLimit(opts.ratePerS);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (!isUtf8(body)) return done(new HttpError(400, 'body is not valid UTF-8'));
    req.rawBody = body;
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch (err) {
      done(new HttpError(400, `malformed JSON: ${(err as Error).message}`));
    }
  });

  const checkSignature = (req: FastifyRequest) => {
    if (!opts.hmacSecret) return;
    const header = String(req.headers['x-rootline-signature'] ?? '');
    const want = `sha256=${createHmac('sha256', opts.hmacSecret).update(req.rawBody ?? Buffer.alloc(0)).digest('hex')}`;
    if (header.length !== want.length || !timingSafeEqual(Buffer.from(header), Buffer.from(want))) {
      throw new HttpError(401, 'missing or wrong X-Rootline-Signature (sha256=<hex HMAC of the body>)');
    }
  };

  const accept = async (req: FastifyRequest, alerts: IncomingAlert[]) => {
    checkSignature(req);
    const resolves = alerts.some((a) => a.status === 'resolved');
    if (!limit.take(req.tenant, alerts.length) && !resolves) throw new HttpError(429, `alert rate limit for tenant ${req.tenant} exceeded`, 1);
    const r = await opts.service.notify(req.tenant, alerts);
    return { status: 'success', alerts: alerts.length, incidents: [...new Set(r.touched.filter((i) => !i.mergedInto).map((i) => i.id))] };
  };

  for (const [path, source] of [['/api/v1/alerts/alertmanager', 'alertmanager'], ['/api/v1/alerts/grafana', 'grafana']] as const) {
    app.post(path, { schema: { ...SEC, tags: ['alerts'], summary: `${source} webhook`, body: AlertmanagerWebhook, response: { 200: Accepted } } }, async (req) =>
      accept(req, fromAlertmanager(req.body, source, Date.now())),
    );
  }
  app.post(
    '/api/v1/alerts',
    { schema: { ...SEC, tags: ['alerts'], summary: 'Generic alerts: {"alerts":[{"name","status","labels","annotations","startsAt","endsAt","fingerprint"}]}', body: GenericAlerts, response: { 200: Accepted } } },
    async (req) => accept(req, fromGeneric(req.body, Date.now())),
  );
  app.post(
    '/api/v1/alerts/pagerduty',
    {
      schema: {
        ...SEC, tags: ['alerts'], summary: 'PagerDuty Events API v2 (also at /v2/enqueue)', body: PagerDutyEvent,
        response: { 202: Type.Object({ status: Type.String(), message: Type.String(), dedup_key: Type.String() }) },
      },
    },
    async (req, reply) => {
      const e = req.body;
      if (e.event_action === 'trigger' && !e.payload) throw new HttpError(400, 'payload is required for trigger events');
      if (e.event_action !== 'trigger' && !e.dedup_key) throw new HttpError(400, `dedup_key is required for ${e.event_action} events`);
      const dedupKey = e.dedup_key ?? fingerprint({ summary: e.payload!.summary, source: e.payload!.source, routing_key: e.routing_key });
      if (e.event_action === 'acknowledge') {
        checkSignature(req);
        const fpState = opts.service.engine.alerts.get(`${req.tenant}\u0000${dedupKey}`);
        if (fpState?.incidentId) await opts.service.acknowledge(req.tenant, fpState.incidentId, `pagerduty:${e.client ?? 'event'}`);
      } else {
        await accept(req, [fromPagerDuty(e, dedupKey, Date.now())]);
      }
      return reply.code(202).send({ status: 'success', message: 'Event processed', dedup_key: dedupKey });
    },
  );

  app.get(
    '/api/v1/alerts',
    { schema: { ...SEC, tags: ['alerts'], summary: 'Current alert states', querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])) }), response: { 200: Type.Object({ alerts: Type.Array(Alert) }) } } },
    async (req) => ({
      alerts: [...opts.service.engine.alerts.values()].filter((a) => a.tenant === req.tenant && (!req.query.status || a.status === req.query.status)).map(alertOut),
    }),
  );

  app.get(
    '/api/v1/alerts/audit',
    {
      schema: {
        ...SEC, tags: ['alerts'], summary: 'The audit trail: every alert state change, newest last (recent entries; the journal keeps all)',
        querystring: Type.Object({ fingerprint: Type.Optional(Type.String()), incident: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }),
        response: {
          200: Type.Object({
            changes: Type.Array(Type.Object({ t: Type.Number(), fingerprint: Type.String(), change: Type.String(), incidentId: Type.Optional(Type.String()), detail: Type.Optional(Type.String()) })),
          }),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const hits = opts.service.audit.filter((c) => c.tenant === req.tenant && (!q.fingerprint || c.fingerprint === q.fingerprint) && (!q.incident || c.incidentId === q.incident));
      return { changes: hits.slice(-(q.limit ?? 1000)).map(({ tenant: _t, ...c }) => c) };
    },
  );

  app.get(
    '/api/v1/incidents',
    {
      schema: {
        ...SEC, tags: ['incidents'], summary: 'Incidents, newest first',
        querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('acknowledged'), Type.Literal('resolved')])), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Object({ incidents: Type.Array(IncidentSummary) }) },
      },
    },
    async (req) => ({
      incidents: opts.service.engine
        .visibleIncidents(req.tenant)
        .filter((i) => !req.query.status || i.status === req.query.status)
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, req.query.limit ?? 100)
        .map(summary),
    }),
  );

  const getIncident = (tenant: string, id: string) => {
    const inc = opts.service.engine.incidents.get(id);
    return inc && inc.tenant === tenant ? inc : undefined;
  };
  app.get(
    '/api/v1/incidents/:id',
    { schema: { ...SEC, tags: ['incidents'], summary: 'One incident: alerts, timeline, affected entities, root causes', params: Type.Object({ id: Type.String() }), response: { 200: IncidentDetail, 404: NotFound } } },
    async (req, reply) => {
      const inc = getIncident(req.tenant, req.params.id);
      if (!inc) return reply.code(404).send({ code: 404, message: `no incident ${req.params.id}` });
      return { ...summary(inc), alerts: opts.service.engine.alertsOf(inc).map(alertOut), timeline: inc.timeline, rootCauses: opts.rootCauses?.(inc.id) ?? null };
    },
  );
  for (const action of ['acknowledge', 'resolve'] as const) {
    app.post(
      `/api/v1/incidents/:id/${action}`,
      { schema: { ...SEC, tags: ['incidents'], summary: `${action} an incident`, params: Type.Object({ id: Type.String() }), response: { 200: IncidentSummary, 404: NotFound } } },
      async (req, reply) => {
        const by = `tenant:${req.tenant}`;
        const inc = action === 'acknowledge' ? await opts.service.acknowledge(req.tenant, req.params.id, by) : await opts.service.resolve(req.tenant, req.params.id, by);
        if (!inc) return reply.code(404).send({ code: 404, message: `no incident ${req.params.id}` });
        return summary(inc);
      },
    );
  }

  const parseSilence = (tenant: string, b: { matchers: { name: string; value: string; isRegex?: boolean; isEqual?: boolean }[]; entity?: string; startsAt?: string; endsAt: string; createdBy: string; comment: string }, id?: string) => {
    const startsAt = b.startsAt ? parseRfc3339(b.startsAt, 'startsAt') : Date.now();
    const endsAt = parseRfc3339(b.endsAt, 'endsAt');
    if (endsAt <= startsAt) throw new HttpError(400, 'endsAt must be after startsAt');
    if (b.matchers.length === 0 && !b.entity) throw new HttpError(400, 'a silence needs matchers or an entity');
    for (const m of b.matchers) {
      if (m.isRegex) {
        try {
          new RegExp(m.value);
        } catch {
          throw new HttpError(400, `matcher ${m.name}: invalid regular expression`);
        }
      }
    }
    return { id, tenant, matchers: b.matchers, ...(b.entity ? { entity: b.entity } : {}), startsAt, endsAt, createdBy: b.createdBy, comment: b.comment };
  };
  const silenceOut = ({ tenant: _t, ...s }: Silence) => s;

  app.post('/api/v1/silences', { schema: { ...SEC, tags: ['silences'], summary: 'Create a silence or maintenance window', body: SilenceInput, response: { 201: SilenceOut } } }, async (req, reply) =>
    reply.code(201).send(silenceOut(await opts.service.putSilence(parseSilence(req.tenant, req.body)))),
  );
  app.get('/api/v1/silences', { schema: { ...SEC, tags: ['silences'], summary: 'Silences', response: { 200: Type.Object({ silences: Type.Array(SilenceOut) }) } } }, async (req) => ({
    silences: [...opts.service.engine.silences.values()].filter((s) => s.tenant === req.tenant).map(silenceOut),
  }));
  app.get('/api/v1/silences/:id', { schema: { ...SEC, tags: ['silences'], summary: 'One silence', params: Type.Object({ id: Type.String() }), response: { 200: SilenceOut, 404: NotFound } } }, async (req, reply) => {
    const s = opts.service.engine.silences.get(req.params.id);
    if (!s || s.tenant !== req.tenant) return reply.code(404).send({ code: 404, message: `no silence ${req.params.id}` });
    return silenceOut(s);
  });
  app.put('/api/v1/silences/:id', { schema: { ...SEC, tags: ['silences'], summary: 'Replace a silence', params: Type.Object({ id: Type.String() }), body: SilenceInput, response: { 200: SilenceOut, 404: NotFound } } }, async (req, reply) => {
    const s = opts.service.engine.silences.get(req.params.id);
    if (!s || s.tenant !== req.tenant) return reply.code(404).send({ code: 404, message: `no silence ${req.params.id}` });
    return silenceOut(await opts.service.putSilence(parseSilence(req.tenant, req.body, req.params.id)));
  });
  app.delete('/api/v1/silences/:id', { schema: { ...SEC, tags: ['silences'], summary: 'Expire a silence', params: Type.Object({ id: Type.String() }), response: { 204: Type.Null(), 404: NotFound } } }, async (req, reply) => {
    if (!(await opts.service.deleteSilence(req.tenant, req.params.id))) return reply.code(404).send({ code: 404, message: `no silence ${req.params.id}` });
    return reply.code(204).send(null);
  });
};
