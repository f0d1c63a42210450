#!/bin/bash
# test_disconnect.sh - clients that go away: an aborted stream frees its slot
# (/health's requests_running back to 0 within 10 s), ten aborts in a row
# leak nothing, an abort while queued leaves the queue, and with --parallel 1
# a follow-up request still completes; the server survives all of it
# (tests/server/js/disconnect.test.mjs).
#   usage: test_disconnect.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }
check "r1 serve --parallel 1 starts" start_server "$MODEL" --parallel 1 --ctx-size 16384 || { finish; exit 1; }

(cd "$JS" && node --test disconnect.test.mjs) >"$WORK/node.out" 2>&1
status=$?
[ $status -eq 0 ] || cat "$WORK/node.out"
grep -E 'info:|^# (pass|fail)' "$WORK/node.out"
check "disconnect suite (node --test disconnect.test.mjs)" test $status -eq 0

check "/health: nothing running or waiting at the end" health_is 0 0
check "a good request afterwards" good_request
stop_server
check "SIGTERM: exit status 0" test $? -eq 0
finish
