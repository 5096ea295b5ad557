/**
 * The topology page: the map as of a time (horizontal: who calls whom; vertical: what runs on what), a time
 * slider to rewind, the changes against now or the previous position, marked on the map and listed beside
 * it, and the entities of incidents open at that time. State lives in the URL (#/map?view=…&at=…), so a
 * view can be linked and reloaded.
 */
import { getJson, qs, type IncidentDetail, type IncidentSummary, type Snapshot, type TopologyDiff } from '../api.ts';
import { toGraph, type Mark, type TopoGraph } from '../graph/build.ts';
import { layoutForce, layoutLayers, type PositionCache } from '../graph/layout.ts';
import { MapView } from '../graph/map.ts';
import { debug } from '../debug.ts';
import { errorBox, fill, fmtAgo, fmtTime, h } from '../dom.ts';
import { showEdge, showEntity } from './details.ts';
import { legend, tooltip } from './widgets.ts';

const RANGES: Record<string, number> = { '15m': 15 * 60_000, '1h': 3600_000, '6h': 6 * 3600_000, '24h': 24 * 3600_000, '7d': 7 * 24 * 3600_000 };
const STEPS = 1000;
// Positions survive page changes, so coming back (or sliding in time) shows the same map.
const positions = new Map<string, PositionCache>();

interface State {
  view: 'horizontal' | 'vertical';
  endpoints: boolean;
  /** null: now (live). */
  at: number | null;
  range: string;
  compare: 'now' | 'previous';
}

function readState(p: URLSearchParams): State {
  const at = Number(p.get('at'));
  const state: State = {
    view: p.get('view') === 'vertical' ? 'vertical' : 'horizontal',
    endpoints: p.get('endpoints') === '1',
    at: Number.isFinite(at) && at > 0 ? at : null,
    range: RANGES[p.get('range') ?? ''] ? p.get('range')! : '1h',
    compare: p.get('compare') === 'previous' ? 'previous' : 'now',
  };
  // A linked time older than the range widens the range to hold it.
  const at0 = state.at;
  if (at0 !== null && at0 < Date.now() - RANGES[state.range]!) state.range = Object.keys(RANGES).find((r) => Date.now() - RANGES[r]! <= at0) ?? '7d';
  return state;
}

function writeState(s: State): void {
  const p = new URLSearchParams();
  if (s.view !== 'horizontal') p.set('view', s.view);
  if (s.endpoints) p.set('endpoints', '1');
  if (s.at !== null) p.set('at', String(s.at));
  if (s.range !== '1h') p.set('range', s.range);
  if (s.compare !== 'now') p.set('compare', s.compare);
  const q = p.toString();
  // replaceState: moving the slider is not a new page in the history.
  history.replaceState(null, '', `#/map${q ? `?${q}` : ''}`);
}

