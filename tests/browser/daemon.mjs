// Starts the real gand daemon for the browser tests: a free port, a temp
// state directory, a tiny IDX dataset written here.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

// Writes train-images-idx3-ubyte and train-labels-idx1-ubyte (the format
// of tests/idx_fixture.c): n images of size x size, class k a bright
// quadrant k % 4 over faint noise.
export function writeIdxDataset(dir, { n = 256, size = 28, classes = 4 } = {}) {
  mkdirSync(dir, { recursive: true });
  const pixels = Buffer.alloc(n * size * size);
  const labels = Buffer.alloc(n);
  const half = size >> 1;
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    const oy = ((k % 4) >> 1) * half;
    const ox = (k % 2) * half;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const inside = y >= oy && y < oy + half && x >= ox && x < ox + half;
        pixels[(i * size + y) * size + x] = inside ? 200 + ((seed >>> 16) % 56) : (seed >>> 16) % 24;
      }
    }
  }
  writeFileSync(join(dir, 'train-images-idx3-ubyte'),
    Buffer.concat([u32(0x803), u32(n), u32(size), u32(size), pixels]));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([u32(0x801), u32(n), labels]));
}

const LISTENING = /listening on http:\/\/[^\s/]+:(\d+)\//;

// Runs `gand --listen 127.0.0.1:PORT` (0: any free port) and resolves once
// it logs its port and answers /readyz.
export async function startDaemon({ bin, www, stateDir, port = 0, timeoutMs = 30000, extraArgs = [] }) {
  const proc = spawn(bin, ['--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, '--www', www,
    '--workers', '1', '--log-level', 'info', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const found = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk;
      const m = LISTENING.exec(log);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exited.then(({ code, signal }) => reject(new Error(`gand exited (${code ?? signal}) before listening:\n${log}`)));
    setTimeout(() => reject(new Error(`gand did not log its port within ${timeoutMs} ms:\n${log}`)), timeoutMs);
  });
  const got = await found;
  const url = `http://127.0.0.1:${got}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not accepting yet */
    }
    if (Date.now() > deadline) throw new Error(`gand at ${url} never became ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port: got,
    url,
    log: () => log,
    // SIGTERM (running runs checkpoint and stay queued), SIGKILL after 30 s.
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

export async function submitRun(url, spec, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/runs`, { method: 'POST', headers, body: JSON.stringify(spec) });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`POST /runs answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}
