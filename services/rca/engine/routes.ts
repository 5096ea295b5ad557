/** On-demand RCA: for an entity at a time, or for an incident. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AlertService } from '../alerts/service.ts';
import type { RcaService } from './service.ts';

const Evidence = Type.Object({
  signal: Type.String(), indicator: Type.String(), baseline: Type.Number(), observed: Type.Number(), z: Type.Number(), onset: Type.Optional(Type.Number()),
});
const Cause = Type.Object({
  entity: Type.String(), kind: Type.String(), confidence: Type.Number(), score: Type.Number(), evidence: Type.Array(Evidence), path: Type.Array(Type.String()), hint: Type.String(),
});
export const RcaResultSchema = Type.Object({
  symptom: Type.String(),
  t: Type.Number(),
  causes: Type.Array(Cause),
  services: Type.Array(Type.Object({ service: Type.String(), score: Type.Number(), kind: Type.String() })),
  incidentId: Type.Optional(Type.String()),
  incidentVersion: Type.Optional(Type.Number()),
});
const NotFound = Type.Object({ code: Type.Number(), message: Type.String() });
const SEC = { tags: ['rca'], security: [{ bearer: [] }] };

export const rcaRoutes: FastifyPluginAsyncTypebox<{ rca: RcaService; alerts: AlertService }> = async (app, { rca, alerts }) => {
  app.post(
    '/api/v1/rca',
    {
      schema: {
        ...SEC,
        summary: 'Rank root causes for an entity at a time, or for an incident',
        body: Type.Object({
          entity: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          incident: Type.Optional(Type.String({ minLength: 1 })),
          time: Type.Optional(Type.String({ description: 'RFC 3339 or epoch milliseconds; default now (entity) or the incident start. With an incident: the moment asked about, whose alerts (from 5 min before to 2 min after) are the symptoms' })),
        }),
        response: { 200: RcaResultSchema, 400: NotFound, 404: NotFound },
      },
    },
    async (req, reply) => {
      const { entity, incident, time } = req.body;
      if (!entity === !incident) return reply.code(400).send({ code: 400, message: 'give exactly one of entity or incident' });
      let t = Date.now();
      if (time !== undefined) {
        t = /^\d+$/.test(time) ? Number(time) : Date.parse(time);
        if (!Number.isFinite(t)) return reply.code(400).send({ code: 400, message: `time: "${time}" is not RFC 3339 or epoch milliseconds` });
      }
      if (incident) {
        const inc = alerts.engine.incidents.get(incident);
        if (!inc || inc.tenant !== req.tenant) return reply.code(404).send({ code: 404, message: `no incident ${incident}` });
        const r = await rca.forIncident(inc, time !== undefined ? t : undefined);
        if (!r) return reply.code(404).send({ code: 404, message: `incident ${incident} has no entity to start from` });
        return r;
      }
      return rca.analyze(entity!, t);
    },
  );

  app.get(
    '/api/v1/incidents/:id/rca',
    { schema: { ...SEC, summary: 'The root causes of an incident (computed when missing or stale)', params: Type.Object({ id: Type.String() }), response: { 200: RcaResultSchema, 404: NotFound } } },
    async (req, reply) => {
      const inc = alerts.engine.incidents.get(req.params.id);
      if (!inc || inc.tenant !== req.tenant) return reply.code(404).send({ code: 404, message: `no incident ${req.params.id}` });
      const r = await rca.forIncident(inc);
      if (!r) return reply.code(404).send({ code: 404, message: `incident ${req.params.id} has no entity to start from` });
      return r;
    },
  );
};
