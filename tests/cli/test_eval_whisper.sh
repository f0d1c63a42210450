#!/bin/bash
# test_eval_whisper.sh - `r1 eval-whisper` as someone checking a Whisper
# model against whisper.cpp runs it: the log-mel, encoder output and
# decoder logits of jfk.wav for the f32 and f16 reference models against
# whisper.cpp's goldens (mel within 1e-4, encoder and logits within 1e-2,
# the same argmax in every logits row, as testdata/asr/README.md advises),
# 1 and 2 threads giving the same bytes; usage errors exit 2 with a
# message, a missing audio file or a damaged model exits 1 with one line;
# a run and an error path under valgrind leak nothing.
# Usage: test_eval_whisper.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"
ASR="$TESTDATA/asr"
F32="$ASR/whisper-tiny-random-f32.bin"
F16="$ASR/whisper-tiny-random-f16.bin"
JFK="$ASR/audio/jfk.wav"
GOLDEN="$ASR/golden"
# the tokens whisper.cpp was fed for the logits goldens (jfk.golden.json)
TOKENS=50258,50259,50359,50363,400,370,452,7177,6280

# ---- usage errors need no reference data ----
usage_error() { # usage_error NAME MESSAGE ARGS...: exits 2, names the problem, shows usage
    local name="$1" message="$2"
    shift 2
    "$R1" eval-whisper "$@" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    check "$name: exits 2 (got $status)" test "$status" -eq 2
    check "$name: says '$message'" grep -qF -- "$message" "$WORK/err"
    check "$name: shows the usage" grep -q "^usage: r1 eval-whisper" "$WORK/err"
    check "$name: writes nothing to stdout" test ! -s "$WORK/out"
}
usage_error "no model" "no model (-m MODEL.bin)" --audio "$JFK" --mel "$WORK/m"
usage_error "no audio" "no audio (--audio FILE)" -m "$F32" --mel "$WORK/m"
usage_error "--tokens without --logits" "--tokens and --logits go together" -m "$F32" --audio "$JFK" --tokens 1,2
usage_error "--logits without --tokens" "--tokens and --logits go together" -m "$F32" --audio "$JFK" --logits "$WORK/l"
usage_error "a token list with a word" "bad entry at 'x'" -m "$F32" --audio "$JFK" --tokens 1,x --logits "$WORK/l"
usage_error "a negative token" "bad entry at '-3'" -m "$F32" --audio "$JFK" --tokens -3 --logits "$WORK/l"
usage_error "unknown option" "unknown option '--bogus'" -m "$F32" --audio "$JFK" --bogus
usage_error "-t 0" "-t" -m "$F32" --audio "$JFK" -t 0
check "no output file is made on a usage error" test ! -e "$WORK/l" -a ! -e "$WORK/m"

