#!/usr/bin/env node
// Replays ../shared/data/stories260K/reference_greedy_llamacpp.jsonl (made with a llama.cpp build
// of 2025-02-20) through this package's llama.cpp, feeding the recorded prompt ids, and reports
// for each row whether the greedy ids are the same. It shows how far this peer build can stand in
// for the reference one. Flash attention is off (the reference's default); FA=1 turns it on.
//
//   node tools/llamacpp/verify_reference.mjs [DATA_DIR]   (default ../shared/data/stories260K)
import fs from "fs";
import path from "path";
import {fileURLToPath} from "url";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = process.argv[2] ?? path.join(here, "../../../shared/data/stories260K");
const rows = fs.readFileSync(path.join(dataDir, "reference_greedy_llamacpp.jsonl"), "utf8")
  .split("\n").filter(l => l.trim()).map(l => JSON.parse(l));

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false});
let same = 0;
for (const row of rows) {
  const model = await llama.loadModel({modelPath: path.join(dataDir, row.model), gpuLayers: 0});
  const context = await model.createContext({contextSize: 256, batchSize: 256, threads: 1, flashAttention: process.env.FA === "1"});
  const seq = context.getSequence();
  const got = [];
  for await (const t of seq.evaluate(row.prompt_tokens, {temperature: 0})) {
    got.push(t);
    if (got.length >= row.generated_tokens.length) break;
  }
  let div = got.findIndex((t, i) => t !== row.generated_tokens[i]);
  const ok = div < 0;
  same += ok ? 1 : 0;
  console.log(`${ok ? "SAME" : "DIFF"} ${row.model} ${JSON.stringify(row.prompt)}${ok ? "" : ` first divergence at generated token ${div}`}`);
  await context.dispose();
  await model.dispose();
}
console.log(`${same}/${rows.length} rows give the reference greedy ids`);
await llama.dispose();
