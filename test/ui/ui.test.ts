/**
 * The web UI in real headless Chromium against a service seeded through its public APIs: a small shop's traces
 * over forty minutes (with a deploy of checkout and a new fraud service), an alert that opens an incident
 * whose RCA names payment, and a prediction report. Screenshots of every step go to test-artifacts/ui/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { Cleanup } from '../helpers/collector.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { chromiumSkipReason, launchChromium, mapReady, MIN, newPage, seedShop, shot, type ShopSeed } from '../helpers/ui.ts';

const skip = chromiumSkipReason();
const cleanup = new Cleanup();
after(() => cleanup.run());

/** What the page's debug handle says about the graph on screen. */
interface GraphView {
  nodes: Record<string, { kind: string; mark?: string; dim?: boolean }>;
  edges: Record<string, { type: string; mark?: string; dim?: boolean }>;
}
const graphOf = (page: Page): Promise<GraphView> =>
  page.evaluate(() => {
    const g = window.__rootline.graph!;
    const nodes: Record<string, { kind: string; mark?: string; dim?: boolean }> = {};
    const edges: Record<string, { type: string; mark?: string; dim?: boolean }> = {};
    g.forEachNode((n, a) => (nodes[n] = { kind: a.kind, mark: a.mark, dim: a.dim }));
    g.forEachEdge((e, a) => (edges[e] = { type: a.type, mark: a.mark, dim: a.dim }));
    return { nodes, edges };
  });

