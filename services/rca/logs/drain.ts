/**
 * Streaming log template mining, Drain-style (He et al., ICWS 2017): a fixed-depth prefix tree routes a log
 * by its token count and first tokens to a few candidate groups; the most similar group takes it when the
 * share of equal tokens reaches a threshold, and positions that differ become `<*>`. No npm package provides
 * this, so it is written here, small and tested against loghub's ground truth.
 */

export interface DrainOptions {
  /** Tree depth including the root and length levels (loghub uses 4). */
  depth?: number;
  /** Minimum share of equal tokens to join a group. */
  similarity?: number;
  /** Children per tree node before new branches share a wildcard child. */
  maxChildren?: number;
  /** Regexes whose matches are variables, replaced by `<*>` before mining. */
  masks?: RegExp[];
}

/** Variables common to most logs: ids, addresses, paths with numbers, hex, numbers. */
export const DEFAULT_MASKS: RegExp[] = [
  /blk_-?\d+/g,
  /(\/|)(\d+\.){3}\d+(:\d+)?/g,
  /\b0x[0-9a-fA-F]+\b/g,
  /\b[0-9a-fA-F]{16,}\b/g,
  /(?<=[=:\s([,]|^)-?\d+(\.\d+)?(?=[\s,)\]:;]|$)/g,
];

export interface LogGroup {
  id: number;
  template: string[];
  size: number;
}

const WILD = '<*>';

interface Node {
  children: Map<string, Node>;
  groups: LogGroup[];
}

export class Drain {
  private readonly root: Node = { children: new Map(), groups: [] };
  private readonly groups: LogGroup[] = [];
  private readonly depth: number;
  private readonly sim: number;
  private readonly maxChildren: number;
  private readonly masks: RegExp[];

  constructor(opts: DrainOptions = {}) {
    this.depth = opts.depth ?? 4;
    this.sim = opts.similarity ?? 0.5;
    this.maxChildren = opts.maxChildren ?? 100;
    this.masks = opts.masks ?? DEFAULT_MASKS;
  }

  tokens(line: string): string[] {
    let s = line.trim();
    for (const m of this.masks) s = s.replace(m, WILD);
    return s.split(/\s+/).filter(Boolean);
  }

  /** Adds a log line; returns its group (with the template as it stands after this line). */
  add(line: string): LogGroup {
    const toks = this.tokens(line);
    const leaf = this.leaf(toks);
    let best: LogGroup | undefined;
    let bestSim = -1;
    let bestWild = -1;
    for (const g of leaf.groups) {
      let same = 0;
      let wild = 0;
      for (let i = 0; i < toks.length; i++) {
        if (g.template[i] === WILD) wild++;
        else if (g.template[i] === toks[i]) same++;
      }
      const sim = same / toks.length;
      if (sim > bestSim || (sim === bestSim && wild > bestWild)) {
        best = g;
        bestSim = sim;
        bestWild = wild;
      }
    }
    if (best && bestSim >= this.sim) {
      best.template = best.template.map((t, i) => (t === toks[i] ? t : WILD));
      best.size++;
      return best;
    }
    const g: LogGroup = { id: this.groups.length + 1, template: toks, size: 1 };
    this.groups.push(g);
    leaf.groups.push(g);
    return g;
  }

  /** The leaf for a token list: its length, then its first tokens, digits and overflow going to `<*>`. */
  private leaf(toks: string[]): Node {
    let node = this.child(this.root, String(toks.length), true);
    const levels = Math.min(this.depth - 2, toks.length);
    for (let i = 0; i < levels; i++) {
      const tok = /\d/.test(toks[i]!) ? WILD : toks[i]!;
      node = this.child(node, tok, false);
    }
    return node;
  }

  private child(node: Node, key: string, exact: boolean): Node {
    let c = node.children.get(key);
    if (c) return c;
    if (!exact && key !== WILD && node.children.size >= this.maxChildren) {
      key = WILD;
      c = node.children.get(WILD);
      if (c) return c;
    }
    c = { children: new Map(), groups: [] };
    node.children.set(key, c);
    return c;
  }

  /** The current template of group `id` (ids start at 1), or '' for an unknown id. */
  template(id: number): string {
    return this.groups[id - 1]?.template.join(' ') ?? '';
  }

  templates(): { id: number; template: string; size: number }[] {
    return this.groups.map((g) => ({ id: g.id, template: g.template.join(' '), size: g.size }));
  }
}

/**
 * Loghub's grouping accuracy: a line counts as right when the set of lines in its predicted group equals the
 * set of lines sharing its true event id.
 */
export function groupingAccuracy(truth: readonly string[], predicted: readonly (string | number)[]): number {
  const byTruth = new Map<string, number[]>();
  const byPred = new Map<string | number, number[]>();
  truth.forEach((t, i) => byTruth.set(t, [...(byTruth.get(t) ?? []), i]));
  predicted.forEach((p, i) => byPred.set(p, [...(byPred.get(p) ?? []), i]));
  let right = 0;
  for (const members of byPred.values()) {
    const t = truth[members[0]!]!;
    const tm = byTruth.get(t)!;
    if (tm.length === members.length && members.every((m) => truth[m] === t)) right += members.length;
  }
  return right / truth.length;
}
