// Every request to the daemon goes through request(), which adds the
// bearer token when the daemon requires one: on the first 401 the page asks
// for it once and keeps it for the browser session (sessionStorage).
// EventSource, <img> and download links cannot send headers; withToken()
// gives their URLs the token as ?access_token= (GET only, as the daemon
// accepts it).

const TOKEN_KEY = 'gand.token';

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

function askToken() {
  const t = window.prompt('This gand requires an access token (the contents of its auth_token_file):');
  if (!t) return false;
  sessionStorage.setItem(TOKEN_KEY, t.trim());
  return true;
}

export function withToken(url) {
  const t = token();
  if (!t) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(t)}`;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || '';
    this.field = typeof problem.field === 'string' ? problem.field : '';
  }
}

const OFFLINE = {
  title: 'Offline',
  detail: 'gand does not answer: it may be restarting. The page retries by itself.',
};

async function problemOf(res) {
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      const body = await res.json();
      if (body && typeof body === 'object') return new ApiError(res.status, body);
    } catch {
      /* fall through to the status line */
    }
  }
  return new ApiError(res.status, { title: res.statusText || `HTTP ${res.status}` });
}

// fetch with the daemon's conventions: JSON bodies, problem+json errors
// thrown as ApiError (status 0 when the daemon cannot be reached).
export async function request(path, { method = 'GET', body, accept, signal, retried = false } = {}) {
  const headers = { Accept: accept || 'application/json, application/problem+json' };
  const sent = token();
  if (sent) headers.Authorization = `Bearer ${sent}`;
  const init = { method, headers, signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, OFFLINE);
  }
  /* requests refused together ask once: the others find the new token */
  if (res.status === 401 && !retried && (token() !== sent || askToken())) {
    return request(path, { method, body, accept, signal, retried: true });
  }
  if (!res.ok) throw await problemOf(res);
  return res;
}

export async function getJSON(path, opts) {
  const res = await request(path, opts);
  return res.status === 204 ? null : res.json();
}

export async function send(method, path, body) {
  const res = await request(path, { method, body });
  return res.status === 204 ? null : res.json();
}

// A PNG answer as an object URL the caller revokes.
export async function getImageURL(path, signal) {
  const res = await request(path, { accept: 'image/png, application/problem+json', signal });
  return URL.createObjectURL(await res.blob());
}

export function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
