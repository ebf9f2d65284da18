// Starting and stopping the daemon under test: the real `mlxr serve` (default) or, with --mock,
// the development stand-in in mock/server.mjs.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const uiDist = path.join(repoRoot, 'app/ui/dist');
export const dataDir = process.env.MLXR_TEST_DATA ?? '/work/shared/data';
export const storiesBin = path.join(dataDir, 'stories260K/stories260K.bin');
export const importFile = path.join(dataDir, 'stories260K/stories260K-Q4_K_M.gguf');
export const pullFile = path.join(dataDir, 'stories260K/stories260K-Q6_K.gguf');

export function daemonBinary() {
  const bin = process.env.MLXR_BIN ?? 'build/cli/mlxr';
  return path.isAbsolute(bin) ? bin : path.join(repoRoot, bin);
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function newestMtime(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Builds app/ui/dist when it is missing or older than the sources, so the test never runs a stale UI. */
export function ensureUiBuilt() {
  const ui = path.join(repoRoot, 'app/ui');
  const index = path.join(uiDist, 'index.html');
  const sources = Math.max(newestMtime(path.join(ui, 'src')), fs.statSync(path.join(ui, 'index.html')).mtimeMs);
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) return;
  console.log('app/ui/dist is missing or stale: building it (npm ci if needed, then npm run build)');
  for (const args of fs.existsSync(path.join(ui, 'node_modules')) ? [['run', 'build']] : [['ci'], ['run', 'build']]) {
    const r = spawnSync('npm', args, { cwd: ui, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed in app/ui`);
  }
}

/**
 * The command line of the real daemon (cli/cmd_serve.cpp). The token goes through
 * <config_dir>/token with MLXR_CONFIG_DIR (daemon/config), so it never shows in `ps`.
 * MLXR_SERVE_ARGS replaces the arguments (whitespace-separated, with {port} {socket} {ui}
 * {models} {model} {config} substituted) if the flags change.
 */
function serveArgs(v) {
  const template =
    process.env.MLXR_SERVE_ARGS ??
    'serve --host 127.0.0.1 --port {port} --socket {socket} --models-dir {models} --ui {ui} --model {model} --name stories260K';
  return template.split(/\s+/).filter(Boolean).map((a) => a.replace(/\{(\w+)\}/g, (_, k) => String(v[k] ?? `{${k}}`)));
}

export async function startDaemon({ mock }) {
  const port = await freePort();
  const token = `e2e-${crypto.randomBytes(16).toString('hex')}`; // the daemon wants >= 16 characters
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlxr-e2e-'));
  const models = path.join(tmp, 'models');
  const config = path.join(tmp, 'config');
  fs.mkdirSync(models);
  fs.mkdirSync(config);
  let cmd;
  let args;
  if (mock) {
    cmd = process.execPath;
    args = [path.join(repoRoot, 'tests/e2e/mock/server.mjs'), '--port', String(port), '--token', token, '--ui', uiDist];
  } else {
    cmd = daemonBinary();
    args = serveArgs({ port, ui: uiDist, models, model: storiesBin, config, socket: path.join(tmp, 'mlxr.sock') });
  }
  const logFile = path.join(tmp, 'daemon.log');
  const out = fs.openSync(logFile, 'w');
  // The daemon loads its token from <config_dir>/token (and creates one when the file is missing).
  fs.writeFileSync(path.join(config, 'token'), token + '\n', { mode: 0o600 });
  const env = {
    ...process.env,
    MLXR_CONFIG_DIR: config,
    HOME: tmp, // keeps every other default path (config, registry) inside the temporary directory
  };
  console.log(`starting: ${cmd} ${args.join(' ')}`);
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], env });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let exited = null;
  child.on('exit', (code, sig) => (exited = code ?? sig));
  const fail = (msg) => {
    if (exited === null) child.kill('SIGKILL');
    const log = fs.readFileSync(logFile, 'utf8').slice(-4000);
    fs.closeSync(out);
    if (!process.env.MLXR_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    return new Error(`${msg}; its log:\n${log}`);
  };
  for (;;) {
    if (exited !== null) throw fail(`the daemon exited (${exited}) before answering /health`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw fail(`the daemon did not answer ${base}/health within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // Trust the file over our copy in case the daemon normalised or replaced it.
  const tokenFile = path.join(config, 'token');
  const served = fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : token;
  return {
    base,
    token: served || token,
    logFile,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => exited === null && child.kill('SIGKILL'), 5000);
        await new Promise((r) => (exited !== null ? r() : child.once('exit', r)));
        clearTimeout(t);
      }
      fs.closeSync(out);
      if (!process.env.MLXR_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
