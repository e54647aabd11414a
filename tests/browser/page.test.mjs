// The monitoring page in headless Chromium against the real daemon training
// a short real job. Screenshots go to $GAND_BROWSER_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDaemon, submitRun, writeIdxDataset } from './daemon.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 60000, polling: 100 };

const work = mkdtempSync(join(tmpdir(), 'gand-browser-'));
const artifacts = process.env.GAND_BROWSER_ARTIFACTS || join(work, 'artifacts');
const dataDir = join(work, 'data');
const stateDir = join(work, 'state');
let daemon;
let context;
let page;
let run;
let short;
let phase = 'load';
const problems = [];

// Browser-logged failures the page causes on purpose: the 422 of the
// invalid form, and refused or cut connections while the daemon is down.
const EXPECTED = {
  'form-error': /status of 422/,
  restart: /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|status of 503/,
};

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function steps(runId) {
  return page.$eval(`li[data-run-id="${runId}"] progress`, (p) => p.value);
}

// Pixels of a chart's canvas close to its smoothed line's colour.
async function linePixels(metric, rgb) {
  return page.$eval(`figure[data-metric="${metric}"] canvas`, (c, [r, g, b]) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24 && Math.abs(data[i + 2] - b) < 24
        && data[i + 3] > 200) n++;
    }
    return n;
  }, rgb);
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  writeIdxDataset(dataDir);
  mkdirSync(stateDir);
  daemon = await startDaemon({ bin: process.env.GAND_BIN, www: process.env.GAND_WWW, stateDir });
  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: process.env.GAND_CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !(EXPECTED[phase] && EXPECTED[phase].test(m.text()))) {
      problems.push(`[${phase}] console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`[${phase}] uncaught: ${e.message}`));
});

after(async () => {
  if (context) await context.close();
  if (daemon) await daemon.stop();
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
});

test('the page loads, connects to the event stream and lists no runs', async () => {
  await page.goto(`${daemon.url}/`);
  await page.waitForSelector('#conn[data-state="live"]', WAIT);
  assert.match(await page.textContent('#runs-note'), /No runs yet/);
  assert.equal(await page.textContent('.home [role=status]'), 'No runs yet.');
});

test('a submitted run appears in the list and its progress advances', async () => {
  phase = 'list';
  // A short run to compare with, done before the long one starts.
  short = await submitRun(daemon.url, {
    model: 'lsgan', dataset: dataDir, name: 'browser-short', steps: 200, batch_size: 8,
    g_width: 16, d_width: 8, sample_every: 100, checkpoint_every: 100,
  });
  // Long enough to still be training when the last test cancels it.
  run = await submitRun(daemon.url, {
    model: 'dcgan', dataset: dataDir, name: 'browser-dcgan', steps: 100000, batch_size: 8,
    g_width: 16, d_width: 8, sample_every: 200, checkpoint_every: 400,
  });
  const item = `li[data-run-id="${run.id}"]`;
  await page.waitForSelector(item, WAIT);
  assert.equal(await page.textContent(`${item} .run-name`), 'browser-dcgan');
  assert.match(await page.textContent(`${item} .run-meta`), /^dcgan · …\/data$/);
  await page.waitForFunction((sel) => document.querySelector(sel).value > 0, `${item} progress`, WAIT);
  const first = await steps(run.id);
  await page.waitForFunction(([sel, v]) => document.querySelector(sel).value > v, [`${item} progress`, first], WAIT);
  assert.ok(await steps(run.id) > first);
  assert.match(await page.textContent(`${item} .run-steps`), /^\d+ \/ 100000 · ETA /);
  assert.equal(await page.textContent(`${item} .badge`), 'running');
  await page.waitForFunction(() => /^2 runs: /.test(document.querySelector('.home [role=status]').textContent),
    null, WAIT);
  await shot('01-runs-list');
});

test('the run view opened by keyboard draws live charts', async () => {
  phase = 'charts';
  await page.focus(`li[data-run-id="${run.id}"] a`);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'run-title', null, WAIT);
  for (const metric of ['loss_d', 'loss_g', 'd_real', 'd_fake', 'step_ms']) {
    await page.waitForSelector(`figure[data-metric="${metric}"] canvas`, WAIT);
  }
  const points = () => page.$eval('figure[data-metric="loss_d"]', (f) => Number(f.dataset.points || 0));
  await page.waitForFunction(() => Number(document.querySelector('figure[data-metric="loss_d"]').dataset.points) > 20,
    null, WAIT);
  const before = await points();
  await page.waitForFunction((n) => Number(document.querySelector('figure[data-metric="loss_d"]').dataset.points) > n,
    before, WAIT);
  /* loss_d is the first chart: its smoothed line is #2f6fd6 */
  assert.ok(await linePixels('loss_d', [0x2f, 0x6f, 0xd6]) > 100, 'loss_d line drawn');
  assert.match(await page.textContent('figure[data-metric="loss_d"] .latest'), /at step \d+/);
  await page.hover('figure[data-metric="loss_g"] .u-over');
  const hovered = await page.textContent('figure[data-metric="loss_g"] .u-legend');
  assert.match(hovered, /^step\d+raw-?\d[\d.e+-]*smoothed-?\d[\d.e+-]*$/, `hover shows values: ${hovered}`);
  await shot('02-run-view');
});

test('a sample grid loads and the step slider changes it', async () => {
  phase = 'samples';
  const img = '.samples img.grid-img';
  await page.waitForFunction((sel) => {
    const i = document.querySelector(sel);
    return i && !i.hidden && i.complete && i.naturalWidth > 0;
  }, img, WAIT);
  await page.waitForFunction(() => Number(document.querySelector('.samples input[type=range]').max) >= 2, null, WAIT);
  const latest = await page.getAttribute(img, 'src');
  await page.focus('.samples input[type=range]');
  await page.keyboard.press('Home');
  await page.waitForFunction((sel) => {
    const i = document.querySelector(sel);
    return i.getAttribute('src').endsWith('/samples/200.png') && i.complete && i.naturalWidth > 0;
  }, img, WAIT);
  assert.notEqual(await page.getAttribute(img, 'src'), latest);
  assert.equal(await page.getAttribute('.samples button[aria-pressed]', 'aria-pressed'), 'false');
  assert.match(await page.textContent('.samples output'), /^200 \(1\/\d+\)$/);
  // A new grid arrives: the slider stays where the user put it.
  const max = Number(await page.getAttribute('.samples input[type=range]', 'max'));
  await page.waitForFunction((m) => Number(document.querySelector('.samples input[type=range]').max) > m, max, WAIT);
  assert.equal(await page.inputValue('.samples input[type=range]'), '0');
  await shot('03-slider-first-grid');
  await page.click('.samples button[aria-pressed]');
  const n = Number(await page.getAttribute('.samples input[type=range]', 'max'));
  assert.ok(Number(await page.inputValue('.samples input[type=range]')) >= n - 1);
});

test('the generate panel shows fresh samples', async () => {
  phase = 'generate';
  await page.waitForFunction(async (id) => (await (await fetch(`/runs/${id}`)).json()).checkpoint_step > 0,
    run.id, { ...WAIT, polling: 500 });
  await page.fill('.generate input[name=seed]', '7');
  await page.click('.generate button[type=submit]');
  await page.waitForFunction(() => {
    const i = document.querySelector('.generate img.grid-img');
    return i && !i.hidden && i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0;
  }, null, WAIT);
  assert.equal(await page.isHidden('.generate .error'), true);
  await shot('04-generate');
});

test('the run view fits a phone-width screen and a wide one', async () => {
  phase = 'phone';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  await shot('05-phone');
  await page.setViewportSize({ width: 2200, height: 1100 });
  await page.waitForTimeout(300);
  await shot('05-wide');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('an invalid new-run form shows the server\'s error next to the field', async () => {
  await page.click('a[href="#/new"]');
  await page.waitForSelector('#f-batch_size', WAIT);
  await page.selectOption('#f-model', 'dcgan');
  await page.selectOption('#f-dataset', '__dir__');
  await page.fill('#f-dataset-dir', join(work, 'missing'));
  phase = 'form-error';
  await page.press('#f-dataset-dir', 'Enter');
  await page.waitForSelector('#f-dataset-err:not([hidden])', WAIT);
  assert.match(await page.textContent('#f-dataset-err'), /missing/);
  assert.equal(await page.getAttribute('#f-dataset-dir', 'aria-invalid'), 'true');
  await page.fill('#f-dataset-dir', dataDir);
  await page.fill('#f-batch_size', '0');
  await page.press('#f-batch_size', 'Enter');
  await page.waitForSelector('#f-batch_size-err:not([hidden])', WAIT);
  phase = 'form';
  assert.match(await page.textContent('#f-batch_size-err'), /batch_size/);
  assert.equal(await page.getAttribute('#f-batch_size', 'aria-invalid'), 'true');
  assert.match(await page.getAttribute('#f-batch_size', 'aria-describedby'), /f-batch_size-err/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-batch_size');
  assert.equal(await page.isHidden('#f-dataset-err'), true);
  assert.equal(await page.getAttribute('#f-dataset-dir', 'aria-invalid'), null);
  await shot('06-form-field-error');
});

test('a valid form queues a run, which can be canceled while queued', async () => {
  await page.fill('#f-batch_size', '8');
  await page.fill('#f-name', 'browser-queued');
  await page.fill('#f-steps', '50');
  await page.click('form.new-run button[type=submit]');
  await page.waitForFunction(() => /^#\/runs\/\d+$/.test(location.hash), null, WAIT);
  await page.waitForSelector('.run-title .badge.state-queued', WAIT);
  assert.equal(await page.textContent('.run-title h2'), 'browser-queued');
  await page.click('.actions button:has-text("Cancel run")');
  await page.waitForSelector('.run-title .badge.state-canceled', WAIT);
  const id = await page.evaluate(() => Number(location.hash.split('/')[2]));
  await page.waitForSelector(`li[data-run-id="${id}"] .badge.state-canceled`, WAIT);
});

test('compare overlays one metric of several runs', async () => {
  phase = 'compare';
  await page.click('a[href="#/compare"]');
  await page.waitForSelector(`#cmp-run-${short.id}`, WAIT);
  await page.selectOption('#cmp-metric', 'loss_d');
  await page.waitForFunction(() => /^loss_d of 2 runs/.test(document.querySelector('.compare-view [role=status]').textContent),
    null, WAIT);
  assert.ok(Number(await page.getAttribute('figure[data-metric="compare"]', 'data-points')) > 200);
  const legend = await page.textContent('figure[data-metric="compare"] .u-legend');
  assert.match(legend, /browser-dcgan/);
  assert.match(legend, /browser-short/);
  await shot('07-compare');
});

