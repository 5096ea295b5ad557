/** Small DOM helpers: elements from a tag, properties and children (text is always text, never HTML). */

export type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  el.append(...nodes(children));
  return el;
}

/** Children flattened, with the null / false placeholders of conditional parts dropped. */
export function nodes(children: Child[]): (Node | string)[] {
  const out: (Node | string)[] = [];
  const walk = (c: Child) => {
    if (Array.isArray(c)) c.forEach(walk);
    else if (c !== null && c !== undefined && c !== false) out.push(typeof c === 'number' ? String(c) : c);
  };
  children.forEach(walk);
  return out;
}

/** Replaces an element's children (conditional parts may be null). */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(...nodes(children));
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local date and time to the second: what an SRE compares with their dashboards. */
export function fmtTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (Math.abs(s) < 60) return `${s} s ago`;
  if (Math.abs(s) < 3600) return `${Math.round(s / 60)} min ago`;
  if (Math.abs(s) < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(1)} d ago`;
}

/** Numbers as people read them: 3 significant digits, no exponent for the usual ranges. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en');
  return String(Number(v.toPrecision(3)));
}

export function errorBox(err: unknown): HTMLElement {
  return h('p', { class: 'error' }, err instanceof Error ? err.message : String(err));
}
