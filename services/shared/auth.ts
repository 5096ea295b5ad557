/**
 * Bearer-token auth for every write and read API. Tokens map to tenants. Only health, readiness, metrics, the
 * API docs and the web UI's files (they hold no data; the UI's API calls carry a token) are open. Comparison is
 * constant-time over fixed-length digests.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
}

const OPEN = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/docs(\/.*)?$/, /^\/ui(\/.*)?$/];

const digest = (s: string) => createHash('sha256').update(s).digest();

export function installAuth(app: FastifyInstance, auth: { enabled: boolean; tokens: Map<string, string> }): void {
  app.decorateRequest('tenant', 'default');
  if (!auth.enabled) return;
  const known = [...auth.tokens].map(([token, tenant]) => ({ d: digest(token), tenant }));
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    const path = req.url.split('?')[0]!;
    if (OPEN.some((re) => re.test(path))) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const d = m ? digest(m[1]!) : undefined;
    const hit = d ? known.find((k) => timingSafeEqual(k.d, d)) : undefined;
    if (!hit) {
      void reply.header('www-authenticate', 'Bearer realm="rootline"');
      return reply.code(401).send({ code: 401, message: m ? 'unknown token' : 'missing bearer token (Authorization: Bearer <token>)' });
    }
    req.tenant = hit.tenant;
  });
}
