// A stand-in daemon for developing the UI before `mlxr serve` exists. It speaks the same HTTP
// shapes the UI's client (app/ui/src/api) expects. The committed e2e test targets the real daemon;
// this server is used only with `node run.mjs --mock` or `npm run mock` during UI work.
//
//   node mock/server.mjs [--port 8080] [--token secret] [--ui ../../app/ui/dist]

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const port = Number(args.port ?? 8080);
const token = args.token ?? 'mock-token';
const uiDir = path.resolve(args.ui ?? path.join(here, '../../../app/ui/dist'));
const sessions = new Set();

const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the park. She ran to it and said, "Can I play with you?" The ball was **very** happy. They played all day until the sun went down.';

const models = new Map([
  ['stories260K', { size: 1_185_952, details: { format: 'llama2c', family: 'llama', parameter_size: '260K', quantization_level: 'F32' }, ctx: 512 }],
]);
// Shaped like the daemon's config::to_json (daemon/config/config.cpp).
const config = {
  tcp: { enabled: true, host: '127.0.0.1', port },
  auth: { enabled: true, token: '<redacted>' },
  engine: { device: 'cpu', threads: 2, max_batch_tokens: 512, max_running: 64 },
  models: { default: '', keep_alive: '5m', max_loaded: 1 },
  log: { level: 'info', ring_lines: 4096 },
};
const RUNTIME_KEYS = ['models.default', 'models.keep_alive', 'models.max_loaded', 'engine.max_batch_tokens', 'engine.max_running', 'log.level'];
const logs = [];
let seq = 0;
function log(level, msg, fields = {}) {
  logs.push({ seq: ++seq, ts: Date.now() / 1000, level, msg, fields });
  if (logs.length > 5000) logs.shift();
}

