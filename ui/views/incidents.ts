/**
 * Incidents: the list (newest first, by status), and one incident's page: its ranked root causes with the
 * evidence against each one's own baseline and the remediation hint, the alerts and timeline, and a map of
 * the neighbourhood at the incident time with the chosen cause's propagation path highlighted and the rest
 * dimmed.
 */
import { ApiError, getJson, qs, type Cause, type IncidentDetail, type IncidentSummary, type RcaResult, type Snapshot } from '../api.ts';
import { addEntityNode, addTopologyEdge, kindFromId, toGraph, type Mark, type TopoGraph } from '../graph/build.ts';
import { layoutForce } from '../graph/layout.ts';
import { MapView } from '../graph/map.ts';
import { debug } from '../debug.ts';
import { errorBox, fill, fmtAgo, fmtNum, fmtTime, h } from '../dom.ts';
import { showEdge, showEntity } from './details.ts';
import { legend, tooltip } from './widgets.ts';

const STATUSES = ['open', 'acknowledged', 'resolved', 'all'] as const;

export function mountIncidentList(root: HTMLElement, params: URLSearchParams): () => void {
  const status = (STATUSES as readonly string[]).includes(params.get('status') ?? '') ? params.get('status')! : 'all';
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  fill(root,
    h('section', { class: 'page' },
      h('h2', {}, 'Incidents'),
      h('div', { class: 'seg' }, STATUSES.map((s) => h('a', { class: s === status ? 'on' : '', href: `#/incidents${s === 'all' ? '' : `?status=${s}`}` }, s))),
      body,
    ),
  );
  let live = true;
  void (async () => {
    try {
      const { incidents } = await getJson<{ incidents: IncidentSummary[] }>(`/api/v1/incidents${qs({ status: status === 'all' ? undefined : status, limit: 200 })}`);
      if (!live) return;
      if (!incidents.length) {
        body.replaceChildren(h('p', { class: 'muted' }, 'No incidents.'));
        return;
      }
      fill(body,
        h('table', { class: 'list incidents', id: 'incident-list' },
          h('tr', {}, ['status', 'severity', 'incident', 'started', 'alerts', 'entities'].map((c) => h('th', {}, c))),
          incidents.map((i) =>
            h('tr', { 'data-incident': i.id },
              h('td', {}, h('span', { class: `badge ${i.status}` }, i.status)),
              h('td', {}, h('span', { class: `sev ${i.severity}` }, i.severity)),
              h('td', {}, h('a', { href: `#/incidents/${encodeURIComponent(i.id)}` }, i.title || i.id)),
              h('td', { title: fmtTime(i.createdAt) }, fmtAgo(i.createdAt)),
              h('td', {}, i.alertCount),
              h('td', { class: 'ids' }, i.entities.slice(0, 3).join(', '), i.entities.length > 3 ? ` +${i.entities.length - 3}` : ''),
            ),
          ),
        ),
      );
    } catch (err) {
      if (live) body.replaceChildren(errorBox(err));
    }
  })();
  return () => {
    live = false;
  };
}

/** The entities to draw around an incident: causes' paths, the alerts' entities, and a few neighbours of each. */
function neighbourhood(snap: Snapshot, seeds: Set<string>, perNode = 12): Set<string> {
  const taken = new Map<string, number>();
  const keep = new Set(seeds);
  const take = (seed: string, other: string) => {
    const n = taken.get(seed) ?? 0;
    if (n >= perNode) return;
    taken.set(seed, n + 1);
    keep.add(other);
  };
  for (const e of snap.edges) {
    if (seeds.has(e.from)) take(e.from, e.to);
    if (seeds.has(e.to)) take(e.to, e.from);
  }
  return keep;
}

/** The path's edges in the graph, either direction; a pair with no topology edge gets a drawn PATH edge. */
function pathEdges(g: TopoGraph, path: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < path.length; i++) {
    const [a, b] = [path[i]!, path[i + 1]!];
    for (const n of [a, b]) if (!g.hasNode(n)) addEntityNode(g, { id: n, kind: kindFromId(n), name: n.slice(n.indexOf(':') + 1), attrs: {} });
    const found = [...g.edges(a, b), ...g.edges(b, a)];
    if (found.length) out.push(...found);
    else {
      const id = `PATH:${a}->${b}`;
      addTopologyEdge(g, { id, type: 'PATH', from: a, to: b });
      out.push(id);
    }
  }
  return out;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;

