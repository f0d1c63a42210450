#!/bin/bash
# test_drain.sh - shutting down with requests in flight
# (tests/server/js/drain.test.mjs):
#   - one SIGTERM while 3 streams run: /ready 503 {"status":"draining"} at
#     once, a request on an open connection 503 "draining", new connections
#     refused, the streams complete with [DONE], and the process exits with
#     status 0 within --drain-timeout;
#   - a second SIGTERM exits at once, cutting the streams;
#   - --drain-timeout 1 cuts streams that outlast it (finish_reason
#     "cancelled", then [DONE]) and the process exits;
#   - --alias names the model; SIGTERM or SIGINT on an idle server exits 0
#     at once.
#   usage: test_drain.sh R1_BINARY TESTDATA_DIR
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

check "npm client installed (scripts/install-test-clients.sh)" install_test_clients || { finish; exit 1; }
check "tiny model generated" make_model tiny || { finish; exit 1; }

run_js() { # run_js MODE [ENV=VALUE...]: drain.test.mjs in that mode
    local mode="$1"
    shift
    (cd "$JS" && env DRAIN_MODE="$mode" "$@" node --test drain.test.mjs) >"$WORK/node.out" 2>&1
    local status=$?
    [ $status -eq 0 ] || cat "$WORK/node.out"
    grep -E 'info:' "$WORK/node.out"
    return $status
}

# ---- one SIGTERM: drain
# (800 tokens: long enough to be running at SIGTERM, short enough to end
# well within the 30 s on a loaded 2-core machine, where the tiny model
# made ~65 tokens/s per stream; 2000 did not)
if check "r1 serve starts (--drain-timeout 30)" start_server "$MODEL" --parallel 4 --ctx-size 4096 --drain-timeout 30; then
    check "graceful drain (node --test drain.test.mjs)" run_js graceful DRAIN_STREAMS=3 DRAIN_MAX_TOKENS=800
    wait_server_exit 35
    status=$?
    check "the drained server exits by itself" test "$SERVER_KILLED" -eq 0
    check "  ... with exit status 0 (got $status)" test $status -eq 0
fi

# ---- two SIGTERMs: exit at once
if check "r1 serve starts (--drain-timeout 60)" start_server "$MODEL" --parallel 4 --ctx-size 4096 --drain-timeout 60; then
    check "a second SIGTERM cuts the streams" run_js twice DRAIN_STREAMS=4 DRAIN_MAX_TOKENS=4000
    wait_server_exit 3
    status=$?
    check "  ... and the process is gone within 3 s" test "$SERVER_KILLED" -eq 0
    check "  ... with a non-zero status: it did not drain (got $status)" test $status -ne 0
fi

# ---- --drain-timeout 1
if check "r1 serve starts (--drain-timeout 1)" start_server "$MODEL" --parallel 8 --ctx-size 4096 --drain-timeout 1; then
    check "--drain-timeout 1 ends the streams in time" run_js timeout DRAIN_STREAMS=8 DRAIN_MAX_TOKENS=4000
    wait_server_exit 3
    status=$?
    check "  ... and the process exits right after (status $status)" test "$SERVER_KILLED" -eq 0
fi

# ---- --alias, and an idle server
if check "r1 serve --alias r1-test starts" start_server "$MODEL" --alias r1-test; then
    code=$(http GET /v1/models)
    check "/v1/models lists the alias" json_ok "$WORK/body" \
        "d['object'] == 'list' and len(d['data']) == 1 and d['data'][0]['id'] == 'r1-test' and d['data'][0]['owned_by'] == 'r1'"
    ALIAS=r1-test
    check "a request naming the alias answers with it" good_request
    check "  ... and says so" json_ok "$WORK/body" "d['model'] == 'r1-test'"
    code=$(post_json /v1/chat/completions '{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":2}')
    check "the file name is not the model's name any more: 404" expect_status alias 404 "$code"
    check "  ... model_not_found" is_error_body "$WORK/body" - model_not_found
    t0=$(date +%s%N)
    stop_server 10
    status=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "info: an idle server exited ${ms} ms after SIGTERM"
    check "SIGTERM on an idle server: exit status 0" test $status -eq 0
    check "  ... within 2 s (${ms} ms)" test $ms -lt 2000
fi

# ---- SIGINT (Ctrl-C) drains like SIGTERM
if check "r1 serve starts" start_server "$MODEL"; then
    kill -INT "$SERVER_PID"
    wait_server_exit 10
    status=$?
    check "SIGINT on an idle server: exit status 0 (got $status)" test $status -eq 0 -a "$SERVER_KILLED" -eq 0
fi
finish
