/** The security API: the rules in force, a check of a rules text, a reload of the rules file, the baselines. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Baselines } from './baseline.ts';
import { loadRules, RulesError } from './rules/load.ts';
import type { RulesState, SecurityRole } from './index.ts';

const SEC = { tags: ['security'], security: [{ bearer: [] }] };
const Problems = Type.Object({ code: Type.Number(), message: Type.String(), problems: Type.Array(Type.String()) });
const RuleInfo = Type.Object({
  name: Type.String(), desc: Type.String(), condition: Type.String(), output: Type.String(), priority: Type.String(), kind: Type.String(),
  tags: Type.Array(Type.String()), reference: Type.String(), category: Type.String(),
});

export const securityRoutes: FastifyPluginAsyncTypebox<{ state: () => RulesState; reload: SecurityRole['reload']; baselines: Baselines; tenant: string }> = async (app, opts) => {
  // The rules and baselines are the security watch's, which serves one tenant (collector events carry none):
  // other tenants' tokens may not read what every workload does, nor change the rules.
  app.addHook('preHandler', async (req, reply) => {
    if (req.tenant !== opts.tenant) return reply.code(403).send({ code: 403, message: `the security rules and baselines belong to tenant '${opts.tenant}'` });
  });

  app.get(
    '/api/v1/security/rules',
    {
      schema: {
        ...SEC, summary: 'The security rules in force, where they came from, and the last refused load',
        response: {
          200: Type.Object({
            source: Type.String(), loadedAt: Type.Number(), lists: Type.Number(), macros: Type.Number(), rules: Type.Array(RuleInfo),
            lastError: Type.Optional(Type.Object({ at: Type.Number(), problems: Type.Array(Type.String()) })),
          }),
        },
      },
    },
    async () => {
      const s = opts.state();
      return {
        source: s.source, loadedAt: s.loadedAt, lists: s.rules.lists, macros: s.rules.macros,
        rules: s.rules.rules.map(({ match: _m, render: _r, ...r }) => r),
        ...(s.lastError ? { lastError: s.lastError } : {}),
      };
    },
  );

  app.post(
    '/api/v1/security/rules/reload',
    { schema: { ...SEC, summary: 'Re-read the rules file; a file with problems is refused and the running rules stay', response: { 200: Type.Object({ rules: Type.Number() }), 422: Problems } } },
    async (_req, reply) => {
      const r = opts.reload();
      if (r.ok) return { rules: r.rules };
      return reply.code(422).send({ code: 422, message: 'rules file refused: the previous rules stay in force', problems: r.problems });
    },
  );

  app.post(
    '/api/v1/security/rules/check',
    {
      schema: {
        ...SEC, summary: 'Check a rules text without loading it',
        body: Type.Object({ yaml: Type.String({ maxLength: 1_000_000 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ rules: Type.Number(), lists: Type.Number(), macros: Type.Number() }), 400: Problems },
      },
    },
    async (req, reply) => {
      try {
        const r = loadRules(req.body.yaml, 'body');
        return { rules: r.rules.length, lists: r.lists, macros: r.macros };
      } catch (err) {
        if (!(err instanceof RulesError)) throw err;
        return reply.code(400).send({ code: 400, message: 'rules refused', problems: err.problems });
      }
    },
  );

  app.get(
    '/api/v1/security/baselines',
    {
      schema: {
        ...SEC, summary: 'Learned per-workload baselines: programs, listening ports and outbound destinations',
        querystring: Type.Object({ workload: Type.Optional(Type.String({ maxLength: 4096 })), limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }) }),
        response: {
          200: Type.Object({
            workloads: Type.Array(Type.Object({ workload: Type.String(), first: Type.Number(), processes: Type.Array(Type.String()), ports: Type.Array(Type.String()), peers: Type.Array(Type.String()) })),
          }),
        },
      },
    },
    async (req) => {
      const { workload, limit } = req.query;
      const b = workload ? opts.baselines.get(workload) : undefined;
      if (workload) return { workloads: b ? [{ workload, first: b.first, processes: [...b.processes], ports: [...b.ports], peers: [...b.peers] }] : [] };
      return { workloads: opts.baselines.list(limit) };
    },
  );
};
