#!/bin/bash
# test_concurrency.sh - batching must not change results: 32 concurrent
# streamed chats at temperature 0 (and seeded) equal the same requests sent
# one at a time; streamed = non-streamed; /health shows nothing running at
# the end (tests/server/js/concurrency.test.mjs, plain fetch).
#   usage: test_concurrency.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve --parallel 32 starts" start_server "$MODEL" --parallel 32 --ctx-size 2048 || { finish; exit 1; }

(cd "$JS" && node --test concurrency.test.mjs) >"$WORK/node.out" 2>&1
status=$?
[ $status -eq 0 ] || cat "$WORK/node.out"
grep -E 'info:|^# (pass|fail)' "$WORK/node.out"
check "concurrency suite (node --test concurrency.test.mjs)" test $status -eq 0

check "/health: nothing running or waiting at the end" health_is 0 0
check "/health reports parallel 32" json_ok "$WORK/body" "d['parallel'] == 32"
stop_server
check "SIGTERM: exit status 0" test $? -eq 0
finish
