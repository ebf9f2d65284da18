#!/usr/bin/env bash
# Builds the CUDA backend, runs the GPU tests, then the GPU benchmark; writes logs and the
# results table to $OUT (or ./out-gpu). Run from the repository root on a machine with a GPU:
#   bash bench/gpu/run_all.sh [types] [--quick]
set -uo pipefail
OUT=${OUT:-$PWD/out-gpu}
mkdir -p "$OUT"
TYPES=${1:-bf16,q8_0,q4_k}
shift || true
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee "$OUT/gpu.txt"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DMLXR_DAEMON=OFF -DMLXR_CUDA=ON > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
ninja -C build-gpu mlxr_test_gpu mlxr_bench_gpu > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
# The CLI (mlxr run/bench --device cuda) too; its failure does not stop the GPU checks.
ninja -C build-gpu mlxr > "$OUT/build_cli.log" 2>&1 || { echo "mlxr CLI build failed:"; grep -E "error|FAILED" "$OUT/build_cli.log" | head -10; }
echo "build: $(( $(date +%s) - t0 )) s"
export MLXR_TEST_DATA=${MLXR_TEST_DATA:-$PWD/gpu-data}
t1=$(date +%s)
timeout 200 ./build-gpu/tests/mlxr_test_gpu --gtest_brief=1 > "$OUT/tests.log" 2>&1
echo "gpu tests: rc=$? in $(( $(date +%s) - t1 )) s"
grep -E "^\[  (PASSED|FAILED|SKIPPED)|Failure|error:|rel_err|Expected|Which is|actual|step|tol" "$OUT/tests.log" | head -60
t2=$(date +%s)
MLXR_CUDA_TUNE_LOG=1 timeout 280 ./build-gpu/tests/mlxr_bench_gpu "$TYPES" "$@" 2>&1 | tee "$OUT/bench.log"
echo "bench: $(( $(date +%s) - t2 )) s"
# 64 requests (prompt 512, 256 generated, greedy) through the serving engine on a BF16 GGUF
# written by `mlxr synth` (16 GB; about 30 s on 16 cores).
t3=$(date +%s)
MODEL=${MLXR_BENCH_MODEL:-/tmp/mlxr-llama3-8b-bf16.gguf}
[ -f "$MODEL" ] || ./build-gpu/cli/mlxr synth --preset llama3-8b --type bf16 -o "$MODEL" --quiet
timeout 300 ./build-gpu/cli/mlxr bench -m "$MODEL" --concurrency 64 -p 512 -n 256 --device cuda --batch-tokens 2048 \
  --no-baseline 2>&1 | tee "$OUT/engine.log"
echo "engine: $(( $(date +%s) - t3 )) s"
