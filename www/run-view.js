// One run: its state and progress, live metric charts, sample grids, the
// generate panel, cancel and delete, the spec and the error of a failed run.
import { getJSON, send, query, withToken } from './api.js';
import { el, fmtDuration, fmtTime, datasetLabel, TERMINAL } from './util.js';
import { EventStream } from './stream.js';
import { MetricCharts } from './charts.js';
import { SamplesPanel, GeneratePanel } from './samples.js';
import { stateBadge } from './runs.js';

const SMOOTHING_KEY = 'gand.smoothing';
const MAX_PAGES = 100;

export class RunView {
  // ctx: {list (RunsList), models (Map name -> model), navigate, announce}
  constructor(root, id, ctx) {
    this.root = root;
    this.id = id;
    this.ctx = ctx;
    this.stream = null;
    this.closed = false;
    this.fetching = false;
    this.fetchAgain = false;
    this.deleteArmed = 0;
  }

  async open() {
    const run = await getJSON(`/runs/${this.id}`);
    if (this.closed) return;
    this.run = run;
    this.build();
    this.ctx.list.upsert(run);
    await Promise.all([this.loadMetrics(), this.samples.load().catch(() => {})]);
    if (this.closed) return;
    this.stream = new EventStream(`/runs/${this.id}/events`, {
      state: () => this.reloadRun(),
      progress: (d) => this.onProgress(d),
      metrics: (d) => this.onMetrics(d),
      sample: (d) => this.samples.add(d),
    }, {
      afterId: run.last_event_id || 0,
      onResume: () => this.resume(),
    });
  }

