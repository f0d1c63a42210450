#!/bin/bash
# audio_decoder.sh - what decoding an upload in its own process costs: N runs
# of r1-audio-decoder on a clip (start, confine, decode, write the samples)
# against N starts of /bin/true (the bare cost of a process) on this machine.
#   usage: bench/audio_decoder.sh [BUILD_DIR] [CLIP] [N]
set -eu
build=${1:-build}
clip=${2:-../shared/testdata/asr/audio/en_fox.wav}
n=${3:-200}
decoder="$build/r1-audio-decoder"
per_run_ms() { # per_run_ms COMMAND...: mean wall time of n runs, in ms
    local start end
    start=$(date +%s%N)
    for ((i = 0; i < n; i++)); do "$@" <"$clip" >/dev/null; done
    end=$(date +%s%N)
    awk -v ns=$((end - start)) -v n="$n" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}
echo "clip: $clip ($(stat -c %s "$clip") bytes), $n runs each"
echo "r1-audio-decoder: $(per_run_ms "$decoder" 16000 14400 300000000 30) ms per upload"
echo "/bin/true:        $(per_run_ms /bin/true) ms per process"
