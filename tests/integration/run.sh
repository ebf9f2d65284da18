#!/bin/sh
# Integration tests: the daemon driven by the official openai and ollama npm clients and curl.
# Usage: tests/integration/run.sh [test files...]   (MLXR_BIN: the mlxr binary, default build/cli/mlxr;
# MLXR_TEST_DATA: the shared data dir; MLXR_LOAD_CLIENTS: load-test concurrency, default 256)
set -e
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ ! -d node_modules/openai ] || [ ! -d node_modules/ollama ]; then
  npm ci --no-audit --no-fund --silent
fi
export MLXR_BIN="${MLXR_BIN:-$here/../../build/cli/mlxr}"
if [ ! -x "$MLXR_BIN" ]; then echo "run.sh: $MLXR_BIN not found (build it, or set MLXR_BIN)" >&2; exit 2; fi
command -v curl >/dev/null || { echo "run.sh: curl is needed" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "run.sh: the sqlite3 CLI is needed (apt-get install sqlite3)" >&2; exit 2; }
if [ $# -eq 0 ]; then set -- api.test.mjs crash.test.mjs load.test.mjs; fi
exec node --test --test-concurrency=1 --test-reporter=spec "$@"
