// Metric charts on uPlot: one chart per series, a faint raw line under the
// smoothed one, values of both at the cursor, cursors synced across charts.
import uPlot from './vendor/uPlot.esm.js';
import { el, clear, fmtNumber } from './util.js';

const ORDER = ['loss_d', 'loss_g', 'd_real', 'd_fake'];
const TITLES = {
  loss_d: ['loss_d', 'discriminator loss'],
  loss_g: ['loss_g', 'generator loss'],
  d_real: ['D(x)', 'd_real: D on real images'],
  d_fake: ['D(G(z))', 'd_fake: D on generated images'],
  acc_real: ['acc_real', 'class accuracy of D on real images'],
  acc_fake: ['acc_fake', 'class accuracy of D on generated images'],
  info_loss: ['info_loss', 'mutual information term'],
  code_acc: ['code_acc', 'categorical code recovered by Q'],
  step_ms: ['step_ms', 'time per step'],
};
const SMALL = new Set(['step_ms']);
export const PALETTE = ['#2f6fd6', '#d9480f', '#2b8a3e', '#ae3ec9', '#0b7285', '#c2255c',
  '#5c940d', '#e67700', '#1864ab', '#862e9c'];

// TensorBoard's smoothing: an exponential moving average debiased over the
// first points so the curve does not start at zero. Missing values (NaN,
// sent as null) stay gaps and do not move the average.
export function ema(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = weight > 0 ? last / (1 - weight ** n) : v;
  }
  return out;
}

// Two step-ascending series as one; b's value wins on equal steps.
export function mergeSorted(a, b) {
  const steps = [];
  const values = [];
  let i = 0;
  let j = 0;
  while (i < a.steps.length || j < b.steps.length) {
    const sa = i < a.steps.length ? a.steps[i] : Infinity;
    const sb = j < b.steps.length ? b.steps[j] : Infinity;
    if (sb <= sa) {
      steps.push(sb);
      values.push(b.values[j++]);
      if (sa === sb) i++;
    } else {
      steps.push(sa);
      values.push(a.values[i++]);
    }
  }
  return { steps, values };
}

export function metricTitle(name) {
  return TITLES[name] || [name, ''];
}

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const get = (v, d) => css.getPropertyValue(v).trim() || d;
  return { axis: get('--muted', '#5f6b7a'), grid: get('--grid', '#e6e9ef') };
}

// A uPlot over target with step on x and the given line series.
export function makePlot(target, series, { height = 180, syncKey = 'gand' } = {}) {
  const c = themeColors();
  const axis = { stroke: c.axis, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid } };
  const opts = {
    width: Math.max(200, target.clientWidth),
    height,
    cursor: { sync: { key: syncKey }, drag: { x: false, y: false } },
    scales: { x: { time: false } },
    legend: { live: true },
    series: [
      { label: 'step', value: (u, v) => (v === null || v === undefined ? '–' : String(v)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.width || 1.5,
        spanGaps: !!s.spanGaps,
        value: (u, v) => fmtNumber(v),
      })),
    ],
    axes: [{ ...axis }, { ...axis, size: 56, values: (u, splits) => splits.map(fmtNumber) }],
  };
  return new uPlot(opts, [[], ...series.map(() => [])], target);
}

// Resizes every uPlot found under root to its container's width.
export function observeWidth(root, plots) {
  const ro = new ResizeObserver(() => {
    for (const { u, target } of plots()) {
      const w = Math.max(200, target.clientWidth);
      if (Math.abs(u.width - w) > 1) u.setSize({ width: w, height: u.height });
    }
  });
  ro.observe(root);
  return ro;
}

export class MetricCharts {
  constructor(container) {
    this.container = container;
    this.series = new Map(); /* name -> {steps, values} */
    this.charts = new Map(); /* name -> {fig, target, u} */
    this.weight = 0.6;
    this.frame = 0;
    this.ro = observeWidth(container, () => this.charts.values());
  }

  // Adds the points of {name: {steps, values}} (each ascending by step);
  // a step already shown takes the new value. Answers may come back in any
  // order, so older steps are merged in place rather than dropped.
  merge(series) {
    for (const [name, s] of Object.entries(series || {})) {
      const cur = this.series.get(name);
      if (!cur) {
        this.series.set(name, { steps: s.steps.slice(), values: s.values.slice() });
      } else if (s.steps.length) {
        const last = cur.steps.length ? cur.steps[cur.steps.length - 1] : -Infinity;
        if (s.steps[0] > last) {
          for (let i = 0; i < s.steps.length; i++) {
            cur.steps.push(s.steps[i]);
            cur.values.push(s.values[i]);
          }
        } else {
          Object.assign(cur, mergeSorted(cur, s));
        }
      }
    }
    this.schedule();
  }

  // The highest step every series has reached (for ?after_step=).
  lastStep() {
    let min = Infinity;
    for (const s of this.series.values()) {
      if (s.steps.length) min = Math.min(min, s.steps[s.steps.length - 1]);
    }
    return Number.isFinite(min) ? min : -1;
  }

  // Forgets every point (the charts stay), before a full reload: a run
  // resumed after a crash may have re-recorded steps past its checkpoint.
  reset() {
    for (const s of this.series.values()) {
      s.steps = [];
      s.values = [];
    }
  }

  setSmoothing(weight) {
    this.weight = weight;
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  names() {
    const names = [...this.series.keys()];
    const rank = (n) => (ORDER.includes(n) ? ORDER.indexOf(n) : SMALL.has(n) ? 1000 : 100);
    return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  render() {
    this.frame = 0;
    const names = this.names();
    names.forEach((name, i) => {
      let chart = this.charts.get(name);
      if (!chart) {
        chart = this.create(name, i);
        this.charts.set(name, chart);
      }
      const s = this.series.get(name);
      chart.u.setData([s.steps, s.values, ema(s.values, this.weight)]);
      const n = s.steps.length;
      chart.fig.dataset.points = String(n);
      chart.fig.dataset.firstStep = n ? String(s.steps[0]) : '';
      const latest = n ? `${fmtNumber(s.values[n - 1])} at step ${s.steps[n - 1]}` : 'no points';
      chart.latest.textContent = latest;
      chart.fig.setAttribute('aria-label', `${metricTitle(name)[0]}: ${n} points, latest ${latest}`);
    });
    for (const name of names) this.container.append(this.charts.get(name).fig);
  }

  create(name, i) {
    const [title, sub] = metricTitle(name);
    const target = el('div', { class: 'chart-plot' });
    const latest = el('span', { class: 'latest' });
    const fig = el('figure', { class: SMALL.has(name) ? 'chart small' : 'chart', 'data-metric': name,
      role: 'img' },
    el('figcaption', {}, el('strong', { text: title }), sub ? el('span', { class: 'muted', text: ` ${sub}` }) : null,
      latest),
    target);
    this.container.append(fig);
    const color = PALETTE[i % PALETTE.length];
    const u = makePlot(target, [
      { label: 'raw', stroke: `${color}55`, width: 1 },
      { label: 'smoothed', stroke: color, width: 2 },
    ], { height: SMALL.has(name) ? 110 : 170 });
    return { fig, target, u, latest };
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.ro.disconnect();
    for (const c of this.charts.values()) c.u.destroy();
    this.charts.clear();
    clear(this.container);
  }
}
