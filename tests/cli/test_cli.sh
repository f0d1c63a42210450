#!/bin/bash
# test_cli.sh - the r1 program as a user runs it: generating a model,
# inspecting it, running and evaluating it, and the errors a user sees for
# bad input. Usage: test_cli.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"


# ---- usage ----
"$R1" >/dev/null 2>"$WORK/err"
check "no arguments exits 2" test $? -eq 2
check "no arguments prints usage" grep -q "usage: r1" "$WORK/err"
"$R1" frobnicate 2>"$WORK/err"
check "unknown command exits 2" test $? -eq 2
check "unknown command is named" grep -q "unknown command 'frobnicate'" "$WORK/err"

# ---- model gen / info ----
"$R1" model gen --shape tiny --type q8_0 --seed 7 -o "$WORK/tiny.gguf" 2>"$WORK/err"
check "model gen succeeds" test $? -eq 0
"$R1" model gen --shape tiny --type q8_0 --seed 7 -o "$WORK/tiny2.gguf" 2>/dev/null
check "model gen is deterministic" cmp -s "$WORK/tiny.gguf" "$WORK/tiny2.gguf"
"$R1" model gen --shape tiny --type q8_0 --seed 8 -o "$WORK/tiny3.gguf" 2>/dev/null
check "another seed gives other weights" bash -c "! cmp -s '$WORK/tiny.gguf' '$WORK/tiny3.gguf'"
"$R1" model gen --shape nonesuch --type q8_0 -o "$WORK/x.gguf" 2>"$WORK/err"
check "unknown shape exits 2" test $? -eq 2
"$R1" model gen --shape tiny --type q3_z -o "$WORK/x.gguf" 2>"$WORK/err"
check "unknown type is an error" grep -q "unknown type 'q3_z'" "$WORK/err"
"$R1" model info -m "$WORK/tiny.gguf" >"$WORK/info"
check "model info prints the architecture" grep -q '"arch": "qwen2"' "$WORK/info"
check "model info prints the vocabulary" grep -q '"n_vocab": 512' "$WORK/info"
for type in f32 f16 q4_0 q4_k_m q6_k; do
    "$R1" model gen --shape tiny-llama --type $type -o "$WORK/t-$type.gguf" 2>/dev/null &&
        "$R1" run -m "$WORK/t-$type.gguf" --tokens 1,2,3 -n 4 --temp 0 >"$WORK/out" 2>/dev/null
    check "tiny-llama $type generates and runs" test "$(wc -w <"$WORK/out")" -eq 4
done

# ---- run ----
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 12 --temp 0 --ignore-eos >"$WORK/a" 2>"$WORK/err"
check "run succeeds" test $? -eq 0
check "run prints 12 ids" test "$(wc -w <"$WORK/a")" -eq 12
check "run prints a summary with tokens/s" grep -q "tokens/s" "$WORK/err"
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 12 --temp 0 --ignore-eos -t 1 >"$WORK/b" 2>/dev/null
check "greedy run does not depend on threads" cmp -s "$WORK/a" "$WORK/b"
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 24 --temp 1.0 --top-k 0 --top-p 1 --min-p 0 --seed 42 --ignore-eos >"$WORK/s1" 2>/dev/null
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 24 --temp 1.0 --top-k 0 --top-p 1 --min-p 0 --seed 42 --ignore-eos >"$WORK/s2" 2>/dev/null
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,2,3 -n 24 --temp 1.0 --top-k 0 --top-p 1 --min-p 0 --seed 43 --ignore-eos >"$WORK/s3" 2>/dev/null
check "a seeded run is reproducible" cmp -s "$WORK/s1" "$WORK/s2"
check "another seed samples other tokens" bash -c "! cmp -s '$WORK/s1' '$WORK/s3'"
check "sampling differs from greedy" bash -c "! cmp -s '$WORK/s1' '$WORK/a'"

