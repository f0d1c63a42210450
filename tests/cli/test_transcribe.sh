#!/bin/bash
# test_transcribe.sh - `r1 transcribe` as a user runs it, with the random-
# weight tiny models of testdata/asr (their text is nonsense, but the same
# every time): every valid clip gives text; broken files exit 1 with one
# line naming the problem; the output formats parse and agree with each
# other (json, verbose_json times inside the clip, srt, vtt); --timestamps
# lines; audio longer than one 30 s window; --language, --translate,
# --prompt, --no-timestamps; voice activity detection (Silero and the
# energy detector) keeps the segments inside the speech and finds none in
# digital silence; the same command, and 1 or 2 threads, give identical
# output; --stats; usage errors exit 2; valgrind finds no leak on a
# transcription or an error path (a damaged WAV, a damaged Ogg Vorbis);
# an Ogg Vorbis tone transcribes, from a file and through a pipe, and a WAV
# through /dev/stdin gives the file's text.
# Usage: test_transcribe.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="$2"
source "$(dirname "$0")/lib/common.sh"
ASR="$TESTDATA/asr"
AUDIO="$ASR/audio"
F32="$ASR/whisper-tiny-random-f32.bin"
F16="$ASR/whisper-tiny-random-f16.bin"
SILERO="$ASR/for-tests-silero-v6.2.0-ggml.bin"
# random models never emit end-of-text: a short token limit keeps runs fast
FAST=(--max-tokens 24 --no-fallback -t 2)

# ---- usage errors: exit 2, a message, the usage; no reference data needed ----
USAGE_COMMAND=transcribe
usage_error "unknown option" "unknown option '--bogus'" -m "$F32" "$AUDIO/en_fox.wav" --bogus
usage_error "no model" "no model (-m MODEL.bin)" "$AUDIO/en_fox.wav"
usage_error "no audio" "no audio file" -m "$F32"
usage_error "two audio files" "one audio file at a time" -m "$F32" "$AUDIO/en_fox.wav" "$AUDIO/jfk.wav"
usage_error "--max-tokens 0" "--max-tokens expects an integer in [1, 224]" -m "$F32" "$AUDIO/en_fox.wav" --max-tokens 0
usage_error "--temperature 1.5" "--temperature" -m "$F32" "$AUDIO/en_fox.wav" --temperature 1.5
usage_error "--model without a value" "-m" -m
"$R1" transcribe -m "$F32" "$AUDIO/en_fox.wav" --format xml >"$WORK/out" 2>"$WORK/err"
check "--format xml: exits 2" test $? -eq 2
check "--format xml: lists the formats" grep -q "unknown format 'xml' (expected text, json, verbose_json, srt or vtt)" "$WORK/err"
"$R1" transcribe --help >"$WORK/out" 2>"$WORK/err"
check "--help: exits 0 with the usage" test $? -eq 0 -a -s "$WORK/err"

if [ ! -f "$F32" ] || [ ! -f "$F16" ] || [ ! -f "$SILERO" ] || [ ! -d "$AUDIO" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $ASR (models, VAD model, audio/) is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $ASR is missing: no transcription ran ***" >&2
    fi
    finish
    exit $?
fi

# 3 s of digital silence (zeros)
python3 -c 'import sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(bytes(2 * 16000 * 3))' "$WORK/silence.wav"
# an Ogg Vorbis tone whose identification header says 0 channels (the
# page checksum recomputed): libsndfile leaked ~5.8 KB of each such file
sox -n -r 16000 -c 1 "$WORK/tone.ogg" synth 1 sine 440
python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read())
length = 27 + d[26] + sum(d[27:27 + d[26]])
d[27 + d[26] + 11] = 0
d[22:26] = bytes(4)
crc = 0
for b in d[:length]:
    crc ^= b << 24
    for _ in range(8):
        crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
d[22:26] = crc.to_bytes(4, "little")
open(sys.argv[2], "wb").write(d)' "$WORK/tone.ogg" "$WORK/bad_vorbis.ogg"

