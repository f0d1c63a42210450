#!/bin/sh
# run-fuzz.sh - builds the GGUF fuzz harness (clang-14, ASan+UBSan) and runs
# it for a number of seconds (default 600) in one process, niced, starting from
# fuzz/corpus-gguf plus the reference GGUF files cut to 64 KB (in a temp
# folder; nothing is added to the committed corpus). Findings (crash-*,
# leak-*, timeout-*) land in the build-fuzz folder.
# With a third argument `tokenize`, the tokenizer harness runs instead, on
# the DeepSeek-R1 vocabulary, from the reference strings; with `api`, the
# request body parser's harness (fuzz_api_request), from fuzz/corpus-api
# with the JSON dictionary fuzz/api.dict; with `metrics`, the Prometheus text
# reader of `r1 top` (fuzz_metrics_text), from fuzz/corpus-metrics (a live
# /metrics page); with `sealed`, the sealed-model-file reader
# (fuzz_sealed_header), from fuzz/corpus-sealed (small files sealed with the
# harness's fixed key); with `jwt`, JWT verification and JWKS parsing
# (fuzz_jwt), from fuzz/corpus-jwt with the dictionary fuzz/jwt.dict; and
# the speech inputs: `audio` (uploads through libsndfile, and Ogg Vorbis
# through libogg and libvorbis), `decoder_reply` (what the child process
# r1-audio-decoder writes back), `multipart`
# (form bodies), `vad_model` and `whisper_model` (model files),
# `whisper_rules` (decoding rules, segments, UTF-8 text), and `tts_text`
# (text to be spoken: sentences and readings), `speech_request` (the JSON
# body of /v1/audio/speech), each from
# fuzz/corpus-NAME (and fuzz/NAME.dict when present).
# $R1_FUZZ_BUILD picks another build folder.
#   usage: fuzz/run-fuzz.sh [seconds] [testdata-dir] [gguf|tokenize|api|metrics|sealed|jwt|audio|decoder_reply|multipart|vad_model|whisper_model|whisper_rules|tts_text|speech_request]
set -eu
seconds=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
testdata=${2:-$root/../shared/testdata}
harness=${3:-gguf}
build=${R1_FUZZ_BUILD:-$root/build-fuzz}
target=fuzz_$harness
[ "$harness" = api ] && target=fuzz_api_request
[ "$harness" = metrics ] && target=fuzz_metrics_text
[ "$harness" = sealed ] && target=fuzz_sealed_header

cmake -S "$root" -B "$build" -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug >/dev/null
nice cmake --build "$build" --target "$target" -j1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
# Most harnesses: their own seed corpus fuzz/corpus-NAME, their dictionary
# fuzz/NAME.dict when there is one, and a length cap that fits the format.
case $harness in
    gguf | tokenize) ;;
    *)
        case $harness in
            api) max_len=8192 ;; jwt) max_len=9000 ;; sealed) max_len=32768 ;;
            whisper_model | audio) max_len=65536 ;; *) max_len=16384 ;;
        esac
        name=$harness
        dict=""
        [ -f "$root/fuzz/$name.dict" ] && dict="-dict=$root/fuzz/$name.dict"
        cd "$build"
        # shellcheck disable=SC2086
        nice -n 19 "./$target" -max_total_time="$seconds" -max_len="$max_len" $dict -print_final_stats=1 \
            "$work/corpus" "$root/fuzz/corpus-$name"
        exit $?
        ;;
esac
if [ "$harness" = tokenize ]; then
    vocab="$testdata/tokenizer/vocab/ggml-vocab-deepseek-r1.gguf"
    [ -f "$vocab" ] && export R1_FUZZ_VOCAB="$vocab" # else the harness's generated stand-in vocabulary
    i=0
    if [ -f "$testdata/tokenizer/strings/deepseek-r1.jsonl" ]; then
        while IFS= read -r line; do
            i=$((i + 1))
            printf '\001%s' "$line" >"$work/corpus/s$i"
        done <"$testdata/tokenizer/strings/deepseek-r1.jsonl"
    fi
    cd "$build"
    nice -n 19 ./fuzz_tokenize -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$work/corpus"
    exit $?
fi
for f in "$testdata"/llm/*.gguf; do
    [ -f "$f" ] && head -c 65536 "$f" >"$work/corpus/$(basename "$f")"
done

cd "$build"
nice -n 19 ./fuzz_gguf -max_total_time="$seconds" -max_len=65536 \
    -print_final_stats=1 "$work/corpus" "$root/fuzz/corpus-gguf"