if [ ! -f "$F32" ] || [ ! -f "$F16" ] || [ ! -f "$JFK" ] || [ ! -d "$GOLDEN" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $ASR (models, audio/jfk.wav, golden/) is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $ASR is missing: the golden comparisons and error paths did not run ***" >&2
    fi
    finish
    exit $?
fi

# ---- memory, started first: valgrind needs ~30 s of CPU for one encoder pass ----
# R1_ISA=scalar: memcheck checks memory, not the SIMD kernels, and runs the
# scalar ones twice as fast (valgrind has no AVX-512 either).
VG_STATUS="$WORK/vg-status"
head -c 100000 "$F32" >"$WORK/cut.bin"
if command -v valgrind >/dev/null; then
    (
        vg() { # vg NAME ARGS...: the status of r1 under memcheck, into $VG_STATUS
            local name="$1"
            shift
            R1_ISA=scalar valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
                "$R1" "$@" >/dev/null 2>"$WORK/vg-$name.log"
            echo "$name $?" >>"$VG_STATUS"
        }
        vg stages eval-whisper -m "$F16" --audio "$ASR/audio/en_fox.wav" --mel "$WORK/vg.mel" --encoder "$WORK/vg.enc" \
            --tokens 50258,50259,50359,50363 --logits "$WORK/vg.logits" -t 1
        vg not-audio eval-whisper -m "$F32" --audio "$ASR/audio/bad_not_audio.wav" --mel "$WORK/vg.x"
        vg cut-model eval-whisper -m "$WORK/cut.bin" --audio "$JFK" --mel "$WORK/vg.x"
    ) &
    VG_PID=$!
else
    VG_PID=
    echo "*** SKIPPED: valgrind is not installed: the leak checks will not run ***" >&2
fi

# ---- against whisper.cpp's goldens ----
# compare OURS GOLDEN ROWS COLS TOLERANCE [argmax]: same size, max |diff| <=
# TOLERANCE, no NaN; with argmax, the largest entry of every row at the
# same index. Prints the figures measured.
compare() {
    python3 - "$@" <<'EOF'
import array, math, sys
ours_path, gold_path, rows, cols, tol = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
want_argmax = len(sys.argv) > 6
def load(path):
    a = array.array('f')
    with open(path, 'rb') as f:
        a.frombytes(f.read())
    if sys.byteorder != 'little':
        a.byteswap()
    return a
ours, gold = load(ours_path), load(gold_path)
if len(ours) != rows * cols or len(gold) != rows * cols:
    sys.exit(f"{ours_path}: {len(ours)} floats, golden {len(gold)}, expected {rows}x{cols}")
if any(math.isnan(x) or math.isinf(x) for x in ours):
    sys.exit(f"{ours_path}: NaN or inf")
worst = max(abs(a - b) for a, b in zip(ours, gold))
ok = worst <= tol
same_argmax = 0
if want_argmax:
    for r in range(rows):
        o, g = ours[r * cols:(r + 1) * cols], gold[r * cols:(r + 1) * cols]
        if max(range(cols), key=o.__getitem__) == max(range(cols), key=g.__getitem__):
            same_argmax += 1
    ok = ok and same_argmax == rows
print(f"  {ours_path.rsplit('/', 1)[-1]}: max |diff| {worst:.2e} (limit {tol:g})"
      + (f", argmax equal in {same_argmax}/{rows} rows" if want_argmax else ""), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

for kind in f32 f16; do
    model="$ASR/whisper-tiny-random-$kind.bin"
    start=$(date +%s%N)
    "$R1" eval-whisper -m "$model" --audio "$JFK" --mel "$WORK/$kind.mel" --encoder "$WORK/$kind.enc" \
        --tokens "$TOKENS" --logits "$WORK/$kind.logits" -t 2 >"$WORK/out" 2>"$WORK/err"
    status=$?
    echo "  eval-whisper $kind, 2 threads: $((($(date +%s%N) - start) / 1000000)) ms" >&2
    check "$kind: exits 0 (got $status)" test "$status" -eq 0
    check "$kind: quiet on success" test ! -s "$WORK/err"
    check "$kind: mel [80][4100] within 1e-4 of whisper.cpp" compare "$WORK/$kind.mel" "$GOLDEN/jfk.mel.f32" 80 4100 1e-4
    check "$kind: encoder [1500][64] within 1e-2 of whisper.cpp" \
        compare "$WORK/$kind.enc" "$GOLDEN/jfk.${kind}model.enc.f32" 1500 64 1e-2
    check "$kind: logits [9][51865] within 1e-2, same argmax per row" \
        compare "$WORK/$kind.logits" "$GOLDEN/jfk.${kind}model.logits.f32" 9 51865 1e-2 argmax
done
check "the mel does not depend on the model's weight type" cmp -s "$WORK/f32.mel" "$WORK/f16.mel"

# one thread: the same bytes (each output is computed whole by one thread)
"$R1" eval-whisper -m "$F16" --audio "$JFK" --encoder "$WORK/t1.enc" --tokens "$TOKENS" --logits "$WORK/t1.logits" \
    -t 1 2>"$WORK/err"
check "-t 1: exits 0" test $? -eq 0
check "-t 1 and -t 2: identical encoder output" cmp -s "$WORK/t1.enc" "$WORK/f16.enc"
check "-t 1 and -t 2: identical logits" cmp -s "$WORK/t1.logits" "$WORK/f16.logits"
check "only what was asked is written" test ! -e "$WORK/t1.mel"

# --fast (quantized activations where the weights allow): still near the golden
"$R1" eval-whisper -m "$F32" --audio "$JFK" --tokens "$TOKENS" --logits "$WORK/fast.logits" --fast -t 2 2>"$WORK/err"
check "--fast: exits 0" test $? -eq 0
check "--fast: logits within 1e-2, same argmax per row" \
    compare "$WORK/fast.logits" "$GOLDEN/jfk.f32model.logits.f32" 9 51865 1e-2 argmax

# ---- run-time errors: exit 1, one line naming the problem ----
one_line_error() { # one_line_error NAME PATTERN ARGS...
    local name="$1" pattern="$2"
    shift 2
    "$R1" eval-whisper "$@" >"$WORK/out" 2>"$WORK/err"
    local status=$?
    check "$name: exits 1 (got $status)" test "$status" -eq 1
    check "$name: one line on stderr" test "$(wc -l <"$WORK/err")" -eq 1
    check "$name: the line says '$pattern'" grep -qE -- "^r1 eval-whisper: .*$pattern" "$WORK/err"
    check "$name: no usage text" bash -c "! grep -q usage: '$WORK/err'"
}
one_line_error "missing audio file" "missing\.wav.*No such file" -m "$F32" --audio "$WORK/missing.wav" --mel "$WORK/x"
check "missing audio file: no output file" test ! -e "$WORK/x"
one_line_error "empty audio file" "bad_empty\.wav: empty file" -m "$F32" --audio "$ASR/audio/bad_empty.wav" --mel "$WORK/x"
one_line_error "missing model" "none\.bin" -m "$WORK/none.bin" --audio "$JFK" --mel "$WORK/x"
one_line_error "a WAV given as the model" "not a ggml Whisper model" -m "$JFK" --audio "$JFK" --mel "$WORK/x"
one_line_error "a model cut inside the vocabulary" "cut\.bin: .*truncated" -m "$WORK/cut.bin" --audio "$JFK" --mel "$WORK/x"
head -c $(($(stat -c %s "$F16") - 1000)) "$F16" >"$WORK/short.bin"
one_line_error "a model cut inside the last tensor" "short\.bin" -m "$WORK/short.bin" --audio "$JFK" --mel "$WORK/x"
python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[8:12] = (7).to_bytes(4, "little")  # n_audio_ctx
open(sys.argv[2], "wb").write(b)' "$F32" "$WORK/ctx.bin"
one_line_error "a model with a wrong n_audio_ctx" "ctx\.bin: .*positional_embedding.*expected \[64, 7\]" -m "$WORK/ctx.bin" --audio "$JFK" --mel "$WORK/x"
one_line_error "a token outside the vocabulary" "token id 51865 is outside the vocabulary" \
    -m "$F32" --audio "$JFK" --tokens 50258,51865 --logits "$WORK/x"
one_line_error "more tokens than the text context" "448 tokens" \
    -m "$F32" --audio "$JFK" --tokens "$(python3 -c 'print(",".join(["400"] * 449))')" --logits "$WORK/x"
one_line_error "an unwritable output" "cannot write $WORK/no/such/dir/m" -m "$F32" --audio "$JFK" --mel "$WORK/no/such/dir/m"

# ---- memory (started above) ----
if [ -n "$VG_PID" ]; then
    start=$(date +%s%N)
    wait "$VG_PID"
    echo "  waited $((($(date +%s%N) - start) / 1000000)) ms for valgrind" >&2
    for expect in "stages 0" "not-audio 1" "cut-model 1"; do
        name=${expect% *}
        check "valgrind, $name: exit ${expect#* }, no error, no leak" grep -qx "$expect" "$VG_STATUS"
        grep -qx "$expect" "$VG_STATUS" || grep "==[0-9]*==" "$WORK/vg-$name.log" | head -20 >&2
    done
fi

finish
