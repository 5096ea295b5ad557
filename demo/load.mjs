#!/usr/bin/env node
// The demo's users: shopping sessions against the frontend at about DEMO_LOAD.rate requests a second overall.
// Each virtual user browses the home page, looks at a few products, sometimes adds one to the cart, looks at the
// cart and sometimes checks out, with think time between steps; a pacer keeps the total rate. Prints
// {"stats":{...}} every second (requests, statuses, p50/p90 latency of that second) and takes
// {"op":"rate","rate":R} on stdin. Exits when stdin closes.
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setInterval } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

const cfg = JSON.parse(process.env.DEMO_LOAD ?? 'null');
if (!cfg?.target) {
  console.error('demo/load.mjs: DEMO_LOAD ({"target","rate"}) is not set');
  process.exit(2);
}
const target = new URL(cfg.target);
let rate = Math.max(0.1, Number(cfg.rate) || 15);
const PRODUCTS = 12;
const CURRENCIES = [['USD', 0.5], ['EUR', 0.25], ['GBP', 0.15], ['JPY', 0.1]];
const COUNTRIES = [['US', 0.7], ['DE', 0.15], ['GB', 0.1], ['JP', 0.05]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const pick = (weighted) => {
  let r = Math.random();
  for (const [v, w] of weighted) if ((r -= w) < 0) return v;
  return weighted[0][0];
};
const exp = (mean) => -Math.log(1 - Math.random()) * mean;

// The pacer: one token per request, handed out at `rate` a second.
let nextSlot = Date.now();
async function slot() {
  const now = Date.now();
  nextSlot = Math.max(nextSlot + 1000 / rate, now - 1000); // no burst after a stall
  if (nextSlot > now) await sleep(nextSlot - now);
}

const totals = { requests: 0, ok: 0, errors: 0, failed: 0 };
let window = { latencies: [], statuses: {} };

function request(method, path, body) {
  return new Promise((resolve) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = { 'user-agent': 'rootline-demo-load/1.0', ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) };
    const t0 = performance.now();
    const done = (status, json) => {
      const ms = performance.now() - t0;
      totals.requests++;
      window.latencies.push(ms);
      window.statuses[status] = (window.statuses[status] ?? 0) + 1;
      if (status === 'error') totals.failed++;
      else if (status >= 500) totals.errors++;
      else totals.ok++;
      resolve({ status, json });
    };
    const req = http.request({ host: target.hostname, port: target.port, method, path, headers, agent, timeout: 10_000 }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (s += c)).on('end', () => {
        let json;
        try {
          json = JSON.parse(s);
        } catch {
          json = undefined;
        }
        done(res.statusCode, json);
      }).on('error', () => done('error'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => done('error'));
    req.end(text);
  });
}

async function step(method, path, body) {
  await sleep(exp(300)); // think time
  await slot();
  return request(method, path, body);
}

async function user(n) {
  for (let session = 0; ; session++) {
    const id = `u${n}-${session}`;
    const currency = pick(CURRENCIES);
    await step('GET', `/?currency=${currency}&user=${id}`);
    let inCart = 0;
    const views = 1 + Math.floor(Math.random() * 3);
    for (let i = 0; i < views; i++) {
      const product = 1 + Math.floor(Math.random() * PRODUCTS);
      await step('GET', `/product/${product}?currency=${currency}`);
      if (Math.random() < 0.55) {
        const r = await step('POST', `/cart/${id}`, { productId: product, quantity: 1 + Math.floor(Math.random() * 2) });
        if (r.status === 201) inCart++;
      }
    }
    if (inCart > 0 || Math.random() < 0.3) await step('GET', `/cart/${id}?currency=${currency}`);
    if (inCart > 0 && Math.random() < 0.6) await step('POST', `/checkout/${id}`, { currency, country: pick(COUNTRIES) });
    await sleep(exp(1000)); // between sessions
  }
}

function quantile(xs, q) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 10) / 10;
}

setInterval(() => {
  const w = window;
  window = { latencies: [], statuses: {} };
  process.stdout.write(JSON.stringify({ stats: { t: Date.now(), rate, ...totals, last: { requests: w.latencies.length, statuses: w.statuses, p50: quantile(w.latencies, 0.5), p90: quantile(w.latencies, 0.9) } } }) + '\n');
}, 1000);

createInterface({ input: process.stdin })
  .on('line', (line) => {
    try {
      const cmd = JSON.parse(line);
      if (cmd.op === 'rate' && Number(cmd.rate) > 0) {
        rate = Number(cmd.rate);
        ensureUsers();
      }
    } catch {
      // not a command
    }
  })
  .on('close', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));

// Enough users that the pacer, not their think time, sets the rate; each user waits for its answers, so a slow
// system gets fewer requests, as a real one does.
let users = 0;
function ensureUsers() {
  for (const want = Math.max(4, Math.ceil(rate * 0.8)); users < want; users++) void user(users);
}
ensureUsers();
