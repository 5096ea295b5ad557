/**
 * The web UI at /ui/. The browser code in ui/ is bundled by esbuild inside this process on the first request
 * and kept in memory: nothing is written, so there is no build output to commit, ship or clean, and a service
 * that nobody opens the UI of never pays for the build. The files hold no data, so they are served without a
 * token (shared/auth.ts leaves /ui open); every API call they make carries the user's bearer token.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FastifyInstance } from 'fastify';

const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

interface Bundle {
  /** index.html with the hashed asset names filled in. */
  index: Asset;
  /** By file name under /ui/assets/. */
  assets: Map<string, Asset>;
  /** Newest modification time of the sources it was built from. */
  sourcesAt: number;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

// The page talks to its own origin only; the sandboxed report frame gets its document through srcdoc.
// WebGL needs nothing here; sigma draws its label atlas on a canvas.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const asset = (body: Buffer, type: string): Asset => ({ body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });

/** Newest mtime under the UI sources: a dozen stats, only when index.html is asked for. */
function sourcesMtime(dir = UI_DIR): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    newest = Math.max(newest, st.isDirectory() ? sourcesMtime(path) : st.mtimeMs);
  }
  return newest;
}

async function bundle(): Promise<Bundle> {
  const sourcesAt = sourcesMtime();
  const out = await build({
    absWorkingDir: UI_DIR,
    entryPoints: { app: 'main.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'linked',
    // Hashed names: the assets can be cached for good, index.html (never cached) names the current ones.
    entryNames: '[name]-[hash]',
    outdir: 'out',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const assets = new Map<string, Asset>();
  let js = '';
  let css = '';
  for (const f of out.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const ext = name.slice(name.lastIndexOf('.'));
    assets.set(name, asset(Buffer.from(f.contents), TYPES[ext] ?? 'application/octet-stream'));
    if (ext === '.js') js = name;
    if (ext === '.css') css = name;
  }
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8').replace('%APP_JS%', `assets/${js}`).replace('%APP_CSS%', `assets/${css}`);
  return { index: asset(Buffer.from(html), TYPES['.html']!), assets, sourcesAt };
}

/** Serves the UI: GET /ui redirects to /ui/, GET /ui/ is the page, GET /ui/assets/<name> its bundle. */
export async function registerUi(app: FastifyInstance): Promise<void> {
  let current: Promise<Bundle> | undefined;
  // One build at a time shared by concurrent requests; a failed build is retried by the next request, and a
  // source changed since the last build (a developer editing ui/) is picked up on the next page load.
  const get = async (checkSources: boolean): Promise<Bundle> => {
    if (current && checkSources) {
      const built = await current.catch(() => undefined);
      if (built && sourcesMtime() > built.sourcesAt) current = undefined;
    }
    if (!current) {
      const started = performance.now();
      current = bundle();
      current.then(
        (b) => app.log.info({ ms: Math.round(performance.now() - started), assets: [...b.assets.keys()] }, 'web UI bundled'),
        (err: unknown) => {
          app.log.error({ err }, 'web UI bundle failed');
          current = undefined;
        },
      );
    }
    return current;
  };

  const schema = { hide: true };
  app.get('/ui', { schema }, async (_req, reply) => reply.redirect('/ui/', 302));
  app.get('/ui/', { schema }, async (req, reply) => {
    const { index } = await get(true);
    void reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return reply.type(index.type).header('etag', index.etag).send(index.body);
  });
  app.get<{ Params: { name: string } }>('/ui/assets/:name', { schema }, async (req, reply) => {
    const a = (await get(false)).assets.get(req.params.name);
    if (!a) return reply.code(404).send({ code: 404, message: `no UI asset ${req.params.name}` });
    void reply.header('x-content-type-options', 'nosniff').header('cache-control', 'public, max-age=31536000, immutable');
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).header('etag', a.etag).send(a.body);
  });
}
