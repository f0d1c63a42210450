#!/usr/bin/env bash
# test_haproxy.sh - three supervised `r1 serve` replicas (two primaries and a
# backup) behind HAProxy 2.6 with active GET /ready checks, under a steady
# mix of streaming and non-streaming chat requests (tests/ha/lib/loadgen.js):
#   1 steady load: no errors
#   2 kill -9 of a primary: every plain request succeeds (retried), the
#     streams running on it end visibly broken (counted); detection and
#     recovery times measured
#   3 rolling restart with SIGTERM, one replica at a time: no failures
#   4 a replica alive but not ready (queue full: /health 200, /ready 503)
#     gets no new requests
#   5 both primaries down: the backup serves; back: traffic returns
# Prints a summary table. Usage: test_haproxy.sh R1_BINARY [TESTDATA_DIR]
R1="$1"
source "$(dirname "$0")/lib/ha.sh"
source "$HA_LIB/scenarios.sh"

if ! command -v haproxy >/dev/null; then
    "$REPO_ROOT/scripts/install-deps.sh" >/dev/null 2>&1
fi
if ! command -v haproxy >/dev/null || ! command -v node >/dev/null; then
    echo "SKIP: haproxy or node is not installed (scripts/install-deps.sh installs haproxy)"
    exit 0
fi

LB=haproxy
make_model tiny || exit 1
replicas_start 3 "$MODEL" || { echo "replicas did not start" >&2; exit 1; }

LB_PORT=$(free_port)
STATS_PORT=$(free_port)
sed -e "s/@LB_PORT@/$LB_PORT/; s/@STATS_PORT@/$STATS_PORT/; s/@PORT_A@/${REPLICA_PORT[0]}/" \
    -e "s/@PORT_B@/${REPLICA_PORT[1]}/; s/@PORT_C@/${REPLICA_PORT[2]}/" \
    "$HA_DIR/haproxy-test.cfg.in" >"$WORK/haproxy.cfg"
check "haproxy -c accepts the test config" haproxy -c -q -f "$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
HA_EXTRA_PIDS="$HAPROXY_PID"
LB_URL="http://127.0.0.1:$LB_PORT"
STATS_URL="http://127.0.0.1:$STATS_PORT/stats;csv"

# hap_status NAME: the server's status (UP, DOWN, "UP 1/2", no check, ...)
hap_status() {
    curl -s --max-time 2 "$STATS_URL" | awk -F, -v s="$1" '$1 == "be_r1" && $2 == s {print $18}'
}

lb_wait_state() {
    local name="$1" want="$2" deadline=$((SECONDS + ${3:-20})) st
    while [ $SECONDS -lt $deadline ]; do
        st=$(hap_status "$name")
        [ "$st" = "$want" ] && return 0
        sleep 0.05
    done
    echo "HAProxy: $name is '$st', not $want, after ${3:-20} s" >&2
    return 1
}

for n in r1-a r1-b r1-c; do check "HAProxy sees $n up" lb_wait_state "$n" UP 20; done

# the exporter on the stats port
curl -s --max-time 3 "http://127.0.0.1:$STATS_PORT/metrics" >"$WORK/hap-metrics.txt"
check "HAProxy's Prometheus exporter shows the servers" \
    grep -q 'haproxy_server_status{proxy="be_r1",server="r1-b",state="UP"} 1' "$WORK/hap-metrics.txt"
# the replicas' /metrics is not reachable through the balancer
check "GET /metrics through the balancer is 404" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$LB_URL/metrics")" = 404

scenario_steady
scenario_kill
scenario_rolling

