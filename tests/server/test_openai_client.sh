#!/bin/bash
# test_openai_client.sh - r1 serve driven by the official `openai` npm client
# (tests/server/js/openai_client.test.mjs under node --test): models, chat
# and completions, plain and streamed, logprobs, seeds, errors; then SIGTERM
# on the idle server exits 0.
#   usage: test_openai_client.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve starts and is ready" start_server "$MODEL" --parallel 4 --ctx-size 1024 || { finish; exit 1; }

(cd "$JS" && node --test openai_client.test.mjs) >"$WORK/node.out" 2>&1
status=$?
[ $status -eq 0 ] || cat "$WORK/node.out"
check "openai client suite (node --test openai_client.test.mjs)" test $status -eq 0
grep -E '^# (pass|fail)' "$WORK/node.out"

check "nothing left running after the suite" health_is 0 0
stop_server
check "SIGTERM on the idle server: exit status 0" test $? -eq 0
finish
