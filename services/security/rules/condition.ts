/**
 * Rule conditions in the shape of Falco's filter language, over collector event fields (OpenTelemetry and
 * `aiops.*` names):
 *
 *   cond    := or
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | "(" cond ")" | macro | check
 *   check   := field op value | field "in" "(" value, … ")" | field "pmatch" "(" … ")" | field "exists"
 *   op      := = | == | != | < | <= | > | >= | contains | icontains | startswith | endswith | glob
 *
 * A value inside `in (…)`/`pmatch (…)` that names a list expands to its items, as in Falco. Every field must
 * be known ({@link KNOWN_FIELDS}) and every bare word in a boolean position must be a macro, so a typo is a
 * load error, not a rule that silently never fires.
 */

export type Scalar = string | number | boolean;
/** A field holds one value or, for derived fields such as a process's recent peer ports, several. */
export type Value = Scalar | readonly Scalar[];
export type Event = Readonly<Record<string, Value | undefined>>;
export type Predicate = (e: Event) => boolean;

export class ConditionError extends Error {}

/** A field's value as text ('' when missing): what event attributes are once stored. */
export const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

const OPS = new Set(['=', '==', '!=', '<', '<=', '>', '>=', 'contains', 'icontains', 'startswith', 'endswith', 'glob', 'in', 'pmatch', 'exists']);

interface Token {
  text: string;
  quoted: boolean;
  pos: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      out.push({ text: c, quoted: false, pos: i++ });
      continue;
    }
    if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new ConditionError(`unterminated string at column ${i + 1}`);
      out.push({ text: src.slice(i + 1, end), quoted: true, pos: i });
      i = end + 1;
      continue;
    }
    const op = /^(==|!=|<=|>=|=|<|>)/.exec(src.slice(i));
    if (op) {
      out.push({ text: op[1]!, quoted: false, pos: i });
      i += op[1]!.length;
      continue;
    }
    const word = /^[^\s(),=!<>"']+/.exec(src.slice(i));
    if (!word) throw new ConditionError(`unexpected character '${c}' at column ${i + 1}`);
    out.push({ text: word[0], quoted: false, pos: i });
    i += word[0].length;
  }
  return out;
}

export interface ConditionContext {
  lists: ReadonlyMap<string, readonly string[]>;
  /** Macros already compiled, by name. */
  macros: ReadonlyMap<string, Predicate>;
  /** Field names a condition may read. */
  fields: ReadonlySet<string>;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Equality across the event's types: numbers compare as numbers, booleans as `true`/`false`. */
function equals(v: Scalar, want: string): boolean {
  if (typeof v === 'number') return want !== '' && Number(want) === v;
  return String(v) === want;
}

/** A test of one value lifted to fields: a multi-valued field passes when any of its values does. */
function lift(field: string, test: (v: Scalar) => boolean): Predicate {
  return (e) => {
    const v = e[field];
    if (v === undefined) return false;
    return Array.isArray(v) ? v.some(test) : test(v as Scalar);
  };
}

function compare(op: string, field: string, arg: string): Predicate {
  return lift(field, scalarTest(op, arg));
}

function scalarTest(op: string, arg: string): (v: Scalar) => boolean {
  const num = Number(arg);
  switch (op) {
    case '=':
    case '==':
      return (v) => equals(v, arg);
    case '!=':
      return (v) => !equals(v, arg);
    case '<':
    case '<=':
    case '>':
    case '>=': {
      if (!Number.isFinite(num)) throw new ConditionError(`'${op}' needs a number, got '${arg}'`);
      return (raw) => {
        const v = Number(raw);
        if (raw === '' || !Number.isFinite(v)) return false;
        return op === '<' ? v < num : op === '<=' ? v <= num : op === '>' ? v > num : v >= num;
      };
    }
    case 'contains':
      return (v) => String(v).includes(arg);
    case 'icontains': {
      const low = arg.toLowerCase();
      return (v) => String(v).toLowerCase().includes(low);
    }
    case 'startswith':
      return (v) => String(v).startsWith(arg);
    case 'endswith':
      return (v) => String(v).endsWith(arg);
    case 'glob': {
      const re = globToRegExp(arg);
      return (v) => re.test(String(v));
    }
  }
  throw new ConditionError(`unknown operator '${op}'`);
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[], private readonly ctx: ConditionContext) {}

