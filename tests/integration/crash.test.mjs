// Restart safety: kill -9 during a pull leaves a consistent catalog (no half-registered model),
// the next pull resumes from the partial file; SIGTERM during a stream ends it cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Ollama } from 'ollama';
import { startDaemon, startFileServer, sha256File, sleep, storiesGguf, storiesBin } from './harness.mjs';

const sql = (db, q) => execFileSync('sqlite3', [db, q], { encoding: 'utf8' }).trim();

test('kill -9 during a pull: no corrupt rows, the daemon restarts clean', { timeout: 120000 }, async () => {
  const size = fs.statSync(storiesGguf).size;
  const slow = await startFileServer({ '/m.gguf': storiesGguf }, { throttle: Math.ceil(size / 4) });  // ~4 s
  let d = await startDaemon();
  const home = d.home;
  const ol = new Ollama({ host: d.baseURL, headers: d.headers });
  const it = await ol.pull({ model: slow.url('/m.gguf'), stream: true });
  let seen = 0;
  try {
    for await (const p of it) {
      if (p.status === 'downloading' && p.completed > size / 4) { seen = p.completed; break; }
    }
  } catch { /* fine */ }
  assert.ok(seen > 0, 'download was under way');
  d.proc.kill('SIGKILL');
  await new Promise((r) => d.proc.once('exit', r));
  await slow.close();
  const db = path.join(home, 'models/registry.db');
  assert.equal(sql(db, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sql(db, 'SELECT count(*) FROM models'), '0', 'no half-registered model');
  const partials = fs.readdirSync(path.join(home, 'models/blobs')).filter((f) => f.startsWith('partial-'));
  assert.equal(partials.length, 1);
  const have = fs.statSync(path.join(home, 'models/blobs', partials[0])).size;
  assert.ok(have > 0 && have < size, `partial holds ${have} of ${size} bytes`);

  const fast = await startFileServer({ '/m.gguf': storiesGguf });
  d = await startDaemon({ home });
  const ol2 = new Ollama({ host: d.baseURL, headers: d.headers });
  assert.deepEqual((await ol2.list()).models, []);
  // A new server (new port, so a new URL): a fresh pull; resuming the same URL is the next test.
  const r = await fetch(`${d.baseURL}/api/pull`, { method: 'POST', headers: d.headers,
    body: JSON.stringify({ url: fast.url('/m.gguf'), name: 'resumed', stream: false }) });
  assert.equal(r.status, 200, await r.text());
  const tags = (await ol2.list()).models;
  assert.equal(tags.length, 1);
  assert.equal(tags[0].digest, sha256File(storiesGguf));
  assert.equal(sql(db, 'PRAGMA integrity_check'), 'ok');
  // The killed pull's partial stays recorded in `pulls`, so pulling that URL again resumes it.
  assert.equal(sql(db, 'SELECT count(*) FROM pulls'), '1');
  assert.equal(await d.stop(), 0);
  await fast.close();
});

test('kill -9 then the same URL resumes with a Range request', { timeout: 120000 }, async () => {
  const size = fs.statSync(storiesGguf).size;
  const srv = await startFileServer({ '/m.gguf': storiesGguf }, { throttle: Math.ceil(size / 4) });
  let d = await startDaemon();
  const home = d.home;
  const body = JSON.stringify({ url: srv.url('/m.gguf'), name: 'resumed', stream: true });
  const resp = await fetch(`${d.baseURL}/api/pull`, { method: 'POST', headers: d.headers, body });
  const reader = resp.body.getReader();
  let got = '';
  while (!/"completed":\s*[1-9]/.test(got)) got += new TextDecoder().decode((await reader.read()).value);
  await sleep(300);
  d.proc.kill('SIGKILL');
  await new Promise((r) => d.proc.once('exit', r));
  srv.stats.rangeRequests = 0;
  d = await startDaemon({ home });
  const r = await fetch(`${d.baseURL}/api/pull`, { method: 'POST', headers: d.headers,
    body: JSON.stringify({ url: srv.url('/m.gguf'), name: 'resumed', stream: false }) });
  assert.equal(r.status, 200, await r.text());
  assert.equal(srv.stats.rangeRequests, 1, 'the second pull asked only for the missing bytes');
  const db = path.join(home, 'models/registry.db');
  assert.equal(sql(db, "SELECT sha256 FROM models WHERE name='resumed:latest'"), sha256File(storiesGguf));
  assert.equal(sql(db, 'SELECT count(*) FROM pulls'), '0');
  assert.equal(await d.stop(), 0);
  await srv.close();
});

test('SIGTERM during a stream: the stream gets its last line, exit code 0', { timeout: 60000 }, async () => {
  const d = await startDaemon({ args: ['--model', storiesBin, '--name', 'stories'] });
  const ol = new Ollama({ host: d.baseURL, headers: d.headers });
  const it = await ol.generate({ model: 'stories', prompt: 'Once', raw: true, stream: true, options: { num_predict: 100000 } });
  let last = null, n = 0;
  const exit = (async () => { await sleep(150); return d.stop('SIGTERM'); })();
  try { for await (const p of it) { last = p; n++; } } catch (e) { last = { error: String(e) }; }
  assert.equal(await exit, 0);
  assert.ok(n > 0);
  assert.ok(last.done === true || last.error, JSON.stringify(last));
  assert.ok(!fs.existsSync(d.socket), 'socket removed');
});
