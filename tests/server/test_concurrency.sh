#!/bin/bash
# test_concurrency.sh - batching must not change results
# (tests/server/js/concurrency.test.mjs, plain fetch):
#   --exact: 32 concurrent streamed chats at temperature 0, and seeded at
#     temperature 0.9, equal the same requests sent one at a time, twice over;
#     streamed = non-streamed; the streams really overlapped;
#   default (8-bit activations): a greedy answer changes in a batch only at
#     a near-tie of its two best tokens (docs/SERVER.md, "Batching and results");
# and /health shows nothing running at the end.
#   usage: test_concurrency.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }

run_js() { # run_js [ENV=VALUE...]: concurrency.test.mjs
    (cd "$JS" && env "$@" node --test concurrency.test.mjs) >"$WORK/node.out" 2>&1
    local status=$?
    [ $status -eq 0 ] || cat "$WORK/node.out"
    grep -E 'info:|^# (pass|fail)' "$WORK/node.out"
    return $status
}

for mode in exact fast; do
    flags=()
    [ $mode = exact ] && flags=(--exact)
    check "r1 serve --parallel 32 ${flags[*]} starts" start_server "$MODEL" --parallel 32 --ctx-size 2048 "${flags[@]}" || continue
    check "$mode: concurrency suite (node --test concurrency.test.mjs)" run_js CONCURRENCY_MODE=$mode
    check "$mode: /health: nothing running or waiting at the end" health_is 0 0
    check "$mode: /health reports parallel 32" json_ok "$WORK/body" "d['parallel'] == 32"
    stop_server
    check "$mode: SIGTERM: exit status 0" test $? -eq 0
done
finish
