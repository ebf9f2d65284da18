// Starts `mlxr serve` in a private HOME with the shared stories260K model, and a loopback file
// server for pulls. Every test file gets its own daemon.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const dataDir = process.env.MLXR_TEST_DATA || path.resolve(repo, '../shared/data');
export const mlxrBin = process.env.MLXR_BIN || path.join(repo, 'build/cli/mlxr');
export const storiesBin = path.join(dataDir, 'stories260K/stories260K.bin');
export const storiesGguf = path.join(dataDir, 'stories260K/stories260K-f32.gguf');

export function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Temporary homes are removed when the test process exits (MLXR_KEEP_TMP=1 keeps them for debugging).
const homes = new Set();
process.on('exit', () => {
  if (process.env.MLXR_KEEP_TMP) return;
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

export async function startDaemon({ home, port, args = [], env = {} } = {}) {
  home = home || fs.mkdtempSync(path.join(os.tmpdir(), 'mlxr-it-'));
  homes.add(home);
  port = port || await freePort();
  const socket = path.join(home, 'run/mlxr.sock');
  const log = fs.openSync(path.join(home, 'daemon.log'), 'a');
  const proc = spawn(mlxrBin, ['serve', '--socket', socket, '--host', '127.0.0.1', '--port', String(port),
    '--models-dir', path.join(home, 'models'), ...args], {
    env: { ...process.env, HOME: home, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: '', XDG_DATA_HOME: '', ...env },
    stdio: ['ignore', log, log],
  });
  const baseURL = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${baseURL}/health`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null) throw new Error(`daemon exited: ${fs.readFileSync(path.join(home, 'daemon.log'), 'utf8')}`);
    await sleep(50);
  }
  const token = fs.readFileSync(path.join(home, '.config/mlxr/token'), 'utf8').trim();
  return {
    proc, home, port, socket, baseURL, token,
    headers: { Authorization: `Bearer ${token}` },
    log: () => fs.readFileSync(path.join(home, 'daemon.log'), 'utf8'),
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig)));
      proc.kill(signal);
      return done;
    },
    rss() {
      const s = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024;
    },
  };
}

// Authenticated JSON call (fetch), for raw HTTP checks the clients do not expose.
export async function call(d, method, p, body, extraHeaders = {}) {
  const r = await fetch(d.baseURL + p, {
    method, headers: { ...d.headers, 'Content-Type': 'application/json', ...extraHeaders },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, text, json, headers: r.headers };
}

export async function metric(d, name) {
  const t = (await call(d, 'GET', '/metrics')).text;
  let sum = 0, seen = false;
  for (const line of t.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) { sum += Number(line.split(' ').pop()); seen = true; }
  }
  return seen ? sum : null;
}

export function curlUnix(socket, p, body) {
  const args = ['-s', '--unix-socket', socket, `http://localhost${p}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  return execFileSync('curl', args, { encoding: 'utf8' });
}

// Serves files with Range support and Hugging Face's X-Linked-Etag (sha256). `throttle` (bytes/s)
// slows the body so a test can kill the daemon mid-download.
export async function startFileServer(files, { throttle = 0 } = {}) {
  const stats = { rangeRequests: 0, requests: 0 };
  const server = http.createServer((req, res) => {
    stats.requests++;
    const f = files[req.url];
    if (!f) { res.writeHead(404); res.end(); return; }
    const data = fs.readFileSync(f);
    const sha = crypto.createHash('sha256').update(data).digest('hex');
    let from = 0;
    const m = /bytes=(\d+)-/.exec(req.headers.range || '');
    if (m) { from = Number(m[1]); stats.rangeRequests++; }
    const body = data.subarray(from);
    res.writeHead(from ? 206 : 200, { 'Content-Length': body.length, 'X-Linked-Etag': `"${sha}"` });
    if (!throttle) { res.end(body); return; }
    let off = 0;
    const chunk = Math.max(1, Math.floor(throttle / 20));
    const t = setInterval(() => {
      if (off >= body.length || res.destroyed) { clearInterval(t); res.end(); return; }
      res.write(body.subarray(off, off + chunk));
      off += chunk;
    }, 50);
    res.on('close', () => clearInterval(t));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return { url: (p) => `http://127.0.0.1:${port}${p}`, stats, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

export function sha256File(f) {
  return crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
}