export function mountTopology(root: HTMLElement, params: URLSearchParams): () => void {
  const state = readState(params);
  let prevAt: number | null = null;
  let loadSeq = 0;
  let incidents: Promise<{ list: IncidentSummary[]; causes: Map<string, string> }> | undefined;

  const viewButtons = (['horizontal', 'vertical'] as const).map((v) =>
    h('button', { type: 'button', 'data-view': v, title: v === 'horizontal' ? 'Calls between services, processes and hosts' : 'Cluster ⊃ node ⊃ pod ⊃ container ⊃ process → service', onclick: () => setView(v) }, v === 'horizontal' ? 'Horizontal' : 'Vertical'),
  );
  const endpoints = h('input', { type: 'checkbox', id: 'endpoints', onchange: () => { state.endpoints = endpoints.checked; commit(); } });
  const slider = h('input', { type: 'range', id: 'time-slider', min: 0, max: STEPS, step: 1, 'aria-label': 'time' });
  const atLabel = h('output', { id: 'at-label', for: 'time-slider' });
  const rangeSel = h('select', { id: 'range', 'aria-label': 'slider range' }, Object.keys(RANGES).map((r) => h('option', { value: r }, `last ${r}`)));
  const compareSel = h('select', { id: 'compare', 'aria-label': 'compare with' }, h('option', { value: 'now' }, 'now'), h('option', { value: 'previous' }, 'the previous position'));
  const nowBtn = h('button', { type: 'button', id: 'now', onclick: () => moveTo(null) }, 'Now');
  const mapEl = h('div', { id: 'map', class: 'map', 'data-state': 'loading' });
  const status = h('div', { class: 'status', id: 'map-status' });
  const details = h('div', { id: 'details' }, h('p', { class: 'muted' }, 'Click an entity or an edge for its details.'));
  const changes = h('div', { id: 'changes' });
  const tip = tooltip();
  fill(root,
    h('section', { class: 'map-page' },
      h('div', { class: 'toolbar' },
        h('div', { class: 'seg', role: 'group', 'aria-label': 'view' }, viewButtons),
        h('label', { class: 'check' }, endpoints, ' endpoints'),
        h('div', { class: 'time' }, rangeSel, slider, atLabel, nowBtn),
        h('label', {}, 'compare with ', compareSel),
      ),
      h('div', { class: 'map-body' },
        h('div', { class: 'map-wrap' }, mapEl, legend(), status, tip.el),
        h('aside', { class: 'side' }, details, changes),
      ),
    ),
  );

  const map = new MapView(mapEl, {
    onNode: (id) => void showEntity(details, id, atOrNow(), { onSelect: select }),
    onEdge: (id) => {
      const g = map.graph;
      void showEdge(details, { id, type: g.getEdgeAttribute(id, 'type'), from: g.source(id), to: g.target(id) }, atOrNow(), { onSelect: select });
    },
    onHover: (id, x, y) => tip.show(id && map.graph.hasNode(id) ? map.graph.getNodeAttributes(id) : null, x, y),
  });
  debug.map = map;

  const atOrNow = () => state.at ?? Date.now();
  const select = (id: string) => {
    if (map.graph.hasNode(id)) map.focus(id);
    void showEntity(details, id, atOrNow(), { onSelect: select });
  };

  function syncControls(): void {
    for (const b of viewButtons) b.classList.toggle('on', b.dataset.view === state.view);
    endpoints.checked = state.endpoints;
    rangeSel.value = state.range;
    compareSel.value = state.compare;
    const span = RANGES[state.range]!;
    slider.value = String(state.at === null ? STEPS : Math.max(0, Math.round(((state.at - (Date.now() - span)) / span) * STEPS)));
    showAt(state.at);
  }
  function sliderTime(): number | null {
    const v = Number(slider.value);
    if (v >= STEPS) return null;
    const span = RANGES[state.range]!;
    return Math.round(Date.now() - span + (v / STEPS) * span);
  }
  function showAt(at: number | null): void {
    atLabel.textContent = at === null ? 'now' : `${fmtTime(at)} (${fmtAgo(at)})`;
    nowBtn.disabled = at === null;
  }
  function setView(v: State['view']): void {
    state.view = v;
    commit();
  }
  function moveTo(at: number | null): void {
    if (at === state.at) return;
    prevAt = state.at ?? Date.now();
    state.at = at;
    commit();
  }
  function commit(): void {
    writeState(state);
    syncControls();
    void load();
  }

  slider.addEventListener('input', () => showAt(sliderTime()));
  slider.addEventListener('change', () => moveTo(sliderTime()));
  rangeSel.addEventListener('change', () => {
    state.range = rangeSel.value;
    if (state.at !== null && state.at < Date.now() - RANGES[state.range]!) state.at = null;
    commit();
  });
  compareSel.addEventListener('change', () => {
    state.compare = compareSel.value === 'previous' ? 'previous' : 'now';
    commit();
  });

  /** Incidents (and their first root cause) once per page: the marks follow the slider's time. */
  function loadIncidents(): NonNullable<typeof incidents> {
    incidents ??= (async () => {
      const list = (await getJson<{ incidents: IncidentSummary[] }>('/api/v1/incidents?limit=100').catch(() => ({ incidents: [] }))).incidents;
      const causes = new Map<string, string>();
      const recent = list.filter((i) => i.status !== 'resolved').slice(0, 10);
      await Promise.all(
        recent.map(async (i) => {
          const d = await getJson<IncidentDetail>(`/api/v1/incidents/${encodeURIComponent(i.id)}`).catch(() => null);
          const top = d?.rootCauses?.[0]?.entity;
          if (top) causes.set(i.id, top);
        }),
      );
      return { list, causes };
    })();
    return incidents;
  }

  function diffMarks(g: TopoGraph, diff: TopologyDiff | null, at: number, nodes: Map<string, Mark>, edges: Map<string, Mark>): void {
    if (!diff) return;
    // What the map at `at` holds of the diff: newcomers when `at` is its later end, the departed when earlier.
    const later = at >= diff.to;
    const present = later ? diff.added : diff.removed;
    const mark: Mark = later ? 'added' : 'removed';
    for (const e of present.entities) if (g.hasNode(e.id)) nodes.set(e.id, mark);
    for (const e of present.edges) if (g.hasEdge(e.id)) edges.set(e.id, mark);
    for (const c of diff.changed) if (g.hasNode(c.entity.id)) nodes.set(c.entity.id, 'changed');
  }

  async function incidentMarks(g: TopoGraph, at: number, nodes: Map<string, Mark>): Promise<void> {
    const { list, causes } = await loadIncidents();
    // Incidents open at `at` (a minute of slack: an alert's entity appears as its telemetry lands).
    for (const i of list) {
      if (i.createdAt > at + 60_000 || (i.resolvedAt !== undefined && i.resolvedAt < at)) continue;
      for (const e of i.entities) if (g.hasNode(e) && nodes.get(e) !== 'cause') nodes.set(e, 'incident');
      const cause = causes.get(i.id);
      if (cause && g.hasNode(cause)) nodes.set(cause, 'cause');
    }
  }

  async function load(): Promise<void> {
    const seq = ++loadSeq;
    mapEl.dataset.state = 'loading';
    status.textContent = 'Loading…';
    const at = atOrNow();
    const { view } = state;
    const ref = state.compare === 'now' ? (state.at === null ? null : Date.now()) : prevAt;
    try {
      const [snap, diff] = await Promise.all([
        getJson<Snapshot>(`/api/v1/topology${qs({ at, view })}`),
        ref !== null && Math.abs(ref - at) >= 1000 ? getJson<TopologyDiff>(`/api/v1/topology/diff${qs({ from: Math.min(at, ref), to: Math.max(at, ref) })}`) : null,
      ]);
      if (seq !== loadSeq) return;
      const t0 = performance.now();
      const g = toGraph(snap, { view, endpoints: state.endpoints });
      const t1 = performance.now();
      const key = `${view}:${state.endpoints}`;
      if (!positions.has(key)) positions.set(key, new Map());
      if (view === 'vertical') layoutLayers(g);
      else Object.assign(debug.timings, layoutForce(g, positions.get(key)!));
      const layoutMs = performance.now() - t1;
      debug.timings.buildMs = t1 - t0;
      const nodes = new Map<string, Mark>();
      const edges = new Map<string, Mark>();
      diffMarks(g, diff, at, nodes, edges);
      map.sigma.once('afterRender', () => {
        if (seq !== loadSeq) return;
        debug.timings.mapRendered ??= performance.now();
        debug.timings.lastLayoutMs = layoutMs;
        debug.timings.firstFrameMs = map.firstFrameMs;
        map.sigma.once('afterRender', () => (debug.timings.frameMs = map.frameMs));
        mapEl.dataset.state = 'ready';
      });
      map.show(g);
      map.highlight(nodes, edges);
      mapEl.dataset.nodes = String(g.order);
      mapEl.dataset.edges = String(g.size);
      mapEl.dataset.view = view;
      mapEl.dataset.at = String(at);
      status.textContent = `${g.order} entities, ${g.size} edges ${state.at === null ? 'now' : `as of ${fmtTime(at)}`} · layout ${Math.round(layoutMs)} ms`;
      renderChanges(diff, at, ref);
      // Incident marks come after: the map does not wait for them.
      await incidentMarks(g, at, nodes);
      if (seq === loadSeq && nodes.size) map.highlight(nodes, edges);
    } catch (err) {
      if (seq !== loadSeq) return;
      mapEl.dataset.state = 'error';
      status.replaceChildren(errorBox(err));
    }
  }

  function renderChanges(diff: TopologyDiff | null, at: number, ref: number | null): void {
    if (!diff) {
      fill(changes,
        h('h3', {}, 'Changes'),
        h('p', { class: 'muted' }, ref === null ? 'Move the slider back in time to see what changed since.' : 'Nothing to compare yet.'),
      );
      return;
    }
    const name = (id: string) => (map.graph.hasNode(id) ? map.graph.getNodeAttribute(id, 'label') : id);
    const item = (id: string, mark: string, text: (string | Node)[]) =>
      h('li', { class: `chg ${mark}`, 'data-entity': id },
        h('button', { type: 'button', class: 'link', onclick: () => select(id) }, name(id)), ' ', ...text);
    const edgeItem = (e: { id: string; type: string; from: string; to: string }, mark: string) =>
      h('li', { class: `chg ${mark}`, 'data-edge': e.id }, `${name(e.from)} → ${name(e.to)} `, h('span', { class: 'muted' }, e.type));
    const cap = <T>(xs: T[], f: (x: T) => HTMLElement) => [...xs.slice(0, 100).map(f), ...(xs.length > 100 ? [h('li', { class: 'muted' }, `and ${xs.length - 100} more`)] : [])];
    const changed = diff.changed.flatMap((c) => c.changes.map((ch) => ({ id: c.entity.id, ch })));
    // Entities changed in any view matter (a pod replaced under a service); edges only those of this view.
    const inView = (e: { type: string }) => (e.type === 'CALLS' || e.type === 'CONNECTS') === (state.view === 'horizontal');
    const added = diff.added.edges.filter(inView);
    const removed = diff.removed.edges.filter(inView);
    const section = (title: string, n: number, items: HTMLElement[]) => (n ? [h('h4', {}, `${title} (${n})`), h('ul', { class: 'plain changes' }, items)] : []);
    const total = changed.length + diff.added.entities.length + added.length + diff.removed.entities.length + removed.length;
    fill(changes,
      h('h3', {}, 'Changes'),
      h('p', { class: 'muted' }, `${fmtTime(diff.from)} → ${fmtTime(diff.to)}, this map at the ${at >= diff.to ? 'later' : 'earlier'} end`),
      total === 0 ? h('p', { class: 'muted' }, 'No change in between.') : null,
      ...section('Changed', changed.length, cap(changed, ({ id, ch }) => item(id, 'changed', [h('span', {}, `${ch.attr}: ${ch.before || '∅'} → ${ch.after || '∅'}`), h('span', { class: 'muted' }, ` at ${fmtTime(ch.t)}`)]))),
      ...section('Added', diff.added.entities.length, cap(diff.added.entities, (e) => item(e.id, 'added', [h('span', { class: 'muted' }, e.kind)]))),
      ...section('Added edges', added.length, cap(added, (e) => edgeItem(e, 'added'))),
      ...section('Removed', diff.removed.entities.length, cap(diff.removed.entities, (e) => item(e.id, 'removed', [h('span', { class: 'muted' }, e.kind)]))),
      ...section('Removed edges', removed.length, cap(removed, (e) => edgeItem(e, 'removed'))),
    );
  }

  syncControls();
  void load();
  return () => {
    loadSeq++;
    tip.el.remove();
    map.kill();
    if (debug.map === map) debug.map = null;
  };
}