# ---- memory, started first: valgrind needs ~30 s of CPU for one encoder pass ----
# R1_ISA=scalar: memcheck checks memory, not the SIMD kernels, and runs the
# scalar ones twice as fast (valgrind has no AVX-512 either).
VG_STATUS="$WORK/vg-status"
if command -v valgrind >/dev/null; then
    (
        vg() { # vg NAME ARGS...: the status of r1 under memcheck, into $VG_STATUS
            local name="$1"
            shift
            R1_ISA=scalar valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
                "$R1" "$@" >/dev/null 2>"$WORK/vg-$name.log"
            echo "$name $?" >>"$VG_STATUS"
        }
        vg transcribe transcribe -m "$F16" "$AUDIO/en_fox.wav" --max-tokens 8 -t 1 --format verbose_json
        vg bad-file transcribe -m "$F32" "$AUDIO/bad_truncated_header.wav" --vad-model "$SILERO" -t 1
        vg bad-vorbis transcribe -m "$F32" "$WORK/bad_vorbis.ogg" -t 1
        vg silence-vad transcribe -m "$F32" "$WORK/silence.wav" --vad-model "$SILERO" -t 1 --format srt
    ) &
    VG_PID=$!
else
    VG_PID=
    echo "*** SKIPPED: valgrind is not installed: the leak checks will not run ***" >&2
fi

# transcribe NAME ARGS...: runs r1 transcribe into $WORK/NAME.out and .err, sets $status
transcribe() {
    local name="$1"
    shift
    "$R1" transcribe "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    status=$?
}

# ---- every valid clip gives text ----
start=$(date +%s%N)
model="$F32"
for clip in jfk en_fox en_alarm en_asr zh_weather zh_document mix_meeting vad_en_fox_padded stereo_8k_float; do
    transcribe "$clip" -m "$model" "$AUDIO/$clip.wav" "${FAST[@]}"
    kind=$([ "$model" = "$F32" ] && echo f32 || echo f16)
    check "$clip ($kind): exits 0 (got $status)" test "$status" -eq 0
    check "$clip ($kind): prints text" grep -q '[^[:space:]]' "$WORK/$clip.out"
    check "$clip ($kind): one line of text" test "$(wc -l <"$WORK/$clip.out")" -eq 1
    check "$clip ($kind): nothing on stderr" test ! -s "$WORK/$clip.err"
    model=$([ "$model" = "$F32" ] && echo "$F16" || echo "$F32")
done
echo "  9 clips transcribed in $((($(date +%s%N) - start) / 1000000)) ms" >&2

# ---- broken files: exit exactly 1 (not a signal), one line naming the problem ----
bad_file() { # bad_file FILE PATTERN
    local file="$1" pattern="$2" name
    name=$(basename "$file")
    transcribe bad -m "$F32" "$file" "${FAST[@]}"
    check "$name: exits 1 (got $status)" test "$status" -eq 1
    check "$name: one line on stderr" test "$(wc -l <"$WORK/bad.err")" -eq 1
    check "$name: names the file and says '$pattern'" grep -qE "^r1 transcribe: .*$name: .*$pattern" "$WORK/bad.err"
    check "$name: nothing on stdout" test ! -s "$WORK/bad.out"
}
bad_file "$AUDIO/bad_empty.wav" "empty file"
bad_file "$AUDIO/bad_truncated_header.wav" "fmt"
bad_file "$AUDIO/bad_not_audio.wav" "not an audio format"
bad_file "$WORK/missing.wav" "No such file"
bad_file "$WORK/bad_vorbis.ogg" "invalid Vorbis identification header"
transcribe tone -m "$F32" "$WORK/tone.ogg" "${FAST[@]}"
check "tone.ogg (Ogg Vorbis): exits 0 (got $status)" test "$status" -eq 0
# a pipe is read once: choosing the decoder must not eat what it decodes
# (through cat: a redirected file would be a regular file to stat)
cat "$AUDIO/jfk.wav" | "$R1" transcribe -m "$F32" /dev/stdin "${FAST[@]}" >"$WORK/stdin.out" 2>"$WORK/stdin.err"
status=$?
check "jfk.wav through a pipe to /dev/stdin: exits 0 (got $status) with the same text as from the file" \
    test "$status" -eq 0 -a "$(cat "$WORK/stdin.out")" = "$(cat "$WORK/jfk.out")"
cat "$WORK/tone.ogg" | "$R1" transcribe -m "$F32" /dev/stdin "${FAST[@]}" >/dev/null 2>"$WORK/stdin.err"
status=$?
check "tone.ogg through a pipe: exits 0 (got $status)" test "$status" -eq 0
transcribe bad -m "$AUDIO/jfk.wav" "$AUDIO/en_fox.wav" "${FAST[@]}"
check "a WAV as the model: exits 1" test "$status" -eq 1
check "a WAV as the model: one line" grep -qx "r1 transcribe: .*jfk.wav: not a ggml Whisper model.*" "$WORK/bad.err"
transcribe bad -m "$F32" "$AUDIO/en_fox.wav" --vad-model "$AUDIO/jfk.wav" "${FAST[@]}"
check "a WAV as the VAD model: exits 1 with one line" test "$status" -eq 1 -a "$(wc -l <"$WORK/bad.err")" -eq 1

