// Compare: one metric of several runs overlaid on one chart.
import uPlot from './vendor/uPlot.esm.js';
import { getJSON, query } from './api.js';
import { el } from './util.js';
import { ema, makePlot, observeWidth, PALETTE, metricTitle } from './charts.js';

const METRICS = ['loss_d', 'loss_g', 'd_real', 'd_fake', 'acc_real', 'acc_fake', 'info_loss',
  'code_acc', 'step_ms'];
const PRESELECT = 3;

async function fetchSeries(runId, name) {
  const steps = [];
  const values = [];
  for (let page = 0; page < 100; page++) {
    const after = steps.length ? steps[steps.length - 1] : -1;
    const body = await getJSON(query(`/runs/${runId}/metrics`, { name, after_step: after }));
    const s = body.series && body.series[name];
    if (!s || s.steps.length === 0) break;
    let added = 0;
    for (let i = 0; i < s.steps.length; i++) {
      if (s.steps[i] <= after) continue;
      steps.push(s.steps[i]);
      values.push(s.values[i]);
      added++;
    }
    if (!added) break;
  }
  return { steps, values };
}

export class ComparePage {
  // ctx: {list (RunsList)}
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.plot = null;
    this.token = 0;
  }

  async open() {
    const runs = this.ctx.list.sorted();
    this.metric = el('select', { id: 'cmp-metric', onchange: () => this.draw() },
      METRICS.map((m) => el('option', { value: m, text: metricTitle(m)[0] === m ? m : `${metricTitle(m)[0]} (${m})` })));
    this.metric.value = 'loss_g';
    this.smoothing = el('input', { type: 'range', id: 'cmp-smoothing', min: 0, max: 0.99, step: 0.01,
      value: Number(localStorage.getItem('gand.smoothing') ?? 0.6), oninput: () => this.draw() });
    const weightOut = el('output', { for: 'cmp-smoothing', text: Number(this.smoothing.value).toFixed(2) });
    this.smoothing.addEventListener('input', () => { weightOut.textContent = Number(this.smoothing.value).toFixed(2); });
    this.boxes = runs.map((r, i) => el('input', { type: 'checkbox', value: String(r.id), checked: i < PRESELECT,
      id: `cmp-run-${r.id}`, onchange: () => this.draw() }));
    const list = el('ul', { class: 'check-list' }, runs.map((r, i) => el('li', {},
      this.boxes[i], el('label', { for: `cmp-run-${r.id}`, text: `#${r.id} ${r.name} (${r.model}, ${r.status})` }))));
    this.note = el('p', { class: 'muted', role: 'status' });
    this.target = el('div', { class: 'chart-plot' });
    this.heading = el('h2', { tabindex: '-1', text: 'Compare runs' });
    this.root.replaceChildren(el('article', { class: 'compare-view' }, this.heading,
      el('div', { class: 'panel compare-controls' },
        el('div', { class: 'field' }, el('label', { for: 'cmp-metric', text: 'Metric' }), this.metric),
        el('div', { class: 'field' }, el('label', { for: 'cmp-smoothing', text: 'Smoothing' }),
          el('div', { class: 'smoothing' }, this.smoothing, weightOut)),
        el('div', { class: 'field end' },
          el('button', { type: 'button', text: 'Refresh', onclick: () => this.draw() })),
        el('fieldset', {}, el('legend', { text: 'Runs' }),
          runs.length ? list : el('p', { class: 'muted', text: 'No runs to compare yet.' }))),
      el('figure', { class: 'panel chart wide', 'data-metric': 'compare' }, this.target), this.note));
    this.ro = observeWidth(this.root, () => (this.plot ? [{ u: this.plot, target: this.target }] : []));
    await this.draw();
  }

  async draw() {
    const token = ++this.token;
    const name = this.metric.value;
    const weight = Number(this.smoothing.value);
    const ids = this.boxes.filter((b) => b.checked).map((b) => Number(b.value));
    this.note.textContent = ids.length ? 'Loading…' : 'Choose runs to compare.';
    let data;
    try {
      data = await Promise.all(ids.map((id) => fetchSeries(id, name)));
    } catch (e) {
      if (token === this.token) this.note.textContent = e.message;
      return;
    }
    if (token !== this.token) return;
    if (this.plot) this.plot.destroy();
    this.plot = null;
    const shown = ids.map((id, i) => ({ id, s: data[i] })).filter((x) => x.s.steps.length);
    if (!shown.length) {
      this.note.textContent = ids.length ? `None of these runs has ${name}.` : this.note.textContent;
      return;
    }
    const tables = shown.map(({ s }) => [s.steps, ema(s.values, weight)]);
    const joined = tables.length > 1 ? uPlot.join(tables) : tables[0];
    this.plot = makePlot(this.target, shown.map(({ id }, i) => ({
      label: `#${id} ${(this.ctx.list.get(id) || {}).name || ''}`.trim(),
      stroke: PALETTE[i % PALETTE.length],
      width: 2,
      spanGaps: true,
    })), { height: 320, syncKey: 'compare' });
    this.plot.setData(joined);
    this.target.parentElement.dataset.points = String(joined[0].length);
    this.note.textContent = `${name} of ${shown.length} run${shown.length > 1 ? 's' : ''}, smoothed ${weight.toFixed(2)}.`;
  }

  focus() {
    this.heading.focus();
  }

  close() {
    this.token++;
    if (this.ro) this.ro.disconnect();
    if (this.plot) this.plot.destroy();
  }
}
