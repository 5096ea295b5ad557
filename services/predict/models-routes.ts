/** Model API: versions of the API call-sequence model, training it as a queue job, and the job's progress. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { SequenceOnline } from './online.ts';

const Problem = Type.Object({ code: Type.Number(), message: Type.String() });
const SEC = { tags: ['predict'], security: [{ bearer: [] }] };
const DAY = 86_400_000;

const TrainStatus = Type.Object({
  jobId: Type.String(),
  state: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]),
  from: Type.Number(),
  to: Type.Number(),
  queuedAt: Type.Number(),
  progress: Type.Union([Type.Number(), Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  finishedAt: Type.Optional(Type.Number()),
  version: Type.Optional(Type.String()),
  sessions: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String()),
});

export const modelRoutes: FastifyPluginAsyncTypebox<{ online: SequenceOnline; name: string; versions: () => string[] }> = async (app, { online, name, versions }) => {
  app.get(
    '/api/v1/models',
    {
      schema: {
        ...SEC,
        summary: 'Trained models with their versions (oldest first) and the training jobs of this process (newest first)',
        response: { 200: Type.Object({ models: Type.Array(Type.Object({ name: Type.String(), versions: Type.Array(Type.String()), training: Type.Array(TrainStatus) })) }) },
      },
    },
    async () => ({ models: [{ name, versions: versions(), training: online.trainingJobs() }] }),
  );

  app.post(
    `/api/v1/models/${name}/train`,
    {
      schema: {
        ...SEC,
        summary: 'Train a new version of the API call-sequence model on the traces of [from, to) (default: the last 24 h), as a queue job',
        body: Type.Object({ from: Type.Optional(Type.Integer({ minimum: 0 })), to: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
        response: { 202: TrainStatus, 400: Problem },
      },
    },
    async (req, reply) => {
      const to = req.body.to ?? Date.now();
      const from = req.body.from ?? to - DAY;
      if (from >= to) return reply.code(400).send({ code: 400, message: 'from must be before to' });
      return reply.code(202).send(await online.enqueueTraining({ from, to, tenant: req.tenant }));
    },
  );

  app.get(
    `/api/v1/models/${name}/train/:jobId`,
    { schema: { ...SEC, summary: 'State and progress of a training job', params: Type.Object({ jobId: Type.String({ minLength: 1, maxLength: 128 }) }), response: { 200: TrainStatus, 404: Problem } } },
    async (req, reply) => {
      const s = online.job(req.params.jobId);
      if (!s) return reply.code(404).send({ code: 404, message: `no training job ${req.params.jobId}` });
      return s;
    },
  );
};
