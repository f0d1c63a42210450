#!/bin/bash
# test_transcriptions.sh - POST /v1/audio/transcriptions and
# /v1/audio/translations of `r1 serve --whisper-model`, driven with curl -F
# as a user would:
#   - every response_format (json, text, verbose_json, srt, vtt) with its
#     Content-Type; verbose_json's duration, language and segments; srt and
#     vtt cues equal to verbose_json's segments (the answer is deterministic);
#   - language en / zh, translations, an 8 kHz stereo float WAV, vad=true;
#   - each refusal with its status and OpenAI error body (code, param):
#     missing file, empty file, not audio, truncated header, missing or
#     unknown model, bad response_format / temperature / language /
#     granularity, not multipart, over --max-audio-bytes (declared or not),
#     a GET; then the server still transcribes the same text;
#   - /v1/models, /metrics (counts of what was sent) and the access log;
#   - a chat request and /health answer while a long upload (jfk.wav three
#     times: two 30 s windows) is transcribed; a client that gives up while
#     its upload waits is not transcribed for nobody (499, not counted), and
#     one that gives up during its transcription stops it;
#   - --asr-queue 0: of two concurrent uploads one gets 503 server_busy with
#     Retry-After; SIGTERM during a transcription: it still gets its 200 and
#     the server exits 0;
#   - uploads are decoded by r1-audio-decoder in a child process: one that
#     crashes gives its request a 400 naming the signal, and the server goes
#     on; a missing one stops the server from starting;
#   - without --whisper-model: 404 no_speech_model.
# The Whisper model has random weights: its text is garbage, but the same
# upload gives the same answer. Most uploads say temperature=1: the first
# try is then the last (the temperature fallback stops at 1), which keeps
# this test fast; the default temperature (0 with fallback, slow) is used by
# the long uploads that must be slow anyway.
#   usage: test_transcriptions.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="${2:-}"
source "$(dirname "$0")/lib/server.sh"