"$R1" eval -m "$WORK/tiny.gguf" --tokens 1,2,3,4 --logits "$WORK/l-mmap.f32" --mmap >/dev/null 2>&1
R1_INTERLEAVE=0 "$R1" eval -m "$WORK/tiny.gguf" --tokens 1,2,3,4 --logits "$WORK/l-copy.f32" --no-mmap >/dev/null 2>&1
check "mapped and copied weights give the same logits" cmp -s "$WORK/l-mmap.f32" "$WORK/l-copy.f32"
# copied weights are interleaved for the AVX-512 products by default: the
# same sums in another order, so equal up to float rounding
"$R1" eval -m "$WORK/tiny.gguf" --tokens 1,2,3,4 --logits "$WORK/l-x16.f32" --no-mmap >/dev/null 2>&1
check "interleaved weights give the same logits up to rounding" python3 -c '
import struct, sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
assert len(a) == len(b) == 4 * 512 * 4
x = struct.unpack("%df" % (len(a) // 4), a); y = struct.unpack("%df" % (len(b) // 4), b)
scale = max(abs(v) for v in x)
worst = max(abs(p - q) for p, q in zip(x, y))
sys.exit(0 if worst <= 1e-4 * scale else 1)' "$WORK/l-mmap.f32" "$WORK/l-x16.f32"
check "eval wrote [4][512] logits" test "$(stat -c %s "$WORK/l-mmap.f32")" -eq $((4 * 512 * 4))

# ---- bad input ----
"$R1" run -m "$WORK/tiny.gguf" --tokens 1,x,3 2>"$WORK/err"
check "bad token list exits 2" test $? -eq 2
check "bad token list is explained" grep -q "bad entry at 'x,3'" "$WORK/err"
"$R1" eval -m "$WORK/tiny.gguf" --tokens 1,99999 2>"$WORK/err"
check "token outside the vocabulary exits 1" test $? -eq 1
check "token outside the vocabulary is explained" grep -q "token id 99999 is outside the vocabulary" "$WORK/err"
"$R1" run -m "$WORK/missing.gguf" --tokens 1 2>"$WORK/err"
check "missing file exits 1" test $? -eq 1
check "missing file is named" grep -q "missing.gguf" "$WORK/err"
head -c 5000 "$WORK/tiny.gguf" >"$WORK/truncated.gguf"
"$R1" run -m "$WORK/truncated.gguf" --tokens 1 2>"$WORK/err"
check "truncated file exits 1" test $? -eq 1
check "truncated file: one line of error" test "$(wc -l <"$WORK/err")" -eq 1
check "truncated file: the line names the file" grep -q "truncated.gguf" "$WORK/err"
printf 'this is not a model file at all, just some text' >"$WORK/text.gguf"
"$R1" model info -m "$WORK/text.gguf" 2>"$WORK/err"
check "not a GGUF file exits 1" test $? -eq 1
check "not a GGUF file: the magic is named" grep -qi "magic" "$WORK/err"

# ---- reference model through the command line ----
if [ -d "$TESTDATA/llm" ]; then
    "$R1" eval -m "$TESTDATA/llm/stories260K-f32.gguf" --tokens 1,403,407,261,378 --greedy 64 \
        --logits "$WORK/logits.f32" >"$WORK/greedy" 2>/dev/null
    expected='{"greedy_tokens": [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310, 439, 419, 357, 336]}'
    check "stories260K greedy text tokens match llama.cpp" test "$(cat "$WORK/greedy")" = "$expected"
    "$R1" run -m "$TESTDATA/llm/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 >"$WORK/story" 2>"$WORK/err"
    printf ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily'"'"'s mom said\n' >"$WORK/story.expected"
    check "stories260K tells llama.cpp's story from a text prompt" cmp -s "$WORK/story" "$WORK/story.expected"
    check "a text run prints a summary" grep -q "generated 64 tokens" "$WORK/err"
    check "eval writes [5][512] float32 logits" test "$(stat -c %s "$WORK/logits.f32")" -eq $((5 * 512 * 4))
elif [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
    echo "FAIL: $TESTDATA/llm is missing and R1_REQUIRE_TESTDATA=1" >&2
    failed=$((failed + 1))
else
    echo "*** SKIPPED: $TESTDATA/llm is missing: reference checks through the CLI did not run ***" >&2
fi

finish
