/**
 * The only place that reads the environment, listens or exits. Decides the roles and the store mode once:
 * embedded (chDB, in-process queue) unless CLICKHOUSE_URL / NEO4J_URI / REDIS_URL say otherwise.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { buildApp, createRegistry } from './app.ts';
import { ConfigError, loadConfig, type Config } from './shared/config.ts';
import { createClickHouseStore } from './shared/telemetry/clickhouse.ts';
import { createIngestRole, type IngestRole } from './ingest/index.ts';
import { createQueueBackend } from './shared/queue/index.ts';
import { createTopologyRole, createTopologyStore, requestExtraction, type TopologyRole, type TopologyStore } from './topology/index.ts';
import { createRcaRole, type ApiSequenceEvent, type RcaRole } from './rca/index.ts';
import { createPredictRole, type AlertSink, type PredictRole } from './predict/index.ts';
import { createSecurityRole, RulesError, type SecurityRole } from './security/index.ts';

export interface RunningService {
  url: string;
  config: Config;
  ingest?: IngestRole;
  topology?: TopologyRole;
  rca?: RcaRole;
  predict?: PredictRole;
  security?: SecurityRole;
  close(): Promise<void>;
}

/** Starts the service for `config`; resolves once it listens. */
export async function startService(config: Config, log: Logger = pino({ level: config.logLevel })): Promise<RunningService> {
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const registry = createRegistry();
  const store = await createClickHouseStore({
    url: config.clickhouse.url,
    user: config.clickhouse.user,
    password: config.clickhouse.password,
    database: config.clickhouse.database,
    path: join(dataDir, 'chdb'),
    retentionDays: config.retentionDays,
  });
  await store.migrate();
  log.info({ store: store.kind, roles: config.roles }, 'telemetry store ready');

  const roles: { register(app: FastifyInstance): Promise<void>; close(): Promise<void> }[] = [];
  const queues = createQueueBackend({ redisUrl: config.redis.url, onError: (err) => log.warn({ err }, 'queue error') });
  let ingest: IngestRole | undefined;
  if (config.roles.includes('ingest')) {
    const onStored = (minutes: number[]) => {
      requestExtraction(queues, minutes).catch((err: unknown) => log.warn({ err }, 'could not enqueue topology extraction'));
    };
    ingest = await createIngestRole({ config, store, registry, log, walDir: join(dataDir, 'wal'), onStored });
    roles.push(ingest);
  }
  let topology: TopologyRole | undefined;
  let topoStore: TopologyStore | undefined;
  const newTopologyStore = () => createTopologyStore({ neo4jUri: config.neo4j.uri, user: config.neo4j.user, password: config.neo4j.password, dir: join(dataDir, 'topology') });
  if (config.roles.includes('topology')) {
    topoStore = newTopologyStore();
    topology = await createTopologyRole({ store: topoStore, telemetry: store, queues, log, registry });
    roles.push(topology);
    log.info({ store: topoStore.kind }, 'topology store ready');
  }
  let rca: RcaRole | undefined;
  let predict: PredictRole | undefined;
  let security: SecurityRole | undefined;
  if (config.roles.includes('rca')) {
    // Without the topology role here, read the shared Neo4j (distributed) or this process's own store.
    let topologyForRca = topoStore;
    if (!topologyForRca) {
      topologyForRca = newTopologyStore();
      await topologyForRca.init();
    }
    // Anomalous API flows found by the predict role in this process are RCA evidence at the entry service and,
    // when another, at the service of the unexpected call.
    const apiSequences = (from: number, to: number): ApiSequenceEvent[] =>
      (predict?.sequenceAnomalies(from, to) ?? []).flatMap((a) =>
        [...new Set([a.entryService, a.callService])].map((entity) => ({ entity, t: a.t, traceId: a.traceId, unexpected: a.unexpected, previous: a.previous, score: a.score, threshold: a.threshold })),
      );
    rca = await createRcaRole({ config, dataDir, topology: topologyForRca, telemetry: store, queues, log, apiSequences });
    roles.push(rca);
    // Security rules over collector events raise alerts into this role's alert flow.
    const alerts = rca.alerts;
    security = createSecurityRole({ config, dataDir, telemetry: store, log, notify: (tenant, a) => alerts.notify(tenant, a) });
    // Closed before the alert service it notifies (roles close in order).
    roles.splice(roles.indexOf(rca), 0, security);
  }
  if (config.roles.includes('predict')) {
    // Anomalous API flows are raised as alerts through the generic ingestion when the rca role runs here.
    const alerts = rca?.alerts;
    const alert = alerts
      ? async (tenant: string, a: Parameters<AlertSink>[1]) => {
          await alerts.notify(tenant, [{ source: 'generic', status: 'firing', ...a }]);
        }
      : undefined;
    predict = await createPredictRole({ config, dataDir, telemetry: store, queues, log, alert });
    roles.push(predict);
  }
  const app = await buildApp({ config, log, registry, store, roles });
  const url = await app.listen({ host: config.host, port: config.port });
  log.info({ url, docs: `${url}/docs` }, 'rootline listening');
  return {
    url,
    config,
    ingest,
    topology,
    rca,
    predict,
    ...(security ? { security } : {}),
    async close() {
      await app.close();
      for (const r of roles) await r.close();
      await queues.close();
      await store.close();
    },
  };
}

