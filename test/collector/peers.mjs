#!/usr/bin/env node
// Real servers and clients for the collector tests, run inside a test cgroup (and a network namespace).
// Plain JavaScript so node starts it without a loader. Each mode prints one JSON line on stdout (with its pid)
// once it is ready or done; servers then run until stdin closes or they are killed.
//
//   tcp-server HOST N M          reads exactly N bytes from each connection, writes exactly M, closes
//   tcp-client HOST PORT N M     writes N bytes, reads until the server closes, closes
//   connect HOST PORT            one connect(); reports the error code (ECONNREFUSED, ETIMEDOUT...)
//   http-server HOST DELAY_MS    keep-alive HTTP: GET /ok 200, POST /items 201, GET /fail 503, each after DELAY_MS
//   http-client HOST PORT        GET /ok, POST /items (with a body), GET /fail on ONE keep-alive connection
//   listen HOST [PORT]           listens (on a fresh port by default); closes it when stdin ends
//   hold HOST PORT MS            connects, reports its local port, keeps the connection open MS ms, closes it
import { createServer, connect } from 'node:net';
import * as http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const [mode, ...args] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify({ pid: process.pid, ...o }) + '\n');
const untilStdinEnds = () => new Promise((resolve) => {
  process.stdin.on('end', resolve).on('close', resolve).resume();
});

async function tcpServer(host, n, m) {
  const server = createServer((sock) => {
    let got = 0;
    sock.on('data', (chunk) => {
      const before = got;
      got += chunk.length;
      if (before < n && got >= n) sock.end(Buffer.alloc(m, 0x61));
    });
    sock.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  say({ port: server.address().port });
  await untilStdinEnds();
  server.close();
}

async function tcpClient(host, port, n) {
  const sock = connect({ host, port });
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const localPort = sock.localPort;
  let received = 0;
  sock.on('data', (c) => { received += c.length; });
  sock.write(Buffer.alloc(n, 0x62));
  await new Promise((resolve) => sock.once('end', resolve));
  sock.end();
  await new Promise((resolve) => sock.once('close', resolve));
  say({ localPort, received });
}

async function connectOnce(host, port) {
  const sock = connect({ host, port });
  const started = Date.now();
  const result = await new Promise((resolve) => {
    sock.once('connect', () => resolve({ error: null, localPort: sock.localPort }));
    sock.once('error', (err) => resolve({ error: err.code }));
  });
  sock.destroy();
  say({ ...result, ms: Date.now() - started });
}

async function httpServer(host, delayMs) {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      await sleep(delayMs);
      const body = Buffer.concat(chunks).toString();
      if (req.method === 'GET' && req.url === '/ok') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else if (req.method === 'POST' && req.url === '/items') res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ got: body.length }));
      else if (req.method === 'GET' && req.url === '/fail') res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable\n');
      else res.writeHead(404).end();
    });
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  say({ port: server.address().port });
  await untilStdinEnds();
  server.closeAllConnections();
  server.close();
}

async function httpClient(host, port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const one = (method, path, body) => new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request({ host, port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({
        method, path, status: res.statusCode, localPort: req.socket.localPort, ms: Number(process.hrtime.bigint() - started) / 1e6,
      }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const results = [];
  results.push(await one('GET', '/ok'));
  results.push(await one('POST', '/items', JSON.stringify({ item: 'x'.repeat(100) })));
  results.push(await one('GET', '/fail'));
  agent.destroy();
  say({ results });
}

async function listen(host, port) {
  const server = createServer((sock) => sock.destroy());
  await new Promise((resolve) => server.listen(port, host, resolve));
  say({ port: server.address().port });
  await untilStdinEnds();
  await new Promise((resolve) => server.close(resolve));
}

async function hold(host, port, ms) {
  const sock = connect({ host, port });
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  say({ localPort: sock.localPort });
  sock.on('error', () => {});
  sock.resume();
  await sleep(ms);
  sock.end();
  await new Promise((resolve) => sock.once('close', resolve));
}

switch (mode) {
  case 'tcp-server': await tcpServer(args[0], Number(args[1]), Number(args[2])); break;
  case 'tcp-client': await tcpClient(args[0], Number(args[1]), Number(args[2])); break;
  case 'connect': await connectOnce(args[0], Number(args[1])); break;
  case 'http-server': await httpServer(args[0], Number(args[1])); break;
  case 'http-client': await httpClient(args[0], Number(args[1])); break;
  case 'hold': await hold(args[0], Number(args[1]), Number(args[2])); break;
  case 'listen': await listen(args[0], Number(args[1] ?? 0)); break;
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
