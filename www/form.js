// The new-run form, built from GET /models and GET /datasets. The daemon
// validates: its problem+json answer names the field, and the message is
// shown next to that field.
import { getJSON, send } from './api.js';
import { el, clear } from './util.js';

const CUSTOM = '__dir__';

export class NewRunForm {
  // ctx: {models (Map), list (RunsList), navigate, announce}
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.inputs = new Map(); /* field name -> {input, field, err, row} */
    this.dirty = new Map();  /* field name -> value the user typed */
  }

  async open() {
    const body = await getJSON('/datasets');
    this.datasets = body.datasets || [];
    this.customHint = body.custom || 'an absolute directory of IDX files';
    this.build();
  }

  build() {
    const models = [...this.ctx.models.values()];
    this.model = el('select', { id: 'f-model', name: 'model', onchange: () => this.buildFields() },
      models.map((m) => el('option', { value: m.name, text: m.name })));
    this.modelHint = el('p', { class: 'hint', id: 'f-model-hint' });
    this.dataset = el('select', { id: 'f-dataset', name: 'dataset', onchange: () => this.toggleDir() },
      this.datasets.map((d) => el('option', {
        value: d.name, disabled: !d.available,
        text: d.available ? d.name : `${d.name} (not installed)`,
      })),
      el('option', { value: CUSTOM, text: 'A directory…' }));
    const firstAvailable = this.datasets.find((d) => d.available);
    this.dataset.value = firstAvailable ? firstAvailable.name : CUSTOM;
    this.dir = el('input', { type: 'text', id: 'f-dataset-dir', name: 'dataset_dir',
      placeholder: '/path/to/idx-files', autocomplete: 'off', spellcheck: false });
    this.dirRow = el('div', { class: 'field wide' },
      el('label', { for: 'f-dataset-dir', text: 'Dataset directory' }), this.dir,
      el('p', { class: 'hint', text: this.customHint }));
    this.datasetErr = el('p', { class: 'field-error', id: 'f-dataset-err', hidden: true });
    this.fieldsEl = el('div', { class: 'form-grid' });
    this.formErr = el('p', { class: 'error', role: 'alert', hidden: true });
    this.submit = el('button', { type: 'submit', class: 'primary', text: 'Start run' });
    this.form = el('form', { class: 'panel new-run', novalidate: true, onsubmit: (e) => { e.preventDefault(); this.send(); } },
      el('div', { class: 'form-grid' },
        el('div', { class: 'field' }, el('label', { for: 'f-model', text: 'Model' }), this.model, this.modelHint),
        el('div', { class: 'field' }, el('label', { for: 'f-dataset', text: 'Dataset' }), this.dataset),
        this.dirRow, this.datasetErr),
      this.fieldsEl, this.formErr,
      el('div', { class: 'actions' }, this.submit));
    this.heading = el('h2', { tabindex: '-1', text: 'New run' });
    this.root.replaceChildren(el('article', { class: 'form-view' }, this.heading, this.form));
    this.toggleDir();
    this.buildFields();
  }

  toggleDir() {
    this.dirRow.hidden = this.dataset.value !== CUSTOM;
  }

  selectedModel() {
    return this.ctx.models.get(this.model.value);
  }

  buildFields() {
    for (const [name, f] of this.inputs) if (f.input.value !== defaultText(f.field)) this.dirty.set(name, f.input.value);
    const model = this.selectedModel();
    this.modelHint.textContent = model ? model.description : '';
    clear(this.fieldsEl);
    this.inputs.clear();
    for (const field of (model ? model.fields : [])) {
      if (field.name === 'model' || field.name === 'dataset') continue;
      const row = this.makeField(field);
      this.fieldsEl.append(row.row);
      this.inputs.set(field.name, row);
    }
  }

  makeField(field) {
    const id = `f-${field.name}`;
    let input;
    if (Array.isArray(field.enum)) {
      input = el('select', { id, name: field.name }, field.enum.map((v) => el('option', { value: v, text: v })));
    } else if (field.type === 'integer' || field.type === 'number') {
      input = el('input', { type: 'number', id, name: field.name, step: field.type === 'integer' ? 1 : 'any',
        min: field.min, max: field.max, inputmode: field.type === 'integer' ? 'numeric' : 'decimal' });
    } else {
      input = el('input', { type: 'text', id, name: field.name, autocomplete: 'off',
        placeholder: field.type === 'array of integers' ? 'e.g. 0, 1, 7' : '' });
    }
    input.value = this.dirty.has(field.name) ? this.dirty.get(field.name) : defaultText(field);
    let range = '';
    if (field.min !== undefined && field.max !== undefined) range = ` (${field.min} to ${field.max})`;
    const hint = el('p', { class: 'hint', id: `${id}-hint`, text: `${field.description}${range}` });
    const err = el('p', { class: 'field-error', id: `${id}-err`, hidden: true });
    input.setAttribute('aria-describedby', `${id}-hint`);
    const row = el('div', { class: 'field', 'data-field': field.name },
      el('label', { for: id, text: field.name }), input, hint, err);
    return { row, input, field, err };
  }

  spec() {
    const spec = { model: this.model.value };
    spec.dataset = this.dataset.value === CUSTOM ? this.dir.value.trim() : this.dataset.value;
    for (const [name, f] of this.inputs) {
      const text = f.input.value.trim();
      if (f.input.validity && f.input.validity.badInput) throw new FieldError(name, `${name} must be a number`);
      if (text === '' || text === defaultText(f.field)) continue;
      spec[name] = parseValue(f.field, text);
    }
    return spec;
  }

  clearErrors() {
    this.formErr.hidden = true;
    for (const node of this.form.querySelectorAll('[aria-invalid]')) {
      node.removeAttribute('aria-invalid');
      if (node.dataset.describedby) node.setAttribute('aria-describedby', node.dataset.describedby);
      else node.removeAttribute('aria-describedby');
    }
    for (const node of this.form.querySelectorAll('.field-error')) node.hidden = true;
  }

  // The message goes under the named field, or above the button when the
  // form has no such field (model, or a field of another kind).
  showFieldError(name, message) {
    let input;
    let err;
    if (name === 'dataset') {
      input = this.dataset.value === CUSTOM ? this.dir : this.dataset;
      err = this.datasetErr;
    } else if (this.inputs.has(name)) {
      ({ input, err } = this.inputs.get(name));
    } else {
      this.showFormError(message);
      return;
    }
    err.textContent = message;
    err.hidden = false;
    const described = input.getAttribute('aria-describedby') || '';
    input.dataset.describedby = described;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${described} ${err.id}`.trim());
    input.focus();
  }

  showFormError(message) {
    this.formErr.textContent = message;
    this.formErr.hidden = false;
  }

  async send() {
    this.clearErrors();
    let spec;
    try {
      spec = this.spec();
    } catch (e) {
      if (e instanceof FieldError) this.showFieldError(e.field, e.message);
      return;
    }
    this.submit.disabled = true;
    try {
      const run = await send('POST', '/runs', spec);
      this.ctx.list.upsert(run);
      this.ctx.announce(`Run ${run.name} queued.`);
      this.ctx.navigate(`#/runs/${run.id}`);
    } catch (e) {
      if (e.field) this.showFieldError(e.field, e.message);
      else this.showFormError(e.message);
    } finally {
      this.submit.disabled = false;
    }
  }

  focus() {
    this.heading.focus();
  }

  close() {}
}

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

function defaultText(field) {
  if (field.default === undefined || field.default === null) return '';
  return Array.isArray(field.default) ? field.default.join(', ') : String(field.default);
}

// Values go to the daemon as typed when they do not parse, so that its
// message, not a silent default, tells what is wrong.
function parseValue(field, text) {
  if (field.type === 'integer' || field.type === 'number') {
    const n = Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (field.type === 'array of integers') {
    return text.split(/[\s,]+/).filter(Boolean).map((t) => (Number.isFinite(Number(t)) ? Number(t) : t));
  }
  return text;
}