  build() {
    const run = this.run;
    this.title = el('h2', { tabindex: '-1', text: run.name });
    this.badge = el('span', { class: 'badge-slot' });
    this.sub = el('p', { class: 'muted run-sub' });
    this.bar = el('progress', { max: 1, value: 0, 'aria-label': 'Training progress' });
    this.progress = el('span', { class: 'run-steps' });
    this.cancelBtn = el('button', { type: 'button', text: 'Cancel run', onclick: () => this.cancel() });
    this.deleteBtn = el('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => this.remove() });
    this.ckpt = el('a', { class: 'button-link', href: withToken(`/runs/${this.id}/checkpoint`), download: '', text: 'Checkpoint' });
    this.actionStatus = el('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
    this.errorBox = el('div', { class: 'run-error', role: 'alert', hidden: true });

    const weight = Number(localStorage.getItem(SMOOTHING_KEY) ?? 0.6);
    const smoothing = el('input', { type: 'range', id: 'smoothing', min: 0, max: 0.99, step: 0.01, value: weight });
    const smoothOut = el('output', { for: 'smoothing', text: weight.toFixed(2) });
    this.chartsEl = el('div', { class: 'charts', 'aria-live': 'off' });
    this.charts = new MetricCharts(this.chartsEl);
    this.charts.setSmoothing(weight);
    smoothing.addEventListener('input', () => {
      const w = Number(smoothing.value);
      smoothOut.textContent = w.toFixed(2);
      this.charts.setSmoothing(w);
      localStorage.setItem(SMOOTHING_KEY, String(w));
    });
    this.chartNote = el('p', { class: 'muted', text: 'No metrics yet.' });

    this.samples = new SamplesPanel(this.id);
    this.generate = new GeneratePanel(run, this.ctx.models.get(run.model));
    this.specPre = el('pre', { class: 'spec' });

    this.root.replaceChildren(el('article', { class: 'run-view', 'aria-labelledby': 'run-title' },
      el('header', { class: 'run-header' },
        el('div', { class: 'run-title' }, this.title, this.badge),
        this.sub,
        el('div', { class: 'run-progress big' }, this.bar, this.progress),
        el('div', { class: 'actions' }, this.cancelBtn, this.deleteBtn, this.ckpt),
        this.actionStatus),
      this.errorBox,
      el('section', { class: 'panel metrics', 'aria-labelledby': 'metrics-h' },
        el('div', { class: 'panel-head' },
          el('h3', { id: 'metrics-h', text: 'Metrics' }),
          el('div', { class: 'smoothing' }, el('label', { for: 'smoothing', text: 'Smoothing' }), smoothing, smoothOut)),
        this.chartNote, this.chartsEl),
      el('div', { class: 'pair' }, this.samples.root, this.generate.root),
      el('details', { class: 'panel' }, el('summary', { text: 'Spec as submitted' }), this.specPre)));
    this.title.id = 'run-title';
    this.fill();
  }

  fill() {
    const run = this.run;
    this.title.textContent = run.name;
    this.badge.replaceChildren(stateBadge(run));
    const when = run.finished_at ? `ended ${fmtTime(run.finished_at)}`
      : run.started_at ? `started ${fmtTime(run.started_at)}` : `created ${fmtTime(run.created_at)}`;
    this.sub.textContent = `#${run.id} · ${run.model} · ${datasetLabel(run.dataset)} · ${when}`;
    this.sub.title = run.dataset;
    const total = Math.max(1, run.total_steps || 0);
    this.bar.max = total;
    this.bar.value = run.status === 'succeeded' ? total : Math.min(run.step || 0, total);
    let p = `step ${run.step || 0} of ${run.total_steps || 0}`;
    if (run.status === 'running') {
      if (Number.isFinite(run.steps_per_s)) p += ` · ${run.steps_per_s.toFixed(1)} steps/s`;
      if (Number.isFinite(run.eta_s)) p += ` · ETA ${fmtDuration(run.eta_s)}`;
    }
    this.progress.textContent = p;
    const active = run.status === 'queued' || run.status === 'running';
    const canceling = run.status === 'running' && !!run.cancel_requested;
    this.cancelBtn.disabled = !active || canceling;
    this.cancelBtn.textContent = canceling ? 'Canceling…' : 'Cancel run';
    this.deleteBtn.disabled = run.status === 'running';
    if (TERMINAL.has(run.status) && this.actionStatus.textContent.startsWith('Stopping')) this.actionStatus.textContent = '';
    /* progress events do not carry checkpoint_step; a checkpoint is written
     * every checkpoint_every steps */
    const every = run.spec && run.spec.checkpoint_every;
    this.ckpt.hidden = !(run.checkpoint_step > 0 || (every && run.step >= every));
    this.errorBox.hidden = !run.error;
    this.errorBox.textContent = run.error ? `This run failed: ${run.error}` : '';
    this.specPre.textContent = JSON.stringify(run.spec, null, 2);
  }

  async loadMetrics() {
    for (let page = 0; page < MAX_PAGES && !this.closed; page++) {
      const before = this.pointCount();
      const body = await getJSON(query(`/runs/${this.id}/metrics`, { after_step: this.charts.lastStep() }));
      this.charts.merge(body.series);
      if (this.pointCount() === before) break;
    }
    this.chartNote.hidden = this.pointCount() > 0;
  }

  pointCount() {
    let n = 0;
    for (const s of this.charts.series.values()) n += s.steps.length;
    return n;
  }

  // A metrics event names the newest step only; the rows between the last
  // shown step and it come from the store, which has them all by then.
  async onMetrics(data) {
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    try {
      const body = await getJSON(query(`/runs/${this.id}/metrics`, { after_step: this.charts.lastStep() }));
      if (!this.closed) this.charts.merge(body.series);
    } catch {
      const series = {};
      for (const [k, v] of Object.entries(data.values || {})) series[k] = { steps: [data.step], values: [v] };
      this.charts.merge(series);
    } finally {
      this.fetching = false;
      this.chartNote.hidden = this.pointCount() > 0;
    }
    if (this.fetchAgain && !this.closed) {
      this.fetchAgain = false;
      this.onMetrics(data);
    }
  }

  onProgress(d) {
    Object.assign(this.run, {
      step: d.step, total_steps: d.total, steps_per_s: d.steps_per_s, eta_s: d.eta_s,
    });
    this.fill();
    this.ctx.list.patch(this.id, { step: d.step, total_steps: d.total, steps_per_s: d.steps_per_s, eta_s: d.eta_s });
  }

  async reloadRun() {
    try {
      const run = await getJSON(`/runs/${this.id}`);
      if (this.closed) return;
      this.run = run;
      this.fill();
      this.ctx.list.upsert(run);
      if (TERMINAL.has(run.status)) await this.loadMetrics();
    } catch {
      /* the stream's own retry brings the page back */
    }
  }

  async resume() {
    await this.reloadRun();
    this.charts.reset();
    await Promise.all([this.loadMetrics().catch(() => {}), this.samples.load().catch(() => {})]);
  }

  async cancel() {
    this.cancelBtn.disabled = true;
    try {
      this.run = await send('POST', `/runs/${this.id}/cancel`);
      this.fill();
      this.ctx.list.upsert(this.run);
      this.actionStatus.textContent = this.run.status === 'canceled' ? 'Canceled.' : 'Stopping at the next step…';
    } catch (e) {
      this.actionStatus.textContent = e.message;
      this.fill();
    }
  }

  // Deleting takes a second press within five seconds.
  async remove() {
    if (!this.deleteArmed) {
      this.deleteBtn.textContent = 'Press again to delete';
      this.actionStatus.textContent = 'Press Delete again within 5 seconds to remove this run, its metrics and its files.';
      this.deleteArmed = setTimeout(() => {
        this.deleteArmed = 0;
        this.deleteBtn.textContent = 'Delete';
        this.actionStatus.textContent = '';
      }, 5000);
      return;
    }
    clearTimeout(this.deleteArmed);
    this.deleteArmed = 0;
    try {
      await send('DELETE', `/runs/${this.id}`);
      this.ctx.list.remove(this.id);
      this.ctx.announce(`Run ${this.run.name} deleted.`);
      this.ctx.navigate('#/');
    } catch (e) {
      this.deleteBtn.textContent = 'Delete';
      this.actionStatus.textContent = e.message;
    }
  }

  focus() {
    if (this.title) this.title.focus();
  }

  close() {
    this.closed = true;
    clearTimeout(this.deleteArmed);
    if (this.stream) this.stream.close();
    if (this.charts) this.charts.destroy();
    if (this.generate) this.generate.destroy();
  }
}
