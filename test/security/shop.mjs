#!/usr/bin/env node
// A small shop for the security false-positive suite: ordinary microservices calling each other over loopback,
// the way a real system does. Plain JavaScript so node starts it without a loader. Ports come from the
// environment (KV_PORT, CATALOG_PORT, CART_PORT, FRONTEND_PORT); each server prints one JSON line once it
// listens and closes cleanly on SIGTERM.
//
//   kv        key-value store over TCP, one command a line: GET k, SET k v, INCR k n, DEL k (a database stand-in)
//   catalog   HTTP: GET /products, GET /products/:id, GET /health
//   cart      HTTP: GET|POST|DELETE /carts/:user, GET /health; keeps carts in kv over a pool of persistent TCP
//             connections (reconnecting when kv restarts), as a database client does
//   frontend  HTTP: GET /, GET /product/:id, POST /cart/:user, GET /cart/:user, POST /checkout/:user, GET /health;
//             calls catalog with a new connection per call and cart over keep-alive connections
//   load      user sessions against the frontend until killed; prints {"ok","errors"} every 500 ms
import * as http from 'node:http';
import { createServer, connect } from 'node:net';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

const mode = process.argv[2];
const env = (name) => {
  const v = Number(process.env[name]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} is not set`);
  return v;
};
const say = (o) => process.stdout.write(JSON.stringify({ pid: process.pid, ...o }) + '\n');
const HOST = '127.0.0.1';

function onTerm(close) {
  process.once('SIGTERM', () => {
    close();
    setTimeout(() => process.exit(0), 200).unref();
  });
}

// ---------------------------------------------------------------- kv

function kv() {
  const data = new Map();
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const [cmd, key = '', ...rest] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        const value = rest.join(' ');
        if (cmd === 'GET') sock.write(`${data.has(key) ? data.get(key) : ''}\n`);
        else if (cmd === 'SET') sock.write(`${(data.set(key, value), 'OK')}\n`);
        else if (cmd === 'INCR') sock.write(`${data.set(key, String((Number(data.get(key)) || 0) + (Number(value) || 1))).get(key)}\n`);
        else if (cmd === 'DEL') sock.write(`${data.delete(key) ? 1 : 0}\n`);
        else sock.write('ERR\n');
      }
    });
    sock.on('error', () => {});
  });
  server.listen(env('KV_PORT'), HOST, () => say({ ready: 'kv' }));
  onTerm(() => server.close());
}

/**
 * A pool of persistent connections to kv: requests queue per connection; a lost connection is reopened, and one
 * older than `maxLifetimeMs` is retired once idle and replaced (HikariCP's maxLifetime, pgbouncer's
 * server_lifetime), scaled down like the test's learning period.
 */
function kvPool(port, size, maxLifetimeMs) {
  const conns = [];
  let next = 0;
  const open = () => {
    const c = { sock: connect({ host: HOST, port }), waiting: [], buf: '', alive: true, born: Date.now() };
    c.sock.setEncoding('utf8');
    c.sock.on('data', (chunk) => {
      c.buf += chunk;
      for (let i = c.buf.indexOf('\n'); i >= 0; i = c.buf.indexOf('\n')) {
        const line = c.buf.slice(0, i);
        c.buf = c.buf.slice(i + 1);
        c.waiting.shift()?.resolve(line);
      }
    });
    const lost = (err) => {
      if (!c.alive) return;
      c.alive = false;
      for (const w of c.waiting.splice(0)) w.reject(err ?? new Error('kv connection closed'));
    };
    c.sock.on('error', lost);
    c.sock.on('close', () => lost());
    return c;
  };
  return {
    command(line) {
      const i = next++ % size;
      if (conns[i]?.alive && conns[i].waiting.length === 0 && Date.now() - conns[i].born > maxLifetimeMs) {
        conns[i].alive = false;
        conns[i].sock.end();
      }
      if (!conns[i] || !conns[i].alive) conns[i] = open();
      const c = conns[i];
      return new Promise((resolve, reject) => {
        c.waiting.push({ resolve, reject });
        c.sock.write(`${line}\n`);
      });
    },
    close: () => conns.forEach((c) => c?.sock.destroy()),
  };
}

// ---------------------------------------------------------------- HTTP plumbing

function body(req) {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (s += c)).on('end', () => resolve(s)).on('error', reject);
  });
}

function send(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** One HTTP call; resolves with { status, json }. */
function call(agent, port, method, path, payload) {
  return new Promise((resolve, reject) => {
    const text = payload === undefined ? undefined : JSON.stringify(payload);
    const headers = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    const req = http.request({ host: HOST, port, method, path, agent, headers, timeout: 3000 }, (res) => {
      body(res).then((s) => resolve({ status: res.statusCode, json: s ? JSON.parse(s) : undefined }), reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text);
  });
}

function serve(port, name, routes, onClose = () => {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/health') return send(res, 200, { status: 'ok', service: name });
    routes(req, url).then(
      ([status, obj]) => send(res, status, obj),
      (err) => send(res, 503, { error: String(err.message ?? err) }),
    );
  });
  server.listen(port, HOST, () => say({ ready: name }));
  onTerm(() => {
    server.close();
    server.closeIdleConnections();
    onClose();
  });
}

// ---------------------------------------------------------------- catalog, cart, frontend

const PRODUCTS = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, name: `product-${i + 1}`, price: 5 + ((i * 7) % 40) }));

function catalog() {
  serve(env('CATALOG_PORT'), 'catalog', async (req, url) => {
    if (url.pathname === '/products') return [200, PRODUCTS];
    const m = /^\/products\/(\d+)$/.exec(url.pathname);
    const p = m && PRODUCTS.find((x) => x.id === Number(m[1]));
    return p ? [200, p] : [404, { error: 'no such product' }];
  });
}

function cart() {
  const db = kvPool(env('KV_PORT'), 2, Number(process.env.KV_MAX_LIFETIME_MS) || 30 * 60_000);
  serve(env('CART_PORT'), 'cart', async (req, url) => {
    const m = /^\/carts\/([\w-]+)$/.exec(url.pathname);
    if (!m) return [404, { error: 'not found' }];
    const key = `cart:${m[1]}`;
    if (req.method === 'GET') {
      const v = await db.command(`GET ${key}`);
      return [200, v ? JSON.parse(v) : []];
    }
    if (req.method === 'POST') {
      const item = JSON.parse(await body(req));
      const v = await db.command(`GET ${key}`);
      const items = v ? JSON.parse(v) : [];
      items.push(item);
      await db.command(`SET ${key} ${JSON.stringify(items.slice(-10))}`);
      await db.command('INCR stats:items 1');
      return [201, { items: items.length }];
    }
    if (req.method === 'DELETE') {
      await db.command(`DEL ${key}`);
      await db.command('INCR stats:orders 1');
      return [200, { ok: true }];
    }
    return [405, { error: 'method' }];
  }, () => db.close());
}

function frontend() {
  const catalogPort = env('CATALOG_PORT');
  const cartPort = env('CART_PORT');
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const fresh = new http.Agent({ keepAlive: false });
  const ok = (r) => {
    if (r.status >= 500) throw new Error(`upstream ${r.status}`);
    return r.json;
  };
  serve(env('FRONTEND_PORT'), 'frontend', async (req, url) => {
    let m;
    if (url.pathname === '/') return [200, { products: ok(await call(fresh, catalogPort, 'GET', '/products')).slice(0, 5) }];
    if ((m = /^\/product\/(\d+)$/.exec(url.pathname))) {
      const r = await call(fresh, catalogPort, 'GET', `/products/${m[1]}`);
      return [r.status, ok(r)];
    }
    if ((m = /^\/cart\/([\w-]+)$/.exec(url.pathname))) {
      if (req.method === 'GET') return [200, { items: ok(await call(keepAlive, cartPort, 'GET', `/carts/${m[1]}`)) }];
      const { id } = JSON.parse(await body(req));
      const product = ok(await call(fresh, catalogPort, 'GET', `/products/${id}`));
      const r = await call(keepAlive, cartPort, 'POST', `/carts/${m[1]}`, product);
      return [r.status, ok(r)];
    }
    if ((m = /^\/checkout\/([\w-]+)$/.exec(url.pathname))) {
      const items = ok(await call(keepAlive, cartPort, 'GET', `/carts/${m[1]}`));
      ok(await call(keepAlive, cartPort, 'DELETE', `/carts/${m[1]}`));
      return [200, { ordered: items.length, total: items.reduce((s, i) => s + i.price, 0) }];
    }
    return [404, { error: 'not found' }];
  }, () => keepAlive.destroy());
}

// ---------------------------------------------------------------- load

async function load() {
  const port = env('FRONTEND_PORT');
  const users = Number(process.env.USERS) || 4;
  const agent = new http.Agent({ keepAlive: true, maxSockets: users });
  const counts = { ok: 0, errors: 0 };
  const report = setInterval(() => say(counts), 500);
  let stop = false;
  process.once('SIGTERM', () => (stop = true));
  const step = async (method, path, payload) => {
    try {
      const r = await call(agent, port, method, path, payload);
      if (r.status < 500) counts.ok++;
      else counts.errors++;
    } catch {
      counts.errors++;
      await sleep(100);
    }
    await sleep(5 + Math.random() * 25); // think time
  };
  // A session: browse, look at products, fill a cart, look at it, sometimes buy.
  const session = async (user) => {
    for (let n = 0; !stop; n++) {
      await step('GET', '/');
      for (let i = 0; i < 2; i++) {
        const id = 1 + Math.floor(Math.random() * 20);
        await step('GET', `/product/${id}`);
        await step('POST', `/cart/${user}`, { id });
      }
      await step('GET', `/cart/${user}`);
      if (n % 3 === 2) await step('POST', `/checkout/${user}`);
    }
  };
  say(counts);
  await Promise.all(Array.from({ length: users }, (_, i) => session(`user-${i}`)));
  clearInterval(report);
  say(counts);
  agent.destroy();
}

const modes = { kv, catalog, cart, frontend, load };
if (!modes[mode]) {
  console.error(`usage: shop.mjs ${Object.keys(modes).join('|')}`);
  process.exit(2);
}
await modes[mode]();
