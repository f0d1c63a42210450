#!/bin/bash
# test_tokenize.sh - `r1 tokenize` and `r1 detokenize` as a user runs them:
# ids of a few reference strings, special tokens, BOS, pieces, JSON lines
# (all 275 reference strings of strings/deepseek-r1.jsonl through --jsonl),
# the round trip back to text, and the errors for bad files and bad ids.
# Usage: test_tokenize.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"


# ---- errors that need no reference data ----
"$R1" tokenize -m "$WORK/missing.gguf" "hello" 2>"$WORK/err"
check "missing file exits 1" test $? -eq 1
check "missing file is named" grep -q "missing.gguf" "$WORK/err"
printf 'this is not a model file at all, just some text' >"$WORK/text.gguf"
"$R1" detokenize -m "$WORK/text.gguf" 1,2 2>"$WORK/err"
check "not a GGUF file exits 1" test $? -eq 1
check "not a GGUF file: one line naming the file" \
    bash -c "test \$(wc -l <'$WORK/err') -eq 1 && grep -q text.gguf '$WORK/err'"
"$R1" tokenize 2>"$WORK/err"
check "tokenize without arguments exits 2" test $? -eq 2
check "tokenize without arguments prints usage" grep -q "usage: r1 tokenize" "$WORK/err"

VOCAB="$TESTDATA/tokenizer/vocab"
if [ -d "$VOCAB" ]; then
    R1V="$VOCAB/ggml-vocab-deepseek-r1.gguf"
    check "ids" test "$("$R1" tokenize -m "$R1V" "Hello world")" = "[19923, 2058]"
    check "--bos puts BOS first" test "$("$R1" tokenize -m "$R1V" --bos "Hello world")" = "[0, 19923, 2058]"
    check "control token as text without --special" \
        test "$("$R1" tokenize -m "$R1V" "<｜User｜>")" != "[128803]"
    check "control token with --special" test "$("$R1" tokenize -m "$R1V" --special "<｜User｜>")" = "[128803]"
    check "<think> is one token even without --special" \
        test "$("$R1" tokenize -m "$R1V" "<think>")" = "[128798]"
    check "--pieces" test "$("$R1" tokenize -m "$R1V" --pieces "Hello 世界")" = '[[19923, "Hello"], [223, " "], [3427, "世界"]]'
    check "a TEXT starting with '-' after --" \
        test "$("$R1" tokenize -m "$R1V" -- "-x")" = "$(echo '"-x"' | "$R1" tokenize -m "$R1V" --jsonl)"

    "$R1" detokenize -m "$R1V" 0,19923,223,3427 >"$WORK/text"
    printf '<｜begin▁of▁sentence｜>Hello 世界' >"$WORK/expected"
    check "detokenize prints exactly the text" cmp -s "$WORK/text" "$WORK/expected"
    "$R1" detokenize -m "$R1V" 1,999999 2>"$WORK/err"
    check "id outside the vocabulary exits 1" test $? -eq 1
    check "id outside the vocabulary is explained" grep -q "token id 999999 is outside the vocabulary" "$WORK/err"
    "$R1" detokenize -m "$R1V" 1,x 2>"$WORK/err"
    check "bad id list exits 2" test $? -eq 2

    # every reference string through --jsonl, against HF's ids
    JSONL="$TESTDATA/tokenizer/strings/deepseek-r1.jsonl"
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l); print(json.dumps(d["text"]))' "$JSONL" >"$WORK/texts.jsonl"
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    print(json.dumps(json.loads(l)["ids_with_bos"]))' "$JSONL" >"$WORK/expected.jsonl"
    "$R1" tokenize -m "$R1V" --special --bos --jsonl <"$WORK/texts.jsonl" >"$WORK/got.jsonl"
    check "--jsonl: all reference strings give HF's ids" cmp -s "$WORK/got.jsonl" "$WORK/expected.jsonl"
    check "--jsonl: one line per string" test "$(wc -l <"$WORK/got.jsonl")" -eq "$(wc -l <"$JSONL")"
    echo '42' | "$R1" tokenize -m "$R1V" --jsonl >/dev/null 2>"$WORK/err"
    check "--jsonl: a line that is not a JSON string exits 1" test $? -eq 1
    check "--jsonl: the line is named" grep -q "stdin line 1" "$WORK/err"

    # round trip through both commands, Qwen (NFC) and Llama-3 vocabularies
    for v in deepseek-r1-qwen llama-bpe; do
        text='Hello, 世界! <think>x</think> 123456 naïve'
        ids=$("$R1" tokenize -m "$VOCAB/ggml-vocab-$v.gguf" "$text" | tr -d '[] ')
        check "$v: round trip" test "$("$R1" detokenize -m "$VOCAB/ggml-vocab-$v.gguf" "$ids")" = "$text"
    done
    check "llama-bpe: --bos" test "$("$R1" tokenize -m "$VOCAB/ggml-vocab-llama-bpe.gguf" --bos "Hi")" = "[128000, 13347]"
elif [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
    echo "FAIL: $VOCAB is missing and R1_REQUIRE_TESTDATA=1" >&2
    failed=$((failed + 1))
else
    echo "*** SKIPPED: $VOCAB is missing: tokenizer checks through the CLI did not run ***" >&2
fi

if [ -f "$TESTDATA/llm/stories260K-f32.gguf" ]; then
    check "stories260K: SentencePiece with BOS" \
        test "$("$R1" tokenize -m "$TESTDATA/llm/stories260K-f32.gguf" --bos "Once upon a time")" = "[1, 403, 407, 261, 378]"
    check "stories260K: detokenize" \
        test "$("$R1" detokenize -m "$TESTDATA/llm/stories260K-f32.gguf" 403,407,261,378)" = "Once upon a time"
elif [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
    echo "FAIL: $TESTDATA/llm is missing and R1_REQUIRE_TESTDATA=1" >&2
    failed=$((failed + 1))
fi

finish
