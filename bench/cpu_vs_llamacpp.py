#!/usr/bin/env python3
"""Side-by-side CPU benchmark: MLXR vs llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU build)
on the same GGUF files, same thread count, run alternately in one script.

  python3 bench/cpu_vs_llamacpp.py [--preset llama-1b] [--types f16,q8_0,q4_0,q4_k]
                                   [--threads 2] [--prompt 128] [--gen 32] [--rounds 2]

Writes a markdown table to stdout (and --out FILE). Needs `tools/llamacpp` installed
(`cd tools/llamacpp && npm ci`) and a built `mlxr` (build/cli/mlxr or --mlxr).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlxr", default=os.path.join(ROOT, "build", "cli", "mlxr"))
    ap.add_argument("--preset", default="llama-1b")
    ap.add_argument("--types", default="f16,q8_0,q4_0,q4_k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/mlxr-bench")
    ap.add_argument("--out")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    base = os.path.join(a.dir, f"{a.preset}-f16.gguf")
    if not os.path.exists(base):
        subprocess.run([a.mlxr, "synth", "--preset", a.preset, "--type", "f16", "-o", base, "--quiet"], check=True)
    check_load = os.path.join(ROOT, "tools", "llamacpp", "check_load.mjs")
    rng = random.Random(42)
    ids = ",".join(str(rng.randrange(300, 1000)) for _ in range(a.prompt))

    rows = []
    for t in a.types.split(","):
        path = base if t == "f16" else os.path.join(a.dir, f"{a.preset}-{t}.gguf")
        if not os.path.exists(path):
            subprocess.run([a.mlxr, "quantize", base, path, t.upper()], check=True, capture_output=True)
        ours, theirs = [], []
        for _ in range(a.rounds):
            ours.append(run_json([a.mlxr, "bench", "-m", path, "--json", "-t", str(a.threads), "-p", str(a.prompt),
                                  "-n", str(a.gen), "-r", "1", "--device", "cpu"]))
            theirs.append(run_json(["node", check_load, path, "--ids", ids, "--no-bos", "-n", str(a.gen),
                                    "-t", str(a.threads), "--json"]))
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        r = {
            "type": t.upper(), "size_mib": os.path.getsize(path) / 2**20,
            "mlxr_pp": med(ours, "prefill_tokens_per_s"), "llama_pp": med(theirs, "prefill_tok_s"),
            "mlxr_tg": med(ours, "decode_tokens_per_s"), "llama_tg": med(theirs, "decode_tok_s"),
            "rss_mib": med(ours, "rss_mib"), "weights_mib": med(ours, "weights_mib"), "kv_mib": med(ours, "kv_mib"),
        }
        rows.append(r)
        print(json.dumps(r), file=sys.stderr)

    lines = [f"Model: `mlxr synth --preset {a.preset}`, {a.threads} threads, prompt {a.prompt} tokens, "
             f"{a.gen} generated, median of {a.rounds} alternating rounds.", "",
             "| type | file MiB | prefill MLXR | prefill llama.cpp | ratio | decode MLXR | decode llama.cpp | ratio | MLXR RSS MiB (weights + KV) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['type']} | {r['size_mib']:.0f} | {r['mlxr_pp']:.1f} | {r['llama_pp']:.1f} | "
                     f"{r['mlxr_pp'] / r['llama_pp']:.2f}× | {r['mlxr_tg']:.2f} | {r['llama_tg']:.2f} | "
                     f"{r['mlxr_tg'] / r['llama_tg']:.2f}× | {r['rss_mib']:.0f} ({r['weights_mib']:.0f} + {r['kv_mib']:.0f}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