# ---- output formats, all from the same decoding of en_fox.wav ----
FOX="$AUDIO/en_fox.wav"
transcribe text -m "$F16" "$FOX" "${FAST[@]}"
for format in json verbose_json srt vtt; do
    transcribe "$format" -m "$F16" "$FOX" "${FAST[@]}" --format "$format"
    check "--format $format: exits 0" test "$status" -eq 0
done
# python3 checks on the JSON: python3 - FILES... <<'EOF' ... exits non-zero on failure
check "json: one object with the text of the text format" python3 - "$WORK/json.out" "$WORK/text.out" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
text = open(sys.argv[2], encoding="utf-8").read()
assert list(doc) == ["text"], doc
assert doc["text"] and doc["text"] + "\n" == text, (doc["text"], text)
EOF
check "verbose_json: duration = the clip's length, 0 <= start <= end <= duration, text = the segments joined" \
    python3 - "$WORK/verbose_json.out" "$WORK/json.out" "$FOX" <<'EOF'
import json, sys, wave
doc = json.load(open(sys.argv[1], encoding="utf-8"))
plain = json.load(open(sys.argv[2], encoding="utf-8"))
with wave.open(sys.argv[3]) as w:
    seconds = w.getnframes() / w.getframerate()
assert doc["task"] == "transcribe", doc["task"]
assert isinstance(doc["language"], str) and doc["language"], doc["language"]
assert abs(doc["duration"] - seconds) < 0.01, (doc["duration"], seconds)
segs = doc["segments"]
assert segs, "no segments"
for i, s in enumerate(segs):
    assert s["id"] == i, s
    assert 0 <= s["start"] <= s["end"] <= doc["duration"] + 1e-6, s
    assert isinstance(s["text"], str) and isinstance(s["tokens"], list), s
    assert all(isinstance(t, int) and 0 <= t < 50257 for t in s["tokens"]), s
    assert 0 <= s["no_speech_prob"] <= 1 and s["avg_logprob"] <= 0 and 0 <= s["temperature"] <= 1, s
assert all(a["start"] <= b["start"] for a, b in zip(segs, segs[1:])), "segments out of order"
assert doc["text"] == "".join(s["text"] for s in segs).strip(), doc["text"]
assert doc["text"] == plain["text"], (doc["text"], plain["text"])
EOF
check "srt: numbered cues with comma times, one per segment" python3 - "$WORK/srt.out" "$WORK/verbose_json.out" <<'EOF'
import json, re, sys
cues = open(sys.argv[1], encoding="utf-8").read().split("\n\n")
assert cues[-1] == "", "no blank line after the last cue"
segs = json.load(open(sys.argv[2], encoding="utf-8"))["segments"]
assert len(cues) - 1 == len(segs), (len(cues) - 1, len(segs))
def ms(h, m, s, f): return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)
for i, (cue, seg) in enumerate(zip(cues, segs)):
    lines = cue.split("\n")
    assert lines[0] == str(i + 1), lines
    t = re.fullmatch(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})", lines[1])
    assert t, lines[1]
    assert abs(ms(*t.groups()[:4]) - seg["start"] * 1000) <= 1 and abs(ms(*t.groups()[4:]) - seg["end"] * 1000) <= 1
    assert "\n".join(lines[2:]) == seg["text"].lstrip(" "), (lines, seg["text"])
EOF
check "vtt: WEBVTT header, then cues with dot times" python3 - "$WORK/vtt.out" "$WORK/verbose_json.out" <<'EOF'
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
assert text.startswith("WEBVTT\n\n"), text[:20]
cues = text[len("WEBVTT\n\n"):].split("\n\n")
segs = json.load(open(sys.argv[2], encoding="utf-8"))["segments"]
assert len(cues) - 1 == len(segs)
for cue in cues[:-1]:
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", cue.split("\n")[0]), cue
EOF
transcribe stamps -m "$F16" "$FOX" "${FAST[@]}" --timestamps
check "--timestamps: exits 0" test "$status" -eq 0
check "--timestamps: every line is '[hh:mm:ss.mmm --> hh:mm:ss.mmm] text'" \
    bash -c "test -s '$WORK/stamps.out' && ! grep -vE '^\[00:00:[0-9]{2}\.[0-9]{3} --> 00:00:[0-9]{2}\.[0-9]{3}\] ' '$WORK/stamps.out'"
