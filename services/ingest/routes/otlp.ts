/**
 * OTLP/HTTP receivers at the spec's paths: /v1/traces, /v1/metrics, /v1/logs, protobuf or JSON, gzip or not.
 * Bodies stay raw Buffers on the event loop; decoding happens in worker threads. Responses follow the
 * request's encoding, as the OTLP spec asks, including google.rpc.Status on protobuf errors.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { encodeStatus, type Signal } from '../otlp/decode.ts';
import type { IngestPipeline } from '../pipeline.ts';
import { errorStatus } from '../../shared/http-errors.ts';

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const SIGNALS: Signal[] = ['traces', 'metrics', 'logs'];

export interface OtlpRoutesOptions {
  pipeline: IngestPipeline;
  maxBodyBytes: number;
}

function encodingOf(req: FastifyRequest): 'protobuf' | 'json' {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return PROTOBUF_TYPES.includes(ct) ? 'protobuf' : 'json';
}

export const otlpRoutes: FastifyPluginAsync<OtlpRoutesOptions> = async (app, opts) => {
  // Only these two media types are OTLP/HTTP; anything else gets 415 from fastify.
  app.removeAllContentTypeParsers();
  const raw = (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body);
  app.addContentTypeParser([...PROTOBUF_TYPES, 'application/json'], { parseAs: 'buffer', bodyLimit: opts.maxBodyBytes }, raw);

  // Refuse before the body is read when the service is full, so overload costs no memory.
  app.addHook('onRequest', async (req) => {
    const len = Number(req.headers['content-length'] ?? 0);
    opts.pipeline.admit(Number.isFinite(len) ? len : 0);
  });

  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const { status, message, retryAfter } = errorStatus(err);
    if (status >= 500) req.log.error({ err }, 'OTLP request failed');
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    if (encodingOf(req) === 'protobuf') {
      // google.rpc.Status code: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, 13 INTERNAL.
      const code = status === 429 ? 8 : status === 503 ? 14 : status >= 500 ? 13 : 3;
      return reply.code(status).type('application/x-protobuf').send(Buffer.from(encodeStatus(code, message)));
    }
    return reply.code(status).send({ code: status, message });
  });

  for (const signal of SIGNALS) {
    app.post(
      `/v1/${signal}`,
      {
        schema: {
          tags: ['otlp'],
          summary: `OTLP/HTTP ${signal} export (protobuf or JSON, optionally gzip)`,
          consumes: [...PROTOBUF_TYPES, 'application/json'],
          security: [{ bearer: [] }],
          response: {
            200: Type.Object({ partialSuccess: Type.Object({}) }, { description: 'Stored durably (JSON requests; protobuf requests get an empty protobuf response)' }),
          },
        },
      },
      async (req, reply) => {
        const encoding = encodingOf(req);
        const body = req.body as Buffer;
        const enc = req.headers['content-encoding'];
        await opts.pipeline.ingestOtlp(signal, body, encoding, Array.isArray(enc) ? enc[0] : enc);
        if (encoding === 'protobuf') return reply.type('application/x-protobuf').send(Buffer.alloc(0));
        return reply.send({ partialSuccess: {} });
      },
    );
  }
};
