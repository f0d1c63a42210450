#!/bin/bash
# test_chat.sh - `r1 chat` and `r1 run -p` scripted through stdin: the
# template chosen, reasoning shown apart, history reusing the cache,
# /clear, and the errors. Random weights: the words mean nothing, the
# mechanics are what is checked. Usage: test_chat.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"

"$R1" model gen --shape tiny --type q8_0 --seed 3 -o "$WORK/tiny.gguf" 2>/dev/null
printf 'Hello there\nWhat comes next?\n/clear\nAgain\n/exit\nnever read\n' |
    R1_LOG_LEVEL=debug "$R1" chat -m "$WORK/tiny.gguf" -n 8 --seed 1 --system "Be brief." >"$WORK/out" 2>"$WORK/err"
check "chat exits 0 at /exit" test $? -eq 0
check "the DeepSeek vocabulary picks the deepseek-r1 template" grep -q "chat template deepseek-r1" "$WORK/err"
check "reasoning is marked apart when stdout is not a terminal" grep -q "^\[reasoning\] " "$WORK/out"
check "three turns answered (the line after /exit is not)" test "$(grep -c "debug turn:" "$WORK/err")" -eq 3
check "the second turn reuses the first turn's cache" grep -q "turn: prompt [0-9]* tokens ([1-9][0-9]* reused" "$WORK/err"
check "/clear is acknowledged" grep -q "(conversation cleared)" "$WORK/out"
prompt1=$(grep "debug turn:" "$WORK/err" | sed -n 1p | sed -E 's/.*prompt ([0-9]+) tokens.*/\1/')
prompt3=$(grep "debug turn:" "$WORK/err" | sed -n 3p | sed -E 's/.*prompt ([0-9]+) tokens.*/\1/')
check "after /clear the prompt is back to one message" test "$prompt3" -lt "$prompt1"

"$R1" chat -m "$WORK/tiny.gguf" --chat-template vicuna </dev/null 2>"$WORK/err"
check "unknown template exits 1" test $? -eq 1
check "unknown template is named" grep -q "unknown chat template 'vicuna'" "$WORK/err"
printf 'Hi\n' | "$R1" chat -m "$WORK/tiny.gguf" --chat-template chatml -n 4 >/dev/null 2>"$WORK/err"
check "--chat-template overrides" grep -q "chat template chatml (chosen with --chat-template)" "$WORK/err"

"$R1" run -m "$WORK/tiny.gguf" -p "Hello" -n 6 --temp 0 --ignore-eos >"$WORK/text" 2>"$WORK/err"
check "run -p exits 0" test $? -eq 0
check "run -p output is valid UTF-8" iconv -f UTF-8 -t UTF-8 "$WORK/text" -o /dev/null
check "run -p reports 6 generated tokens" grep -q "generated 6 tokens" "$WORK/err"
if [ -d "$TESTDATA/llm" ]; then
    "$R1" run -m "$TESTDATA/llm/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 --stop park \
        >"$WORK/story" 2>"$WORK/err"
    check "a stop string ends the text before it" test "$(cat "$WORK/story")" = ", there was a little girl named Lily. She loved to play outside in the "
    check "the summary says a stop string ended it" grep -q "stopped at a stop string" "$WORK/err"
fi
"$R1" run -m "$WORK/tiny.gguf" -p "Hello" --tokens 1,2 2>"$WORK/err"
check "run refuses both -p and --tokens" test $? -eq 2

if [ -d "$TESTDATA/llm" ]; then
    printf 'Hi\n' | "$R1" chat -m "$TESTDATA/llm/shared-llama-q8_0.gguf" -n 4 >/dev/null 2>"$WORK/err"
    check "the Llama-3 vocabulary picks the llama3 template" grep -q "chat template llama3" "$WORK/err"
fi
finish
