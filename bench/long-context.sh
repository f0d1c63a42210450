#!/bin/bash
# long-context.sh - the "Long contexts" figures of docs/PERFORMANCE.md:
# prefill of a P-token prompt and decode of 64 tokens after it, for P =
# 512, 2048 and 4096 (or PROMPTS="..."), with 1 and 2 threads and a KV
# cache of f16 and of f32 (or KV_TYPES="..."), on the random-weight
# DeepSeek-R1-Distill-Qwen-1.5B-shaped Q4_K_M model (or SHAPE, TYPE). Run it
# on an otherwise idle machine; one repetition per line, so compare builds
# by alternating them, not across days.
#   usage: bench/long-context.sh [R1_BINARY] [MODEL_DIR]
set -eu
R1=${1:-build/r1}
DIR=${2:-/tmp/r1-bench-models}
SHAPE=${SHAPE:-r1-distill-qwen-1.5b}
TYPE=${TYPE:-q4_k_m}
PROMPTS=${PROMPTS:-512 2048 4096}
KV_TYPES=${KV_TYPES:-f16 f32}
mkdir -p "$DIR"
model="$DIR/$SHAPE-$TYPE.gguf"
[ -f "$model" ] || "$R1" model gen --shape "$SHAPE" --type "$TYPE" -o "$model"
echo "model $model ($R1)"
for p in $PROMPTS; do
    for threads in 1 2; do
        for kv in $KV_TYPES; do
            out=$("$R1" bench -m "$model" -p "$p" -n 64 -b 1 -r 1 -t "$threads" --kv-type "$kv")
            prefill=$(echo "$out" | awk '/^  prefill/ {print $3}')
            after=$(echo "$out" | awk '/after the/ {print $3}')
            empty=$(echo "$out" | awk '/^  decode/ && !/after the/ {print $3}')
            echo "prompt $p, $threads thread(s), KV $kv: prefill $prefill tokens/s; decode after the prompt $after tokens/s (from an empty context $empty)"
        done
    done
done