// metrics
const m = { gen: 0, prompt: 0, requests: 0, running: 0, waiting: 0, kvUsed: 0, kvCached: 0, batchSum: 0, batchCount: 0 };
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const hist = () => ({ counts: new Array(BOUNDS.length + 1).fill(0), sum: 0, count: 0 });
const ttft = hist();
const itl = hist();
function observe(h, v) {
  let i = BOUNDS.findIndex((b) => v <= b);
  if (i < 0) i = BOUNDS.length;
  h.counts[i]++;
  h.sum += v;
  h.count++;
}
function histText(name, h) {
  let cum = 0;
  const lines = [`# TYPE ${name} histogram`];
  BOUNDS.forEach((b, i) => lines.push(`${name}_bucket{le="${b}"} ${(cum += h.counts[i])}`));
  lines.push(`${name}_bucket{le="+Inf"} ${(cum += h.counts[BOUNDS.length])}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
  return lines.join('\n');
}
// Names and shapes as daemon/server/admin_api.cpp and generation.cpp export them.
function metricsText() {
  const total = 1024;
  const g = (name, v) => `# TYPE ${name} gauge\n${name}{model="stories260K"} ${v}`;
  return [
    '# TYPE mlxr_generated_tokens_total counter', `mlxr_generated_tokens_total ${m.gen}`,
    '# TYPE mlxr_prompt_tokens_total counter', `mlxr_prompt_tokens_total ${m.prompt}`,
    histText('mlxr_ttft_seconds', ttft),
    histText('mlxr_itl_seconds', itl),
    g('mlxr_queue_depth', m.waiting),
    g('mlxr_running_sequences', m.running),
    g('mlxr_kv_blocks_used', m.kvUsed),
    g('mlxr_kv_blocks_free', total - m.kvUsed - m.kvCached),
    g('mlxr_kv_blocks_cached', m.kvCached),
    g('mlxr_kv_blocks_total', total),
    g('mlxr_batch_tokens', m.running),
    g('mlxr_batch_sequences', m.running),
    '',
  ].join('\n');
}

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const fail = (res, status, message, extra = {}) => send(res, status, { error: { message, ...extra } });
const readBody = (req) => new Promise((resolve) => {
  let s = '';
  req.on('data', (c) => (s += c));
  req.on('end', () => {
    try { resolve(s ? JSON.parse(s) : {}); } catch { resolve(undefined); }
  });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cookieOf = (req) => Object.fromEntries((req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).filter((p) => p.length === 2));
const authed = (req) => sessions.has(cookieOf(req).mlxr_token) || req.headers.authorization === `Bearer ${token}`;

async function generate(req, res, body, kind) {
  if (!models.has(body.model)) return fail(res, 404, `model "${body.model}" not found`, { param: 'model' });
  if (typeof body.temperature === 'number' && body.temperature < 0) return fail(res, 400, 'temperature must be >= 0', { param: 'temperature' });
  const words = STORY.split(/(?<= )/);
  const maxTokens = Math.min(body.max_tokens ?? 64, 400);
  const id = `cmpl-${crypto.randomUUID()}`;
  let closed = false;
  res.on('close', () => (closed = true));
  m.running++;
  m.prompt += 12;
  m.kvUsed += 4;
  log('info', 'request started', { id, model: body.model, api: kind });
  const chunk = (text, finish = null) =>
    kind === 'chat'
      ? { id, object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta: text === null ? {} : { content: text }, finish_reason: finish }] }
      : { id, object: 'text_completion', model: body.model, choices: [{ index: 0, text: text ?? '', finish_reason: finish }] };
  if (!body.stream) {
    const text = words.slice(0, maxTokens).join('');
    m.running--; m.kvUsed -= 4; m.requests++; m.gen += maxTokens;
    return send(res, 200, kind === 'chat' ? { id, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] } : { id, choices: [{ index: 0, text, finish_reason: 'stop' }] });
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const start = Date.now();
  await sleep(120);
  observe(ttft, (Date.now() - start) / 1000);
  let n = 0;
  let last = Date.now();
  for (let i = 0; i < maxTokens && !closed; i++) {
    const w = words[i % words.length];
    res.write(`data: ${JSON.stringify(chunk(w))}\n\n`);
    n++;
    m.gen++;
    await sleep(Number(process.env.MOCK_TOKEN_MS ?? 70));
    observe(itl, (Date.now() - last) / 1000);
    last = Date.now();
  }
  m.running--; m.kvUsed -= 4; m.kvCached += 1; m.requests++;
  log(closed ? 'warn' : 'info', closed ? 'request cancelled by client' : 'request done', { id, tokens: n });
  if (closed) return;
  res.write(`data: ${JSON.stringify(chunk(null, n >= maxTokens ? 'length' : 'stop'))}\n\n`);
  if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id, choices: [], usage: { prompt_tokens: 12, completion_tokens: n, total_tokens: 12 + n } })}\n\n`);
  res.end('data: [DONE]\n\n');
}

function embed(text) {
  const v = new Array(16).fill(0);
  for (const w of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    const h = crypto.createHash('sha1').update(w).digest();
    for (let i = 0; i < 16; i++) v[i] += (h[i] - 128) / 128;
  }
  return v;
}

function setDeep(obj, patch, prefix = '') {
  for (const [k, v] of Object.entries(patch)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (!(k in obj)) return `unknown setting ${key}`;
    if (v && typeof v === 'object') {
      const e = setDeep(obj[k], v, key);
      if (e) return e;
    } else {
      if (typeof v !== typeof obj[k]) return `${key} must be a ${typeof obj[k]}`;
      if (typeof v === 'number' && v <= 0) return `${key} must be positive`;
      obj[k] = v;
    }
  }
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  const api = p.startsWith('/v1/') || p.startsWith('/api/') || p === '/metrics';
  if (!api) {
    if (p === '/health') return send(res, 200, { status: 'ok' });
    const file = path.join(uiDir, p === '/' ? 'index.html' : path.normalize(p).replace(/^([/\\])+/, ''));
    if (!file.startsWith(uiDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return send(res, 404, 'not found', { 'Content-Type': 'text/plain' });
    const headers = { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' };
    // The daemon's policy for the page (daemon/server/router.cpp), so violations show up here too.
    if (file.endsWith('.html')) headers['Content-Security-Policy'] = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";
    res.writeHead(200, headers);
    return fs.createReadStream(file).pipe(res);
  }
  if (p === '/api/mlxr/login' && req.method === 'POST') {
    const body = await readBody(req);
    if (body?.token !== token) return fail(res, 401, 'wrong token');
    const sid = crypto.randomBytes(16).toString('hex');
    sessions.add(sid);
    log('info', 'ui login');
    return send(res, 200, { ok: true }, { 'Set-Cookie': `mlxr_token=${sid}; HttpOnly; SameSite=Strict; Path=/` });
  }
  if (p === '/api/version') return send(res, 200, { version: '0.0.0-mock' });
  if (!authed(req)) return fail(res, 401, 'not signed in: POST /api/mlxr/login or send Authorization: Bearer');
  const body = ['POST', 'PUT', 'DELETE'].includes(req.method) ? await readBody(req) : {};
  if (body === undefined) return fail(res, 400, 'request body is not valid JSON');
  switch (`${req.method} ${p}`) {
    case 'POST /api/mlxr/logout':
      sessions.delete(cookieOf(req).mlxr_token);
      return send(res, 200, { ok: true }, { 'Set-Cookie': 'mlxr_token=; Max-Age=0; Path=/' });
    case 'GET /api/mlxr/token':
      return send(res, 200, { token });
    case 'GET /api/mlxr/config':
      return send(res, 200, { ...config, runtime_keys: RUNTIME_KEYS });
    case 'PUT /api/mlxr/config': {
      const copy = structuredClone(config);
      const err = setDeep(copy, body);
      if (err) return fail(res, 400, err, { key: err.match(/([a-z_.]+) must|setting ([a-z_.]+)/)?.slice(1).find(Boolean) });
      Object.assign(config, copy);
      log('info', 'config changed', { patch: body });
      return send(res, 200, { ...config, runtime_keys: RUNTIME_KEYS });
    }
    case 'GET /api/mlxr/logs': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return send(res, 200, { lines: logs.filter((l) => l.seq > since).slice(0, 1000), last_seq: seq });
    }
    case 'GET /metrics':
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      return res.end(metricsText());
    case 'GET /v1/models':
      return send(res, 200, { object: 'list', data: [...models.keys()].map((id) => ({ id, object: 'model', created: 0, owned_by: 'mlxr' })) });
    case 'POST /v1/chat/completions':
      return generate(req, res, body, 'chat');
    case 'POST /v1/completions':
      return generate(req, res, body, 'completion');
    case 'POST /v1/embeddings': {
      if (!models.has(body.model)) return fail(res, 404, `model "${body.model}" not found`, { param: 'model' });
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return send(res, 200, { object: 'list', model: body.model, data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: embed(String(t)) })) });
    }
    case 'GET /api/tags':
      return send(res, 200, { models: [...models].map(([name, x]) => ({ name, model: name, size: x.size, modified_at: new Date().toISOString(), digest: 'sha256:' + crypto.createHash('sha256').update(name).digest('hex'), details: x.details })) });
    case 'GET /api/ps':
      return send(res, 200, { models: [] });
    case 'POST /api/show': {
      const x = models.get(body.model);
      if (!x) return send(res, 404, { error: `model "${body.model}" not found` });
      return send(res, 200, { details: x.details, parameters: 'temperature 0.8', template: '{{ .Prompt }}', model_info: { 'general.architecture': 'llama', 'llama.context_length': x.ctx, 'llama.embedding_length': 64, 'llama.block_count': 5 } });
    }
    case 'DELETE /api/delete':
      if (!models.delete(body.model)) return send(res, 404, { error: `model "${body.model}" not found` });
      log('info', 'model deleted', { model: body.model });
      return send(res, 200, {});
    case 'POST /api/create': {
      const file = body.from ?? body.path;
      if (!body.model) return send(res, 400, { error: 'model name is required' });
      if (!file || !fs.existsSync(file)) return send(res, 400, { error: `no such file: ${file}` });
      const size = fs.statSync(file).size;
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write(JSON.stringify({ status: 'reading model metadata' }) + '\n');
      await sleep(200);
      res.write(JSON.stringify({ status: 'copying file', digest: 'sha256:x', total: size, completed: size }) + '\n');
      const gguf = file.endsWith('.gguf');
      models.set(body.model, { size, details: { format: gguf ? 'gguf' : 'llama2c', family: 'llama', parameter_size: '260K', quantization_level: (/(Q\d_K(_M)?|F32|F16)/i.exec(file)?.[1] ?? 'F32').toUpperCase() }, ctx: 512 });
      log('info', 'model imported', { model: body.model, path: file });
      return res.end(JSON.stringify({ status: 'success' }) + '\n');
    }
    case 'POST /api/pull': {
      const name = body.model;
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      if (!/^https?:\/\//.test(name ?? '')) return res.end(JSON.stringify({ error: `cannot pull "${name}": the mock only knows URLs` }) + '\n');
      const total = 5_000_000;
      res.write(JSON.stringify({ status: 'pulling manifest' }) + '\n');
      for (let done = 0; done <= total; done += 500_000) {
        res.write(JSON.stringify({ status: 'downloading', digest: 'sha256:abc', total, completed: done }) + '\n');
        await sleep(80);
      }
      const n = body.name || path.basename(new URL(name).pathname).replace(/\.\w+$/, '') || 'pulled';
      models.set(n, { size: total, details: { format: 'gguf', family: 'llama', parameter_size: '260K', quantization_level: 'Q8_0' }, ctx: 512 });
      return res.end(JSON.stringify({ status: 'success' }) + '\n');
    }
    default:
      return fail(res, 404, `no route ${req.method} ${p}`);
  }
});

log('info', 'mock daemon starting', { port });
server.listen(port, '127.0.0.1', () => console.log(`mock daemon on http://127.0.0.1:${port} (token ${token}, ui ${uiDir})`));
