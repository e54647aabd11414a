// Runs the monitoring page's browser tests with node's test runner. Exits
// 77, meson's code for a skipped test, when Chromium or the npm packages
// (scripts/deps.sh installs both) are missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const chromium = process.env.GAND_CHROMIUM || '/usr/bin/chromium';

function skip(why) {
  console.log(`skipped: ${why}`);
  process.exit(77);
}

if (!existsSync(chromium)) skip(`${chromium} is not installed (apt-get install chromium)`);
if (!existsSync(join(root, 'node_modules', 'playwright-core'))) skip(`no node_modules in ${root} (npm ci)`);
if (!process.env.GAND_BIN) {
  console.error('GAND_BIN must name the gand binary to test');
  process.exit(1);
}
if (!existsSync(join(root, 'www', 'vendor', 'uPlot.esm.js'))) {
  const r = spawnSync('sh', [join(root, 'scripts', 'www-vendor.sh')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

const r = spawnSync(process.execPath, ['--test', join(here, 'charts.test.mjs'), join(here, 'page.test.mjs'),
  join(here, 'auth.test.mjs')], {
  stdio: 'inherit',
  env: { ...process.env, GAND_CHROMIUM: chromium, GAND_WWW: process.env.GAND_WWW || join(root, 'www') },
});
process.exit(r.status ?? 1);
