#!/bin/bash
# test_concurrency.sh - batching must not change results
# (tests/server/js/concurrency.test.mjs, plain fetch):
#   --exact: 32 concurrent streamed chats at temperature 0, and seeded at
#     temperature 0.9, equal the same requests sent one at a time, twice over;
#     streamed = non-streamed; the streams really overlapped;
#   default (8-bit activations): a greedy answer changes in a batch only at
#     a near-tie of its two best tokens (docs/SERVER.md, "Batching and results");
#   --kv-cache-tokens 1024 with 8 requests of ~150-300 positions: they wait
#     for room in the cache, and the answers are still those of one at a time;
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

for mode in exact fast pressure; do
    case $mode in
    exact) flags=(--parallel 32 --ctx-size 2048 --exact) ;;
    fast) flags=(--parallel 32 --ctx-size 2048) ;;
    pressure) flags=(--parallel 8 --ctx-size 512 --kv-cache-tokens 1024 --exact) ;;
    esac
    parallel=${flags[1]}
    check "r1 serve ${flags[*]} starts" start_server "$MODEL" "${flags[@]}" || continue
    check "$mode: concurrency suite (node --test concurrency.test.mjs)" run_js CONCURRENCY_MODE=$mode PARALLEL="$parallel"
    check "$mode: /health: nothing running or waiting at the end" health_is 0 0
    check "$mode: /health reports parallel $parallel" json_ok "$WORK/body" "d['parallel'] == $parallel"
    stop_server
    check "$mode: SIGTERM: exit status 0" test $? -eq 0
done
finish