# 4. alive but not ready: r1-b restarted with --parallel 1 --queue 1, then
# two long requests sent to it directly (one running, one waiting) fill it:
# /health 200, /ready 503 queue_full. HAProxy must take it out and send it
# nothing new.
echo "-- haproxy 4: a replica alive but not ready (queue full)"
replica_flags 1 "--parallel 1 --queue 1 --ctx-size 65536"
old=$(replica_pid 1)
kill -TERM "$old"
check "haproxy 4: r1-b restarted with --parallel 1 --queue 1" wait_replica_pid_change 1 "$old" 30
check "haproxy 4: r1-b ready" wait_replica_ready 1 30
check "haproxy 4: HAProxy sees r1-b up" lb_wait_state r1-b UP 20
HA_TIMEOUT_MS=60000 load_start s4 "$LB_URL" 2 1 "$STATS_URL"
sleep 1
# the long requests, straight to the replica (60000 tokens: well over a
# minute each, however fast the engine; 12000 had taken ~20 s until the
# attention kernels made it ~7 s, and the first one ended inside the window
# below). They are cancelled by closing them once the window is over, so a
# load-generator request that slipped into the queue before HAProxy took
# r1-b out waits less than its 60 s timeout (HA_TIMEOUT_MS). Retried while
# the load generator's requests hold the sequence or the queue slot.
long_request() {
    curl -s -N --max-time 300 "$(replica_url 1)/v1/chat/completions" -H 'Content-Type: application/json' \
        -d '{"messages":[{"role":"user","content":"Go on '"$1"'"}],"stream":true,"ignore_eos":true,"max_tokens":60000}' \
        >"$WORK/direct.$1.out" 2>&1 &
    eval "direct_$1=$!"
}
direct_a="" direct_b=""
for _ in $(seq 1 100); do
    [ -n "$direct_a" ] && kill -0 "$direct_a" 2>/dev/null || long_request a
    sleep 0.2
    grep -q '^data: {' "$WORK/direct.a.out" || continue
    # the queue slot: the second long request, or a load-generator request
    # that got there first (it waits until the long one is cancelled)
    [ -n "$direct_b" ] && kill -0 "$direct_b" 2>/dev/null || long_request b
    sleep 0.5
    kill -0 "$direct_a" 2>/dev/null && grep -q queue_full <(curl -s --max-time 2 "$(replica_url 1)/ready") && break
done
HA_EXTRA_PIDS="$HA_EXTRA_PIDS $direct_a $direct_b"
direct="$direct_a"
check "haproxy 4: a long request holds r1-b's sequence, its queue is full" kill -0 "$direct_a"
ready_code=$(curl -s -o "$WORK/ready.json" -w '%{http_code}' --max-time 2 "$(replica_url 1)/ready")
health_code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(replica_url 1)/health")
echo "  r1-b: /health $health_code, /ready $ready_code $(cat "$WORK/ready.json")"
check "haproxy 4: r1-b is alive (/health 200)" test "$health_code" = 200
check "haproxy 4: r1-b is not ready (/ready 503 queue_full)" grep -q queue_full "$WORK/ready.json"
check "haproxy 4: HAProxy takes r1-b out" lb_wait_state r1-b DOWN 10
n0=$(replica_chat_count 1)
hap0=$(curl -s --max-time 2 "$STATS_URL" | awk -F, '$1 == "be_r1" && $2 == "r1-b" {print $8}')
sleep 4
n1=$(replica_chat_count 1)
hap1=$(curl -s --max-time 2 "$STATS_URL" | awk -F, '$1 == "be_r1" && $2 == "r1-b" {print $8}')
still=$(curl -s --max-time 2 "$(replica_url 1)/ready" | grep -q queue_full && echo yes || echo no)
echo "  while not ready, over 4 s: r1-b's r1_requests_total (chat) $n0 -> $n1, HAProxy's sessions to it $hap0 -> $hap1; still full: $still"
check "haproxy 4: r1-b was still full at the end" test "$still" = yes
check "haproxy 4: r1-b got no new request (its metrics)" test "$n0" = "$n1"
check "haproxy 4: HAProxy sent r1-b no new session" test "$hap0" = "$hap1"
kill "$direct_a" "$direct_b" 2>/dev/null
wait "$direct_a" "$direct_b" 2>/dev/null
check "haproxy 4: r1-b ready again once the long request left" lb_wait_state r1-b UP 20
load_stop s4
summarize s4
check "haproxy 4: no failed plain request" expect_zero plain_fail "$PF"
check "haproxy 4: no failed stream" expect_zero stream_fail "$SF"
ha_row haproxy "4 alive, not ready (queue full)" "$PO" "$PF" "$SO" "$SF" \
    "r1-b chat requests $n0 -> $n1 while out; HAProxy sessions $hap0 -> $hap1"
# back to normal flags
replica_flags 1 ""
old=$(replica_pid 1)
kill -TERM "$old"
wait_replica_pid_change 1 "$old" 30 && wait_replica_ready 1 30 && lb_wait_state r1-b UP 20

scenario_backup 1

check "HAProxy is still running" kill -0 "$HAPROXY_PID"
grep -E 'is (DOWN|UP)' "$WORK/haproxy.log" | head -n 20 | sed 's/^/  haproxy: /'
ha_print_table "r1 behind HAProxy $(haproxy -v | head -n 1 | awk '{print $3}')"
sed 's/^/  figure: /' "$FIGURES"
[ -n "${HA_REPORT:-}" ] && cat "$HA_TABLE" "$FIGURES" >>"$HA_REPORT"
finish
