// The JS oracle's encode rate on the same files (see tokenizer_bench.sh).
//   node bench/tokenizer_bench.mjs TOKENIZER_DIR TEXTFILE... (needs tools/oracles/node_modules)
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
const { Tokenizer } = await import(
  pathToFileURL(path.resolve("tools/oracles/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs")).href);
const [dir, ...files] = process.argv.slice(2);
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
                          JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")));
const texts = files.map((f) => fs.readFileSync(f, "utf8"));
const bytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
let best = Infinity, tokens = 0;
for (let p = 0; p < 5; ++p) {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (const t of texts) n += tok.encode(t, { add_special_tokens: false }).ids.length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, s);
  tokens = n;
}
console.log(JSON.stringify({ impl: "@huggingface/tokenizers (JS)", bytes, tokens, best_s: best, mb_per_s: +(bytes / best / 1e6).toFixed(2) }));