test('the page reconnects by itself after the daemon restarts', async () => {
  await page.click(`li[data-run-id="${run.id}"] a`);
  await page.waitForSelector('figure[data-metric="loss_d"] canvas', WAIT);
  phase = 'restart';
  const port = daemon.port;
  await daemon.stop();
  await page.waitForSelector('#conn[data-state="reconnecting"]', WAIT);
  const stoppedAt = await steps(run.id);
  const pointsBefore = await page.$eval('figure[data-metric="loss_d"]', (f) => Number(f.dataset.points));
  await shot('08-reconnecting');
  daemon = await startDaemon({ bin: process.env.GAND_BIN, www: process.env.GAND_WWW, stateDir, port });
  await page.waitForSelector('#conn[data-state="live"]', WAIT);
  await page.waitForFunction(([sel, v]) => document.querySelector(sel).value > v,
    [`li[data-run-id="${run.id}"] progress`, stoppedAt], WAIT);
  // The charts continue the history they had: nothing dropped or repeated.
  await page.waitForFunction((n) => Number(document.querySelector('figure[data-metric="loss_d"]').dataset.points) > n,
    pointsBefore, WAIT);
  const fig = await page.$eval('figure[data-metric="loss_d"]', (f) => ({ ...f.dataset }));
  assert.equal(fig.firstStep, '1');
  const series = (await (await fetch(`${daemon.url}/runs/${run.id}/metrics?name=loss_d`)).json()).series.loss_d;
  assert.ok(Number(fig.points) <= series.steps.length, `${fig.points} points, ${series.steps.length} stored`);
  phase = 'resumed';
  await shot('09-resumed');
});

test('cancel stops the run and delete removes it', async () => {
  phase = 'cancel';
  await page.click('.actions button:has-text("Cancel run")');
  await page.waitForSelector('.run-title .badge.state-canceled', WAIT);
  await page.waitForSelector(`li[data-run-id="${run.id}"] .badge.state-canceled`, WAIT);
  await shot('10-canceled');
  await page.click('.actions button.danger');
  await page.click('.actions button.danger');
  await page.waitForSelector(`li[data-run-id="${run.id}"]`, { state: 'detached', timeout: WAIT.timeout });
  assert.equal(await page.evaluate(() => location.hash), '#/');
  const res = await fetch(`${daemon.url}/runs/${run.id}`);
  assert.equal(res.status, 404);
});

test('the page logged no console errors', () => {
  assert.deepEqual(problems, []);
});