  parse(): Predicate {
    if (this.toks.length === 0) throw new ConditionError('empty condition');
    let p: Predicate;
    try {
      p = this.or();
    } catch (err) {
      if (err instanceof RangeError) throw new ConditionError('condition nests too deeply');
      throw err;
    }
    const rest = this.toks[this.i];
    if (rest) throw new ConditionError(`unexpected '${rest.text}' at column ${rest.pos + 1}`);
    return p;
  }

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private next(what: string): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ConditionError(`condition ends where ${what} was expected`);
    return t;
  }

  private keyword(word: string): boolean {
    const t = this.peek();
    if (t && !t.quoted && t.text === word) {
      this.i++;
      return true;
    }
    return false;
  }

  private or(): Predicate {
    const parts = [this.and()];
    while (this.keyword('or')) parts.push(this.and());
    return parts.length === 1 ? parts[0]! : (e) => parts.some((p) => p(e));
  }

  private and(): Predicate {
    const parts = [this.not()];
    while (this.keyword('and')) parts.push(this.not());
    return parts.length === 1 ? parts[0]! : (e) => parts.every((p) => p(e));
  }

  private not(): Predicate {
    if (this.keyword('not')) {
      const p = this.not();
      return (e) => !p(e);
    }
    if (this.keyword('(')) {
      const p = this.or();
      const close = this.next("')'");
      if (close.text !== ')' || close.quoted) throw new ConditionError(`expected ')' at column ${close.pos + 1}, got '${close.text}'`);
      return p;
    }
    const t = this.next('a field or macro');
    if (t.quoted) throw new ConditionError(`a string cannot stand alone at column ${t.pos + 1}`);
    const op = this.peek();
    if (!op || op.quoted || !OPS.has(op.text)) {
      const macro = this.ctx.macros.get(t.text);
      if (macro) return macro;
      throw new ConditionError(
        this.ctx.fields.has(t.text)
          ? `field '${t.text}' at column ${t.pos + 1} needs an operator`
          : `unknown macro or field '${t.text}' at column ${t.pos + 1}`,
      );
    }
    if (!this.ctx.fields.has(t.text)) throw new ConditionError(`unknown field '${t.text}' at column ${t.pos + 1}`);
    this.i++;
    return this.check(t.text, op.text);
  }

  /** The items of `( a, b, list_name, … )`, lists expanded. */
  private items(): string[] {
    const open = this.next("'('");
    if (open.text !== '(' || open.quoted) throw new ConditionError(`expected '(' at column ${open.pos + 1}`);
    const out: string[] = [];
    for (;;) {
      const t = this.next("a value or ')'");
      if (!t.quoted && t.text === ')') break;
      if (!t.quoted && t.text === ',') continue;
      const list = t.quoted ? undefined : this.ctx.lists.get(t.text);
      if (list) out.push(...list);
      else out.push(t.text);
    }
    if (out.length === 0) throw new ConditionError(`empty list at column ${open.pos + 1}`);
    return out;
  }

  private check(field: string, op: string): Predicate {
    if (op === 'exists') return (e) => e[field] !== undefined && e[field] !== '' && !(Array.isArray(e[field]) && (e[field] as readonly Scalar[]).length === 0);
    if (op === 'in') {
      const items = this.items();
      const set = new Set(items);
      return lift(field, (v) => set.has(String(v)) || (typeof v === 'number' && items.some((x) => Number(x) === v)));
    }
    if (op === 'pmatch') {
      const prefixes = this.items().map((p) => (p.endsWith('/') ? p : `${p}/`));
      return lift(field, (v) => prefixes.some((p) => String(v).startsWith(p) || `${String(v)}/` === p));
    }
    const arg = this.next(`a value after '${op}'`);
    if (!arg.quoted && (arg.text === '(' || arg.text === ')' || arg.text === ',')) throw new ConditionError(`expected a value after '${op}' at column ${arg.pos + 1}`);
    return compare(op, field, arg.text);
  }
}

/** Compiles a condition to a predicate; throws {@link ConditionError} with the column of the problem. */
export function compileCondition(src: string, ctx: ConditionContext): Predicate {
  return new Parser(tokenize(src), ctx).parse();
}
