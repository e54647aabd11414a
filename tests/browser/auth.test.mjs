// A daemon that requires a bearer token: the page asks for it once, keeps
// it for the session, and then lists runs, streams events and shows the
// sample grid (EventSource and <img> carry it as ?access_token=).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startDaemon, submitRun, writeIdxDataset } from './daemon.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 60000, polling: 100 };
const TOKEN = 'browser-test-token-0123456789abcdef';

const work = mkdtempSync(join(tmpdir(), 'gand-auth-'));
const artifacts = process.env.GAND_BROWSER_ARTIFACTS || join(work, 'artifacts');
let daemon;
let context;
let page;
const prompts = [];
const problems = [];

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  const dataDir = join(work, 'data');
  writeIdxDataset(dataDir);
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  chmodSync(tokenFile, 0o600);
  daemon = await startDaemon({
    bin: process.env.GAND_BIN, www: process.env.GAND_WWW, stateDir: join(work, 'state'),
    extraArgs: ['--auth-token-file', tokenFile],
  });
  await submitRun(daemon.url, {
    model: 'dcgan', dataset: dataDir, steps: 60, batch_size: 8, g_width: 16, d_width: 8,
    sample_every: 20, checkpoint_every: 30,
  }, TOKEN);
  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: process.env.GAND_CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  page = context.pages()[0] || await context.newPage();
  page.on('dialog', (d) => {
    prompts.push(d.message());
    d.accept(TOKEN);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    /* the first, unauthenticated request is refused on purpose */
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
});

after(async () => {
  if (context) await context.close();
  if (daemon) await daemon.stop();
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
});

test('the page asks for the token once, then shows the run, its events and samples', async () => {
  const res = await fetch(`${daemon.url}/runs`);
  assert.equal(res.status, 401);
  await page.goto(`${daemon.url}/`);
  await page.waitForSelector('li[data-run-id="1"]', WAIT);
  await page.waitForSelector('#conn[data-state="live"]', WAIT);
  await page.click('li[data-run-id="1"] a');
  await page.waitForFunction(() => {
    const i = document.querySelector('img[data-step]');
    return i && i.complete && i.naturalWidth > 0;
  }, null, WAIT);
  await page.screenshot({ path: join(artifacts, '11-auth-run-view.png'), fullPage: true });
  assert.equal(prompts.length, 1, `asked ${prompts.length} times: ${prompts.join(' | ')}`);
  assert.match(prompts[0], /access token/);
  assert.deepEqual(problems, []);
});
