#!/bin/bash
# serve-load.sh - r1 serve under load: generates the random-weight
# DeepSeek-R1-Distill-Qwen-1.5B-shaped model (Q4_K_M) when absent, starts
# `r1 serve --parallel 32` on a free loopback port, runs bench/serve-load.mjs
# (1, 8 and 32 concurrent streaming clients by default: output tokens/s,
# time to first token and inter-token latency p50/p99), and stops the server.
# Run it on an otherwise idle machine.
#   usage: bench/serve-load.sh [R1_BINARY] [MODEL.gguf] [serve-load.mjs options...]
#   e.g.   bench/serve-load.sh build/r1 models/r1-distill-qwen-1.5b-q4_k_m.gguf --duration 30 --json
#   R1_THREADS (default: one per core) sets r1 serve's compute threads;
#   R1_SERVE_FLAGS="--exact" adds flags to r1 serve.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R1=${1:-$ROOT/build/r1}
MODEL_FILE=${2:-$ROOT/models/r1-distill-qwen-1.5b-q4_k_m.gguf}
shift $(($# > 2 ? 2 : $#))
export R1_START_TIMEOUT=${R1_START_TIMEOUT:-300}
source "$ROOT/tests/server/lib/server.sh"

if [ ! -f "$MODEL_FILE" ]; then
    mkdir -p "$(dirname "$MODEL_FILE")"
    echo "serve-load: writing $MODEL_FILE (random weights)" >&2
    "$R1" model gen --shape r1-distill-qwen-1.5b --type q4_k_m --seed 1 -o "$MODEL_FILE" || exit 1
fi
# shellcheck disable=SC2086
start_server "$MODEL_FILE" --parallel 32 -t "${R1_THREADS:-$(nproc)}" ${R1_SERVE_FLAGS:-} || exit 1
grep -m1 -E 'config|listening' "$SERVER_LOG" >&2
node "$ROOT/bench/serve-load.mjs" --url "$R1_URL" "$@"
status=$?
stop_server 120 || echo "serve-load: r1 serve exited with status $?" >&2
exit $status
