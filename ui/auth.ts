/**
 * The bearer token: taken from the URL fragment (`/ui/#token=…`, which never reaches a server or a Referer)
 * and then removed from the address bar and history, or typed into the login form; kept in localStorage so
 * a reload or a new tab needs nothing. With auth off there is no token and the API answers anyway.
 */
const KEY = 'rootline.token';

export function token(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the API answers 401 and the form asks
  }
}

export function setToken(t: string | null): void {
  if (t) localStorage.setItem(KEY, t);
  else localStorage.removeItem(KEY);
}

/** Takes `token=` out of the fragment (`#token=x` or `#/map?token=x`) and keeps it; true when one was there. */
export function takeTokenFromFragment(): boolean {
  const hash = location.hash.slice(1);
  const [path, query = ''] = hash.startsWith('/') ? (hash.split('?', 2) as [string, string?]) : ['', hash];
  const params = new URLSearchParams(query);
  const t = params.get('token');
  if (!t) return false;
  setToken(t);
  params.delete('token');
  const rest = params.toString();
  // replaceState: the token leaves the address bar and the history entry, not just the visible text.
  history.replaceState(null, '', `${location.pathname}${location.search}#${path || '/map'}${rest ? `?${rest}` : ''}`);
  return true;
}
