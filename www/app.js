// The page's entry point: loads models and runs, keeps the /events stream
// open for the runs list, and routes #/runs/<id>, #/new, #/compare.
import { getJSON } from './api.js';
import { EventStream } from './stream.js';
import { RunsList } from './runs.js';
import { RunView } from './run-view.js';
import { NewRunForm } from './form.js';
import { ComparePage } from './compare.js';
import { el } from './util.js';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const announcer = document.getElementById('announce');
const list = new RunsList(document.getElementById('runs'), document.getElementById('more'),
  document.getElementById('runs-note'));
const models = new Map();
let view = null;
let failed = false;
let userNavigated = false;

function announce(text) {
  announcer.textContent = text;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const ctx = { list, models, navigate, announce };

const CONN_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', connecting: 'Connecting…' };

function setConn(state) {
  if (conn.dataset.state === state) return;
  conn.dataset.state = state;
  conn.textContent = CONN_TEXT[state];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function refreshRun(id) {
  try {
    list.upsert(await getJSON(`/runs/${id}`));
  } catch {
    /* gone, or the stream's retry brings it back */
  }
}

function startStream() {
  return new EventStream('/events', {
    state: (d) => refreshRun(d.run_id),
    progress: (d) => list.patch(d.run_id, {
      step: d.step, total_steps: d.total, steps_per_s: d.steps_per_s, eta_s: d.eta_s,
    }),
  }, {
    afterId: list.lastEventId(),
    onStatus: setConn,
    onResume: async () => {
      try {
        await list.reload();
      } catch {
        return;
      }
      if (failed) route();
    },
  });
}

// The start view: a live count of runs by state.
function home() {
  const heading = el('h2', { tabindex: '-1', text: 'gand' });
  const summary = el('p', { role: 'status' });
  const fill = () => {
    const counts = new Map();
    for (const r of list.runs.values()) counts.set(r.status, (counts.get(r.status) || 0) + 1);
    const parts = [...counts].map(([state, n]) => `${n} ${state}`);
    summary.textContent = list.runs.size
      ? `${list.runs.size} run${list.runs.size > 1 ? 's' : ''}: ${parts.join(', ')}. Choose one to see its charts and samples.`
      : 'No runs yet.';
  };
  fill();
  const unsubscribe = list.subscribe(fill);
  main.replaceChildren(el('article', { class: 'home' }, heading, summary,
    el('p', {}, el('a', { href: '#/new', class: 'button-link primary', text: 'Start a new run' }))));
  return { open: async () => {}, focus: () => heading.focus(), close: unsubscribe };
}

function markNav(hash) {
  for (const a of document.querySelectorAll('.topnav a')) {
    if (a.getAttribute('href') === hash) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (view) view.close();
  failed = false;
  const hash = location.hash;
  const m = /^#\/runs\/(\d+)$/.exec(hash);
  list.select(m ? Number(m[1]) : 0);
  markNav(hash);
  if (m) view = new RunView(main, Number(m[1]), ctx);
  else if (hash === '#/new') view = new NewRunForm(main, ctx);
  else if (hash === '#/compare') view = new ComparePage(main, ctx);
  else view = home();
  const current = view;
  document.title = m ? `Run #${m[1]} · gand` : 'gand';
  try {
    await current.open();
    if (current !== view) return;
    if (m && current.run) document.title = `${current.run.name} · gand`;
    if (userNavigated) current.focus();
  } catch (e) {
    if (current !== view) return;
    failed = true;
    const heading = el('h2', { tabindex: '-1', text: m ? `Run #${m[1]}` : 'Unavailable' });
    main.replaceChildren(el('article', {}, heading, el('p', { class: 'error', role: 'alert', text: e.message })));
    if (userNavigated) heading.focus();
  }
}

async function boot() {
  setConn('connecting');
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      const [body] = await Promise.all([getJSON('/models'), list.reload()]);
      for (const model of body.models || []) models.set(model.name, model);
      break;
    } catch {
      setConn('reconnecting');
      await sleep(delay);
    }
  }
  startStream();
  window.addEventListener('hashchange', () => {
    userNavigated = true;
    route();
  });
  await route();
}

boot();
