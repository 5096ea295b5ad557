/**
 * Prediction reports: the list (newest first) and one report's HTML page. The page needs the bearer token, so
 * a plain link cannot open it: it is fetched with the token and shown in a sandboxed frame (no scripts, no
 * access to this page or its stored token).
 */
import { getJson, getText, type ReportSummary } from '../api.ts';
import { errorBox, fill, fmtAgo, fmtTime, h } from '../dom.ts';

export function mountReportList(root: HTMLElement): () => void {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  root.replaceChildren(h('section', { class: 'page' }, h('h2', {}, 'Prediction reports'), body));
  let live = true;
  void (async () => {
    try {
      const { reports } = await getJson<{ reports: ReportSummary[] }>('/api/v1/reports?limit=100');
      if (!live) return;
      fill(body,
        reports.length === 0
          ? h('p', { class: 'muted' }, 'No report yet: the predict role writes one per period (ROOTLINE_REPORT_PERIOD_MS).')
          : h('table', { class: 'list', id: 'report-list' },
              h('tr', {}, ['period', 'created', 'trigger', 'predicted breaches', 'drifting', 'anomalous sequences'].map((c) => h('th', {}, c))),
              reports.map((r) =>
                h('tr', { 'data-report': r.id },
                  h('td', {}, h('a', { href: `#/reports/${encodeURIComponent(r.id)}` }, `${fmtTime(r.period.from)} – ${fmtTime(r.period.to).slice(11)}`)),
                  h('td', { title: fmtTime(r.createdAt) }, fmtAgo(r.createdAt)),
                  h('td', {}, r.trigger),
                  h('td', { class: r.predictedBreaches ? 'num warn' : 'num' }, r.predictedBreaches),
                  h('td', { class: 'num' }, r.driftingEntities ?? 0),
                  h('td', { class: 'num' }, r.anomalousSequences ?? 0),
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

export function mountReport(root: HTMLElement, id: string): () => void {
  const frame = h('iframe', { id: 'report-frame', class: 'report', sandbox: '', title: `report ${id}` });
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  root.replaceChildren(h('section', { class: 'page' }, h('p', {}, h('a', { href: '#/reports' }, '← Reports')), body));
  let live = true;
  void (async () => {
    try {
      const html = await getText(`/api/v1/reports/${encodeURIComponent(id)}/html`);
      if (!live) return;
      frame.srcdoc = html;
      body.replaceChildren(frame);
    } catch (err) {
      if (live) body.replaceChildren(errorBox(err));
    }
  })();
  return () => {
    live = false;
  };
}