ASR="$TESTDATA/asr"
WHISPER="$ASR/whisper-tiny-random-f16.bin"
SPEECH_MODEL=whisper-tiny-random-f16 # the file's base name without .bin
AUDIO="$ASR/audio"
if [ ! -f "$WHISPER" ] || [ ! -f "$AUDIO/en_fox.wav" ] || [ ! -f "$AUDIO/jfk.wav" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $WHISPER or $AUDIO is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $WHISPER or $AUDIO is missing: the transcription endpoints were not tested ***" >&2
    fi
    finish
    exit
fi

# ---- what the checks of the answers need (Python, written out once)
CHECKS="$WORK/audio_checks.py"
cat >"$CHECKS" <<'PY'
# audio_checks.py MODE ARGS: the checks of transcription answers.
#   seconds WAV                  the clip's length from its RIFF chunks
#   verbose FILE SECONDS [LANG]  a verbose_json answer
#   subtitles FILE srt|vtt VERBOSE   srt/vtt cues = verbose_json's segments
#   metric FILE SAMPLE           one sample's value (model label left out), 0 if absent
#   access FILE ENDPOINT         "status audio_seconds" per JSON access log line
import json, re, struct, sys

def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

def wav_seconds(path):
    data = open(path, 'rb').read()
    if data[:4] != b'RIFF' or data[8:12] != b'WAVE':
        fail('%s: not a RIFF/WAVE file' % path)
    at, rate, block = 12, None, None
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack('<I', data[at + 4:at + 8])[0]
        if cid == b'fmt ':
            _, _, rate, _, block = struct.unpack('<HHIIH', data[at + 8:at + 22])
        elif cid == b'data':
            return size / block / rate
        at += 8 + size + (size & 1)
    fail('%s: no data chunk' % path)

def check_verbose(path, seconds, language=None):
    d = json.load(open(path, 'rb'))
    errors = []
    if d.get('task') != 'transcribe':
        errors.append('task %r' % d.get('task'))
    if not isinstance(d.get('language'), str) or not re.fullmatch('[a-z ]+', d['language']):
        errors.append('language %r is not a language name' % d.get('language'))
    elif language and d['language'] != language:
        errors.append('language %r, expected %r' % (d['language'], language))
    duration = d.get('duration')
    if not isinstance(duration, (int, float)) or abs(duration - seconds) > 0.05:
        errors.append('duration %r, the clip has %.3f s' % (duration, seconds))
        duration = seconds
    segments = d.get('segments')
    if not isinstance(segments, list) or not segments:
        errors.append('no segments: %r' % (segments,))
        segments = []
    previous_end = 0.0
    for i, s in enumerate(segments):
        if s.get('id') != i:
            errors.append('segment %d has id %r' % (i, s.get('id')))
        start, end = s.get('start'), s.get('end')
        if not (isinstance(start, (int, float)) and isinstance(end, (int, float))):
            errors.append('segment %d: start %r end %r' % (i, start, end))
            continue
        if not (0 <= start <= end <= duration + 1e-6):
            errors.append('segment %d: not 0 <= start %.3f <= end %.3f <= duration %.3f' % (i, start, end, duration))
        if start < previous_end - 1e-6:
            errors.append('segment %d starts at %.3f, before the previous end %.3f' % (i, start, previous_end))
        previous_end = end
        if not isinstance(s.get('text'), str):
            errors.append('segment %d text %r' % (i, s.get('text')))
    joined = ''.join(s.get('text') or '' for s in segments).strip()
    if joined != d.get('text'):
        errors.append('segments joined %r != text %r' % (joined[:200], str(d.get('text'))[:200]))
    if errors:
        fail('verbose_json: ' + '; '.join(errors))

def check_subtitles(path, kind, verbose_path):
    text = open(path, 'rb').read().decode('utf-8')
    segments = json.load(open(verbose_path, 'rb'))['segments']
    stamp = r'(\d\d):([0-5]\d):([0-5]\d)%s(\d\d\d)' % re.escape(',' if kind == 'srt' else '.')
    if kind == 'vtt':
        if not text.startswith('WEBVTT\n\n'):
            fail('vtt does not start with "WEBVTT" and a blank line: %r' % text[:40])
        text = text[len('WEBVTT\n\n'):]
    cue = re.compile((r'(\d+)\n' if kind == 'srt' else '') + stamp + ' --> ' + stamp + r'\n([^\n]*)\n\n')
    cues, at = [], 0
    while at < len(text):
        m = cue.match(text, at)
        if not m:
            fail('%s: not a cue at byte %d: %r' % (kind, at, text[at:at + 80]))
        cues.append(m.groups()[1:] if kind == 'srt' else m.groups())
        if kind == 'srt' and int(m.group(1)) != len(cues):
            fail('srt: cue %d is numbered %s' % (len(cues), m.group(1)))
        at = m.end()
    if len(cues) != len(segments):
        fail('%s: %d cues for %d segments' % (kind, len(cues), len(segments)))
    ms = lambda g: ((int(g[0]) * 60 + int(g[1])) * 60 + int(g[2])) * 1000 + int(g[3])
    for i, (g, s) in enumerate(zip(cues, segments)):
        start, end = ms(g[0:4]), ms(g[4:8])
        if abs(start - s['start'] * 1000) > 1 or abs(end - s['end'] * 1000) > 1:
            fail('%s cue %d: %d..%d ms, segment %.3f..%.3f s' % (kind, i, start, end, s['start'], s['end']))
        if g[8] != s['text'].lstrip(' '):
            fail('%s cue %d: %r, segment text %r' % (kind, i, g[8], s['text']))

def metric(path, sample):
    for line in open(path, encoding='utf-8'):
        if line.startswith('#'):
            continue
        name, _, value = line.rstrip('\n').rpartition(' ')
        if re.sub(r'model="[^"]*",?', '', name).replace('{}', '') == sample:
            print(value)
            return
    print('0')

def access(path, endpoint):
    for line in open(path, encoding='utf-8', errors='replace'):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get('msg') == 'request' and d.get('endpoint') == endpoint:
            print(d.get('status'), d.get('audio_seconds', '-'))

mode, args = sys.argv[1], sys.argv[2:]
if mode == 'seconds': print('%.5f' % wav_seconds(args[0]))
elif mode == 'verbose': check_verbose(args[0], float(args[1]), args[2] if len(args) > 2 else None)
elif mode == 'subtitles': check_subtitles(args[0], args[1], args[2])
elif mode == 'metric': metric(args[0], args[1])
elif mode == 'access': access(args[0], args[1])
else: fail('unknown mode ' + mode)
PY
checks() { "$PYTHON" "$CHECKS" "$@"; }

TRANSCRIBE=/v1/audio/transcriptions
TRANSLATE=/v1/audio/translations

# ---- what was sent, for /metrics and the access log at the end
declare -A SENT # "ENDPOINT STATUS" -> requests
OK_AUDIO=()     # "ENDPOINT WAV" per upload answered 200
sent() {        # sent ENDPOINT STATUS [WAV]
    SENT["$1 $2"]=$((${SENT["$1 $2"]:-0} + 1))
    [ "$2" = 200 ] && OK_AUDIO+=("$1 $3")
    return 0
}

# upload ENDPOINT WAV [curl args]: POSTs the form (WAV as its file part, none
# when "-"); CODE is the status, the body is in $WORK/body, headers in
# $WORK/headers. Recorded with sent.
upload() {
    local path="$1" wav="$2"
    shift 2
    if [ "$wav" = - ]; then
        CODE=$(http POST "$path" "$@")
    else
        CODE=$(http POST "$path" -F "file=@$wav" "$@")
    fi
    sent "$path" "$CODE" "$wav"
}

# refused WANT_STATUS PARAM CODE: the last answer is that OpenAI error
refused() {
    expect_status refused "$1" "$CODE" && is_error_body "$WORK/body" "$2" "$3" &&
        grep -qi '^Content-Type: application/json' "$WORK/headers"
}

content_type_is() { # the last answer's Content-Type starts with $1
    grep -qi "^Content-Type: $1" "$WORK/headers" || {
        echo "Content-Type: $(grep -i '^Content-Type' "$WORK/headers"), expected $1" >&2
        return 1
    }
}

# wait_for_file FILE SECONDS: true once FILE exists and is not empty
wait_for_file() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# background_upload NAME WAV [curl args]: the upload in the background; its
# status lands in $WORK/NAME.code once answered, the body in $WORK/NAME.body.
background_upload() {
    local name="$1" wav="$2"
    shift 2
    rm -f "$WORK/$name.code"
    (curl -s -o "$WORK/$name.body" -D "$WORK/$name.headers" -w '%{http_code}' --max-time 300 \
        -F "file=@$wav" -F model=whisper-1 "$@" "$R1_URL$TRANSCRIBE" >"$WORK/$name.tmp" &&
        mv "$WORK/$name.tmp" "$WORK/$name.code") &
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

FOX="$AUDIO/en_fox.wav"
FOX_S=$(checks seconds "$FOX")
JFK="$AUDIO/jfk.wav"
JFK_S=$(checks seconds "$JFK")
# jfk.wav three times over (33 s, 1.06 MB): a long upload, two windows
LONG="$WORK/jfk3.wav"
"$PYTHON" -c "import sys, wave
r = wave.open(sys.argv[1]); frames = r.readframes(r.getnframes())
w = wave.open(sys.argv[2], 'wb'); w.setparams(r.getparams()); w.writeframes(frames * 3); w.close()" "$JFK" "$LONG"
LONG_S=$(checks seconds "$LONG")
FAST=(-F temperature=1)

check "tiny chat model generated" make_model tiny || { finish; exit 1; }
check "r1 serve --whisper-model starts" start_server "$MODEL" --whisper-model "$WHISPER" \
    --max-audio-bytes 1200000 --log-format json || { finish; exit 1; }

# ---- /v1/models
code=$(http GET /v1/models)
check "/v1/models lists the chat model and the speech model" json_ok "$WORK/body" \
    "[m['id'] for m in d['data']] == ['tiny', '$SPEECH_MODEL'] and d['data'][1]['object'] == 'model' and d['data'][1]['owned_by'] == 'r1'"
code=$(http GET "/v1/models/$SPEECH_MODEL")
check "/v1/models/$SPEECH_MODEL: 200" json_ok "$WORK/body" "d['id'] == '$SPEECH_MODEL'"

# ---- a long upload in the background; meanwhile the HTTP threads answer
# health, chat and every refusal decided before transcription
t_upload=$(now_ms)
background_upload long "$LONG" -F response_format=verbose_json
sleep 0.5
t0=$(now_ms)
code=$(http GET /health)
t_health=$(($(now_ms) - t0))
check "/health answers during a transcription" expect_status health 200 "$code"
t0=$(now_ms)
check "a chat request answers during a transcription" good_request
t_chat=$(($(now_ms) - t0))
if [ -s "$WORK/long.code" ]; then long_running=no; else long_running=yes; fi
echo "info: during the jfk.wav upload: /health in ${t_health} ms, chat in ${t_chat} ms; upload still running after them: $long_running"
check "  ... within 5 s (${t_chat} ms)" test "$t_chat" -lt 5000
check "  ... before the upload was answered" test "$long_running" = yes

# a client that gives up while its upload waits behind the long one
curl -s -o /dev/null --max-time 0.5 -F "file=@$JFK" -F model=whisper-1 "$R1_URL$TRANSCRIBE"
sent $TRANSCRIBE 499

# refusals on the HTTP thread
upload $TRANSCRIBE - -F model=whisper-1
check "no file part: 400 missing_file" refused 400 file missing_file
upload $TRANSCRIBE - -F model=whisper-1 -F file=not-a-file
check "a file field that is not a file: 400 missing_file" refused 400 file missing_file
upload $TRANSCRIBE "$AUDIO/bad_empty.wav" -F model=whisper-1
check "empty file: 400 on param file" refused 400 file -
upload $TRANSCRIBE "$FOX"
check "no model field: 400 on param model" refused 400 model -
upload $TRANSCRIBE "$FOX" -F model=
check "an empty model field: 400 on param model" refused 400 model -
upload $TRANSCRIBE "$FOX" -F model=gpt-4o-transcribe
check "unknown model: 404 model_not_found" refused 404 model model_not_found
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F response_format=xml
check "response_format=xml: 400" refused 400 response_format -
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F temperature=2
check "temperature=2: 400" refused 400 temperature -
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F temperature=warm
check "temperature=warm: 400" refused 400 temperature -
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F language=zz
check "language=zz: 400 invalid_language" refused 400 language invalid_language
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F 'timestamp_granularities[]=word'
check "timestamp_granularities[]=word: 400" refused 400 'timestamp_granularities[]' -
upload $TRANSLATE "$FOX" -F model=whisper-1 -F response_format=xml
check "translations: response_format=xml: 400" refused 400 response_format -
upload $TRANSCRIBE - -H 'Content-Type: application/json' --data-binary '{"model":"whisper-1","file":"x"}'
check "a JSON body: 400 invalid_content_type" refused 400 - invalid_content_type
upload $TRANSCRIBE - -H 'Content-Type: multipart/form-data; boundary=b0und' --data-binary 'no parts here'
check "a multipart body without its boundary: 400" refused 400 - -
"$PYTHON" -c "import sys; open(sys.argv[1], 'wb').write(b'RIFF' + bytes(1250000))" "$WORK/big.wav"
upload $TRANSCRIBE "$WORK/big.wav" -F model=whisper-1
check "an upload over --max-audio-bytes (Content-Length): 413" refused 413 - -
upload $TRANSCRIBE "$WORK/big.wav" -F model=whisper-1 -H 'Transfer-Encoding: chunked'
check "an upload over --max-audio-bytes (chunked, no length): 413" refused 413 - -
upload $TRANSCRIBE - -H 'Content-Type: multipart/form-data; boundary=b0und' -H 'Content-Length: 100000000' --data-binary 'short'
check "a declared Content-Length over --max-audio-bytes: 413 before the body" refused 413 - -
CODE=$(http GET $TRANSCRIBE)
sent $TRANSCRIBE "$CODE"
check "GET $TRANSCRIBE: 405" refused 405 - -

if [ -s "$WORK/long.code" ]; then long_running=no; else long_running=yes; fi
check "the long upload still runs after the refusals (they did not wait for it)" test "$long_running" = yes

# refusals decided by the speech worker (they wait behind the long upload)
upload $TRANSCRIBE "$AUDIO/bad_not_audio.wav" -F model=whisper-1 --max-time 300
check "not audio: 400 invalid_audio" refused 400 file invalid_audio
check "  ... the message names the problem" json_ok "$WORK/body" "'audio' in d['error']['message'] and 'format' in d['error']['message'].lower()"
upload $TRANSCRIBE "$AUDIO/bad_truncated_header.wav" -F model=whisper-1 --max-time 300
check "a truncated WAV header: 400 invalid_audio" refused 400 file invalid_audio
echo "info: truncated header: $(head -c 300 "$WORK/body")"

check "the long upload is answered" wait_for_file "$WORK/long.code" 300
long_ms=$(($(now_ms) - t_upload))
code=$(cat "$WORK/long.code" 2>/dev/null)
sent $TRANSCRIBE "$code" "$LONG"
echo "info: jfk.wav x3 ($LONG_S s) at the default temperature: answered in ${long_ms} ms"
check "  ... 200" expect_status long 200 "$code"
check "  ... a verbose_json transcript of 33 s (two windows)" checks verbose "$WORK/long.body" "$LONG_S"
check "the upload whose client left was not transcribed" grep -q 'the client left while its upload waited; not transcribed' "$SERVER_LOG"

# a client that gives up during its transcription frees the worker: the
# transcription stops (logged), and the next upload is served
# (jfk.wav 20 times over at 4 kHz, 8 bits: 220 s in 880 KB, many windows)
"$PYTHON" -W ignore::DeprecationWarning -c "import audioop, sys, wave
r = wave.open(sys.argv[1]); frames = r.readframes(r.getnframes())
low = audioop.lin2lin(audioop.ratecv(frames, 2, 1, r.getframerate(), 4000, None)[0], 2, 1)
w = wave.open(sys.argv[2], 'wb'); w.setnchannels(1); w.setsampwidth(1); w.setframerate(4000)
w.writeframes(audioop.bias(low, 1, 128) * 20); w.close()" "$JFK" "$WORK/jfk20.wav"
curl -s -o /dev/null --max-time 2 -F "file=@$WORK/jfk20.wav" -F model=whisper-1 "$R1_URL$TRANSCRIBE"
sent $TRANSCRIBE 499
upload $TRANSCRIBE "$JFK" -F model=whisper-1 "${FAST[@]}" --max-time 300
check "an upload after a client left mid-transcription: 200" expect_status after-left 200 "$CODE"
check "  ... that transcription was stopped, not finished for nobody" grep -q 'the client left; transcription stopped after' "$SERVER_LOG"

# ---- every response format, on the same upload
upload $TRANSCRIBE "$FOX" -F model=whisper-1 "${FAST[@]}"
check "json: 200" expect_status json 200 "$CODE"
check "  ... application/json" content_type_is application/json
check "  ... exactly {\"text\": a string}" json_ok "$WORK/body" "list(d) == ['text'] and isinstance(d['text'], str) and d['text'] == d['text'].strip()"
cp "$WORK/body" "$WORK/fox.json"

upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F response_format=text "${FAST[@]}"
check "text: 200" expect_status text 200 "$CODE"
check "  ... text/plain" content_type_is text/plain
check "  ... the json text and a newline" "$PYTHON" -c "import json, sys
t = open(sys.argv[1], 'rb').read().decode('utf-8'); j = json.load(open(sys.argv[2]))['text']
sys.exit(0 if t == j + '\n' else print(repr(t), repr(j)) or 1)" "$WORK/body" "$WORK/fox.json"

upload $TRANSCRIBE "$FOX" -F model="$SPEECH_MODEL" -F response_format=verbose_json "${FAST[@]}"
check "verbose_json (model named by its file): 200" expect_status verbose 200 "$CODE"
check "  ... application/json" content_type_is application/json
check "  ... duration, language, segments, text" checks verbose "$WORK/body" "$FOX_S"
check "  ... the same text as json" "$PYTHON" -c "import json, sys
sys.exit(json.load(open(sys.argv[1]))['text'] != json.load(open(sys.argv[2]))['text'])" "$WORK/body" "$WORK/fox.json"
cp "$WORK/body" "$WORK/fox.verbose.json"

for sub in srt vtt; do
    upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F response_format=$sub "${FAST[@]}"
    check "$sub: 200" expect_status $sub 200 "$CODE"
    [ $sub = srt ] && check "  ... text/plain" content_type_is text/plain
    [ $sub = vtt ] && check "  ... text/vtt" content_type_is text/vtt
    check "  ... its cues are verbose_json's segments" checks subtitles "$WORK/body" $sub "$WORK/fox.verbose.json"
done

# ---- languages, translation, an unusual WAV
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F language=en -F response_format=verbose_json "${FAST[@]}"
check "language=en: 200, language english" checks verbose "$WORK/body" "$FOX_S" english
ZH="$AUDIO/zh_weather.wav"
upload $TRANSCRIBE "$ZH" -F model=whisper-1 -F language=zh -F response_format=verbose_json "${FAST[@]}"
check "language=zh: 200, language chinese" checks verbose "$WORK/body" "$(checks seconds "$ZH")" chinese
upload $TRANSLATE "$AUDIO/en_alarm.wav" -F model=whisper-1 "${FAST[@]}"
check "translations: 200" expect_status translate 200 "$CODE"
check "  ... {\"text\"}" json_ok "$WORK/body" "list(d) == ['text'] and isinstance(d['text'], str)"
upload $TRANSLATE "$AUDIO/en_alarm.wav" -F model=whisper-1 -F response_format=srt "${FAST[@]}"
check "translations as srt: 200 text/plain" content_type_is text/plain
check "  ... numbered cues" "$PYTHON" -c "import re, sys
t = open(sys.argv[1], encoding='utf-8').read()
sys.exit(not re.fullmatch(r'(\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n[^\n]*\n\n)+', t))" "$WORK/body"
STEREO="$AUDIO/stereo_8k_float.wav"
upload $TRANSCRIBE "$STEREO" -F model=whisper-1 -F response_format=verbose_json "${FAST[@]}"
check "8 kHz stereo float WAV: 200" expect_status stereo 200 "$CODE"
check "  ... its duration and segments" checks verbose "$WORK/body" "$(checks seconds "$STEREO")"

# ---- vad=true (an r1 extension): only the speech, at 1.54-4.64 s, is transcribed
upload $TRANSCRIBE "$AUDIO/vad_en_fox_padded.wav" -F model=whisper-1 -F vad=true -F response_format=verbose_json "${FAST[@]}"
check "vad=true: 200" expect_status vad 200 "$CODE"
check "  ... every segment within the speech [1.4, 4.8] s, the duration the whole clip's" json_ok "$WORK/body" \
    "d['segments'] and all(1.4 <= s['start'] <= s['end'] <= 4.8 for s in d['segments']) and abs(d['duration'] - 6.438) < 0.01"
upload $TRANSCRIBE "$FOX" -F model=whisper-1 -F vad=maybe
check "vad=maybe: 400 invalid_vad" refused 400 vad invalid_vad

# ---- after all the refusals, the same upload gives the same text
upload $TRANSCRIBE "$FOX" -F model=whisper-1 "${FAST[@]}"
check "after the errors: the same upload, the same text" cmp -s "$WORK/body" "$WORK/fox.json"

# ---- /metrics: exactly what was sent
code=$(http GET /metrics)
cp "$WORK/body" "$WORK/metrics.txt"
n_ok=${#OK_AUDIO[@]}
seconds=$(for e in "${OK_AUDIO[@]}"; do checks seconds "${e#* }"; done | awk '{s += $1} END {printf "%.3f", s}')
got=$(checks metric "$WORK/metrics.txt" r1_transcriptions_total)
check "r1_transcriptions_total = $n_ok uploads answered 200 (got $got)" test "$got" = "$n_ok"
got=$(checks metric "$WORK/metrics.txt" r1_transcribed_audio_seconds_total)
check "r1_transcribed_audio_seconds_total = $seconds s sent (got $got)" \
    "$PYTHON" -c "import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 0.002 * int(sys.argv[3]))" "$got" "$seconds" "$n_ok"
for key in "${!SENT[@]}"; do
    endpoint=${key% *} status=${key#* }
    got=$(checks metric "$WORK/metrics.txt" "r1_requests_total{endpoint=\"$endpoint\",status=\"$status\"}")
    check "r1_requests_total{endpoint=\"$endpoint\",status=\"$status\"} = ${SENT[$key]} (got $got)" test "$got" = "${SENT[$key]}"
done

# ---- the access log: one line per request, audio_seconds on the 200s
for endpoint in $TRANSCRIBE $TRANSLATE; do
    checks access "$SERVER_LOG" "$endpoint" >"$WORK/access.txt"
    want=$(for e in "${OK_AUDIO[@]}"; do [ "${e%% *}" = "$endpoint" ] && checks seconds "${e#* }"; done | sort -n)
    check "access log of $endpoint: audio_seconds of each 200 = its clip" "$PYTHON" -c "import sys
got = sorted(float(l.split()[1]) for l in open(sys.argv[1]) if l.startswith('200 '))
want = [float(x) for x in sys.argv[2].split()]
ok = len(got) == len(want) and all(abs(g - w) <= 0.011 for g, w in zip(got, want))
sys.exit(0 if ok else print('got', got, 'want', want) or 1)" "$WORK/access.txt" "$want"
    total=0
    for key in "${!SENT[@]}"; do [ "${key% *}" = "$endpoint" ] && total=$((total + SENT[$key])); done
    check "access log of $endpoint: one line per request ($total), none of the refusals with audio_seconds" \
        "$PYTHON" -c "import sys
lines = [l.split() for l in open(sys.argv[1])]
sys.exit(not (len(lines) == int(sys.argv[2]) and all((s == '200') == (a != '-') for s, a in lines)))" "$WORK/access.txt" "$total"
done

check "SIGTERM on the idle server: exit 0" stop_server

# ---- --asr-queue 0: one upload at a time; SIGTERM drains the running one
if check "r1 serve --asr-queue 0 starts" start_server "$MODEL" --whisper-model "$WHISPER" --asr-queue 0; then
    background_upload first "$JFK"
    sleep 0.5
    background_upload second "$FOX" "${FAST[@]}"
    check "one of two concurrent uploads is answered at once" wait_for_file "$WORK/second.code" 30
    [ "$(cat "$WORK/second.code" 2>/dev/null)" = 503 ] && busy=second || busy=first
    if [ $busy = first ]; then other=second; else other=first; fi
    # the other one is being transcribed now: SIGTERM drains it
    kill -TERM "$SERVER_PID"
    wait_for_file "$WORK/$busy.code" 30
    check "  ... 503" test "$(cat "$WORK/$busy.code" 2>/dev/null)" = 503
    check "  ... server_busy" is_error_body "$WORK/$busy.body" - server_busy
    check "  ... with Retry-After" grep -qi '^Retry-After: [0-9]' "$WORK/$busy.headers"
    wait_server_exit 120
    status=$?
    check "SIGTERM during a transcription: it still gets its 200" test "$(cat "$WORK/$other.code" 2>/dev/null)" = 200
    check "  ... a transcript" json_ok "$WORK/$other.body" "isinstance(d['text'], str)"
    check "  ... and the server exits 0 by itself (got $status)" test "$status" -eq 0 -a "$SERVER_KILLED" -eq 0
fi

# ---- every upload is decoded by r1-audio-decoder in a child process: a
# decoder that crashes (a stand-in: a script that kills itself) costs its
# request only
cat >"$WORK/crashing-decoder" <<'SH'
#!/bin/sh
kill -SEGV $$
SH
chmod +x "$WORK/crashing-decoder"
if check "r1 serve with a decoder that crashes starts" start_server "$MODEL" --whisper-model "$WHISPER" \
    --audio-decoder "$WORK/crashing-decoder"; then
    check "  ... it says which decoder it runs" grep -q "uploads are decoded by $WORK/crashing-decoder" "$SERVER_LOG"
    CODE=$(http POST $TRANSCRIBE -F "file=@$FOX" -F model=whisper-1 "${FAST[@]}")
    check "the decoder crashed on the upload: 400 invalid_audio" refused 400 file invalid_audio
    check "  ... naming the signal" grep -q "signal 11" "$WORK/body"
    check "  ... and the log too" grep -q "audio decoder (pid [0-9]*) ended on signal 11" "$SERVER_LOG"
    code=$(http GET /health)
    check "  ... the server goes on: /health $code" test "$code" = 200
    code=$(http POST /v1/chat/completions -H 'Content-Type: application/json' \
        -d '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":3}')
    check "  ... and answers a chat: $code" test "$code" = 200
    check "  ... no decoder process is left" test -z "$(pgrep -P "$SERVER_PID" -f crashing-decoder)"
    check "  ... exits 0" stop_server
fi
if start_server "$MODEL" --whisper-model "$WHISPER" --audio-decoder "$WORK/no-such-decoder" 2>/dev/null; then
    check "r1 serve --audio-decoder MISSING refuses to start" false
    stop_server
else
    check "r1 serve --audio-decoder MISSING refuses to start, naming it" grep -q "no-such-decoder" "$SERVER_LOG"
fi

# ---- no speech model
if check "r1 serve without --whisper-model starts" start_server "$MODEL"; then
    code=$(http POST $TRANSCRIBE -F "file=@$FOX" -F model=whisper-1)
    CODE=$code
    check "no --whisper-model: 404 no_speech_model" refused 404 - no_speech_model
    code=$(http GET /v1/models)
    check "  ... /v1/models lists the chat model only" json_ok "$WORK/body" "[m['id'] for m in d['data']] == ['tiny']"
    check "  ... exits 0" stop_server
fi
finish
