/** The HTML view of a report: tables and one inline SVG chart per forecast series. All text is escaped. */
import type { ForecastSeries, Report } from './model.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/** A line chart: observed (solid), forecast (dashed) with its 80% band, and the threshold (red). */
export function chartSvg(f: ForecastSeries, width = 560, height = 160): string {
  const pad = { l: 48, r: 8, t: 8, b: 20 };
  const xs = [...f.observed.map((p) => p[0]), ...f.forecast.map((p) => p[0])];
  const ys = [...f.observed.map((p) => p[1]), ...f.forecast.flatMap((p) => [p[2], p[3]]), ...(f.threshold !== null ? [f.threshold] : [])];
  if (xs.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img"><text x="10" y="20">no data</text></svg>`;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y0 = Math.min(0, ...ys);
  let y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  const X = (x: number) => pad.l + ((x - x0) / Math.max(1, x1 - x0)) * (width - pad.l - pad.r);
  const Y = (y: number) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const line = (pts: [number, number][]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
  const parts: string[] = [];
  if (f.forecast.length > 0) {
    const upper = f.forecast.map((p) => [p[0], p[3]] as [number, number]);
    const lower = f.forecast.map((p) => [p[0], p[2]] as [number, number]).reverse();
    parts.push(`<path d="${line([...upper, ...lower])} Z" fill="#9ecae1" fill-opacity="0.4" stroke="none"/>`);
    parts.push(`<path d="${line(f.forecast.map((p) => [p[0], p[1]]))}" fill="none" stroke="#3182bd" stroke-dasharray="4 3"/>`);
  }
  if (f.observed.length > 0) parts.push(`<path d="${line(f.observed)}" fill="none" stroke="#222" stroke-width="1.5"/>`);
  if (f.threshold !== null && f.threshold >= y0 && f.threshold <= y1) {
    parts.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(f.threshold).toFixed(1)}" y2="${Y(f.threshold).toFixed(1)}" stroke="#d62728" stroke-dasharray="2 2"/>`);
  }
  parts.push(`<text x="2" y="${pad.t + 8}" font-size="10">${escapeHtml(num(y1))}</text><text x="2" y="${height - pad.b}" font-size="10">${escapeHtml(num(y0))}</text>`);
  parts.push(`<text x="${pad.l}" y="${height - 4}" font-size="10">${escapeHtml(iso(x0))}</text><text x="${width - pad.r}" y="${height - 4}" font-size="10" text-anchor="end">${escapeHtml(iso(x1))}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(`${f.service} ${f.signal}`)}">${parts.join('')}</svg>`;
}

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return '<p><em>none</em></p>';
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderReportHtml(r: Report, maxCharts = 60): string {
  const breaches = table(
    ['service', 'signal', 'threshold', 'lead (min)', 'at', 'predicted', 'confidence'],
    r.predictedBreaches.map((b) => [b.service, b.signal, num(b.threshold), String(b.leadMinutes), iso(b.at), num(b.predicted), `${Math.round(b.confidence * 100)}%`]),
  );
  const seqs = r.anomalousSequences;
  const seqTable = table(
    ['trace', 'score', 'misses', 'unknown', 'calls'],
    seqs.items.map((s) => [s.traceId, num(s.score), String(s.misses), String(s.unknown), s.calls.join(' → ')]),
  );
  const drift = table(
    ['service', 'signal', 'previous median', 'recent mean', 'robust z'],
    r.driftingEntities.map((d) => [d.service, d.signal, num(d.previousMedian), num(d.recentMean), d.robustZ.toFixed(1)]),
  );
  const anomalies = table(
    ['service', 'signal', 'at', 'value', 'score'],
    (r.seriesAnomalies ?? []).map((a) => [a.service, a.signal, iso(a.at), num(a.value), a.score.toFixed(2)]),
  );
  // Series with a breach first, then the rest, up to maxCharts.
  const flagged = new Set(r.predictedBreaches.map((b) => `${b.service}\u0000${b.signal}`));
  const charts = [...r.forecasts]
    .sort((a, b) => Number(flagged.has(`${b.service}\u0000${b.signal}`)) - Number(flagged.has(`${a.service}\u0000${a.signal}`)))
    .slice(0, maxCharts)
    .map((f) => `<figure>${chartSvg(f)}<figcaption>${escapeHtml(`${f.service} — ${f.signal}`)}${f.threshold !== null ? escapeHtml(` (threshold ${num(f.threshold)})`) : ''}<br><small>${escapeHtml(f.method)}</small></figcaption></figure>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(`Rootline prediction report ${r.id}`)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}figure{display:inline-block;margin:8px}</style>
</head><body>
<h1>Prediction report</h1>
<p>${escapeHtml(`Period ${iso(r.period.from)} – ${iso(r.period.to)}; created ${iso(r.createdAt)} (${r.trigger}); history ${r.settings.historyMinutes} min, horizon ${r.settings.horizonMinutes} min.`)}</p>
<h2>Predicted breaches</h2>${breaches}
<h2>Anomalous API sequences</h2><p>${escapeHtml(seqs.note)}</p>${seqTable}
<h2>Drifting entities</h2><p>${escapeHtml(`Recent ${r.settings.driftWindowMinutes} min against the ${r.settings.driftWindowMinutes} min before; flagged above ${r.settings.driftSigmas} robust sigmas.`)}</p>${drift}
<h2>Series anomalies</h2><p>${escapeHtml(`Each series' first minute in the last ${r.settings.driftWindowMinutes} min that the streaming detector scores at ${r.settings.anomalyScore ?? 0.5} or more, judged against the minutes before it.`)}</p>${anomalies}
<h2>Forecasts</h2>
${charts || '<p><em>no span data in the history window</em></p>'}
</body></html>
`;
}