check "--timestamps: one line per segment" test "$(wc -l <"$WORK/stamps.out")" -eq "$(grep -c -- ' --> ' "$WORK/vtt.out")"
transcribe stamps-json -m "$F16" "$FOX" "${FAST[@]}" --timestamps --format json
check "--timestamps with --format json: plain JSON" cmp -s "$WORK/stamps-json.out" "$WORK/json.out"

# ---- options ----
transcribe zh -m "$F32" "$AUDIO/zh_weather.wav" "${FAST[@]}" --language zh --format verbose_json
check "--language zh: exits 0" test "$status" -eq 0
check "--language zh: verbose_json says chinese" python3 -c 'import json, sys
assert json.load(open(sys.argv[1]))["language"] == "chinese"' "$WORK/zh.out"
transcribe translate -m "$F32" "$AUDIO/zh_weather.wav" "${FAST[@]}" --language zh --translate
check "--translate: exits 0 with text" test "$status" -eq 0 -a -s "$WORK/translate.out"
check "--translate changes the task token, so the text" bash -c "! cmp -s '$WORK/translate.out' '$WORK/zh_weather.out'"
transcribe translate_json -m "$F32" "$AUDIO/zh_weather.wav" "${FAST[@]}" --language zh --translate --format verbose_json
check "--translate: verbose_json says task translate" grep -q '"task":"translate"' "$WORK/translate_json.out"
transcribe zz -m "$F32" "$FOX" "${FAST[@]}" --language zz
check "--language zz: exits 2 (got $status)" test "$status" -eq 2
check "--language zz: one line naming it" \
    bash -c "test \$(wc -l <'$WORK/zz.err') -eq 1 && grep -q \"unknown language 'zz'\" '$WORK/zz.err'"
transcribe prompt -m "$F32" "$FOX" "${FAST[@]}" --prompt "The quick brown fox"
check "--prompt: exits 0 with text" test "$status" -eq 0 -a -s "$WORK/prompt.out"
transcribe nots -m "$F32" "$FOX" "${FAST[@]}" --no-timestamps --format verbose_json
check "--no-timestamps: one segment for the whole (short) window" python3 -c 'import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
assert len(segs) == 1 and segs[0]["start"] == 0 and len(segs[0]["tokens"]) == 24, segs' "$WORK/nots.out"
transcribe stats -m "$F32" "$FOX" "${FAST[@]}" --stats
check "--stats: exits 0" test "$status" -eq 0
check "--stats: an RTF line on stderr" grep -qE "RTF [0-9]+\.[0-9]+" "$WORK/stats.err"
check "--stats: stdout holds only the text" cmp -s "$WORK/stats.out" "$WORK/en_fox.out"
grep -h "RTF" "$WORK/stats.err" | sed 's/^/  /' >&2
if [ -w /dev/full ]; then
    "$R1" transcribe -m "$F32" "$FOX" "${FAST[@]}" >/dev/full 2>"$WORK/full.err"
    status=$?
    check "stdout on a full disk: exits 1 (got $status)" test "$status" -eq 1
    check "stdout on a full disk: says so" grep -qx "r1 transcribe: cannot write the transcript to standard output" "$WORK/full.err"
    "$R1" transcribe -m "$F32" "$FOX" "${FAST[@]}" --timestamps >/dev/full 2>/dev/null
    check "stdout on a full disk with --timestamps: exits 1" test $? -eq 1
fi

# ---- longer than one 30 s window: jfk.wav four times (44 s) ----
python3 -c 'import sys, wave
with wave.open(sys.argv[1]) as r:
    params, frames = r.getparams(), r.readframes(r.getnframes())
with wave.open(sys.argv[2], "wb") as w:
    w.setparams(params); w.writeframes(frames * 4)' "$AUDIO/jfk.wav" "$WORK/long.wav"
transcribe long -m "$F32" "$WORK/long.wav" "${FAST[@]}" --stats --format verbose_json
check "44 s of audio: exits 0" test "$status" -eq 0
check "44 s of audio: two windows decoded" grep -q "44.00 s of audio, .* 2 window(s)" "$WORK/long.err"
check "44 s of audio: segments in order, inside the audio, some after 30 s" python3 - "$WORK/long.out" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
segs = doc["segments"]
assert abs(doc["duration"] - 44) < 1e-6, doc["duration"]
assert all(0 <= s["start"] <= s["end"] <= 44 for s in segs), segs
assert all(a["end"] <= b["start"] + 0.02 for a, b in zip(segs, segs[1:])), segs
assert any(s["start"] > 30 for s in segs), segs
EOF

