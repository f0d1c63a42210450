#!/bin/bash
# test_web_ui.sh - the web page that `r1 serve` answers at / (web/*, built
# into the binary; src/server/web_ui.c):
#   - with curl: GET / and every file the page names, each with its
#     Content-Type, the Content-Security-Policy, nosniff, ETag and
#     Cache-Control; HEAD answers the same headers without the body; a
#     matching If-None-Match gets 304; unknown files 404, POST 405;
#   - in headless Chromium (tests/server/js/web_ui.test.mjs, playwright-core):
#     a chat on a model whose answer is scripted ('Hm.</think>Yes'): the
#     streamed answer and its reasoning block, the numbers, the
#     conversation kept; the microphone (Chromium's fake device plays
#     en_fox.wav) uploading a WAV whose transcript lands in the box; the
#     speaker toggle sending the answer to /v1/audio/speech and playing it;
#     a phone-sized screen; no console errors; a screenshot for docs/web-ui.png;
#   - with --auth keys: the page and its files need no credentials while
#     the API still does; the token typed in Settings is sent and kept; the
#     microphone on a server without --whisper-model says so.
#   usage: test_web_ui.sh R1_BINARY TESTDATA_DIR
# R1_WEB_SCREENSHOT=PATH saves the screenshot there (the docs' picture is
# made with R1_WEB_SCREENSHOT=docs/web-ui.png).
set -u
R1="$1"
TESTDATA="${2:-}"
source "$(dirname "$0")/../server/lib/server.sh"

WHISPER="$TESTDATA/asr/whisper-tiny-random-f16.bin"
FOX="$TESTDATA/asr/audio/en_fox.wav"
CHROMIUM=${R1_CHROMIUM:-/usr/bin/chromium}
if [ ! -f "$WHISPER" ] || [ ! -f "$FOX" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $WHISPER or $FOX is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $WHISPER or $FOX is missing: the web page was not tested ***" >&2
    fi
    finish
    exit
fi
check "chromium is installed (scripts/install-deps.sh)" test -x "$CHROMIUM" || { finish; exit 1; }
check "npm clients installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
# Chromium's fake capture device reads a 16-bit PCM WAV: en_fox.wav is one
# (16 kHz mono); a copy keeps the browser away from the shared folder.
cp "$FOX" "$WORK/fake-microphone.wav"

make_model scripted --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes' || { finish; exit 1; }
check "server starts (scripted model, --whisper-model)" start_server "$MODEL" --whisper-model "$WHISPER" ||
    { finish; exit 1; }

header() { # header NAME: the value of a response header in $WORK/headers
    grep -i "^$1:" "$WORK/headers" | head -n 1 | sed -E 's/^[^:]*: *//; s/\r$//'
}
has_header() { [ "$(header "$1")" = "$2" ]; }

# ---- the files and their headers
code=$(http GET /)
check "GET /: 200" test "$code" = 200
check "GET /: text/html" has_header Content-Type 'text/html; charset=utf-8'
check "GET /: the page" grep -q '<title>r1 chat</title>' "$WORK/body"
cp "$WORK/body" "$WORK/index.html"
CSP=$(header Content-Security-Policy)
check "CSP: only this origin" grep -q "default-src 'self';" <<<"$CSP"
check "CSP: no inline script" grep -q "script-src 'self';" <<<"$CSP"
check "CSP: blob: audio for the spoken answers" grep -q "media-src 'self' blob:;" <<<"$CSP"
check "CSP: API calls to this server only" grep -q "connect-src 'self';" <<<"$CSP"
check "CSP: not framed" grep -q "frame-ancestors 'none'" <<<"$CSP"
check "nosniff" has_header X-Content-Type-Options nosniff
check "revalidated every time" has_header Cache-Control no-cache
ETAG=$(header ETag)
check "a quoted ETag" grep -qE '^"[0-9a-f]{20}"$' <<<"$ETAG"
SIZE=$(stat -c %s "$WORK/body")

# HEAD on a raw socket: curl cannot show that no body follows the headers
"$PYTHON" - "${R1_URL#http://}" >"$WORK/head.txt" <<'PY'
import socket, sys
host, port = sys.argv[1].split(':')
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
data = b''
while chunk := s.recv(65536):
    data += chunk
sys.stdout.write(data.decode('latin1'))
PY
tr -d '\r' <"$WORK/head.txt" >"$WORK/head.lf"
check "HEAD /: 200" grep -q '^HTTP/1.1 200' "$WORK/head.lf"
check "HEAD /: the same ETag" grep -qx "ETag: $ETAG" "$WORK/head.lf"
check "HEAD /: the same type" grep -qx 'Content-Type: text/html; charset=utf-8' "$WORK/head.lf"
check "HEAD /: GET's length" grep -qx "Content-Length: $SIZE" "$WORK/head.lf"
check "HEAD /: no body after the headers" test -z "$(sed -n '/^$/,$p' "$WORK/head.lf" | tr -d '\n')"

rm -f "$WORK/body"
code=$(http GET / -H "If-None-Match: $ETAG")
check "If-None-Match with the ETag: 304" test "$code" = 304
check "304: no body" test ! -s "$WORK/body"
code=$(http GET / -H 'If-None-Match: "0123", W/'"$ETAG")
check "If-None-Match with a list and a weak ETag: 304" test "$code" = 304
code=$(http GET / -H 'If-None-Match: "0123"')
check "If-None-Match with another ETag: 200" test "$code" = 200

# every file the page names, with its type
for ref in $(grep -oE '(src|href)="/web/[^"]+"' "$WORK/index.html" | sed -E 's/^[a-z]+="//; s/"$//' | sort -u) \
    /web/recorder.js; do
    case "$ref" in
    *.js) want='text/javascript; charset=utf-8' ;;
    *.css) want='text/css; charset=utf-8' ;;
    *.svg) want='image/svg+xml' ;;
    *) want='?' ;;
    esac
    code=$(http GET "$ref")
    check "GET $ref: 200" test "$code" = 200
    check "GET $ref: $want" has_header Content-Type "$want"
    check "GET $ref: not empty" test -s "$WORK/body"
    check "GET $ref: nosniff" has_header X-Content-Type-Options nosniff
    check "GET $ref: the CSP" has_header Content-Security-Policy "$CSP"
