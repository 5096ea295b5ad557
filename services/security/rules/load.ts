/**
 * Loads a rules file: YAML in Falco's layout, a sequence of `list`, `macro` and `rule` items. Everything is
 * checked at load (YAML syntax, unknown keys, types, conditions, output fields, duplicate names), and any
 * problem rejects the whole file with messages that name the item and the line, so a running engine keeps
 * its previous rules.
 *
 *   - list: shell_binaries
 *     items: [sh, bash, zsh]
 *   - macro: spawned_process
 *     condition: event.name = aiops.process.exec
 *   - rule: Terminal shell in container
 *     desc: A shell with a terminal started in a container
 *     condition: spawned_process and container and process.executable.name in (shell_binaries) and process.interactive = true
 *     output: Shell in container (process=%process.executable.name workload=%aiops.workload)
 *     priority: NOTICE
 *     tags: [container, shell, mitre_execution, T1059]
 *     kind: shell_in_container        # Rootline: the aiops.security.kind of the alert
 */
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { compileCondition, ConditionError, type Event, type Predicate } from './condition.ts';
import { KNOWN_FIELDS } from './fields.ts';

export const PRIORITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFORMATIONAL', 'DEBUG'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface Rule {
  name: string;
  desc: string;
  condition: string;
  output: string;
  priority: Priority;
  tags: string[];
  kind: string;
  /** MITRE ATT&CK technique from the tags (T1059…), and the tactic (mitre_execution → Execution). */
  reference: string;
  category: string;
  match: Predicate;
  render(e: Event): string;
}

export interface RuleSet {
  rules: Rule[];
  lists: number;
  macros: number;
}

export class RulesError extends Error {
  constructor(readonly problems: string[]) {
    super(`rules rejected: ${problems.join('; ')}`);
  }
}

const KEYS = {
  list: new Set(['list', 'items']),
  macro: new Set(['macro', 'condition']),
  rule: new Set(['rule', 'desc', 'condition', 'output', 'priority', 'tags', 'enabled', 'kind']),
};
const NAME = /^[A-Za-z0-9 _.:()/-]{1,120}$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,80}$/;

const title = (s: string) => s.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');

function renderer(output: string, where: string, problems: string[]): (e: Event) => string {
  for (const m of output.matchAll(/%([A-Za-z0-9_.]+)/g)) {
    const field = m[1]!.replace(/\.$/, '');
    if (!KNOWN_FIELDS.has(field)) problems.push(`${where}: output names unknown field '%${field}'`);
  }
  return (e) => output.replace(/%([A-Za-z0-9_.]+)/g, (_m, f: string) => {
    const field = f.replace(/\.$/, '');
    const v = e[field];
    return (v === undefined || v === '' ? '<NA>' : String(v)) + (f.endsWith('.') ? '.' : '');
  });
}