# ---- voice activity detection: speech is at 1.54-4.64 s in vad_en_fox_padded.wav ----
inside() { # inside FILE LOW HIGH: verbose_json with segments, all within [LOW, HIGH]
    python3 - "$@" <<'EOF'
import json, sys
segs = json.load(open(sys.argv[1], encoding="utf-8"))["segments"]
low, high = float(sys.argv[2]), float(sys.argv[3])
print("  segments: " + ", ".join(f"{s['start']:.2f}-{s['end']:.2f}" for s in segs), file=sys.stderr)
assert segs and all(low <= s["start"] <= s["end"] <= high for s in segs), segs
EOF
}
PADDED="$AUDIO/vad_en_fox_padded.wav"
transcribe silero -m "$F32" "$PADDED" "${FAST[@]}" --vad-model "$SILERO" --format verbose_json
check "--vad-model (Silero): exits 0" test "$status" -eq 0
check "--vad-model (Silero): every segment within [1.4, 4.8] s" inside "$WORK/silero.out" 1.4 4.8
transcribe energy -m "$F32" "$PADDED" "${FAST[@]}" --vad --format verbose_json
check "--vad (energy detector): exits 0" test "$status" -eq 0
check "--vad (energy detector): every segment within [1.4, 4.8] s" inside "$WORK/energy.out" 1.4 4.8
check "--vad: the duration is still the whole clip's" python3 -c 'import json, sys
assert abs(json.load(open(sys.argv[1]))["duration"] - 6.438) < 0.01' "$WORK/energy.out"

no_segments() { python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["segments"] == [] and doc["text"] == "" and abs(doc["duration"] - 3) < 1e-6, doc' "$1"; }
transcribe quiet-silero -m "$F32" "$WORK/silence.wav" "${FAST[@]}" --vad-model "$SILERO" --format verbose_json
check "digital silence, Silero VAD: exits 0" test "$status" -eq 0
check "digital silence, Silero VAD: no segments, no text" no_segments "$WORK/quiet-silero.out"
transcribe quiet-energy -m "$F32" "$WORK/silence.wav" "${FAST[@]}" --vad --format verbose_json
check "digital silence, energy VAD: exits 0" test "$status" -eq 0
check "digital silence, energy VAD: no segments, no text" no_segments "$WORK/quiet-energy.out"
transcribe quiet-text -m "$F32" "$WORK/silence.wav" "${FAST[@]}" --vad
check "digital silence, text format: an empty line" test "$(cat "$WORK/quiet-text.out")" = "" -a "$status" -eq 0

# ---- determinism: with fallback (sampled retries), the same command twice and 1 vs 2 threads ----
SAMPLED=(-m "$F32" "$AUDIO/en_alarm.wav" --max-tokens 8 --format verbose_json --seed 5)
transcribe again1 "${SAMPLED[@]}" -t 2
transcribe again2 "${SAMPLED[@]}" -t 2
transcribe one-thread "${SAMPLED[@]}" -t 1
check "with fallback: exits 0" test "$status" -eq 0
check "with fallback: a retry happened (temperature > 0 kept)" \
    python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["segments"][0]["temperature"] > 0' "$WORK/again1.out"
check "the same command twice: identical output" cmp -s "$WORK/again1.out" "$WORK/again2.out"
check "-t 1 and -t 2: identical output" cmp -s "$WORK/again1.out" "$WORK/one-thread.out"
transcribe other-seed -m "$F32" "$AUDIO/en_alarm.wav" --max-tokens 8 --format verbose_json --seed 6 -t 2
check "another --seed: other sampled retries" bash -c "! cmp -s '$WORK/again1.out' '$WORK/other-seed.out'"

# ---- memory (started above) ----
if [ -n "$VG_PID" ]; then
    start=$(date +%s%N)
    wait "$VG_PID"
    echo "  waited $((($(date +%s%N) - start) / 1000000)) ms for valgrind" >&2
    for expect in "transcribe 0" "bad-file 1" "bad-vorbis 1" "silence-vad 0"; do
        name=${expect% *}
        check "valgrind, $name: exit ${expect#* }, no error, no leak" grep -qx "$expect" "$VG_STATUS"
        grep -qx "$expect" "$VG_STATUS" || grep "==[0-9]*==" "$WORK/vg-$name.log" | head -20 >&2
    done
fi

finish