describe('web UI', { skip }, () => {
  let svc: TestService;
  let seed: ShopSeed;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    browser = await launchChromium();
    cleanup.after(() => browser.close());
    svc = await startTestService(cleanup, { ROOTLINE_ROLES: 'ingest,topology,rca,predict', ROOTLINE_WATCH: 'off', ROOTLINE_SECURITY: 'off', ROOTLINE_RETENTION_DAYS: '0' });
    seed = await seedShop(svc);
    page = await newPage(browser, errors);
  });

  it('serves the UI files without a token, while the API still wants one', async () => {
    const redirect = await fetch(`${svc.url}/ui`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/ui/');
    const index = await fetch(`${svc.url}/ui/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    const js = /src="(assets\/app-[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(js, html);
    const asset = await fetch(`${svc.url}/ui/${js}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.ok((await asset.arrayBuffer()).byteLength > 10_000);
    assert.equal((await fetch(`${svc.url}/ui/assets/nothing.js`)).status, 404);
    assert.equal((await fetch(`${svc.url}/api/v1/topology`)).status, 401);
  });

  it('takes the token from the URL fragment, drops it from the address bar, and draws the map', async () => {
    await page.goto(`${svc.url}/ui/#token=${svc.token}`);
    await mapReady(page);
    assert.equal(new URL(page.url()).hash, '#/map', 'the token left the address bar');
    assert.equal(await page.evaluate(() => localStorage.getItem('rootline.token')), svc.token);
    // The map as of the incident minute: the shop's services and their calls, on a sigma canvas.
    await page.goto(`${svc.url}/ui/#/map?at=${seed.t}`);
    const n = await mapReady(page);
    assert.ok(n >= 4, `${n} nodes`);
    assert.ok((await page.locator('#map canvas').count()) > 0, 'sigma drew on a canvas');
    const g = await graphOf(page);
    for (const s of ['frontend', 'checkout', 'payment', 'fraud']) assert.equal(g.nodes[`service:${s}`]?.kind, 'service', `service:${s} on the map`);
    assert.equal(g.edges['CALLS:service:checkout->service:payment']?.type, 'CALLS');
    assert.ok(!Object.keys(g.nodes).some((id) => id.startsWith('pod:')), 'pods are not in the horizontal view');
    // The open incident's entity and its root cause are marked.
    await page.waitForFunction(() => window.__rootline.graph?.getNodeAttribute('service:payment', 'mark') === 'cause');
    assert.equal((await graphOf(page)).nodes['service:frontend']?.mark, 'incident');
    assert.match(await page.textContent('#map-status') ?? '', /entities/);
    await shot(page, '01-map-horizontal');
  });

  it('asks for a token with a form when there is none, and refuses a wrong one', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    try {
      const p = await context.newPage();
      await p.goto(`${svc.url}/ui/`);
      await p.waitForSelector('#login:not([hidden])');
      await shot(p, '02-login');
      await p.fill('#login input', 'not-the-token-0123456789');
      await p.click('#login button');
      await p.waitForSelector('#login-error:not([hidden])');
      assert.match((await p.textContent('#login-error')) ?? '', /refused/);
      await p.fill('#login input', svc.token);
      await p.click('#login button');
      await p.waitForSelector('#map[data-state=ready]');
      assert.ok(await p.isHidden('#login'));
    } finally {
      await context.close();
    }
  });

  it('switches between the horizontal and the vertical view', async () => {
    await page.click('button[data-view=vertical]');
    await page.waitForSelector('#map[data-view=vertical][data-state=ready]');
    const v = await graphOf(page);
    for (const id of ['cluster:prod', 'node:node-b', 'pod:shop/payment-7d9f', 'service:payment']) assert.ok(v.nodes[id], `${id} in the vertical view`);
    assert.equal(v.edges['RUNS:node:node-b->pod:shop/payment-7d9f']?.type, 'RUNS');
    assert.equal(v.edges['IMPLEMENTS:pod:shop/payment-7d9f->service:payment']?.type, 'IMPLEMENTS');
    assert.ok(!Object.values(v.edges).some((e) => e.type === 'CALLS'), 'no call edges in the vertical view');
    assert.match(page.url(), /view=vertical/);
    await shot(page, '03-map-vertical');
    await page.click('button[data-view=horizontal]');
    await page.waitForSelector('#map[data-view=horizontal][data-state=ready]');
    assert.ok((await graphOf(page)).edges['CALLS:service:frontend->service:checkout']);
  });

  it('rewinds with the time slider: the earlier map, and what changed since highlighted and listed', async () => {
    await page.goto(`${svc.url}/ui/#/map?at=${seed.t}&range=1h&compare=previous`);
    await mapReady(page);
    // Drag the slider (set its value as a drag would) to half an hour before the incident.
    const value = Math.round(((seed.early - (Date.now() - 60 * MIN)) / (60 * MIN)) * 1000);
    await page.locator('#time-slider').evaluate((el: HTMLInputElement, v: number) => {
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, value);
    await page.waitForFunction((early) => {
      const m = document.querySelector<HTMLElement>('#map');
      return m?.dataset.state === 'ready' && Math.abs(Number(m.dataset.at) - early) < 10_000;
    }, seed.early);
    const g = await graphOf(page);
    assert.ok(g.nodes['service:checkout'], 'checkout was there');
    assert.ok(!g.nodes['service:fraud'], 'fraud did not exist yet');
    assert.equal(g.nodes['service:checkout']?.mark, 'changed', 'checkout was deployed since');
    const changes = (await page.textContent('#changes')) ?? '';
    assert.match(changes, /service\.version: 1\.0 → 2\.0/);
    assert.match(changes, /fraud/);
    assert.ok(await page.locator('#changes li.chg.added[data-entity="service:fraud"]').count(), 'fraud listed as added');
    assert.match((await page.textContent('#at-label')) ?? '', /min ago/);
    await shot(page, '04-map-rewound');
    // Against now instead: the list says what differs between then and the live topology.
    await page.selectOption('#compare', 'now');
    await page.waitForSelector('#map[data-state=ready]');
    await page.waitForSelector('#changes h4');
    // And back to now.
    await page.click('#now');
    await page.waitForFunction(() => !new URL(location.href).hash.includes('at='));
    await mapReady(page);
  });

  it('shows an entity when it is clicked on the map', async () => {
    await page.goto(`${svc.url}/ui/#/map?at=${seed.t}`);
    await mapReady(page);
    await page.waitForTimeout(300); // the camera settles on the fresh graph
    const pos = await page.evaluate(() => {
      const s = window.__rootline.map!.sigma;
      const d = s.getNodeDisplayData('service:checkout')!;
      const p = s.framedGraphToViewport({ x: d.x, y: d.y });
      const r = s.getContainer().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    });
    await page.mouse.move(pos.x, pos.y);
    await page.waitForSelector('.tooltip:not([hidden])');
    await page.mouse.click(pos.x, pos.y);
    await page.waitForSelector('#details [data-entity-id="service:checkout"]');
    const text = (await page.textContent('#details')) ?? '';
    assert.match(text, /service\.version/);
    assert.match(text, /2\.0/);
    assert.match(text, /1\.0 → 2\.0/, 'its change history');
    await shot(page, '05-entity');
  });

  it('lists incidents and opens one: root cause, evidence, hint, and the path drawn on the map', async () => {
    await page.goto(`${svc.url}/ui/#/incidents`);
    const row = page.locator(`#incident-list tr[data-incident="${seed.incidentId}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /service:frontend/);
    await shot(page, '06-incidents');
    await row.locator('a').click();
    const top = page.locator('#causes li.cause[data-rank="1"]');
    await top.waitFor({ timeout: 60_000 });
    assert.equal(await top.getAttribute('data-entity'), 'service:payment');
    assert.equal(await page.getAttribute('#causes .services .service[data-rank="1"]', 'data-service'), 'service:payment', 'the service to page is named');
    const topText = (await top.textContent()) ?? '';
    assert.match(topText, /span\.self_time\.p90/, 'evidence: its own time');
    assert.match(topText, /baseline/);
    assert.match(topText, /service:frontend → service:checkout → service:payment/);
    assert.ok(((await top.locator('.hint').textContent()) ?? '').length > 10, 'a remediation hint');
    assert.ok((await top.locator('table.evidence tr').count()) >= 2, 'an evidence table');
    await page.waitForSelector('#map[data-state=ready][data-cause="service:payment"]');
    assert.equal(await page.getAttribute('#map', 'data-path'), 'service:frontend > service:checkout > service:payment');
    const g = await graphOf(page);
    assert.equal(g.nodes['service:payment']?.mark, 'cause');
    assert.equal(g.nodes['service:checkout']?.mark, 'path');
    assert.equal(g.edges['CALLS:service:checkout->service:payment']?.mark, 'path');
    assert.equal(g.edges['CALLS:service:frontend->service:checkout']?.mark, 'path');
    assert.ok(Object.values(g.nodes).some((n) => n.dim), 'what is off the path is dimmed');
    assert.ok(!g.nodes['service:payment']?.dim);
    await shot(page, '07-incident');
  });

  it('lists the prediction reports and opens one', async () => {
    await page.goto(`${svc.url}/ui/#/reports`);
    const row = page.locator(`#report-list tr[data-report="${seed.reportId}"]`);
    await row.waitFor();
    await shot(page, '08-reports');
    await row.locator('a').click();
    await page.frameLocator('#report-frame').getByText('Predicted breaches').waitFor();
    assert.equal(await page.getAttribute('#report-frame', 'sandbox'), '', 'the report runs sandboxed');
    await shot(page, '09-report');
  });

  it('raised no error in the page', () => {
    assert.deepEqual(errors, []);
  });
});