/** With auth on and no token configured, make one per data directory and say where it is. */
function ensureToken(config: Config, log: Logger): void {
  if (!config.auth.enabled || config.auth.tokens.size > 0) return;
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'api-token');
  if (!existsSync(path)) writeFileSync(path, randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  config.auth.tokens.set(readFileSync(path, 'utf8').trim(), 'default');
  log.warn({ tokenFile: path }, 'ROOTLINE_TOKENS is not set: using the generated token in tokenFile (Authorization: Bearer <token>)');
}

function parseFlags(args: string[]): { positional: string[]; flags: Map<string, string> } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
      if (v !== undefined) flags.set(k, v);
      else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) flags.set(k, args[++i]!);
      else flags.set(k, 'true');
    } else positional.push(a);
  }
  return { positional, flags };
}

const USAGE = `usage: rootline <command>
  start [--role all|ingest,topology,rca,predict]   run the service (embedded stores unless CLICKHOUSE_URL/NEO4J_URI/REDIS_URL)
  bench ingest [--json] [--duration S] [--connections N]   OTLP ingest throughput over loopback
  bench topology [--json] [--services N] [--store embedded|neo4j]   topology store writes and queries (Neo4j: NEO4J_URI or the test launcher)
  bench alerts [--json] [--services N] [--faults N] [--alerts N]   alert storm: throughput, noise reduction, grouping F1
  bench rca [--json] [--services N] [--minutes M]   RCA latency on a synthetic topology with M minutes of traces
  bench collector [--json] [--requests N] [--rounds K] [--cpu C|none]   latency and CPU the eBPF collector adds (root)
  eval rca --dataset <dir> [--json] [--reuse <dir>] replay a Nezha-layout data set through ingest and score RCA top-1/3/5
  eval sequence --dataset <dir> [--json] [--backend tensorflow|wasm|cpu] [--models <dir>]   train and score the call-sequence model on hdfs-sessions
  eval nab --dataset <dir or .tar.xz> [--json] [--detector ours|numenta]   Numenta Anomaly Benchmark scores (standard, low FP, low FN)
  security check-rules <file.yaml>                 check a security rules file (exit 1 with its problems)
  demo [--port N] [--rate R] [--no-netns]          a demo shop observed by Rootline (root: namespaces, cgroups, eBPF collector)
  demo fault <kind> <service> [--param v] | demo clear [id] | demo status    faults into the running demo (demo --help)
  help                                             this text`;

