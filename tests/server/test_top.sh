#!/bin/bash
# test_top.sh - `r1 top` against a real server under load: it shows the
# server ready, the requests and tokens per second it served during the
# interval, and the sequences; a dead URL or a page that is not metrics
# gives one clear error and exit status 1.
#   usage: test_top.sh R1 TESTDATA
set -u
R1="$1"
source "$(dirname "$0")/lib/server.sh"

make_model scripted --shape tiny --type q8_0 --seed 1 --script 'Hm.</think>Yes' || exit 1
check "server starts" start_server "$MODEL" --metrics-port 0
METRICS_URL=$(grep -oE 'metrics on http://127\.0\.0\.1:[0-9]+' "$SERVER_LOG" | head -n 1 | sed 's/metrics on //')

# 20 requests a second for ~3 s while top watches a 1 s interval
(for i in $(seq 60); do
    curl -s -o /dev/null --max-time 10 "$R1_URL/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}]}'
    sleep 0.05
done) &
load=$!
sleep 0.5
"$R1" top --url "$METRICS_URL" --once --interval 2 >"$WORK/top.txt" 2>"$WORK/top.err"
status=$?
wait "$load"
check "top exits 0" test "$status" -eq 0
check "top: ready, requests and tokens per second" python3 - "$WORK/top.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert 'READY' in text and 'NOT READY' not in text, text
requests = float(re.search(r'^requests\s+([\d.]+)/s', text, re.M).group(1))
tokens = float(re.search(r'^tokens out\s+([\d.]+)/s', text, re.M).group(1))
# 15 tokens per answer; a request can straddle the interval's edges, so the
# ratio is only checked when several requests fell inside it
assert requests > 0 and tokens > 0, text
assert requests < 3 or 7 < tokens / requests < 30, text
assert re.search(r'^running\s+\d+ / 32', text, re.M), text
assert re.search(r'^first token\s+p50\s+\d+ ms', text, re.M), text
PY
check "top on the main port works too" "$R1" top --url "$R1_URL" --once --interval 0.2 >/dev/null
"$R1" top --url http://127.0.0.1:1 --once --interval 0.2 >/dev/null 2>"$WORK/dead.err"
check "top: a dead URL is exit 1 with one clear line" test $? -eq 1 -a "$(wc -l <"$WORK/dead.err")" -eq 1
check "top: the message names the URL" grep -q "http://127.0.0.1:1/metrics" "$WORK/dead.err"
"$R1" top --url "$R1_URL/v1/models#" --once --interval 0.2 >/dev/null 2>"$WORK/notmetrics.err"
check "top: a page that is not metrics is refused" grep -q "not the Prometheus text format\|answered HTTP" "$WORK/notmetrics.err"
check "server exits 0 on SIGTERM" stop_server
finish
