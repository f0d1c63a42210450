#!/bin/bash
# test_voice.sh - `r1 voice` as a user scripts it: spoken files in
# (--input), answers out as WAV files (--output). The chat model is a tiny
# scripted one whose answer is always 'Hm.</think>Yes! OK?' (reasoning
# "Hm.", answer "Yes! OK?"); Whisper is testdata/asr's random-weight tiny
# model (its text is nonsense, but there is text). Checks, per turn: the
# transcript printed, the reasoning shown and never spoken, the answer
# spoken sentence by sentence, turn-N.wav a real 24 kHz WAV with sound,
# the figures line; two utterances in one file are two turns of one
# conversation; no speech, a broken file, no sound card, bad options; and
# valgrind on one short run. Timings are printed as info: lines;
# R1_VOICE_LATENCY=1 adds a run with models of the real shapes (1.5B, Whisper base).
# Usage: test_voice.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"
ASR="$TESTDATA/asr"
AUDIO="$ASR/audio"
WHISPER="$ASR/whisper-tiny-random-f16.bin"
SILERO="$ASR/for-tests-silero-v6.2.0-ggml.bin"
# random Whisper weights never emit end-of-text: a short limit keeps runs fast
FAST=(--whisper-max-tokens 12 --whisper-no-fallback -t 2)

"$R1" model gen --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes! OK?' -o "$WORK/scripted.gguf" \
    >"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; exit 1; }
MODEL="$WORK/scripted.gguf"

# ---- usage errors: exit 2 with a message; no reference data needed ----
USAGE_COMMAND=voice
usage_error "unknown option" "unknown option '--bogus'" -m "$MODEL" --whisper-model "$WHISPER" --bogus 1
usage_error "no whisper model" "no speech recognition model" -m "$MODEL" --input x.wav --output "$WORK/o"
usage_error "no model" "no model (-m MODEL.gguf)" --whisper-model "$WHISPER"
usage_error "--mic and --input" "one source at a time" -m "$MODEL" --whisper-model "$WHISPER" --mic --input x.wav
usage_error "--speaker and --output" "one destination at a time" -m "$MODEL" --whisper-model "$WHISPER" --speaker -o d
usage_error "unknown voice" "unknown --voice" -m "$MODEL" --whisper-model "$WHISPER" --voice nobody
usage_error "-n 0" "-n" -m "$MODEL" --whisper-model "$WHISPER" -n 0

# ---- the microphone and the speaker without a sound card: one clear error ----
timeout 30 "$R1" voice -m "$MODEL" --whisper-model "$WHISPER" >"$WORK/out" 2>"$WORK/err"
status=$?
if [ "$status" -eq 124 ]; then
    echo "*** SKIPPED: this machine has a sound card: r1 voice listened (the no-sound-card error is not checked) ***" >&2
else
    check "no sound card: exits 1 (got $status)" test "$status" -eq 1
    check "no sound card: says so" grep -q "^r1 voice: cannot play: .*no sound card" "$WORK/err"
    check "no sound card: suggests --input and --output" grep -q "use files instead: --input .* --output DIR" "$WORK/err"
    check "no sound card: one line" test "$(wc -l <"$WORK/err")" -eq 1
fi

if [ ! -f "$WHISPER" ] || [ ! -f "$SILERO" ] || [ ! -d "$AUDIO" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $ASR (Whisper model, VAD model, audio/) is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $ASR is missing: no voice conversation ran ***" >&2
    fi
    finish
    exit $?
fi

# ---- memory, started first: valgrind needs a while for the Whisper encoder ----
# R1_ISA=scalar: memcheck checks memory, not the SIMD kernels (test_transcribe.sh says why)
VG_PID=
if command -v valgrind >/dev/null; then
    R1_ISA=scalar valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        "$R1" voice -m "$MODEL" --whisper-model "$WHISPER" --whisper-max-tokens 4 --whisper-no-fallback -t 1 \
        --input "$AUDIO/en_fox.wav" --output "$WORK/vg" >/dev/null 2>"$WORK/vg.log" &
    VG_PID=$!
else
    echo "*** SKIPPED: valgrind is not installed: the leak check will not run ***" >&2
fi

# en_fox, 1.5 s of silence, en_alarm: two utterances in one file
python3 - "$AUDIO/en_fox.wav" "$AUDIO/en_alarm.wav" "$WORK/two.wav" <<'PY'
import sys, wave
frames = []
for path in sys.argv[1:3]:
    with wave.open(path) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        frames.append(w.readframes(w.getnframes()))
with wave.open(sys.argv[3], 'wb') as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(frames[0] + bytes(2 * 24000) + frames[1])
PY
# 3 s of digital silence
python3 -c 'import sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(bytes(2 * 16000 * 3))' "$WORK/silence.wav"

wav_ok() { # wav_ok FILE: a complete 24 kHz mono 16-bit WAV with sound, 0.3 to 5 s long
    python3 - "$1" <<'PY'
import array, sys, wave
with wave.open(sys.argv[1]) as w:
    assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2), w.getparams()
    n = w.getnframes()
    samples = array.array('h', w.readframes(n))
assert len(samples) == n, 'the header says %d frames, the file holds %d' % (n, len(samples))
assert 0.3 <= n / 24000 <= 5, 'lasts %.2f s' % (n / 24000)
assert max(abs(s) for s in samples) > 1000, 'silent'
PY
}

