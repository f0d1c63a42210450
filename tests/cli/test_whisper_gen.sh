#!/bin/bash
# test_whisper_gen.sh - `r1 model gen --arch whisper` as a user runs it: tiny
# f32 and f16 files read back by an independent reader of whisper.cpp's ggml
# format (lib/whisper_bin.py: hparams, filters, vocabulary, every tensor's
# name, order, shape, type and size, nothing left over, weight statistics),
# the f16 file holding the f32 values rounded, the same seed giving the same
# bytes, the computed mel filterbank against whisper.cpp's, and the errors.
# Usage: test_whisper_gen.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"
READER="$(dirname "$0")/lib/whisper_bin.py"

# ---- without reference data ----
"$R1" model gen --arch whisper --shape tiny --seed 7 -o "$WORK/made-up.bin" 2>"$WORK/err"
check "made-up filters and vocabulary: exits 0" test $? -eq 0
check "the default type is f16" python3 "$READER" check "$WORK/made-up.bin" --shape tiny --ftype 1 --made-up-vocab
check "the message names the file and the tensor count" grep -q "wrote $WORK/made-up.bin (whisper tiny, f16, seed 7, 167 tensors)" "$WORK/err"
"$R1" model gen --arch whisper --shape tiny --seed 7 -o "$WORK/again.bin" 2>/dev/null
check "the same seed gives the same bytes" cmp -s "$WORK/made-up.bin" "$WORK/again.bin"
"$R1" model gen --arch whisper --shape tiny --seed 8 -o "$WORK/again.bin" 2>/dev/null
check "another seed gives other weights" bash -c "! cmp -s '$WORK/made-up.bin' '$WORK/again.bin'"
rm -f "$WORK/again.bin"

check "--list shows the Whisper shapes" bash -c "'$R1' model gen --arch whisper --list | grep -q '^large-v2 .*state 1280'"
check "plain --list still shows the GGUF shapes" bash -c "'$R1' model gen --list | grep -q qwen2"

"$R1" model gen --arch whisper --shape huge -o "$WORK/x.bin" >"$WORK/out" 2>"$WORK/err"
check "unknown shape exits 2" test $? -eq 2
check "unknown shape is named" grep -q "unknown shape 'huge'" "$WORK/err"
check "unknown shape lists the shapes" grep -q "^medium " "$WORK/out"
"$R1" model gen --arch whisper --shape tiny --type q4_k -o "$WORK/x.bin" 2>"$WORK/err"
check "--type q4_k exits 2" test $? -eq 2
check "--type q4_k is explained" grep -q "Whisper files are f32, f16, q4_0, q4_1, q5_0, q5_1 or q8_0" "$WORK/err"
"$R1" model gen --arch whisper --shape tiny --vocab-from "$WORK/missing.bin" -o "$WORK/x.bin" 2>"$WORK/err"
check "missing --vocab-from file exits 1" test $? -eq 1
check "missing --vocab-from file is named" grep -q "missing.bin" "$WORK/err"
printf 'just some text, not a model' >"$WORK/text.bin"
"$R1" model gen --arch whisper --shape tiny --vocab-from "$WORK/text.bin" -o "$WORK/x.bin" 2>"$WORK/err"
check "--vocab-from a text file exits 1" test $? -eq 1
check "--vocab-from a text file is explained" grep -q "not a ggml Whisper model file" "$WORK/err"
check "no partial output is left behind" test ! -e "$WORK/x.bin"
head -c 5000 "$WORK/made-up.bin" >"$WORK/cut.bin"
"$R1" model gen --arch whisper --shape tiny --vocab-from "$WORK/cut.bin" -o "$WORK/x.bin" 2>"$WORK/err"
check "--vocab-from a cut file exits 1" test $? -eq 1
check "--vocab-from a cut file is explained" grep -q "ends inside the mel filters" "$WORK/err"
"$R1" model gen --arch whisper --shape tiny -o "$WORK/no/such/dir/x.bin" 2>"$WORK/err"
check "unwritable output exits 1" test $? -eq 1
"$R1" model gen --arch whisper --shape tiny 2>"$WORK/err"
check "missing -o exits 2" test $? -eq 2

