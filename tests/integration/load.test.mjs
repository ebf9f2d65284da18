// Load: N (default 256) concurrent streaming chat clients over loopback TCP, two rounds.
// Zero errors; TTFT p50/p99 per round; daemon RSS before and after each round (no growth).
// Writes a JSON summary to $MLXR_LOAD_OUT when set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';
import { startDaemon, metric, sleep, storiesBin } from './harness.mjs';

const N = Number(process.env.MLXR_LOAD_CLIENTS || 256);
const TOKENS = Number(process.env.MLXR_LOAD_TOKENS || 32);
let d, oai;

before(async () => {
  d = await startDaemon({ args: ['--model', storiesBin, '--name', 'stories', '--max-running', '128', '--kv-blocks', '4096', '--n-ctx', '256'] });
  oai = new OpenAI({ baseURL: `${d.baseURL}/v1`, apiKey: d.token, maxRetries: 0, timeout: 120000 });
});
after(async () => { assert.equal(await d.stop(), 0); });

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function round() {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: N }, async (_, i) => {
    const start = performance.now();
    let ttft = null, text = '', finish = null;
    const stream = await oai.chat.completions.create({ model: 'stories', stream: true, max_tokens: TOKENS, temperature: 0.8, seed: i,
      messages: [{ role: 'user', content: `Tell me story number ${i}.` }] });
    for await (const ch of stream) {
      const c = ch.choices[0]?.delta?.content;
      if (c && ttft === null) ttft = performance.now() - start;
      if (c) text += c;
      if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    }
    if (!finish) throw new Error('stream ended without finish_reason');
    return { ttft, text };
  }));
  const wall = performance.now() - t0;
  const errors = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
  const ttfts = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.ttft);
  return { wall_ms: wall, errors, ttft_p50_ms: pct(ttfts, 0.5), ttft_p99_ms: pct(ttfts, 0.99) };
}

test(`${N} concurrent streaming clients, zero errors, no RSS growth`, { timeout: 600000 }, async () => {
  // Warm up: load the model and let allocators settle.
  await oai.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  await sleep(200);
  const rss0 = d.rss();
  const r1 = await round();
  await sleep(500);
  const rss1 = d.rss();
  const r2 = await round();
  await sleep(500);
  const rss2 = d.rss();
  const summary = {
    clients: N, tokens_per_client: TOKENS,
    round1: { ...r1, errors: r1.errors.length }, round2: { ...r2, errors: r2.errors.length },
    rss_bytes: { before: rss0, after_round1: rss1, after_round2: rss2 },
    connections_after: await metric(d, 'mlxr_http_connections'),
    running_after: await metric(d, 'mlxr_running_sequences'),
    kv_used_after: await metric(d, 'mlxr_kv_blocks_used'),
  };
  console.log(JSON.stringify(summary, null, 2));
  if (process.env.MLXR_LOAD_OUT) fs.writeFileSync(process.env.MLXR_LOAD_OUT, JSON.stringify(summary, null, 2));
  assert.deepEqual(r1.errors, []);
  assert.deepEqual(r2.errors, []);
  assert.equal(summary.running_after, 0);
  assert.equal(summary.kv_used_after, 0);
  // The second round must not grow the heap beyond noise (allocator arenas settle in round 1).
  assert.ok(rss2 - rss1 < 16 << 20, `RSS grew by ${(rss2 - rss1) >> 20} MiB between identical rounds`);
});
