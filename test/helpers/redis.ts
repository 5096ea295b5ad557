/**
 * Redis for integration tests: REDIS_URL when the environment provides one, otherwise a throwaway
 * redis-server on a free loopback port with persistence off.
 */
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../services/shared/net.ts';
import { findOnPath, stopChild } from './process.ts';

/** A reachable Redis and the way to let it go. */
export interface TestRedis {
  /** `redis://127.0.0.1:<port>` or the given REDIS_URL. */
  url: string;
  /** Stops the server if this helper started it; a no-op for REDIS_URL. Idempotent. */
  stop(): Promise<void>;
}

/** The part of node:test's TestContext (or suite hooks) used to stop the server after the test. */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

/** How to make the skip reason visible in the test report. */
export const REDIS_MISSING = 'redis-server not installed: apt-get install redis-server';

const READY_TIMEOUT_MS = 10_000;



/** One raw RESP PING; avoids needing a Redis client in the helper. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}



async function spawnRedis(binary: string): Promise<TestRedis | undefined> {
  const port = await freePort();
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  // If the test process dies without running hooks, do not leave a server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await stopChild(child);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      process.removeListener('exit', killOnExit);
      // Most likely someone took the port between the probe and the bind: let the caller retry.
      if (/address already in use/i.test(stderr)) return undefined;
      throw new Error(`redis-server exited with code ${child.exitCode}: ${stderr.trim()}`);
    }
    if (await ping(port)) return { url: `redis://127.0.0.1:${port}`, stop };
    await sleep(50);
  }
  await stop();
  throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
}

/**
 * Returns a Redis to test against, or null when redis-server is not installed outside CI
 * (the caller then skips with {@link REDIS_MISSING}). In CI (CI=true) a missing binary throws,
 * so the suite cannot pass by skipping. With `t`, the server is stopped after that test or suite.
 */
export async function startRedis(t?: AfterHook): Promise<TestRedis | null> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') return { url: given, stop: () => Promise.resolve() };

  const binary = findOnPath('redis-server');
  if (binary === undefined) {
    if (process.env.CI === 'true') throw new Error(`${REDIS_MISSING} (CI=true, so the Redis tests may not skip)`);
    return null;
  }
  for (let tries = 0; tries < 3; tries += 1) {
    const redis = await spawnRedis(binary);
    if (redis !== undefined) {
      t?.after(() => redis.stop());
      return redis;
    }
  }
  throw new Error('redis-server could not bind a free port after 3 tries');
}
