/** Pieces shared by the map pages: the legend (kinds and marks) and the hover tooltip. */
import { KINDS, type NodeAttrs } from '../graph/build.ts';
import { MARK_COLOR } from '../graph/map.ts';
import { h } from '../dom.ts';

const MARK_TEXT: Record<string, string> = {
  added: 'added',
  removed: 'removed',
  changed: 'changed',
  incident: 'in an incident',
  cause: 'root cause',
  path: 'on the path',
};

export function legend(marks: string[] = ['added', 'removed', 'changed', 'incident', 'cause']): HTMLElement {
  const kinds = Object.entries(KINDS).filter(([k]) => k !== 'host');
  return h('div', { class: 'legend' },
    h('div', {}, kinds.map(([k, v]) => h('span', { class: `lg shape-${v.shape}`, style: `--c: ${v.color}` }, k))),
    h('div', {}, marks.map((m) => h('span', { class: 'lg halo', style: `--c: ${MARK_COLOR[m as keyof typeof MARK_COLOR]}` }, MARK_TEXT[m] ?? m))),
  );
}

/** A small card that follows the hovered node: kind, name and why it is marked; no request. */
export function tooltip(): { el: HTMLElement; show(a: NodeAttrs | null, x: number, y: number): void } {
  const el = h('div', { class: 'tooltip', hidden: true });
  return {
    el,
    show(a, x, y) {
      if (!a) {
        el.hidden = true;
        return;
      }
      el.replaceChildren(h('strong', {}, a.label), h('div', { class: 'muted' }, a.kind, a.mark ? ` · ${MARK_TEXT[a.mark]}` : ''));
      el.style.left = `${x + 14}px`;
      el.style.top = `${y + 14}px`;
      el.hidden = false;
    },
  };
}