voice() { # voice NAME ARGS...: r1 voice into $WORK/NAME.out and .err, answers in $WORK/NAME/; sets $status
    local name="$1"
    shift
    R1_LOG_LEVEL=debug "$R1" voice -m "$MODEL" --whisper-model "$WHISPER" "${FAST[@]}" --output "$WORK/$name" \
        --verbose "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    status=$?
}

FIGURES='^\[turn [0-9]+\] asr [0-9.]+ s, first token [0-9.]+ s, first audio [0-9.]+ s after the end of speech'

check_turns() { # check_turns NAME N: N turns, each heard, answered, spoken without the reasoning, written
    local name="$1" n="$2" out="$WORK/$1.out" err="$WORK/$1.err"
    check "$name: exits 0 (got $status)" test "$status" -eq 0
    check "$name: $n transcripts printed" test "$(grep -c '^you: .*[^[:space:]]' "$out")" -eq "$n"
    check "$name: the reasoning shown $n times" test "$(grep -c '^\[reasoning\] Hm\.$' "$out")" -eq "$n"
    check "$name: the answer streamed $n times" test "$(grep -c '^\[answer\] Yes! OK?$' "$out")" -eq "$n"
    check "$name: the reasoning never spoken" bash -c "! grep -q '^speaking: .*Hm' '$err'"
    check "$name: each answer spoken as its two sentences" \
        test "$(grep '^speaking: ' "$err" | tr '\n' '|')" = "$(for _ in $(seq "$n"); do printf 'speaking: Yes!|speaking: OK?|'; done)"
    check "$name: a figures line per turn" test "$(grep -cE "$FIGURES" "$err")" -eq "$n"
    for i in $(seq "$n"); do
        check "$name: turn-$i.wav is a 24 kHz WAV with sound" wav_ok "$WORK/$name/turn-$i.wav"
    done
    check "$name: no turn-$((n + 1)).wav" test ! -e "$WORK/$name/turn-$((n + 1)).wav"
}

info_figures() { # info_figures NAME: the figures lines as info
    sed -nE 's/^\[turn ([0-9]+)\] (.*)/info: '"$1"' turn \1: \2/p' "$WORK/$1.err" >&2
}

# ---- one utterance: one turn ----
voice fox --input "$AUDIO/en_fox.wav"
check_turns fox 1
info_figures fox

# ---- two utterances in one file: two turns of one conversation ----
voice two --input "$WORK/two.wav"
check_turns two 2
prompts=$(sed -nE 's/.*turn: prompt ([0-9]+) tokens \(([0-9]+) reused.*/\1 \2/p' "$WORK/two.err" | tr '\n' ' ')
read -r p1 r1 p2 r2 <<<"$prompts"
check "two: the second prompt holds the first turn (${p1:-?} then ${p2:-?} tokens)" test "${p2:-0}" -gt "${p1:-0}"
check "two: the second turn reuses the first one's cache (${r2:-?} tokens)" test "${r2:-0}" -gt 0
info_figures two

# ---- the Silero detector finds the same single utterance ----
voice silero --input "$AUDIO/en_fox.wav" --vad-model "$SILERO"
check_turns silero 1

# ---- no speech: no turn, exit 0; a broken file: exit 1 naming it ----
voice silence --input "$WORK/silence.wav"
check "silence: exits 0 (got $status)" test "$status" -eq 0
check "silence: says no speech was found" grep -q "^r1 voice: no speech found in .*silence.wav" "$WORK/silence.err"
check "silence: no answer written" test ! -e "$WORK/silence/turn-1.wav"
voice broken --input "$AUDIO/bad_not_audio.wav"
check "broken file: exits 1 (got $status)" test "$status" -eq 1
check "broken file: named" grep -q "^r1 voice: .*bad_not_audio.wav" "$WORK/broken.err"

if [ -n "$VG_PID" ]; then
    wait "$VG_PID"
    vg_status=$?
    check "valgrind: no memory error or leak on a voice turn (status $vg_status, see below)" test "$vg_status" -eq 0
    [ "$vg_status" -eq 0 ] || cat "$WORK/vg.log" >&2
    check "valgrind: the turn was answered" test -s "$WORK/vg/turn-1.wav"
fi
# ---- latency with models of the real shapes (info only; R1_VOICE_LATENCY=1: ~1.3 GB and ~40 s on 2 cores) ----
# Random weights: R1 never closes </think> and writes no sentence end, so
# chatml (no reasoning) and the first audio is the end of a 16-token answer;
# docs/VOICE.md adds the parts up for a real answer.
if [ "${R1_VOICE_LATENCY:-0}" = 1 ]; then
    "$R1" model gen --shape r1-distill-qwen-1.5b --type q4_k_m -o "$WORK/r1-1.5b.gguf" >/dev/null 2>&1 &&
        "$R1" model gen --arch whisper --shape base --type f16 --vocab-from "$WHISPER" -o "$WORK/whisper-base.bin" \
            >/dev/null 2>&1 &&
        "$R1" voice -m "$WORK/r1-1.5b.gguf" --whisper-model "$WORK/whisper-base.bin" --input "$AUDIO/en_fox.wav" \
            --output "$WORK/latency" --whisper-max-tokens 16 --whisper-no-fallback -t 2 -n 16 \
            --chat-template chatml >/dev/null 2>"$WORK/latency.err"
    info_figures latency
    rm -f "$WORK/r1-1.5b.gguf" "$WORK/whisper-base.bin"
fi
finish