# ---- against the reference model's header ----
REF="$TESTDATA/asr/whisper-tiny-random-f32.bin"
if [ -f "$REF" ]; then
    check "computed mel filters match whisper.cpp's (librosa Slaney)" \
        python3 "$READER" check "$WORK/made-up.bin" --shape tiny --ftype 1 --filters-close-to "$REF"
    "$R1" model gen --arch whisper --shape tiny --type f32 --vocab-from "$REF" -o "$WORK/tiny-f32.bin" 2>/dev/null
    check "f32 with --vocab-from: exits 0" test $? -eq 0
    check "f32: every tensor f32, header copied" \
        python3 "$READER" check "$WORK/tiny-f32.bin" --shape tiny --ftype 0 --header-from "$REF"
    "$R1" model gen --arch whisper --shape tiny --type f16 --vocab-from "$REF" -o "$WORK/tiny-f16.bin" 2>/dev/null
    check "f16 with --vocab-from: exits 0" test $? -eq 0
    check "f16: whisper.cpp's type per tensor, header copied" \
        python3 "$READER" check "$WORK/tiny-f16.bin" --shape tiny --ftype 1 --header-from "$REF"
    check "f16 file holds the f32 file's values rounded" \
        python3 "$READER" same-values "$WORK/tiny-f32.bin" "$WORK/tiny-f16.bin"
    # 37.76 M parameters, 36.97 M of them in tensors that ftype 1 stores as f16;
    # tensor records = headers + data, summed by hand from the tensor list
    header=$((4 + 44 + 8 + 80 * 201 * 4 + $(python3 -c 'import sys
sys.path.insert(0, sys.argv[1]); import whisper_bin as w
print(sum(4 + len(v) for v in w.read_header(sys.argv[2])[3]) + 4)' "$(dirname "$READER")" "$REF")))
    check "f32 size" test "$(stat -c %s "$WORK/tiny-f32.bin")" -eq $((header + 151050768))
    check "f16 size" test "$(stat -c %s "$WORK/tiny-f16.bin")" -eq $((header + 77119248))

    # quantized files as whisper.cpp's quantizer writes them: the 2-D weights
    # in the type, the convolutions f16, ftype + 2000
    for q in q8_0:2007 q5_0:2008 q4_0:2002; do
        "$R1" model gen --arch whisper --shape tiny --type "${q%:*}" --vocab-from "$REF" -o "$WORK/tiny-${q%:*}.bin" 2>/dev/null
        check "${q%:*}: exits 0, each tensor in whisper.cpp's type, sizes right" \
            python3 "$READER" check "$WORK/tiny-${q%:*}.bin" --shape tiny --ftype "${q#*:}" --header-from "$REF"
    done
    # the same seed gives the same weights: a q8_0 model's logits are the
    # f32 model's within quantization noise, and it picks the same tokens
    for t in f32 q8_0 q4_0; do
        "$R1" eval-whisper -m "$WORK/tiny-$t.bin" --audio "$TESTDATA/asr/audio/jfk.wav" \
            --tokens 50258,50259,50359,50363 --logits "$WORK/logits-$t.f32" -t 2 2>/dev/null
    done
    check "q8_0 logits within 3% (relative rms) of f32's, same argmax everywhere" \
        python3 "$(dirname "$READER")/compare_logits.py" "$WORK/logits-f32.f32" "$WORK/logits-q8_0.f32" 0.03 --same-argmax
    check "q4_0 logits within 35% of f32's (4-bit weights)" \
        python3 "$(dirname "$READER")/compare_logits.py" "$WORK/logits-f32.f32" "$WORK/logits-q4_0.f32" 0.35
    "$R1" transcribe -m "$WORK/tiny-q5_0.bin" "$TESTDATA/asr/audio/en_fox.wav" --language en --max-tokens 8 -t 2 \
        >"$WORK/q5.out" 2>"$WORK/q5.err"
    check "r1 transcribe with a q5_0 model: exits 0 with a line of text" \
        bash -c "[ $? = 0 ] && [ \$(wc -l <'$WORK/q5.out') = 1 ]"
elif [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
    echo "FAIL: $REF is missing and R1_REQUIRE_TESTDATA=1" >&2
    failed=$((failed + 1))
else
    echo "*** SKIPPED: $REF is missing: --vocab-from and filter checks did not run ***" >&2
fi

finish
