#!/bin/bash
# test_valgrind.sh - the command-line paths run under valgrind's memcheck:
# no invalid access, and no leak, on success and on the error paths
# (run, eval, model, tokenize, chat, speak).
# Usage: test_valgrind.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/common.sh"
if ! command -v valgrind >/dev/null; then
    echo "FAIL: valgrind is not installed (scripts/install-deps.sh installs it)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
VG="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"

memcheck() { # memcheck NAME EXPECTED_STATUS ARGS...
    local name="$1" expected="$2"
    shift 2
    $VG "$R1" "$@" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    if [ "$status" -eq "$expected" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name (status $status, expected $expected)" >&2
        grep -E "==[0-9]+==" "$WORK/err" | head -30 >&2
    fi
}

"$R1" model gen --shape tiny --type q4_k_m -o "$WORK/tiny.gguf" 2>/dev/null
head -c 3000 "$WORK/tiny.gguf" >"$WORK/truncated.gguf"
memcheck "model gen" 0 model gen --shape tiny --type q8_0 -t 2 -o "$WORK/gen.gguf"
memcheck "model info" 0 model info -m "$WORK/tiny.gguf"
memcheck "run (sampled, 2 threads)" 0 run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 6 --temp 0.7 --seed 1 -t 2
memcheck "eval with logits and greedy" 0 eval -m "$WORK/tiny.gguf" --tokens 1,2,3 --greedy 4 --logits "$WORK/l.f32" -t 2
memcheck "truncated model" 1 run -m "$WORK/truncated.gguf" --tokens 1
memcheck "missing model" 1 eval -m "$WORK/none.gguf" --tokens 1
memcheck "token outside vocabulary" 1 eval -m "$WORK/tiny.gguf" --tokens 1,100000
memcheck "bad option value" 2 run -m "$WORK/tiny.gguf" --tokens 1 -n x
memcheck "run with a text prompt" 0 run -m "$WORK/tiny.gguf" -p "Hello, world" -n 4 --temp 0
memcheck "tokenize" 0 tokenize -m "$WORK/tiny.gguf" --pieces "Hello, world"
memcheck "detokenize" 0 detokenize -m "$WORK/tiny.gguf" 104,101,256
printf 'Hi\nAgain\n/clear\nOnce more\n' >"$WORK/chat.in"
memcheck_stdin() { # like memcheck, with stdin from a file
    local name="$1" expected="$2" input="$3"
    shift 3
    $VG "$R1" "$@" <"$input" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    if [ "$status" -eq "$expected" ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $name (status $status)" >&2; grep -E "==[0-9]+==" "$WORK/err" | head -30 >&2; fi
}
memcheck_stdin "chat with history and /clear" 0 "$WORK/chat.in" chat -m "$WORK/tiny.gguf" -n 4 --system "Be brief."
# speech synthesis (the r1-tts-worker child is not traced: only r1's side)
memcheck "speak to a flac file" 0 speak "Hello there. 你好，世界。" -o "$WORK/s.flac"
if [ ! -e /proc/asound/cards ] || grep -q 'no soundcards' /proc/asound/cards; then
    memcheck "speak with no sound card" 1 speak "Hello"
fi
R1_TTS_WORKER="$WORK/none" memcheck "speak with a missing worker" 1 speak "Hello" -o "$WORK/s.wav"
finish
