/**
 * Builds the HTTP application for the chosen roles: fastify with TypeBox, OpenAPI at /docs, bearer auth,
 * one error handler that hides 5xx details, Prometheus metrics, health and readiness.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { installAuth } from './shared/auth.ts';
import type { Config } from './shared/config.ts';
import { errorStatus } from './shared/http-errors.ts';
import type { TelemetryStore } from './shared/telemetry/store.ts';
import { registerUi } from './ui/index.ts';

export interface AppParts {
  config: Config;
  log: Logger;
  registry: Registry;
  store: TelemetryStore;
  /** Each role adds its routes. */
  roles: { register(app: FastifyInstance): Promise<void> }[];
  /** Extra readiness checks; each returns a problem or undefined. */
  readiness?: (() => Promise<string | undefined>)[];
}

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rootline_' });
  return registry;
}

export async function buildApp(parts: AppParts): Promise<FastifyInstance> {
  const { config } = parts;
  // Typed as the plain instance: each role's plugin brings its own TypeBox type provider.
  const app: FastifyInstance = Fastify({
    loggerInstance: parts.log as FastifyBaseLogger,
    bodyLimit: config.ingest.maxBodyBytes,
    // One log line per request would cost more than the request at OTLP rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });

  const duration = new Histogram({
    name: 'rootline_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [parts.registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    duration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Rootline API', version: '0.1.0', description: 'Root-cause analysis and anomaly prediction' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Query strings and path params are text, so they are coerced to their schema's types; bodies are JSON and
  // validated strictly, so a label sent as a number is refused rather than silently turned into a string.
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? coercing.compile(schema) : strict.compile(schema),
  );

  installAuth(app, config.auth);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, message, retryAfter } = errorStatus(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    return reply.code(status).send({ code: status, message });
  });

  app.get('/healthz', { schema: { tags: ['ops'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));
  app.get(
    '/readyz',
    { schema: { tags: ['ops'], response: { 200: Type.Object({ status: Type.String(), problems: Type.Array(Type.String()) }), 503: Type.Object({ status: Type.String(), problems: Type.Array(Type.String()) }) } } },
    async (_req, reply) => {
      const problems: string[] = [];
      try {
        if (!(await parts.store.ping())) problems.push('telemetry store does not answer');
      } catch (err) {
        problems.push(`telemetry store: ${(err as Error).message}`);
      }
      for (const check of parts.readiness ?? []) {
        const p = await check();
        if (p) problems.push(p);
      }
      return reply.code(problems.length ? 503 : 200).send({ status: problems.length ? 'unavailable' : 'ready', problems });
    },
  );
  app.get('/metrics', { schema: { tags: ['ops'], hide: true } }, async (_req, reply) => {
    return reply.type(parts.registry.contentType).send(await parts.registry.metrics());
  });

  for (const role of parts.roles) await role.register(app);
  // Every role set serves the HTTP API, so every one serves the UI that reads it (bundled on first request).
  await registerUi(app);
  return app;
}
