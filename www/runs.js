// The runs list: newest first, updated in place from the /events stream.
import { getJSON, query } from './api.js';
import { el, clear, fmtDuration, datasetLabel, TERMINAL } from './util.js';

const PAGE = 50;

export function progressText(run) {
  const total = run.total_steps || 0;
  let s = `${run.step || 0} / ${total}`;
  if (run.status === 'running' && Number.isFinite(run.eta_s)) s += ` · ETA ${fmtDuration(run.eta_s)}`;
  return s;
}

export function stateBadge(run) {
  const label = run.status === 'running' && run.cancel_requested ? 'canceling' : run.status;
  return el('span', { class: `badge state-${run.status}`, text: label });
}

export class RunsList {
  constructor(listEl, moreButton, statusEl) {
    this.listEl = listEl;
    this.more = moreButton;
    this.statusEl = statusEl;
    this.runs = new Map();
    this.items = new Map();
    this.cursor = null;
    this.selected = 0;
    this.listeners = new Set();
    this.more.addEventListener('click', () => this.loadMore());
  }

  // Calls fn(run) whenever a run changes, fn(null) when the list is redrawn.
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async reload() {
    const page = await getJSON(query('/runs', { limit: PAGE }));
    this.runs.clear();
    this.cursor = page.next_cursor || null;
    for (const r of page.runs) this.runs.set(r.id, r);
    this.render();
    return page.runs;
  }

  async loadMore() {
    if (!this.cursor) return;
    this.more.disabled = true;
    try {
      const page = await getJSON(query('/runs', { limit: PAGE, cursor: this.cursor }));
      this.cursor = page.next_cursor || null;
      for (const r of page.runs) this.runs.set(r.id, r);
      this.render();
    } finally {
      this.more.disabled = false;
    }
  }

  // The highest event id the listed runs have seen: the /events stream
  // resumes after it.
  lastEventId() {
    let max = 0;
    for (const r of this.runs.values()) max = Math.max(max, r.last_event_id || 0);
    return max;
  }

  get(id) {
    return this.runs.get(id);
  }

  upsert(run) {
    const known = this.runs.has(run.id);
    this.runs.set(run.id, { ...this.runs.get(run.id), ...run });
    if (known) this.update(run.id);
    else this.render();
    this.notify(run.id);
  }

  remove(id) {
    this.runs.delete(id);
    this.render();
  }

  // Applies a field update from an event; an unknown run is fetched.
  async patch(id, fields) {
    const run = this.runs.get(id);
    if (!run) {
      try {
        this.upsert(await getJSON(`/runs/${id}`));
      } catch {
        /* deleted meanwhile */
      }
      return;
    }
    Object.assign(run, fields);
    this.update(id);
    this.notify(id);
  }

  notify(id) {
    const run = this.runs.get(id);
    for (const fn of this.listeners) fn(run);
  }

  select(id) {
    this.selected = id;
    for (const [rid, item] of this.items) {
      if (rid === id) item.link.setAttribute('aria-current', 'page');
      else item.link.removeAttribute('aria-current');
    }
  }

  sorted() {
    return [...this.runs.values()].sort((a, b) => b.id - a.id);
  }

  render() {
    clear(this.listEl);
    this.items.clear();
    const runs = this.sorted();
    for (const run of runs) {
      const item = this.makeItem(run);
      this.items.set(run.id, item);
      this.listEl.append(item.li);
      this.fill(run, item);
    }
    this.more.hidden = !this.cursor;
    this.statusEl.textContent = runs.length ? '' : 'No runs yet. Start one with “New run”.';
    this.select(this.selected);
    for (const fn of this.listeners) fn(null);
  }

  makeItem(run) {
    const name = el('span', { class: 'run-name' });
    const badge = el('span', { class: 'badge-slot' });
    const meta = el('span', { class: 'run-meta' });
    const bar = el('progress', { max: 1, value: 0 });
    const steps = el('span', { class: 'run-steps' });
    const link = el('a', { class: 'run-link', href: `#/runs/${run.id}` },
      el('span', { class: 'run-head' }, name, badge), meta,
      el('span', { class: 'run-progress' }, bar, steps));
    const li = el('li', { 'data-run-id': String(run.id) }, link);
    return { li, link, name, badge, meta, bar, steps };
  }

  fill(run, item) {
    item.name.textContent = run.name;
    clear(item.badge).append(stateBadge(run));
    item.meta.textContent = `${run.model} · ${datasetLabel(run.dataset)}`;
    item.meta.title = run.dataset;
    const total = Math.max(1, run.total_steps || 0);
    item.bar.max = total;
    item.bar.value = run.status === 'succeeded' ? total : Math.min(run.step || 0, total);
    item.bar.setAttribute('aria-label', `${run.name} progress`);
    item.steps.textContent = progressText(run);
    item.li.dataset.status = run.status;
    item.li.classList.toggle('ended', TERMINAL.has(run.status));
  }

  update(id) {
    const run = this.runs.get(id);
    const item = this.items.get(id);
    if (run && item) this.fill(run, item);
  }
}
