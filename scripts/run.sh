#!/usr/bin/env bash
# Sets up and builds MLXR (Debian packages, C++ build, web UI), makes the demo model when no
# model exists yet, and starts the server: Unix socket (0600) plus TCP on 127.0.0.1:11434
# (bearer token from ~/.config/mlxr/token; MLXR_PORT changes the port). Extra arguments go to
# `mlxr serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD="${MLXR_BUILD_DIR:-build}"
MLXR="$BUILD/cli/mlxr"

(cd app/ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)

MODELS="${MLXR_MODELS:-$HOME/.local/share/mlxr/models}"
mkdir -p "$MODELS"
DEMO="$MODELS/demo-random-weights.gguf"
if [[ ! -f "$DEMO" ]]; then
  echo "run: writing the demo model (random weights: it produces gibberish) to $DEMO"
  "$MLXR" synth --preset small --type q8_0 -o "$DEMO" --quiet
fi

PORT="${MLXR_PORT:-11434}"
cat <<MSG
run: starting mlxr serve. Web UI: http://127.0.0.1:$PORT/  (log in with the token in ~/.config/mlxr/token)
     curl: curl -H "Authorization: Bearer \$(cat ~/.config/mlxr/token)" http://127.0.0.1:$PORT/api/tags
MSG
exec "$MLXR" serve --host 127.0.0.1 --port "$PORT" --ui app/ui/dist "$@"
