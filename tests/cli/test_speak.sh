#!/bin/bash
# test_speak.sh - `r1 speak` as a user runs it:
#   - English, Mandarin and mixed text to WAV: 24 kHz 16-bit mono, not
#     silent, not clipped, of a plausible length; Mandarin years and
#     percentages make the audio longer than the digits alone would;
#   - every format (wav, flac, ogg, opus, pcm) chosen by --format or by the
#     file's extension; standard input; standard output; --speed; --stats;
#   - errors, each with one clear line: no sound card (without -o), an
#     unknown voice, speed or format, a missing worker, a worker that
#     crashes in the middle of the text, a full disk.
# Usage: test_speak.sh R1_BINARY
set -u
R1="$1"
source "$(dirname "$0")/lib/common.sh"

# audio wav|pcm FILE: prints the seconds of 24 kHz audio; fails unless the
# header is right, the sound is there and is not clipped
export SPEECH_AUDIO="$(cd "$(dirname "$0")/lib" && pwd)/speech_audio.py"
audio() { python3 "$SPEECH_AUDIO" "$2" "$1"; }
between() { python3 -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(not lo <= v <= hi)' "$@"; }
speak() { # speak NAME ARGS...: status in $status, stdout/stderr in $WORK/NAME.out/.err
    local name="$1"
    shift
    "$R1" speak "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    status=$?
}

# ---- languages
speak en "The quick brown fox jumps over the lazy dog. We meet on 2026-12-01 at 14:30." -o "$WORK/en.wav" --stats
check "English: exits 0" test "$status" -eq 0
EN_S=$(audio wav "$WORK/en.wav")
check "  ... a 24 kHz mono WAV with sound, unclipped" test -n "$EN_S"
check "  ... plausible length for 17 words ($EN_S s in 3..12)" between "${EN_S:-0}" 3 12
check "  ... --stats: the real-time factor and first audio on stderr" grep -qE 'real-time factor [0-9.]+\), first audio after [0-9.]+ s' "$WORK/en.err"
echo "info: $(cat "$WORK/en.err")"
speak zh "今天天气很好，我们去公园散步吧。" -o "$WORK/zh.wav" --voice nova
check "Mandarin: exits 0" test "$status" -eq 0
ZH_S=$(audio wav "$WORK/zh.wav")
check "  ... plausible length for 15 characters ($ZH_S s in 1.5..8)" between "${ZH_S:-0}" 1.5 8
speak year "2026年" -o "$WORK/year.wav"
speak spelled "二零二六年" -o "$WORK/spelled.wav"
YEAR_S=$(audio wav "$WORK/year.wav") SPELLED_S=$(audio wav "$WORK/spelled.wav")
echo "info: 2026年: $YEAR_S s; 二零二六年: $SPELLED_S s"
check "2026年 is read as 二零二六年 ($YEAR_S s vs $SPELLED_S s)" between "${YEAR_S:-0}" "$(python3 -c "print(${SPELLED_S:-0} - 0.03)")" "$(python3 -c "print(${SPELLED_S:-0} + 0.03)")"
speak mix "请打开 GPU server 的日志, then restart it." -o "$WORK/mix.wav" --voice onyx
check "mixed Mandarin and English: exits 0 with sound" bash -c "[ $status = 0 ] && $(declare -f audio); audio wav '$WORK/mix.wav' >/dev/null"

# ---- formats, inputs, outputs
for f in flac ogg opus; do
    speak "fmt-$f" "Format test for $f." -o "$WORK/out.$f"
    check "$f by extension: exits 0" test "$status" -eq 0
done
check "  ... flac starts with fLaC" bash -c "head -c 4 '$WORK/out.flac' | grep -q fLaC"
check "  ... ogg is Ogg/Vorbis" bash -c "head -c 64 '$WORK/out.ogg' | grep -qa vorbis"
check "  ... opus is Ogg/Opus" bash -c "head -c 64 '$WORK/out.opus' | grep -qa OpusHead"
if command -v sox >/dev/null; then
    check "  ... sox decodes the flac to the length of its text" between "$(sox "$WORK/out.flac" -n stat 2>&1 | awk '/Length/ {print $3}')" 1 4
fi
speak fmt-pcm "Raw samples." -o "$WORK/raw.bin" --format pcm
check "--format pcm: raw 24 kHz samples with sound" bash -c "[ $status = 0 ] && $(declare -f audio); audio pcm '$WORK/raw.bin' >/dev/null"
echo "Read from standard input." | "$R1" speak -o "$WORK/stdin.wav" 2>"$WORK/stdin.err"
check "text from standard input: exits 0 with sound" bash -c "[ $? = 0 ] && $(declare -f audio); audio wav '$WORK/stdin.wav' >/dev/null"
"$R1" speak "To standard output." -o - >"$WORK/stdout.wav" 2>"$WORK/stdout.err"
check "-o -: a WAV on standard output" bash -c "[ $? = 0 ] && head -c 4 '$WORK/stdout.wav' | grep -q RIFF"
check "  ... python's wave module reads it" python3 -c "import sys, wave; w = wave.open(sys.argv[1]); assert w.getframerate() == 24000" "$WORK/stdout.wav"
speak slow "The quick brown fox jumps over the lazy dog. We meet on 2026-12-01 at 14:30." -o "$WORK/fast.wav" --speed 2
FAST_S=$(audio wav "$WORK/fast.wav")
check "--speed 2: shorter ($FAST_S s vs $EN_S s)" python3 -c "import sys; sys.exit(not ${FAST_S:-99} < 0.75 * ${EN_S:-0})"

# ---- errors
if [ ! -e /proc/asound/cards ] || grep -q 'no soundcards' /proc/asound/cards; then
    speak nocard "Hello"
    check "no -o and no sound card: exits 1" test "$status" -eq 1
    check "  ... one line that suggests -o" bash -c "[ \$(wc -l <'$WORK/nocard.err') = 1 ] && grep -q -- '-o out.wav' '$WORK/nocard.err'"
else
    echo "info: this machine has a sound card: the no-sound-card error is not tested"
fi
speak badvoice "Hello" --voice bob -o "$WORK/x.wav"
check "unknown voice: exits 2, says how to list them" bash -c "[ $status = 2 ] && grep -q 'list-voices' '$WORK/badvoice.err'"
speak badspeed "Hello" --speed 9 -o "$WORK/x.wav"
check "--speed 9: exits 2" test "$status" -eq 2
speak badformat "Hello" --format mp3 -o "$WORK/x.mp3"
check "--format mp3: exits 2, names the formats" bash -c "[ $status = 2 ] && grep -q 'wav, flac, ogg, opus, pcm' '$WORK/badformat.err'"
R1_TTS_WORKER="$WORK/none" "$R1" speak "Hello" -o "$WORK/x.wav" 2>"$WORK/noworker.err"
check "a missing worker: exits 1, names it and R1_TTS_WORKER" bash -c "[ $? = 1 ] && grep -q \"$WORK/none\" '$WORK/noworker.err' && grep -q R1_TTS_WORKER '$WORK/noworker.err'"
# a worker that says it is ready, takes the request, and dies
printf '#!/bin/sh\necho "ready 22050"\nread line\nkill -9 $$\n' >"$WORK/crashing-worker"
chmod +x "$WORK/crashing-worker"
R1_TTS_WORKER="$WORK/crashing-worker" "$R1" speak "Hello" -o "$WORK/x.wav" 2>"$WORK/crash.err"
check "a worker that crashes mid-request: exits 1" test $? -eq 1
check "  ... the message says it died of signal 9" grep -q 'died of signal 9' "$WORK/crash.err"
printf '#!/bin/sh\necho "hello"\n' >"$WORK/wrong-worker"
chmod +x "$WORK/wrong-worker"
R1_TTS_WORKER="$WORK/wrong-worker" "$R1" speak "Hello" -o "$WORK/x.wav" 2>"$WORK/wrong.err"
check "a program that is not the worker: exits 1, says it did not start" bash -c "[ $? = 1 ] && grep -q 'did not start' '$WORK/wrong.err'"
if [ -w /dev/full ]; then
    "$R1" speak "Hello" -o /dev/full 2>"$WORK/full.err"
    check "a full disk (/dev/full): exits 1 with a message" bash -c "[ $? = 1 ] && grep -q 'r1 speak:' '$WORK/full.err'"
fi
finish