done
cmp -s "$WORK/body" "$(dirname "$0")/../../web/recorder.js"
check "the served file is the file in web/" test $? -eq 0

code=$(http GET /web/nothing.js)
check "an unknown file: 404" test "$code" = 404
check "an unknown file: code not_found" json_ok "$WORK/body" "d['error']['code'] == 'not_found'"
code=$(http POST / -d x)
check "POST /: 405" test "$code" = 405

# ---- the page in Chromium
browser() { # browser MODE [ENV=VALUE...]: the node suite in a fresh browser profile
    local mode="$1" profile
    shift
    profile=$(mktemp -d "$WORK/profile.XXXXXX")
    (cd "$JS" && env R1_WEB_MODE="$mode" R1_ALIAS=scripted R1_FAKE_AUDIO="$WORK/fake-microphone.wav" \
        R1_USER_DATA="$profile" R1_CHROMIUM="$CHROMIUM" "$@" node --test --test-timeout=600000 web_ui.test.mjs) \
        >"$WORK/node-$mode.out" 2>&1
    local status=$?
    [ $status -eq 0 ] || cat "$WORK/node-$mode.out"
    grep -E '^# (pass|fail|duration_ms)' "$WORK/node-$mode.out"
    return $status
}
SHOT=${R1_WEB_SCREENSHOT:-$WORK/web-ui.png}
check "the page in Chromium: chat, reasoning, microphone, speaker, phone (web_ui.test.mjs)" \
    browser full R1_SCREENSHOT="$SHOT"
check "a screenshot was taken" test -s "$SHOT"
stop_server
check "SIGTERM: exit status 0" test $? -eq 0

# ---- with --auth keys, without a speech model
DB="$WORK/keys.db"
KEY=$("$R1" keys create --db "$DB" --name web --scopes chat,models.read,audio.transcribe 2>/dev/null |
    grep -oE 'r1-[A-Za-z0-9_-]{43}' | head -n 1)
check "a key made" test -n "$KEY"
check "server starts (--auth keys, no --whisper-model)" start_server "$MODEL" --auth keys --keys-db "$DB" ||
    { finish; exit 1; }
for path in / /web/app.js /web/style.css /web/recorder.js /web/icon.svg; do
    code=$(http GET "$path")
    check "--auth: GET $path without credentials: 200" test "$code" = 200
done
code=$(http GET /web/nothing.js)
check "--auth: an unknown file is still 404" test "$code" = 404
code=$(http GET /v1/models)
check "--auth: the API still needs a token (GET /v1/models: 401)" test "$code" = 401
code=$(http GET /metrics)
check "--auth: /metrics still needs a token (401)" test "$code" = 401
check "the page in Chromium with --auth: token in Settings, no speech model" browser auth R1_TOKEN="$KEY"
stop_server
finish