export async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parseFlags(argv);
  const [cmd, sub] = positional;
  if (cmd === 'demo') {
    const { demoCommand } = await import('../demo/control.ts');
    return demoCommand(positional.slice(1), flags);
  }
  if (!cmd || cmd === 'help' || flags.has('help')) {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === 'start') {
    let config: Config;
    try {
      config = loadConfig(process.env, { roles: flags.get('role') });
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        return 2;
      }
      throw err;
    }
    const log = pino({ level: config.logLevel });
    ensureToken(config, log);
    let svc: RunningService;
    try {
      svc = await startService(config, log);
    } catch (err) {
      // A rules file that does not load is a configuration error: say what is wrong with it, no stack.
      if (!(err instanceof RulesError)) throw err;
      for (const p of err.problems) console.error(p);
      return 2;
    }
    await new Promise<void>((done) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        svc.close().then(done, (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          done();
        });
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  }
  if (cmd === 'bench' && sub === 'ingest') {
    const { benchIngest } = await import('./bench/ingest.ts');
    const result = await benchIngest({
      durationS: Number(flags.get('duration') ?? 20),
      connections: Number(flags.get('connections') ?? 16),
      json: flags.has('json'),
    });
    console.log(JSON.stringify(result));
    return 0;
  }
  if (cmd === 'bench' && sub === 'ingest-floors') {
    const { benchIngestFloors } = await import('./bench/ingest-floors.ts');
    console.log(JSON.stringify(await benchIngestFloors((s) => process.stderr.write(`${s}\n`))));
    return 0;
  }
  if (cmd === 'bench' && sub === 'alerts') {
    const { benchAlerts } = await import('./bench/alerts.ts');
    const r = await benchAlerts({ services: Number(flags.get('services') ?? 1000), faults: Number(flags.get('faults') ?? 20), alerts: Number(flags.get('alerts') ?? 10_000), concurrency: Number(flags.get('concurrency') ?? 4) });
    console.log(JSON.stringify(r));
    return 0;
  }
  if (cmd === 'security' && sub === 'check-rules') {
    const file = positional[2];
    if (!file) {
      console.error('usage: rootline security check-rules <file.yaml>');
      return 2;
    }
    const { readRulesFile } = await import('./security/index.ts');
    try {
      const r = readRulesFile(file);
      console.log(`${file}: ${r.rules.length} rules, ${r.macros} macros, ${r.lists} lists: ok`);
      return 0;
    } catch (err) {
      if (!(err instanceof RulesError)) throw err;
      for (const p of err.problems) console.error(p);
      return 1;
    }
  }
  if (cmd === 'eval' && sub === 'rca') {
    const dataset = flags.get('dataset');
    if (!dataset || dataset === 'true') {
      console.error('usage: rootline eval rca --dataset <dir or .tar.xz in the Nezha layout> [--json] [--reuse <data dir>]');
      return 2;
    }
    const { evalRca } = await import('./rca/eval/harness.ts');
    console.log(JSON.stringify(await evalRca({ dataset, json: flags.has('json'), reuse: flags.get('reuse') })));
    return 0;
  }
  if (cmd === 'eval' && sub === 'sequence') {
    const dataset = flags.get('dataset');
    const backend = flags.get('backend');
    if (!dataset || dataset === 'true' || (backend !== undefined && !['tensorflow', 'wasm', 'cpu'].includes(backend))) {
      console.error('usage: rootline eval sequence --dataset <hdfs-sessions dir> [--json] [--backend tensorflow|wasm|cpu] [--models <dir>]');
      return 2;
    }
    const { evalHdfs } = await import('./predict/eval/hdfs.ts');
    const modelsDir = flags.get('models') ?? join(loadConfig(process.env).dataDir, 'models');
    console.log(JSON.stringify(await evalHdfs({ dataset, json: flags.has('json'), backend: backend as 'tensorflow' | 'wasm' | 'cpu' | undefined, modelsDir })));
    return 0;
  }
  if (cmd === 'eval' && sub === 'nab') {
    const dataset = flags.get('dataset');
    const detector = flags.get('detector') ?? 'ours';
    if (!dataset || dataset === 'true' || !['ours', 'numenta'].includes(detector)) {
      console.error('usage: rootline eval nab --dataset <unpacked NAB dir or nab.tar.xz> [--json] [--detector ours|numenta]');
      return 2;
    }
    const { evalNab } = await import('./predict/nab/eval.ts');
    console.log(JSON.stringify(await evalNab({ dataset, detector: detector as 'ours' | 'numenta' })));
    return 0;
  }
  if (cmd === 'bench' && sub === 'rca') {
    const { benchRca } = await import('./bench/rca.ts');
    console.log(JSON.stringify(await benchRca({ services: Number(flags.get('services') ?? 1000), minutes: Number(flags.get('minutes') ?? 60), queries: Number(flags.get('queries') ?? 40) })));
    return 0;
  }
  if (cmd === 'bench' && sub === 'collector') {
    const { benchCollector } = await import('./bench/collector.ts');
    const cpu = flags.get('cpu') ?? '0';
    console.log(JSON.stringify(await benchCollector({ requests: Number(flags.get('requests') ?? 200_000), rounds: Number(flags.get('rounds') ?? 3), cpu: cpu === 'none' ? null : Number(cpu) })));
    return 0;
  }
  if (cmd === 'bench' && sub === 'topology') {
    const { runTopologyBench } = await import('./bench/topology-cli.ts');
    for (const line of await runTopologyBench({ services: Number(flags.get('services') ?? 5000), neo4jUri: process.env.NEO4J_URI, neo4jUser: process.env.NEO4J_USER, neo4jPassword: process.env.NEO4J_PASSWORD, only: flags.get('store') })) {
      console.log(JSON.stringify(line));
    }
    return 0;
  }
  console.error(`unknown command: ${positional.join(' ')}\n${USAGE}`);
  return 2;
}

// Run as the CLI only when executed directly (bin/rootline.mjs), not when imported by tests.
if (process.argv[1] && /(?:main\.ts|rootline(?:\.mjs)?)$/.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exit(1);
    },
  );
}
