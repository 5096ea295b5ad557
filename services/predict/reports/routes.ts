/** Prediction report API: list, one report as JSON or HTML (inline SVG charts), and build one now. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { renderReportHtml } from './html.ts';
import { Report, ReportSummary, summarize } from './model.ts';
import type { ReportService } from './service.ts';

const Problem = Type.Object({ code: Type.Number(), message: Type.String() });
const SEC = { tags: ['predict'], security: [{ bearer: [] }] };
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const reportRoutes: FastifyPluginAsyncTypebox<{ reports: ReportService }> = async (app, { reports }) => {
  app.get(
    '/api/v1/reports',
    {
      schema: {
        ...SEC,
        summary: 'Prediction reports, newest first',
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }) }),
        response: { 200: Type.Object({ reports: Type.Array(ReportSummary) }) },
      },
    },
    async (req) => ({ reports: (await reports.store.list(req.query.limit)).map(summarize) }),
  );

  app.get(
    '/api/v1/reports/:id',
    { schema: { ...SEC, summary: 'One prediction report', params: Id, response: { 200: Report, 404: Problem } } },
    async (req, reply) => {
      const r = await reports.store.get(req.params.id);
      if (!r) return reply.code(404).send({ code: 404, message: `no report ${req.params.id}` });
      return r;
    },
  );

  app.get(
    '/api/v1/reports/:id/html',
    { schema: { ...SEC, summary: 'One prediction report as an HTML page with SVG charts', params: Id, produces: ['text/html'] } },
    async (req, reply) => {
      const r = await reports.store.get(req.params.id);
      if (!r) return reply.code(404).send({ code: 404, message: `no report ${req.params.id}` });
      return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(renderReportHtml(r));
    },
  );

  app.post(
    '/api/v1/reports',
    {
      schema: {
        ...SEC,
        summary: 'Build and store a report now (default: the period that ended last)',
        body: Type.Optional(Type.Object({ from: Type.Optional(Type.Integer({ minimum: 0 })), to: Type.Optional(Type.Integer({ minimum: 0 })) })),
        response: { 200: Report, 400: Problem },
      },
    },
    async (req, reply) => {
      const now = Date.now();
      const to = req.body?.to ?? now;
      const from = req.body?.from ?? to - reports.periodMs;
      if (!(from < to)) return reply.code(400).send({ code: 400, message: 'from must be before to' });
      return reports.run({ from, to, trigger: 'api' });
    },
  );
};
