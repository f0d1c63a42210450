#!/bin/bash
# test_speech.sh - POST /v1/audio/speech of `r1 serve`, driven with curl as
# a user would:
#   - every response format (wav, flac, opus, pcm) with its Content-Type,
#     its magic bytes, 24 kHz, non-silent and unclipped; wav, flac and opus
#     decoded again by the same server's /v1/audio/transcriptions (libsndfile
#     on the way in) with the duration of the wav; the answer is chunked;
#   - English, Mandarin and mixed text of plausible durations; speed 2 is
#     shorter than speed 1; the same request gives the same bytes;
#   - each refusal with its status and OpenAI error body (empty, too long,
#     unknown voice / model / format, mp3, bad speed, instructions, sse,
#     not JSON, GET);
#   - the worker killed during a request: that request fails with a clean
#     500 speech_failed, the next one succeeds with a new worker;
#   - --rate-scope audio.speech=2: the third speech request in a minute
#     gets 429 naming the scope while chat is served; bad values refused;
#   - /metrics counts the texts spoken; with --tts-workers 0 the endpoint
#     answers 404 no_speech_synthesis; SIGTERM exits 0;
#   - the official openai npm client (tests/server/js/speech.test.mjs).
#   usage: test_speech.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="${2:-}"
source "$(dirname "$0")/lib/server.sh"

