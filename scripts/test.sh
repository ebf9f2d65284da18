#!/usr/bin/env bash
# Sets up, builds and runs every test that needs no GPU: unit tests (ctest), golden tests
# against the shared peer data (MLXR_TEST_DATA, default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
export MLXR_TEST_DATA="${MLXR_TEST_DATA:-$(cd .. && pwd)/shared/data}"
if [[ ! -d "$MLXR_TEST_DATA" ]]; then
  echo "!!! MLXR_TEST_DATA=$MLXR_TEST_DATA not found: reference-data tests will SKIP !!!" >&2
fi
./scripts/setup.sh
BUILD="${MLXR_BUILD_DIR:-build}"
# llama.cpp as the side-by-side peer (prebuilt CPU binaries from npm, no build step).
(cd tools/llamacpp && npm ci --omit=optional --no-audit --no-fund --loglevel=error)
# Hugging Face tokenizers + Jinja in JS: the oracles of the tokenizer and chat-template tests.
(cd tools/oracles && npm ci --no-audit --no-fund --loglevel=error)
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 900
# The daemon driven by the official openai and ollama npm clients, curl over the Unix socket,
# negative tests, 256 concurrent streams, kill -9 during a pull.
MLXR_BIN="$PWD/$BUILD/cli/mlxr" tests/integration/run.sh
