#!/usr/bin/env node
// Loads a GGUF in llama.cpp (the prebuilt CPU build inside node-llama-cpp 3.21.1) and prints the
// greedy continuation of a prompt: the peer for "our files load in llama.cpp", greedy parity
// and side-by-side speed.
//
//   node tools/llamacpp/check_load.mjs FILE.gguf [-p PROMPT] [-n N] [-t THREADS] [-c CTX]
//        [--ids 1,2,3] [--no-bos] [--fa] [--no-warmup] [--json]
// THREADS defaults to 1: ggml worker threads spin, so more threads than free cores (this
// machine has 2, shared) make it orders of magnitude slower. Pass -t for benchmarks.
//
// Tokenization is llama.cpp's (add BOS if the model asks for it, special tokens not parsed),
// or the given --ids. Greedy = temperature 0 (argmax). Prints the token ids, the text, and
// prefill / decode speed; --json prints one object instead.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function parseArgs(argv) {
  const o = {prompt: "Once upon a time", n: 32, threads: 1, ctx: 0, ids: null, bos: true, json: false, fa: false, warmup: true, file: null};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "-p" || a === "--prompt") o.prompt = next();
    else if (a === "-n") o.n = parseInt(next(), 10);
    else if (a === "-t" || a === "--threads") o.threads = parseInt(next(), 10);
    else if (a === "-c" || a === "--ctx") o.ctx = parseInt(next(), 10);
    else if (a === "--ids") o.ids = next().split(",").filter(s => s.length).map(s => parseInt(s, 10));
    else if (a === "--no-bos") o.bos = false;
    else if (a === "--json") o.json = true;
    else if (a === "--fa") o.fa = true;
    else if (a === "--no-warmup") o.warmup = false;
    else if (a === "-h" || a === "--help") o.help = true;
    else if (!o.file) o.file = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  return o;
}

const usage = "usage: node check_load.mjs FILE.gguf [-p PROMPT] [-n N] [-t THREADS] [-c CTX] [--ids 1,2,3] [--no-bos] [--fa] [--no-warmup] [--json]";
let o;
try {
  o = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`check_load: ${e.message}\n${usage}`);
  process.exit(2);
}
if (o.help || !o.file) {
  console.error(usage);
  process.exit(o.help ? 0 : 2);
}

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false});
let model;
try {
  model = await llama.loadModel({modelPath: o.file, gpuLayers: 0});
} catch (e) {
  console.error(`check_load: llama.cpp failed to load ${o.file}: ${e.message}`);
  process.exit(1);
}
let prompt = o.ids;
if (!prompt) {
  prompt = Array.from(model.tokenize(o.prompt, false));
  if (o.bos && model.tokens.bos != null && model.tokens.shouldPrependBosToken) prompt.unshift(model.tokens.bos);
}
const ctxSize = o.ctx > 0 ? o.ctx : Math.max(64, prompt.length + o.n + 8);
// Flash attention off unless --fa: this llama.cpp turns it on by default ("auto") on the CPU,
// which changes the arithmetic; the reference outputs in ../shared/data were made without it.
const ctxOpts = {contextSize: ctxSize, batchSize: Math.max(prompt.length, 1), sequences: 1, flashAttention: o.fa};
if (o.threads > 0) ctxOpts.threads = o.threads;
const context = await model.createContext(ctxOpts);
const seq = context.getSequence();

// Warm-up (as llama-bench does): one token through the model touches every weight, so the timed
// run does not pay for first-touch page faults of the mmap'd file. Then forget it.
if (o.warmup && prompt.length > 0) {
  for await (const _ of seq.evaluate(prompt.slice(0, 1), {temperature: 0})) break;
  await seq.clearHistory();
}

const generated = [];
const t0 = performance.now();
let tFirst = null;
if (o.n > 0) {
  for await (const tok of seq.evaluate(prompt, {temperature: 0})) {
    if (tFirst === null) tFirst = performance.now();
    generated.push(tok);
    if (generated.length >= o.n) break;
  }
}
const t1 = performance.now();
const text = model.detokenize(generated, false, prompt);
const res = {
  model: o.file,
  llama_cpp: `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release} (${llama.buildType}, node-llama-cpp 3.21.1, CPU)`,
  threads: context.currentThreads ?? null,
  flash_attention: o.fa,
  prompt_tokens: prompt,
  generated_tokens: generated,
  text,
  // The first token's time is prompt processing (plus one sampling step).
  prefill_ms: tFirst === null ? null : tFirst - t0,
  prefill_tok_s: tFirst === null ? null : prompt.length / ((tFirst - t0) / 1000),
  decode_tok_s: generated.length > 1 ? (generated.length - 1) / ((t1 - tFirst) / 1000) : null,
};
if (o.json) {
  console.log(JSON.stringify(res));
} else {
  console.log(`loaded: ${o.file}`);
  console.log(`prompt_tokens: ${JSON.stringify(prompt)}`);
  console.log(`generated_tokens: ${JSON.stringify(generated)}`);
  console.log(`text: ${JSON.stringify(text)}`);
  if (res.prefill_tok_s !== null)
    console.log(`prefill: ${res.prefill_tok_s.toFixed(1)} tok/s, decode: ${res.decode_tok_s?.toFixed(1) ?? "-"} tok/s, threads ${res.threads}`);
}
await context.dispose();
await model.dispose();
await llama.dispose();
