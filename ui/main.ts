/**
 * The shell: takes the token out of the URL, routes the fragment (#/map, #/incidents[/id], #/reports[/id])
 * to a page, and shows the login form when the API refuses the token. Each page returns its own cleanup
 * (a map's WebGL context is released when the page is left).
 */
import './style.css';
import './debug.ts';
import { UNAUTHORIZED } from './api.ts';
import { setToken, takeTokenFromFragment, token } from './auth.ts';
import { mountIncident, mountIncidentList } from './views/incidents.ts';
import { mountReport, mountReportList } from './views/reports.ts';
import { mountTopology } from './views/topology.ts';

const view = document.getElementById('view')!;
const login = document.getElementById('login') as HTMLFormElement;
const loginError = document.getElementById('login-error')!;
const logout = document.getElementById('logout') as HTMLButtonElement;
let unmount: (() => void) | null = null;

function route(): void {
  unmount?.();
  unmount = null;
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?', 2);
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const page = parts[0] ?? 'map';
  for (const a of document.querySelectorAll<HTMLElement>('[data-nav]')) a.classList.toggle('on', a.dataset.nav === page);
  logout.hidden = !token();
  document.body.dataset.page = page;
  if (page === 'incidents' && parts[1]) unmount = mountIncident(view, parts[1]);
  else if (page === 'incidents') unmount = mountIncidentList(view, params);
  else if (page === 'reports' && parts[1]) unmount = mountReport(view, parts[1]);
  else if (page === 'reports') unmount = mountReportList(view);
  else unmount = mountTopology(view, params);
}

// The map page rewrites its own query with replaceState (no hashchange); any other change is a new page.
window.addEventListener('hashchange', route);

window.addEventListener(UNAUTHORIZED, (e) => {
  const had = token();
  loginError.textContent = had ? `The stored token was refused: ${(e as CustomEvent<string>).detail}` : '';
  loginError.hidden = !had;
  login.hidden = false;
  view.hidden = true;
  login.querySelector('input')!.focus();
});

login.addEventListener('submit', (e) => {
  e.preventDefault();
  const input = login.querySelector('input')!;
  setToken(input.value.trim());
  input.value = '';
  login.hidden = true;
  view.hidden = false;
  route();
});

logout.addEventListener('click', () => {
  setToken(null);
  route();
});

takeTokenFromFragment();
if (!location.hash) history.replaceState(null, '', '#/map');
route();
