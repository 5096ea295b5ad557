/**
 * The side panel for what was clicked on a map: an entity (attributes, where it runs, what changed) or an
 * edge (its per-minute calls, errors and latency when it is a CALLS edge with statistics).
 */
import { getJson, qs, type EdgeMinute, type EntityDetail } from '../api.ts';
import { kindOf } from '../graph/build.ts';
import { errorBox, fill, fmtAgo, fmtNum, fmtTime, h } from '../dom.ts';

export interface DetailsOptions {
  /** A related entity was clicked (the stack, an edge's end). */
  onSelect(id: string): void;
}

const kindBadge = (kind: string) => h('span', { class: 'kind', style: `--kind: ${kindOf(kind).color}` }, kind);

function entityLink(id: string, opts: DetailsOptions): HTMLElement {
  return h('button', { type: 'button', class: 'link', 'data-entity': id, onclick: () => opts.onSelect(id) }, id);
}

let current: AbortController | undefined;

export async function showEntity(el: HTMLElement, id: string, at: number, opts: DetailsOptions): Promise<void> {
  current?.abort();
  const ctl = (current = new AbortController());
  el.replaceChildren(h('p', { class: 'muted' }, `Loading ${id}…`));
  let d: EntityDetail;
  try {
    d = await getJson<EntityDetail>(`/api/v1/entities/${encodeURIComponent(id)}${qs({ at })}`, ctl.signal);
  } catch (err) {
    if (!ctl.signal.aborted) el.replaceChildren(errorBox(err));
    return;
  }
  const e = d.entity;
  const first = e.intervals[0]?.[0];
  const last = e.intervals[e.intervals.length - 1]?.[1];
  const attrs = Object.entries(e.attrs).sort(([a], [b]) => a.localeCompare(b));
  const stack = d.stack.entities.filter((s) => s.id !== e.id).sort((a, b) => kindOf(a.kind).rank - kindOf(b.kind).rank);
  const horizontal = d.edges.filter((x) => x.type === 'CALLS' || x.type === 'CONNECTS');
  fill(el,
    h('div', { class: 'details', 'data-entity-id': e.id },
      h('h3', {}, kindBadge(e.kind), ' ', e.name),
      h('p', { class: 'muted' }, h('code', {}, e.id)),
      first !== undefined && last !== undefined
        ? h('p', {}, `Seen ${fmtTime(first)} – ${fmtTime(last)} (${fmtAgo(last)})`, e.intervals.length > 1 ? `, in ${e.intervals.length} spells` : '')
        : null,
      attrs.length ? h('table', { class: 'kv' }, attrs.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))) : null,
      stack.length ? [h('h4', {}, 'Stack'), h('ul', { class: 'plain' }, stack.map((s) => h('li', {}, kindBadge(s.kind), ' ', entityLink(s.id, opts))))] : null,
      horizontal.length
        ? [
            h('h4', {}, `Calls and connections (${horizontal.length})`),
            h('ul', { class: 'plain' }, horizontal.slice(0, 12).map((x) =>
              h('li', {}, x.from === e.id ? '→ ' : '← ', entityLink(x.from === e.id ? x.to : x.from, opts), ' ',
                // The edge's statistics from here too: on a big map edges may not take clicks (see map.ts).
                h('button', { type: 'button', class: 'link muted', 'data-edge': x.id, onclick: () => void showEdge(el, x, at, opts) }, x.type)))),
            horizontal.length > 12 ? h('p', { class: 'muted' }, `and ${horizontal.length - 12} more`) : null,
          ]
        : null,
      d.changes.length
        ? [
            h('h4', {}, 'Changes'),
            h('table', { class: 'list' }, d.changes.slice(-10).reverse().map((c) => h('tr', {}, h('td', {}, fmtTime(c.t)), h('td', {}, c.attr), h('td', {}, `${c.before || '∅'} → ${c.after || '∅'}`)))),
          ]
        : null,
    ),
  );
}

export async function showEdge(el: HTMLElement, edge: { id: string; type: string; from: string; to: string }, at: number, opts: DetailsOptions): Promise<void> {
  current?.abort();
  const ctl = (current = new AbortController());
  const head = [
    h('h3', {}, h('span', { class: 'kind' }, edge.type), ' edge'),
    h('p', {}, entityLink(edge.from, opts), ' → ', entityLink(edge.to, opts)),
  ];
  el.replaceChildren(h('div', { class: 'details', 'data-edge-id': edge.id }, head));
  // Per-minute statistics exist for CALLS edges (from spans and service-graph metrics).
  if (edge.type !== 'CALLS') return;
  const box = h('div', {}, h('p', { class: 'muted' }, 'Loading statistics…'));
  el.firstElementChild!.append(box);
  try {
    const { minutes } = await getJson<{ minutes: EdgeMinute[] }>(`/api/v1/topology/stats${qs({ edge: edge.id, from: at - 15 * 60_000, to: at + 60_000 })}`, ctl.signal);
    if (!minutes.length) {
      box.replaceChildren(h('p', { class: 'muted' }, 'No statistics in the 15 minutes before this time.'));
      return;
    }
    const calls = minutes.reduce((s, m) => s + m.calls, 0);
    const errors = minutes.reduce((s, m) => s + m.errors, 0);
    fill(box,
      h('p', {}, `${fmtNum(calls)} calls, ${fmtNum(errors)} errors (${calls ? fmtNum((100 * errors) / calls) : 0} %) in the last ${minutes.length} minutes with traffic`),
      h('table', { class: 'list' },
        h('tr', {}, ['minute (UTC)', 'calls', 'errors', 'p50 ms', 'p90 ms', 'p99 ms'].map((c) => h('th', {}, c))),
        minutes.slice(-10).reverse().map((m) => h('tr', {}, h('td', {}, m.minute.slice(11, 16)), h('td', {}, fmtNum(m.calls)), h('td', {}, fmtNum(m.errors)), h('td', {}, fmtNum(m.latency_p50_ms)), h('td', {}, fmtNum(m.latency_p90_ms)), h('td', {}, fmtNum(m.latency_p99_ms)))),
      ),
    );
  } catch (err) {
    if (!ctl.signal.aborted) box.replaceChildren(errorBox(err));
  }
}