SPEECH=/v1/audio/speech
WHISPER="$TESTDATA/asr/whisper-tiny-random-f16.bin"
if [ ! -f "$WHISPER" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $WHISPER is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $WHISPER is missing: spoken audio is not decoded again by a transcription ***" >&2
    fi
    WHISPER=""
fi

# speak NAME FORMAT TEXT [json fields]: POSTs, the audio lands in $WORK/NAME.FORMAT
speak() {
    local name="$1" format="$2" text="$3" extra="${4:-}"
    local body
    body=$("$PYTHON" -c 'import json, sys; d = {"model": "tts-1", "voice": "alloy", "input": sys.argv[1], "response_format": sys.argv[2]}
d.update(json.loads(sys.argv[3] or "{}")); print(json.dumps(d, ensure_ascii=False))' "$text" "$format" "$extra")
    printf '%s' "$body" >"$WORK/request.json"
    CODE=$(curl -s -o "$WORK/$name.$format" -D "$WORK/$name.headers" -w '%{http_code}' --max-time 60 \
        -H 'Content-Type: application/json' --data-binary @"$WORK/request.json" "$R1_URL$SPEECH")
    cp "$WORK/$name.$format" "$WORK/body"
}

# audio_check FILE FORMAT: prints the seconds of 24 kHz audio; fails unless
# it is well formed for its format, with sound, unclipped
export SPEECH_AUDIO="$(cd "$(dirname "$0")/../cli/lib" && pwd)/speech_audio.py"
audio_check() { "$PYTHON" "$SPEECH_AUDIO" "$1" "$2"; }

seconds_of() { audio_check "$1" "$2" 2>/dev/null; }
between() { "$PYTHON" -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(not lo <= v <= hi)' "$@"; }

check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve starts (speech synthesis on by default)" start_server "$MODEL" --tts-workers 2 \
    ${WHISPER:+--whisper-model "$WHISPER"} || { finish; exit 1; }
check "  ... the log names the synthesis workers" grep -q 'speech synthesis: 2 workers' "$SERVER_LOG"

EN="The quick brown fox jumps over the lazy dog. It was 2026-12-01, and 3.5 percent of the dogs agreed."
ZH="今天天气很好，我们去公园散步吧。会议在2026年12月1日，出席率是95%。"
MIX="请打开 GPU server 的日志，then restart the service. 谢谢！"

# ---- every format
speak en wav "$EN"
check "wav: 200" expect_status wav 200 "$CODE"
check "  ... audio/wav, chunked (streamed as synthesised)" bash -c "grep -qi '^content-type: audio/wav' '$WORK/en.headers' && grep -qi '^transfer-encoding: chunked' '$WORK/en.headers'"
check "  ... a 24 kHz 16-bit WAV, not silent, not clipped" audio_check "$WORK/en.wav" wav
EN_S=$(seconds_of "$WORK/en.wav" wav)
echo "info: English sentence: ${EN_S:-?} s of audio"
check "  ... plausible length for 20 words (3..15 s: $EN_S)" between "${EN_S:-0}" 3 15
for f in flac opus; do
    speak en "$f" "$EN"
    check "$f: 200" expect_status "$f" 200 "$CODE"
    check "  ... well-formed $f" audio_check "$WORK/en.$f" "$f"
    check "  ... Content-Type $([ $f = flac ] && echo audio/flac || echo 'audio/ogg; codecs=opus')" \
        grep -qi "^content-type: $([ $f = flac ] && echo audio/flac || echo 'audio/ogg; codecs=opus')" "$WORK/en.headers"
done
speak en pcm "$EN"
check "pcm: 200 audio/pcm" bash -c "[ $CODE = 200 ] && grep -qi '^content-type: audio/pcm' '$WORK/en.headers'"
check "  ... raw 24 kHz samples, not silent, not clipped" audio_check "$WORK/en.pcm" pcm
# (espeak-ng carries a little state from one text to the next: the same
# text comes out a few samples longer or shorter, so lengths are compared)
check "  ... as long as the wav (within 0.05 s)" between "$(seconds_of "$WORK/en.pcm" pcm)" "$("$PYTHON" -c "print(${EN_S:-0} - 0.05)")" "$("$PYTHON" -c "print(${EN_S:-0} + 0.05)")"

if [ -n "$WHISPER" ]; then
    # the same server decodes them again (libsndfile) and says how long they are
    for f in wav flac opus; do
        code=$(curl -s -o "$WORK/back-$f.json" -w '%{http_code}' --max-time 120 -F "file=@$WORK/en.$f" \
            -F model=whisper-1 -F response_format=verbose_json -F temperature=1 "$R1_URL/v1/audio/transcriptions")
        check "$f decoded by /v1/audio/transcriptions: 200" test "$code" = 200
        check "  ... its duration is the wav's ($EN_S s)" json_ok "$WORK/back-$f.json" "abs(d['duration'] - ${EN_S:-0}) < 0.1"
    done
fi

# ---- languages, speed, repeatability
speak zh wav "$ZH" '{"voice": "nova"}'
check "Mandarin: 200, well-formed" bash -c "[ $CODE = 200 ] && $(declare -f audio_check); PYTHON=$PYTHON audio_check '$WORK/zh.wav' wav >/dev/null"
ZH_S=$(seconds_of "$WORK/zh.wav" wav)
echo "info: Mandarin sentences (33 characters): ${ZH_S:-?} s of audio"
check "  ... plausible length (3..20 s: $ZH_S)" between "${ZH_S:-0}" 3 20
speak mix wav "$MIX" '{"voice": "onyx"}'
check "mixed Mandarin and English: 200, well-formed" bash -c "[ $CODE = 200 ] && $(declare -f audio_check); PYTHON=$PYTHON audio_check '$WORK/mix.wav' wav >/dev/null"
MIX_S=$(seconds_of "$WORK/mix.wav" wav)
check "  ... plausible length (2..15 s: $MIX_S)" between "${MIX_S:-0}" 2 15
speak fast wav "$EN" '{"speed": 2}'
FAST_S=$(seconds_of "$WORK/fast.wav" wav)
echo "info: speed 2: ${FAST_S:-?} s (speed 1: $EN_S s)"
check "speed 2 is shorter than speed 1 ($FAST_S < 0.75 x $EN_S)" "$PYTHON" -c "import sys; sys.exit(not ${FAST_S:-99} < 0.75 * ${EN_S:-0})"
speak again wav "$EN"
check "the same request again: the same length (within 0.05 s)" between "$(seconds_of "$WORK/again.wav" wav)" "$("$PYTHON" -c "print(${EN_S:-0} - 0.05)")" "$("$PYTHON" -c "print(${EN_S:-0} + 0.05)")"

# ---- refusals
refused() { # refused WANT_STATUS PARAM CODE
    expect_status refused "$1" "$CODE" && is_error_body "$WORK/body" "$2" "$3"
}
speak e1 wav ""
check "empty input: 400 on input" refused 400 input invalid_value
speak e2 wav "$("$PYTHON" -c 'print("a" * 4097)')"
check "4097 characters: 400 on input" refused 400 input invalid_value
check "  ... the message gives the limit" grep -q 4096 "$WORK/body"
speak e3 wav "$("$PYTHON" -c 'print("字" * 4096)')"
check "4096 Han characters (12 KB) are within the limit: 200" test "$CODE" = 200
speak e4 wav "hi" '{"voice": "bob"}'
check "unknown voice: 400 on voice" refused 400 voice invalid_value
speak e5 wav "hi" '{"model": "tts-9"}'
check "unknown model: 404 model_not_found" refused 404 model model_not_found
speak e6 mp3 "hi"
check "mp3: 400 unsupported_value, says what to use" refused 400 response_format unsupported_value
check "  ... names wav, flac, opus, pcm" grep -q 'wav, flac, opus or pcm' "$WORK/body"
speak e7 aac "hi"
check "aac: 400 unsupported_value" refused 400 response_format unsupported_value
speak e8 xyz "hi"
check "response_format xyz: 400" refused 400 response_format invalid_value
speak e9 wav "hi" '{"speed": 5}'
check "speed 5: 400 on speed" refused 400 speed invalid_value
speak e10 wav "hi" '{"speed": "fast"}'
check "speed \"fast\": 400" refused 400 - invalid_type
speak e11 wav "hi" '{"instructions": "whisper it"}'
check "instructions: 400 unsupported_parameter" refused 400 instructions unsupported_parameter
speak e12 wav "hi" '{"stream_format": "sse"}'
check "stream_format sse: 400" refused 400 stream_format unsupported_value
speak e13 wav "hi" '{"voice": null}'
check "voice null: 400 missing_required_parameter" refused 400 voice missing_required_parameter
CODE=$(post_json $SPEECH '{"model": "tts-1", "input": "hi", ')
check "not JSON: 400 invalid_json" refused 400 - invalid_json
CODE=$(http GET $SPEECH)
check "GET: 405" test "$CODE" = 405
speak ok wav "Still here."
check "after the refusals: 200" test "$CODE" = 200

# ---- the worker killed during a request
workers=$(pgrep -P "$SERVER_PID" -f r1-tts-worker | tr '\n' ' ')
check "two r1-tts-worker processes run under the server ($workers)" test "$(echo $workers | wc -w)" = 2
for w in $workers; do kill -STOP "$w"; done # a request now waits inside a worker
(speak crash wav "This request's worker dies."; echo "$CODE" >"$WORK/crash.code") &
speaker=$!
sleep 1
for w in $workers; do kill -KILL "$w"; done
wait $speaker
CODE=$(cat "$WORK/crash.code")
cp "$WORK/crash.wav" "$WORK/body"
check "the request whose worker was killed: a clean 500 speech_failed" refused 500 - speech_failed
check "  ... the message says the worker died" grep -q 'died of signal 9' "$WORK/body"
speak after wav "The next request gets a new worker."
check "the next request: 200 with audio" bash -c "[ $CODE = 200 ] && $(declare -f audio_check); PYTHON=$PYTHON audio_check '$WORK/after.wav' wav >/dev/null"
check "  ... the server is still up" kill -0 "$SERVER_PID"
new_workers=$(pgrep -P "$SERVER_PID" -f r1-tts-worker | tr '\n' ' ')
echo "info: workers before: $workers; after: $new_workers"

# ---- metrics
http GET /metrics >/dev/null
spoken=$(grep -E '^r1_speech_total' "$WORK/body" | awk '{print $2}')
echo "info: r1_speech_total = $spoken"
check "r1_speech_total counts the texts spoken to their end (11)" test "$spoken" = 11
check "r1_speech_audio_seconds_total > 0" grep -qE '^r1_speech_audio_seconds_total\{[^}]*\} [1-9]' "$WORK/body"

# ---- the openai client
if check "npm client installed (scripts/install-test-clients.sh)" install_test_clients; then
    (cd "$JS" && node --test speech.test.mjs) >"$WORK/node.out" 2>&1
    status=$?
    [ $status -eq 0 ] || cat "$WORK/node.out"
    check "openai client speech suite (node --test speech.test.mjs)" test $status -eq 0
    grep -E '^# (pass|fail)' "$WORK/node.out"
fi

stop_server
check "SIGTERM: exit status 0" test $? -eq 0
left=""
for w in $new_workers; do kill -0 "$w" 2>/dev/null && left="$left $w"; done
check "  ... no r1-tts-worker left behind ($new_workers)" test -z "$left"

# ---- a per-scope rate limit: speech limited, chat not
check "r1 serve --rate-scope audio.speech=2 starts" start_server "$MODEL" --rate-scope audio.speech=2,chat=100 || { finish; exit 1; }
speak rl1 wav "One."
speak rl2 wav "Two."
check "two speech requests within the limit: 200" test "$CODE" = 200
speak rl3 wav "Three."
check "the third in the minute: 429 rate_limit_exceeded" refused 429 - rate_limit_exceeded
check "  ... the message names the scope" grep -q 'for the scope audio.speech' "$WORK/body"
check "  ... with Retry-After and x-ratelimit-limit-requests: 2" bash -c "grep -qi '^retry-after: [1-9]' '$WORK/rl3.headers' && grep -qi '^x-ratelimit-limit-requests: 2' '$WORK/rl3.headers'"
check "a chat request is not limited by the speech scope" good_request
stop_server
start_server "$MODEL" --rate-scope audio.speech=x 2>/dev/null
check "--rate-scope audio.speech=x: refused at start" test -z "$SERVER_PID"
check "  ... saying what it expects" grep -q 'SCOPE=REQUESTS_PER_MINUTE' "$SERVER_LOG"
start_server "$MODEL" --rate-scope speech=5 2>/dev/null
check "--rate-scope speech=5 (no such scope): refused at start" grep -q "unknown scope 'speech'" "$SERVER_LOG"

check "r1 serve --tts-workers 0 starts" start_server "$MODEL" --tts-workers 0 || { finish; exit 1; }
speak off wav "hi"
check "--tts-workers 0: 404 no_speech_synthesis" refused 404 - no_speech_synthesis
stop_server
finish
