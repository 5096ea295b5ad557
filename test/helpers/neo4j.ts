/**
 * A real Neo4j 5 for integration tests: NEO4J_URI when the environment provides one, otherwise an embedded
 * Neo4j Community DBMS (test/neo4j, built from Maven Central by test/neo4j/build.sh) in a child JVM with only
 * Bolt on a free loopback port, auth on, and its data in a temp dir removed on stop().
 *
 * The JVM also stops when this process dies in any way: it exits on EOF of its stdin, which is our pipe.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, findOnPath } from './process.ts';

/** A reachable Neo4j and the way to let it go. */
export interface TestNeo4j {
  /** `bolt://127.0.0.1:<port>`, or the given NEO4J_URI. */
  uri: string;
  user: string;
  password: string;
  /** Stops the JVM and removes its data if this helper started it; a no-op for NEO4J_URI. Idempotent. */
  stop(): Promise<void>;
}

/** The part of node:test's TestContext (or the module-level `after` hook) used to stop the server. */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

/** How to make the skip reason visible in the test report. */
export const NEO4J_MISSING =
  'Neo4j not available: needs Java 17+ and Maven 3.8+ to build test/neo4j (bash test/neo4j/build.sh), or set NEO4J_URI';

const LAUNCHER_DIR = fileURLToPath(new URL('../neo4j/', import.meta.url));
const BUILD_SCRIPT = join(LAUNCHER_DIR, 'build.sh');
/** Holds the JVM options (NEO4J_JAVA_OPTS replaces the heap/GC/JIT ones) and execs java, so the pid is the JVM's. */
const RUN_SCRIPT = join(LAUNCHER_DIR, 'run.sh');
const READY_TIMEOUT_MS = Number(process.env.NEO4J_START_TIMEOUT_MS ?? 120_000);
/** The first build downloads ~165 MB from Maven Central and trains a class-data archive (~1 min); later ones take ~0.1 s. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
const STOP_GRACE_MS = 15_000;

class Unavailable extends Error {}

function findBinary(name: string): string | undefined {
  // Like run.sh and build.sh: JAVA_HOME's java when JAVA_HOME is set, else the one on PATH.
  const javaHome = process.env.JAVA_HOME;
  return name === 'java' && javaHome ? findOnPath(name, [join(javaHome, 'bin')]) : findOnPath(name);
}

function lastLines(text: string, count = 15): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

let built: Promise<void> | undefined;

/** Runs build.sh (a no-op when up to date) once per process. */
function buildLauncher(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) => {
    execFile(
      'bash',
      [BUILD_SCRIPT],
      { timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Unavailable(`bash test/neo4j/build.sh failed (${error.message.split('\n')[0]}):\n${lastLines(stderr)}`));
          return;
        }
        const classpathFile = stdout.trim().split('\n').at(-1) ?? '';
        if (existsSync(classpathFile)) resolve();
        else reject(new Unavailable(`build.sh printed no classpath file: ${stdout.trim()}`));
      },
    );
  });
  return built;
}


async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref();
  child.kill('SIGTERM');
  const gone = await Promise.race([exited(child).then(() => true), sleep(STOP_GRACE_MS, false, { ref: false })]);
  if (!gone) {
    child.kill('SIGKILL');
    await exited(child);
  }
}

async function spawnNeo4j(): Promise<TestNeo4j> {
  const home = mkdtempSync(join(tmpdir(), 'rootline-neo4j-'));
  const password = `test-${randomBytes(9).toString('base64url')}`;
  // Port 0: the launcher binds a free port and reports it, so there is no probe-then-bind race.
  // --delete-home: the JVM removes its data itself even when this process is killed and cannot.
  const child = spawn('bash', [RUN_SCRIPT, '--password', password, '--delete-home', '0', home], {
    // stdin stays open as a lifeline: the launcher stops when it reaches EOF.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-64 * 1024);
  });
  child.stdin?.on('error', () => {
    // EPIPE after the JVM is gone; its exit is handled below.
  });

  let stopped = false;
  const cleanup = (): void => {
    rmSync(home, { recursive: true, force: true });
  };
  // If the test process ends without running hooks, do not leave a server or its data behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
    cleanup();
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    await stopChild(child);
    cleanup();
  };

  const ready = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^BOLT_READY (bolt:\/\/\S+)$/.exec(line.trim());
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      reject(new Error(`the Neo4j launcher exited (${signal ?? `code ${code}`}) before Bolt was ready:\n${lastLines(stderr)}`));
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Neo4j was not ready within ${READY_TIMEOUT_MS} ms:\n${lastLines(stderr)}`)), READY_TIMEOUT_MS);
  });
  try {
    const uri = await Promise.race([ready, timeout]);
    // A server the test forgot to stop must not keep this process alive; the exit hook still kills it.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref();
    return { uri, user: 'neo4j', password, stop };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Returns a Neo4j to test against, or null when Java or Maven is missing or the launcher cannot be built
 * outside CI (the caller then skips with {@link NEO4J_MISSING} or the reason logged to stderr). In CI
 * (CI=true) that throws, so the suite cannot pass by skipping. A server that fails to start always throws.
 * The first call on a fresh machine builds the launcher, which downloads from Maven Central (minutes).
 * With `t`, the server is stopped after that test or suite.
 */
export async function startNeo4j(t?: AfterHook): Promise<TestNeo4j | null> {
  const given = process.env.NEO4J_URI;
  if (given !== undefined && given !== '') {
    return {
      uri: given,
      user: process.env.NEO4J_USER ?? 'neo4j',
      password: process.env.NEO4J_PASSWORD ?? '',
      stop: () => Promise.resolve(),
    };
  }

  try {
    for (const tool of ['bash', 'java']) {
      if (findBinary(tool) === undefined) throw new Unavailable(`${tool} not found${tool === 'java' ? ' (JAVA_HOME/bin or PATH)' : ' on PATH'}`);
    }
    await buildLauncher();
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    if (process.env.CI === 'true') {
      throw new Error(`${NEO4J_MISSING}: ${error.message} (CI=true, so the Neo4j tests may not skip)`, { cause: error });
    }
    process.stderr.write(`startNeo4j: ${error.message}\n`);
    return null;
  }

  const neo4j = await spawnNeo4j();
  t?.after(() => neo4j.stop());
  return neo4j;
}
