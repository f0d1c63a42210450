#!/bin/bash
# test_openai_audio.sh - r1 serve's /v1/audio/transcriptions and
# /translations driven by the official `openai` npm client
# (tests/server/js/transcriptions.test.mjs under node --test): file streams
# and toFile buffers, every response_format, language, translations, and
# the errors as APIError; then SIGTERM on the idle server exits 0.
#   usage: test_openai_audio.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
TESTDATA="${2:-}"
source "$(dirname "$0")/lib/server.sh"

WHISPER="$TESTDATA/asr/whisper-tiny-random-f16.bin"
AUDIO="$TESTDATA/asr/audio"
if [ ! -f "$WHISPER" ] || [ ! -f "$AUDIO/en_fox.wav" ]; then
    if [ "${R1_REQUIRE_TESTDATA:-0}" = 1 ]; then
        echo "FAIL: $WHISPER or $AUDIO is missing and R1_REQUIRE_TESTDATA=1" >&2
        failed=$((failed + 1))
    else
        echo "*** SKIPPED: $WHISPER or $AUDIO is missing: the openai client's audio calls were not tested ***" >&2
    fi
    finish
    exit
fi
AUDIO=$(cd "$AUDIO" && pwd) # the node suite runs in tests/server/js

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve --whisper-model starts" start_server "$MODEL" --whisper-model "$WHISPER" || { finish; exit 1; }

(cd "$JS" && R1_AUDIO="$AUDIO" R1_SPEECH_MODEL=whisper-tiny-random-f16 node --test transcriptions.test.mjs) >"$WORK/node.out" 2>&1
status=$?
[ $status -eq 0 ] || cat "$WORK/node.out"
check "openai client audio suite (node --test transcriptions.test.mjs)" test $status -eq 0
grep -E '^# (pass|fail|duration_ms)' "$WORK/node.out"

stop_server
check "SIGTERM on the idle server: exit status 0" test $? -eq 0
finish
