// The sample grids of a run: a step slider over every recorded grid that
// follows the newest one while training unless the user moves it; and the
// generate panel, which asks the daemon for fresh images.
import { getJSON, getImageURL, query, withToken } from './api.js';
import { el } from './util.js';

let uid = 0;

export class SamplesPanel {
  constructor(runId) {
    this.runId = runId;
    this.samples = [];
    this.index = -1;
    this.follow = true;
    const id = `samples-${++uid}`;
    this.img = el('img', { class: 'grid-img', alt: '', hidden: true });
    this.img.addEventListener('error', () => {
      if (this.img.getAttribute('src')) this.note.textContent = 'This grid could not be loaded.';
    });
    this.img.addEventListener('load', () => {
      this.note.textContent = '';
    });
    this.slider = el('input', {
      type: 'range', id, min: 0, max: 0, step: 1, value: 0, disabled: true,
      oninput: () => this.pick(Number(this.slider.value), true),
    });
    this.label = el('output', { for: id, class: 'slider-value' });
    this.latest = el('button', {
      type: 'button', class: 'small', 'aria-pressed': 'true',
      text: 'Follow latest',
      onclick: () => {
        this.follow = true;
        this.pick(this.samples.length - 1, false);
      },
    });
    this.note = el('p', { class: 'muted', role: 'status', text: 'No sample grid yet.' });
    this.root = el('section', { class: 'panel samples', 'aria-labelledby': `${id}-h` },
      el('h3', { id: `${id}-h`, text: 'Samples' }),
      el('div', { class: 'slider-row' },
        el('label', { for: id, text: 'Step' }), this.slider, this.label, this.latest),
      el('div', { class: 'grid-frame' }, this.img), this.note,
      el('p', {}, el('a', { href: withToken(`/runs/${runId}/samples.gif`), text: 'Timelapse (GIF)' })));
  }

  async load() {
    const body = await getJSON(`/runs/${this.runId}/samples`);
    this.samples = (body.samples || []).slice().sort((a, b) => a.step - b.step);
    this.refresh();
  }

  add(sample) {
    if (this.samples.some((s) => s.step === sample.step)) return;
    this.samples.push(sample);
    this.samples.sort((a, b) => a.step - b.step);
    this.refresh();
  }

  refresh() {
    const n = this.samples.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = n < 2;
    if (n === 0) return;
    if (this.follow || this.index < 0) this.pick(n - 1, false);
    else this.pick(this.index, false);
  }

  // Shows grid i; byUser: a slider move, which stops following unless it
  // lands on the newest grid.
  pick(i, byUser) {
    const n = this.samples.length;
    if (n === 0) return;
    i = Math.max(0, Math.min(n - 1, i));
    if (byUser) this.follow = i === n - 1;
    this.latest.setAttribute('aria-pressed', String(this.follow));
    this.index = i;
    const s = this.samples[i];
    this.slider.value = String(i);
    this.slider.setAttribute('aria-valuetext', `step ${s.step}, grid ${i + 1} of ${n}`);
    this.label.textContent = `${s.step} (${i + 1}/${n})`;
    const src = withToken(s.url);
    if (this.img.getAttribute('src') !== src) {
      this.img.src = src;
      this.img.alt = `Sample grid at step ${s.step}`;
      this.img.dataset.step = String(s.step);
    }
    this.img.hidden = false;
  }
}

export class GeneratePanel {
  constructor(run, model) {
    this.run = run;
    this.url = '';
    const id = `gen-${++uid}`;
    this.seed = el('input', { type: 'number', id: `${id}-seed`, name: 'seed', min: 0, step: 1, value: 1 });
    this.count = el('input', { type: 'number', id: `${id}-n`, name: 'n', min: 1, max: 256, step: 1, value: 16 });
    const fields = [
      el('div', { class: 'field' }, el('label', { for: this.seed.id, text: 'Seed' }), this.seed),
      el('div', { class: 'field' }, el('label', { for: this.count.id, text: 'Images' }), this.count),
    ];
    this.label = null;
    if (model && model.conditional) {
      const classes = Array.isArray(run.spec && run.spec.classes) ? run.spec.classes : [];
      if (classes.length) {
        this.label = el('select', { id: `${id}-label`, name: 'label' },
          el('option', { value: '', text: 'any' }),
          classes.map((c) => el('option', { value: String(c), text: String(c) })));
      } else {
        this.label = el('input', { type: 'number', id: `${id}-label`, name: 'label', min: 0, max: 255, step: 1, placeholder: 'any' });
      }
      fields.push(el('div', { class: 'field' }, el('label', { for: this.label.id, text: 'Label' }), this.label));
    }
    this.button = el('button', { type: 'submit', text: 'Generate' });
    this.error = el('p', { class: 'error', role: 'alert', hidden: true });
    this.img = el('img', { class: 'grid-img', alt: '', hidden: true });
    this.form = el('form', { class: 'generate-form', onsubmit: (e) => { e.preventDefault(); this.generate(); } },
      fields, this.button);
    this.root = el('section', { class: 'panel generate', 'aria-labelledby': `${id}-h` },
      el('h3', { id: `${id}-h`, text: 'Generate' }),
      el('p', { class: 'muted', text: 'Fresh images from the newest checkpoint.' }),
      this.form, this.error, el('div', { class: 'grid-frame' }, this.img));
  }

  async generate() {
    this.button.disabled = true;
    this.root.setAttribute('aria-busy', 'true');
    this.error.hidden = true;
    try {
      const params = { n: this.count.value, seed: this.seed.value };
      if (this.label && this.label.value !== '') params.label = this.label.value;
      const url = await getImageURL(query(`/runs/${this.run.id}/generate`, params));
      if (this.url) URL.revokeObjectURL(this.url);
      this.url = url;
      this.img.src = url;
      this.img.alt = `Generated images, seed ${params.seed}${params.label !== undefined ? `, label ${params.label}` : ''}`;
      this.img.hidden = false;
    } catch (e) {
      this.error.textContent = e.message;
      this.error.hidden = false;
    } finally {
      this.button.disabled = false;
      this.root.removeAttribute('aria-busy');
    }
  }

  destroy() {
    if (this.url) URL.revokeObjectURL(this.url);
  }
}