function evidenceTable(c: Cause): HTMLElement {
  if (!c.evidence.length) return h('p', { class: 'muted' }, 'No signal evidence (ranked by topology alone).');
  return h('table', { class: 'list evidence' },
    h('tr', {}, ['signal', 'indicator', 'baseline', 'observed', 'z', 'onset'].map((x) => h('th', {}, x))),
    c.evidence.map((e) =>
      h('tr', {},
        h('td', {}, h('code', {}, e.signal)),
        h('td', {}, e.indicator),
        h('td', { class: 'num' }, fmtNum(e.baseline)),
        h('td', { class: 'num' }, fmtNum(e.observed)),
        h('td', { class: 'num' }, fmtNum(e.z)),
        h('td', {}, e.onset !== undefined ? fmtTime(e.onset) : '–'),
      ),
    ),
  );
}

export function mountIncident(root: HTMLElement, id: string): () => void {
  const head = h('div', { class: 'incident-head' }, h('p', { class: 'muted' }, 'Loading…'));
  const causesEl = h('div', { id: 'causes' }, h('p', { class: 'muted' }, 'Analysing root causes…'));
  const alertsEl = h('div', { id: 'alerts' });
  const mapEl = h('div', { id: 'map', class: 'map', 'data-state': 'loading' });
  const details = h('div', { id: 'details' });
  const tip = tooltip();
  fill(root,
    h('section', { class: 'incident-page' },
      h('p', {}, h('a', { href: '#/incidents' }, '← Incidents')),
      head,
      h('div', { class: 'incident-body' },
        h('div', { class: 'incident-main' }, causesEl, alertsEl),
        h('div', { class: 'incident-map' }, h('div', { class: 'map-wrap' }, mapEl, legend(['incident', 'cause', 'path']), tip.el), details),
      ),
    ),
  );
  let live = true;
  let map: MapView | null = null;
  let graph: TopoGraph | null = null;
  let at = Date.now();
  const select = (e: string) => {
    if (graph?.hasNode(e)) map?.focus(e);
    void showEntity(details, e, at, { onSelect: select });
  };

  /** Highlights one cause's path: symptom and path as `path`, the cause itself as `cause`, the rest dimmed. */
  function showPath(c: Cause, incidentEntities: string[]): void {
    if (!map || !graph) return;
    const edges = new Map<string, Mark>();
    for (const e of pathEdges(graph, c.path.length ? c.path : [c.entity])) edges.set(e, 'path');
    const nodes = new Map<string, Mark>();
    for (const e of incidentEntities) if (graph.hasNode(e)) nodes.set(e, 'incident');
    for (const n of c.path) nodes.set(n, 'path');
    nodes.set(c.entity, 'cause');
    map.highlight(nodes, edges, true);
    mapEl.dataset.path = c.path.join(' > ');
    mapEl.dataset.cause = c.entity;
    for (const el of causesEl.querySelectorAll('.cause')) el.classList.toggle('on', (el as HTMLElement).dataset.entity === c.entity);
  }

  void (async () => {
    let inc: IncidentDetail;
    try {
      inc = await getJson<IncidentDetail>(`/api/v1/incidents/${encodeURIComponent(id)}`);
    } catch (err) {
      if (live) head.replaceChildren(errorBox(err));
      causesEl.replaceChildren();
      return;
    }
    if (!live) return;
    fill(head,
      h('h2', {}, inc.title || inc.id),
      h('p', {},
        h('span', { class: `badge ${inc.status}` }, inc.status), ' ', h('span', { class: `sev ${inc.severity}` }, inc.severity),
        ` · started ${fmtTime(inc.createdAt)} (${fmtAgo(inc.createdAt)}) · ${inc.alertCount} alert${inc.alertCount === 1 ? '' : 's'}`,
        inc.resolvedAt ? ` · resolved ${fmtTime(inc.resolvedAt)}` : '',
      ),
      h('p', { class: 'ids' }, 'Entities: ', inc.entities.map((e, i) => [i ? ', ' : '', h('button', { type: 'button', class: 'link', onclick: () => select(e) }, e)])),
    );
    fill(alertsEl,
      h('h3', {}, 'Alerts'),
      h('table', { class: 'list' },
        h('tr', {}, ['status', 'alert', 'source', 'since', 'entities'].map((x) => h('th', {}, x))),
        inc.alerts.map((a) => h('tr', {}, h('td', {}, a.status), h('td', {}, a.labels.alertname ?? a.fingerprint), h('td', {}, a.source), h('td', {}, fmtTime(a.startsAt)), h('td', { class: 'ids' }, a.entities.join(', ')))),
      ),
      h('h3', {}, 'Timeline'),
      h('ul', { class: 'plain timeline' }, inc.timeline.map((t) => h('li', {}, h('span', { class: 'muted' }, fmtTime(t.t)), ` ${t.event}`, t.detail ? ` — ${t.detail}` : ''))),
    );

    let rca: RcaResult;
    try {
      rca = await getJson<RcaResult>(`/api/v1/incidents/${encodeURIComponent(id)}/rca`);
    } catch (err) {
      if (!live) return;
      fill(causesEl, h('h3', {}, 'Root causes'), err instanceof ApiError && err.status === 404 ? h('p', { class: 'muted' }, err.message) : errorBox(err));
      mapEl.dataset.state = 'error';
      return;
    }
    if (!live) return;
    at = rca.t;
    const causes = rca.causes.slice(0, 10);
    fill(causesEl,
      h('h3', {}, 'Root causes ', h('span', { class: 'muted' }, `as of ${fmtTime(rca.t)}, from ${rca.symptom}`)),
      causes.length === 0 ? h('p', { class: 'muted' }, 'No candidate found.') : null,
      // What to page: the services behind the causes (a process or pod counts for the service it runs).
      rca.services.length > 0
        ? h('p', { class: 'services' }, 'Services: ',
          rca.services.slice(0, 3).map((s, i) => h('span', { class: 'service', 'data-service': s.service, 'data-rank': i + 1 }, `${i > 0 ? ', ' : ''}${s.service.replace(/^service:/, '')} (${s.kind})`)))
        : null,
      h('ol', { class: 'causes' },
        causes.map((c, i) =>
          h('li', { class: 'cause', 'data-entity': c.entity, 'data-rank': i + 1 },
            h('div', { class: 'cause-head' },
              h('button', { type: 'button', class: 'link entity', onclick: () => { showPath(c, inc.entities); select(c.entity); } }, c.entity),
              h('span', { class: 'fault' }, c.kind),
              h('span', { class: 'conf', title: `score ${fmtNum(c.score)}` }, h('meter', { min: 0, max: 1, value: c.confidence }), ` ${pct(c.confidence)}`),
              h('button', { type: 'button', class: 'small', onclick: () => showPath(c, inc.entities) }, 'show path'),
            ),
            c.hint ? h('p', { class: 'hint' }, c.hint) : null,
            c.path.length > 1 ? h('p', { class: 'path muted' }, 'Path: ', c.path.join(' → ')) : null,
            evidenceTable(c),
          ),
        ),
      ),
    );

    // The map at the incident time: the causes' paths and the incident's entities with their neighbours.
    try {
      const snap = await getJson<Snapshot>(`/api/v1/topology${qs({ at: rca.t, view: 'all' })}`);
      if (!live) return;
      const seeds = new Set<string>([...inc.entities, ...causes.slice(0, 5).flatMap((c) => [c.entity, ...c.path])]);
      const g = toGraph(snap, { view: 'all', endpoints: false, only: neighbourhood(snap, seeds) });
      for (const c of causes.slice(0, 5)) pathEdges(g, c.path.length ? c.path : [c.entity]);
      layoutForce(g, new Map());
      map = new MapView(mapEl, {
        onNode: (n) => select(n),
        onEdge: (e) => void showEdge(details, { id: e, type: g.getEdgeAttribute(e, 'type'), from: g.source(e), to: g.target(e) }, at, { onSelect: select }),
        onHover: (n, x, y) => tip.show(n && g.hasNode(n) ? g.getNodeAttributes(n) : null, x, y),
      });
      debug.map = map;
      graph = g;
      map.sigma.once('afterRender', () => {
        mapEl.dataset.state = 'ready';
      });
      map.show(g);
      mapEl.dataset.nodes = String(g.order);
      if (causes[0]) showPath(causes[0], inc.entities);
    } catch (err) {
      if (live) mapEl.replaceChildren(errorBox(err));
      mapEl.dataset.state = 'error';
    }
  })();

  return () => {
    live = false;
    tip.el.remove();
    map?.kill();
    if (debug.map === map) debug.map = null;
  };
}
