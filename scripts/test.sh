#!/usr/bin/env bash
# Sets up, builds and runs every test that needs no GPU: unit and golden tests (ctest, against
# the shared peer data in MLXR_TEST_DATA, default ../shared/data), llama.cpp side by side, the
# daemon with the official openai/ollama clients, and the web UI (Vitest + Playwright in
# Debian's Chromium against a real daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
export MLXR_TEST_DATA="${MLXR_TEST_DATA:-$(cd .. && pwd)/shared/data}"
if [[ ! -d "$MLXR_TEST_DATA" ]]; then
  echo "!!! MLXR_TEST_DATA=$MLXR_TEST_DATA not found: reference-data tests will SKIP !!!" >&2
fi
MLXR_EXTRA_PACKAGES="chromium ${MLXR_EXTRA_PACKAGES:-}" ./scripts/setup.sh
BUILD="${MLXR_BUILD_DIR:-build}"
npm_ci() { (cd "$1" && npm ci --no-audit --no-fund --loglevel=error "${@:2}"); }
# llama.cpp as the side-by-side peer (prebuilt CPU binaries from npm, no build step).
npm_ci tools/llamacpp --omit=optional
# Hugging Face tokenizers + Jinja in JS: the oracles of the tokenizer and chat-template tests.
npm_ci tools/oracles

ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 900

# The daemon driven by the official openai and ollama npm clients, curl over the Unix socket,
# negative tests, 256 concurrent streams, kill -9 during a pull.
MLXR_BIN="$PWD/$BUILD/cli/mlxr" tests/integration/run.sh

# Web UI: unit tests, production build, then the browser end to end against a real daemon.
npm_ci app/ui
(cd app/ui && npm test --silent && npm run build --silent)
npm_ci tests/e2e
(cd tests/e2e && MLXR_BIN="$PWD/../../$BUILD/cli/mlxr" MLXR_E2E_REQUIRE=1 npm test --silent)
