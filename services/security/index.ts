/**
 * Container runtime security from collector events: declarative rules (Falco's layout and names) and learned
 * per-workload baselines, raised as alerts into the rca role's alert flow. Runs inside the rca role's process
 * (it needs that role's alert service); reads collector events from the shared telemetry store.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../shared/config.ts';
import type { TelemetryStore } from '../shared/telemetry/store.ts';
import { Baselines } from './baseline.ts';
import { SecurityEngine } from './engine.ts';
import { loadRules, RulesError, type RuleSet } from './rules/load.ts';
import { securityRoutes } from './routes.ts';
import { SecurityWatch, type Notify } from './watch.ts';

export { loadRules, RulesError } from './rules/load.ts';
export { DETECTOR } from './watch.ts';

export const DEFAULT_RULES_FILE = fileURLToPath(new URL('./rules/default.yaml', import.meta.url));

export interface RulesState {
  source: string;
  loadedAt: number;
  rules: RuleSet;
  /** The problems of the last load that was refused, if the latest attempt was. */
  lastError?: { at: number; problems: string[] };
}

export interface SecurityRole {
  watch: SecurityWatch;
  rules(): RulesState;
  /** Re-reads the rules file; on problems keeps the running rules and returns them. */
  reload(): { ok: true; rules: number } | { ok: false; problems: string[] };
  register(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

export function readRulesFile(path: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RulesError([`${path}: cannot read: ${(err as Error).message}`]);
  }
  return loadRules(text, path);
}

export function createSecurityRole(deps: { config: Config; dataDir: string; telemetry: TelemetryStore; log: Logger; notify: Notify }): SecurityRole {
  const s = deps.config.security;
  const source = s.rulesFile || DEFAULT_RULES_FILE;
  // A bad file at start is a configuration error: refuse to start rather than run without rules.
  const state: RulesState = { source, loadedAt: Date.now(), rules: readRulesFile(source) };
  const engine = new SecurityEngine(state.rules, new Baselines(s.learnMs));
  const watch = new SecurityWatch(deps.telemetry, engine, deps.notify, deps.log, {
    intervalMs: s.intervalMs, tenant: s.tenant, resolveAfterMs: s.resolveAfterMs,
    stateFile: join(deps.dataDir, 'security', 'state.json'), batch: 20_000, overlapMs: 10_000,
  });
  deps.log.info({ rules: state.rules.rules.length, source }, 'security rules loaded');

  const reload: SecurityRole['reload'] = () => {
    try {
      const rules = readRulesFile(source);
      engine.setRules(rules);
      state.rules = rules;
      state.loadedAt = Date.now();
      delete state.lastError;
      deps.log.info({ rules: rules.rules.length, source }, 'security rules reloaded');
      return { ok: true, rules: rules.rules.length };
    } catch (err) {
      if (!(err instanceof RulesError)) throw err;
      state.lastError = { at: Date.now(), problems: err.problems };
      deps.log.error({ problems: err.problems, source }, 'security rules refused: the previous rules stay in force');
      return { ok: false, problems: err.problems };
    }
  };
  // An edited rules file is picked up by itself (polling: editors replace files, which fs.watch loses).
  if (s.rulesFile) watchFile(s.rulesFile, { interval: 2000 }, (cur, prev) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
    try {
      reload();
    } catch (err) {
      deps.log.error({ err, source }, 'security rules reload failed: the previous rules stay in force');
    }
  });
  if (s.enabled) watch.start();
  return {
    watch,
    rules: () => state,
    reload,
    async register(app) {
      await app.register(securityRoutes, { state: () => state, reload, baselines: engine.baselines, tenant: s.tenant });
    },
    async close() {
      if (s.rulesFile) unwatchFile(s.rulesFile);
      await watch.stop();
    },
  };
}
