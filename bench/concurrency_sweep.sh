#!/usr/bin/env bash
# Concurrency sweep of the serving engine: one `mlxr bench --concurrency N --json` per model and
# N, printed as the markdown rows of bench/RESULTS.md ("Concurrency (issue 4)").
# usage: bench/concurrency_sweep.sh MLXR_BIN "N1 N2 ..." P G R MODEL...   (R: repetitions, medians)
set -euo pipefail
bin=$1; ns=$2; p=$3; g=$4; r=$5; shift 5
echo "| model | N | single decode tok/s (runs) | total decode tok/s (runs) | speedup | per-seq tok/s | total tok/s (incl. prefill) | TTFT p50/p99 ms | ITL p50/p99 ms | KV peak | prefix hits |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for m in "$@"; do
  for n in $ns; do
    "$bin" bench -m "$m" --concurrency "$n" -p "$p" -n "$g" -r "$r" --json | python3 -c '
import json, os, sys
j = json.load(sys.stdin); c = j["concurrent"]; s = j["single"]
runs = lambda k: "/".join("%.1f" % v for v in j[k])
print("| %s | %d | %.1f (%s) | %.1f (%s) | %.2fx | %.1f | %.1f | %.0f / %.0f | %.0f / %.0f | %.0f%% | %.0f%% |" % (
    os.path.basename(j["model"]), j["concurrency"], s["decode_tokens_per_s"], runs("single_decode_tokens_per_s_runs"),
    c["decode_tokens_per_s"], runs("concurrent_decode_tokens_per_s_runs"),
    j["decode_speedup_vs_single"], c["per_seq_decode_tokens_per_s_mean"], c["total_tokens_per_s"],
    c["ttft_ms_p50"], c["ttft_ms_p99"], c["itl_ms_p50"], c["itl_ms_p99"],
    100 * c["kv_utilisation_peak"], 100 * c["prefix_hit_rate"]))'
  done
done