/** Parses and checks `text` (from `source`, for messages); throws {@link RulesError} listing every problem. */
export function loadRules(text: string, source = 'rules'): RuleSet {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (node: YamlNode | null | undefined) => {
    const off = node?.range?.[0];
    return off === undefined ? '' : ` (line ${lines.linePos(off).line})`;
  };
  if (doc.errors.length > 0) {
    throw new RulesError(doc.errors.map((e) => `${source}: YAML error at line ${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
  }
  const root = doc.contents;
  if (root === null) return { rules: [], lists: 0, macros: 0 };
  if (!isSeq(root)) throw new RulesError([`${source}: the file must be a YAML sequence of list, macro and rule items`]);

  const problems: string[] = [];
  const lists = new Map<string, string[]>();
  const macros = new Map<string, Predicate>();
  const rules: Rule[] = [];
  const ctx = { lists, macros, fields: KNOWN_FIELDS };

  root.items.forEach((node, i) => {
    const here = `${source} item ${i + 1}${at(node as YamlNode)}`;
    if (!isMap(node)) {
      problems.push(`${here}: expected a mapping with 'list', 'macro' or 'rule'`);
      return;
    }
    const item = node.toJSON() as Record<string, unknown>;
    const type = (['list', 'macro', 'rule'] as const).filter((k) => k in item);
    if (type.length !== 1) {
      problems.push(`${here}: needs exactly one of 'list', 'macro' or 'rule'`);
      return;
    }
    const kind = type[0]!;
    const name = item[kind];
    const where = `${here} ${kind} '${String(name)}'`;
    for (const k of Object.keys(item)) if (!KEYS[kind].has(k)) problems.push(`${where}: unknown field '${k}'`);
    if (typeof name !== 'string' || !(kind === 'rule' ? NAME : IDENT).test(name)) {
      problems.push(`${here}: '${kind}' must be a ${kind === 'rule' ? 'name of 1–120 letters, digits, spaces and _.:()/-' : 'identifier'}`);
      return;
    }
    const cond = (): Predicate | undefined => {
      if (typeof item.condition !== 'string' || item.condition.trim() === '') {
        problems.push(`${where}: 'condition' must be a non-empty string`);
        return undefined;
      }
      try {
        return compileCondition(item.condition, ctx);
      } catch (err) {
        if (err instanceof ConditionError) problems.push(`${where}: condition: ${err.message}`);
        else throw err;
        return undefined;
      }
    };
    if (kind === 'list') {
      const items = item.items;
      if (!Array.isArray(items) || !items.every((x) => typeof x === 'string' || typeof x === 'number')) problems.push(`${where}: 'items' must be a list of strings`);
      else if (lists.has(name) || macros.has(name)) problems.push(`${where}: '${name}' is defined twice`);
      // As in Falco, an item that names a list defined before stands for its items.
      else lists.set(name, items.map(String).flatMap((x) => lists.get(x) ?? [x]));
      return;
    }
    if (kind === 'macro') {
      const p = cond();
      if (lists.has(name) || macros.has(name) || KNOWN_FIELDS.has(name)) problems.push(`${where}: '${name}' is defined twice or is a field name`);
      else if (p) macros.set(name, p);
      return;
    }
    if (item.enabled !== undefined && typeof item.enabled !== 'boolean') problems.push(`${where}: 'enabled' must be true or false`);
    for (const k of ['desc', 'output'] as const) if (typeof item[k] !== 'string' || item[k] === '') problems.push(`${where}: '${k}' must be a non-empty string`);
    const priority = typeof item.priority === 'string' ? item.priority.toUpperCase().replace(/^INFO$/, 'INFORMATIONAL') : '';
    if (!(PRIORITIES as readonly string[]).includes(priority)) problems.push(`${where}: 'priority' must be one of ${PRIORITIES.join(', ')}`);
    const tags = item.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) problems.push(`${where}: 'tags' must be a list of strings`);
    if (item.kind !== undefined && (typeof item.kind !== 'string' || !IDENT.test(item.kind))) problems.push(`${where}: 'kind' must be an identifier`);
    if (rules.some((r) => r.name === name)) problems.push(`${where}: rule '${name}' is defined twice`);
    const match = cond();
    const render = renderer(typeof item.output === 'string' ? item.output : '', where, problems);
    if (!match || item.enabled === false) return;
    const tagList = Array.isArray(tags) ? (tags as string[]) : [];
    const tactic = tagList.find((t) => t.startsWith('mitre_'));
    rules.push({
      name, desc: String(item.desc), condition: String(item.condition), output: String(item.output), priority: priority as Priority, tags: tagList,
      kind: typeof item.kind === 'string' ? item.kind : 'rule', reference: tagList.find((t) => /^T\d{4}(\.\d{3})?$/.test(t)) ?? '',
      category: tactic ? title(tactic.slice('mitre_'.length)) : '', match, render,
    });
  });
  if (problems.length > 0) throw new RulesError(problems);
  return { rules, lists: lists.size, macros: macros.size };
}
