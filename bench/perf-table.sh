#!/bin/bash
# perf-table.sh - the figures of docs/PERFORMANCE.md: generates the
# random-weight DeepSeek-R1-Distill-Qwen-1.5B-shaped models (or SHAPE) (Q4_K_M and
# Q8_0, as in ../shared/docs/PERF-ANCHOR.md) and runs `r1 bench` on each
# with 1 and 2 threads. Run it on an otherwise idle machine: on 2 cores any
# other job ruins the 2-thread figures.
#   usage: bench/perf-table.sh [R1_BINARY] [MODEL_DIR] [extra r1 bench options...]
#   SHAPE=r1-distill-qwen-7b bench/perf-table.sh ...   another shape (r1 model gen --list)
set -eu
R1=${1:-build/r1}
DIR=${2:-/tmp/r1-bench-models}
SHAPE=${SHAPE:-r1-distill-qwen-1.5b}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$DIR"
lscpu | grep -E "Model name|^CPU\(s\)|L2|L3" || true
for type in q4_k_m q8_0; do
    model="$DIR/$SHAPE-$type.gguf"
    [ -f "$model" ] || "$R1" model gen --shape "$SHAPE" --type $type -o "$model"
    for threads in 1 2; do
        "$R1" bench -m "$model" -p 512 -n 128 -b 1,4,16,32 -r 3 -t $threads "$@"
    done
done
